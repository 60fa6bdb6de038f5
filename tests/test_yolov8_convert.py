# SPDX-License-Identifier: AGPL-3.0-or-later
"""lpr_tools.yolov8_onnx: torch-free YOLOv8 checkpoint -> ONNX conversion.

The first group needs only the venv (onnx, onnxruntime, opencv, fastanpr installed with
--no-deps). The second compares with the Ultralytics-exported reference model on real frames
and runs only when ../shared (next to the repository) is present.

Run: PYTHONPATH=src/lpr_detector python -m pytest tests/test_yolov8_convert.py -q
"""
import hashlib
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

cv2 = pytest.importorskip('cv2')
onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')

REPO = pathlib.Path(__file__).resolve().parents[1]
if importlib.util.find_spec('lpr_detector') is None:  # package not installed yet
    sys.path.insert(0, str(REPO / 'src' / 'lpr_detector'))

from lpr_tools import yolov8_onnx  # noqa: E402

SHARED = REPO.parent / 'shared'
REFERENCE = SHARED / 'models-reference' / 'yolov8n-plate-384.reference.onnx'
UK_VIDEO = SHARED / 'videos' / 'uk-LS15EBC.mp4'
EU_DIR = SHARED / 'datasets' / 'openalpr-eu'
IMGSZ = 384
ANCHORS = (384 // 8) ** 2 + (384 // 16) ** 2 + (384 // 32) ** 2  # 3024
# The converted graph reproduces the Ultralytics export bit for bit here (measured max diff
# 0.0); the bounds leave room for kernel-selection differences on other CPUs.
SCORE_TOL = 1e-5
BOX_TOL_PX = 1e-3


# ----------------------------------------------------------------------------- helpers

def letterbox(image_bgr: np.ndarray, size: int = IMGSZ) -> tuple[np.ndarray, float, int, int]:
    """Ultralytics-style letterbox -> (1x3xSxS float32 RGB/255, scale, pad_x, pad_y)."""
    h, w = image_bgr.shape[:2]
    scale = min(size / h, size / w)
    nw, nh = round(w * scale), round(h * scale)
    canvas = np.full((size, size, 3), 114, np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    canvas[top:top + nh, left:left + nw] = cv2.resize(image_bgr, (nw, nh),
                                                      interpolation=cv2.INTER_LINEAR)
    blob = canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return np.ascontiguousarray(blob), scale, left, top


def session(path: pathlib.Path) -> 'ort.InferenceSession':
    return ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])


def run(sess: 'ort.InferenceSession', blob: np.ndarray) -> np.ndarray:
    return sess.run(['output0'], {'images': blob})[0]


def synthetic_plate_scene() -> np.ndarray:
    """A grey street-ish frame with a white plate-like rectangle carrying black text."""
    rng = np.random.default_rng(7)
    img = rng.integers(60, 140, (480, 640, 3), dtype=np.uint8)
    cv2.rectangle(img, (180, 300), (200 + 260, 300 + 60), (245, 245, 245), -1)
    cv2.rectangle(img, (180, 300), (200 + 260, 300 + 60), (20, 20, 20), 2)
    cv2.putText(img, 'LS15 EBC', (195, 348), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (10, 10, 10), 4)
    return img


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope='module')
def checkpoint() -> pathlib.Path:
    try:
        return yolov8_onnx.find_fastanpr_checkpoint()
    except yolov8_onnx.ConversionError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope='module')
def converted(checkpoint, tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp('yolov8') / 'plate.onnx'
    return yolov8_onnx.convert(checkpoint, out, IMGSZ)


@pytest.fixture(scope='module')
def converted_session(converted):
    return session(converted)


# ----------------------------------------------------------------------------- always run

def test_converted_model_io(converted, converted_session):
    assert converted.is_file()
    inputs, outputs = converted_session.get_inputs(), converted_session.get_outputs()
    assert [(i.name, i.shape) for i in inputs] == [('images', [1, 3, IMGSZ, IMGSZ])]
    assert [(o.name, o.shape) for o in outputs] == [('output0', [1, 5, ANCHORS])]


def test_metadata(converted, checkpoint):
    meta = {p.key: p.value for p in onnx.load(str(converted)).metadata_props}
    assert meta['names'] == "{0: 'License_Plate'}"
    assert meta['imgsz'] == f'[{IMGSZ}, {IMGSZ}]'
    assert meta['stride'] == '32'
    assert meta['converter_version'] == yolov8_onnx.CONVERTER_VERSION
    assert meta['source_sha256'] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()


def test_synthetic_plate_outputs_are_sane(converted_session):
    blob, *_ = letterbox(synthetic_plate_scene())
    out = run(converted_session, blob)
    assert out.shape == (1, 5, ANCHORS) and out.dtype == np.float32
    assert np.isfinite(out).all()
    scores = out[0, 4]
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    boxes = out[0, :4]
    assert (boxes[2:] >= 0).all()  # widths/heights are non-negative
    assert boxes[:2].min() > -IMGSZ and boxes[:2].max() < 2 * IMGSZ


def test_other_input_size(checkpoint):
    model = yolov8_onnx.build_onnx(checkpoint, imgsz=320)
    dims = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert dims == [1, 5, 40 * 40 + 20 * 20 + 10 * 10]


def test_in_graph_anchor_grid_matches_the_constant_one():
    """The dynamic model's anchor grid, built from feature-map shapes, equals the
    numpy grid for a rectangular input (224x384: 28x48, 14x24 and 7x12 cells)."""
    g = yolov8_onnx.GraphBuilder()
    strides = [8.0, 16.0, 32.0]
    feats = [f'f{i}' for i in range(3)]
    points, scales = yolov8_onnx._anchors_from_shapes(g, feats, strides, '/grid')
    graph = onnx.helper.make_graph(
        g.nodes, 'grid',
        [onnx.helper.make_tensor_value_info(f, onnx.TensorProto.FLOAT, [1, 1, 'h', 'w']) for f in feats],
        [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in (points, scales)],
        g.initializers)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid('', yolov8_onnx.OPSET)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])
    feeds = {f: np.zeros((1, 1, 224 // int(s), 384 // int(s)), np.float32) for f, s in zip(feats, strides)}
    got_points, got_scales = sess.run(None, feeds)
    want_points, want_scales = yolov8_onnx._anchors(224, 384, strides)
    np.testing.assert_array_equal(got_points, want_points)
    np.testing.assert_array_equal(got_scales, want_scales)


def test_bad_imgsz_is_rejected(checkpoint):
    with pytest.raises(yolov8_onnx.ConversionError, match='multiple of 32'):
        yolov8_onnx.build_onnx(checkpoint, imgsz=300)


def test_non_zip_input_raises(tmp_path):
    bogus = tmp_path / 'bogus.pt'
    bogus.write_bytes(b'this is not a zip archive')
    with pytest.raises(yolov8_onnx.ConversionError):
        yolov8_onnx.load_checkpoint(bogus)
    with pytest.raises(yolov8_onnx.ConversionError):
        yolov8_onnx.convert(bogus, tmp_path / 'out.onnx')
    assert not (tmp_path / 'out.onnx').exists()
    assert list(tmp_path.iterdir()) == [bogus]  # no temporary file left behind


def test_cli_bad_input_exit_code(tmp_path, capsys):
    bogus = tmp_path / 'bogus.pt'
    bogus.write_bytes(b'\x00' * 64)
    assert yolov8_onnx.main(['--pt', str(bogus), str(tmp_path / 'out.onnx')]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error:') and '\n' not in err and 'Traceback' not in err


def test_cli_converts(checkpoint, tmp_path, capsys):
    out = tmp_path / 'cli.onnx'
    assert yolov8_onnx.main(['--pt', str(checkpoint), '--imgsz', '256', str(out)]) == 0
    assert session(out).get_outputs()[0].shape == [1, 5, 32 * 32 + 16 * 16 + 8 * 8]


# ----------------------------------------------------------------------------- vs reference

def uk_frames(indices=(0, 35, 70, 105, 139)) -> list[tuple[str, np.ndarray]]:
    cap = cv2.VideoCapture(str(UK_VIDEO))
    frames, index = [], 0
    try:
        while index <= max(indices):
            ok, frame = cap.read()
            if not ok:
                break
            if index in indices:
                frames.append((f'{UK_VIDEO.name}#{index}', frame))
            index += 1
    finally:
        cap.release()
    return frames


def eu_images(names=('eu1', 'eu2', 'eu3', 'eu7', 'test_001')) -> list[tuple[str, np.ndarray]]:
    images = []
    for name in names:
        image = cv2.imread(str(EU_DIR / f'{name}.jpg'))
        if image is not None:
            images.append((f'{name}.jpg', image))
    return images


@pytest.fixture(scope='module')
def reference_session():
    if not REFERENCE.is_file():
        pytest.skip(f'{REFERENCE} not present (needs ../shared)')
    return session(REFERENCE)


@pytest.fixture(scope='module')
def real_frames():
    frames = uk_frames() + eu_images()
    if len(frames) < 5:
        pytest.skip('real frames from ../shared are not available')
    return frames


def test_matches_reference_on_real_frames(converted_session, reference_session, real_frames):
    worst_box = worst_score = 0.0
    for name, frame in real_frames:
        blob, *_ = letterbox(frame)
        ours, ref = run(converted_session, blob), run(reference_session, blob)
        box_diff = float(np.abs(ours[0, :4] - ref[0, :4]).max())
        score_diff = float(np.abs(ours[0, 4] - ref[0, 4]).max())
        assert box_diff < BOX_TOL_PX, f'{name}: boxes differ by {box_diff} px'
        assert score_diff < SCORE_TOL, f'{name}: scores differ by {score_diff}'
        worst_box, worst_score = max(worst_box, box_diff), max(worst_score, score_diff)
    print(f'max |diff| over {len(real_frames)} frames: boxes {worst_box:.3g} px, '
          f'scores {worst_score:.3g}')


def test_finds_the_uk_plate(converted_session):
    frames = uk_frames(indices=(70,))
    if not frames:
        pytest.skip(f'{UK_VIDEO} not readable (needs ../shared)')
    blob, *_ = letterbox(frames[0][1])
    out = run(converted_session, blob)[0]
    best = int(out[4].argmax())
    assert out[4, best] > 0.5
    _, _, w, h = out[:4, best]
    assert w > h > 0  # a plate is wider than tall


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@pytest.mark.parametrize('name', ['eu1', 'eu2', 'eu3'])
def test_top_box_hits_labelled_plate(converted_session, name):
    label_file, image = EU_DIR / f'{name}.txt', cv2.imread(str(EU_DIR / f'{name}.jpg'))
    if image is None or not label_file.is_file():
        pytest.skip(f'{name} not available (needs ../shared)')
    x, y, w, h = (float(v) for v in label_file.read_text().split()[1:5])
    blob, scale, pad_x, pad_y = letterbox(image)
    out = run(converted_session, blob)[0]
    cx, cy, bw, bh = out[:4, int(out[4].argmax())]
    box = [(cx - bw / 2 - pad_x) / scale, (cy - bh / 2 - pad_y) / scale,
           (cx + bw / 2 - pad_x) / scale, (cy + bh / 2 - pad_y) / scale]
    assert _iou(box, [x, y, x + w, y + h]) >= 0.3  # the hit criterion of docs/models.md


# ----------------------------------------------------------------------------- any input size

@pytest.fixture(scope='module')
def dynamic_session(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp('yolov8dyn') / 'plate-dynamic.onnx'
    return session(yolov8_onnx.convert(checkpoint, out, IMGSZ, dynamic=True))


def test_dynamic_model_takes_any_multiple_of_the_stride(dynamic_session):
    assert dynamic_session.get_inputs()[0].shape == [1, 3, 'height', 'width']
    out = run(dynamic_session, np.zeros((1, 3, 224, 384), np.float32))
    assert out.shape == (1, 5, 28 * 48 + 14 * 24 + 7 * 12)
    meta = dynamic_session.get_modelmeta().custom_metadata_map
    assert meta['dynamic'] == 'True' and meta['imgsz'] == f'[{IMGSZ}, {IMGSZ}]'


def test_dynamic_model_equals_the_fixed_one_on_a_square(dynamic_session, converted_session):
    blob, *_ = letterbox(synthetic_plate_scene())
    np.testing.assert_array_equal(run(dynamic_session, blob), run(converted_session, blob))


def test_detector_fits_the_input_to_the_frame(checkpoint, tmp_path):
    """The ONNX detector feeds a dynamic model the frame's own shape (16:9 -> 256x384,
    a stride of margin on the short side) and finds the same plate as the square model."""
    from lpr_detector.onnx_yolo import OnnxYoloDetector
    dyn = OnnxYoloDetector(yolov8_onnx.convert(checkpoint, tmp_path / 'd.onnx', IMGSZ, dynamic=True))
    fixed = OnnxYoloDetector(yolov8_onnx.convert(checkpoint, tmp_path / 'f.onnx', IMGSZ))
    assert dyn.input_shape((720, 1280)) == (256, 384)
    assert dyn.input_shape((1280, 720)) == (384, 256)
    assert dyn.input_shape((1280, 1280)) == (384, 384)
    assert fixed.input_shape((720, 1280)) == (IMGSZ, IMGSZ)
    assert OnnxYoloDetector(tmp_path / 'd.onnx', input_size=640).input_shape((720, 1280)) == (416, 640)
    frames = uk_frames(indices=(70,))
    frame = frames[0][1] if frames else cv2.resize(synthetic_plate_scene(), (1280, 720))
    a, b = dyn.detect(frame), fixed.detect(frame)
    assert a and b, 'both models find the plate'
    assert a[0].iou(b[0]) > 0.8


def test_a_model_from_an_older_converter_is_stale(checkpoint, tmp_path, monkeypatch):
    """`lpr models install` rebuilds a detector made by another converter version
    (e.g. the square-only 1.0.0), and builds the default as a dynamic model."""
    from lpr_tools import models
    monkeypatch.setenv('LPR_MODEL_DIR', str(tmp_path))
    assert models.plate_model_status()[0] == 'missing'
    assert models.install(log=lambda *_: None) == 0
    assert models.plate_model_status()[0] == 'ok'
    path = pathlib.Path(models.plate_model_status()[1])
    assert session(path).get_inputs()[0].shape == [1, 3, 'height', 'width']
    old = onnx.load(str(path))
    for prop in old.metadata_props:
        if prop.key == 'converter_version':
            prop.value = '1.0.0'
    onnx.save(old, str(path))
    assert models.plate_model_status()[0] == 'stale'
