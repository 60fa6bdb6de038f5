"""The fixed-slot plate reader, the two-reader engine and model installation.

A tiny ONNX model built here (fixed logits, fast-plate-ocr's input/output
format) checks decoding and validation without any downloaded weights; the
real cct_xs_v1_global model is used where ../shared holds a copy."""
import hashlib

import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper

from conftest import shared_path
from lpr_ocr.base import OcrError, PlateText, TextLine
from lpr_ocr.config import OcrConfig
from lpr_ocr.engine import PlateOcr, plate_colour
from lpr_ocr.formats import FormatMatcher
from lpr_ocr.plate_model import PlateModelConfig, SlotRecognizer

ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_'
CONFIG = {'max_plate_slots': 9, 'alphabet': ALPHABET, 'pad_char': '_', 'img_height': 64, 'img_width': 128,
          'keep_aspect_ratio': False, 'interpolation': 'linear', 'image_color_mode': 'rgb'}


def fixed_model(path, text='AB12', second='8', slots=9, alphabet=ALPHABET, h=64, w=128, c=3,
                dtype=TensorProto.UINT8, p_best=0.8):
    """An ONNX model that reads ``text`` from any image: per slot, the text's
    character with ``p_best``, ``second``'s character as runner-up, pad after."""
    probs = np.full((slots, len(alphabet)), 1e-4, np.float32)
    for i in range(slots):
        ch = text[i] if i < len(text) else '_'
        probs[i, alphabet.index(ch)] = p_best if ch != '_' else 0.99
        if ch != '_':
            probs[i, alphabet.index(second)] = 1.0 - p_best - 0.01
    logits = np.log(probs).reshape(1, -1)
    nodes = [
        helper.make_node('Cast', ['input'], ['f'], to=TensorProto.FLOAT),
        helper.make_node('ReduceMean', ['f'], ['m'], keepdims=0, axes=[1, 2, 3]),
        helper.make_node('Unsqueeze', ['m', 'ax'], ['m1']),
        helper.make_node('Mul', ['m1', 'zero'], ['z']),        # [N, 1] of zeros: keeps the batch size
        helper.make_node('Add', ['z', 'logits'], ['l']),       # [N, slots*alphabet]
        helper.make_node('Reshape', ['l', 'shape'], ['r']),
        helper.make_node('Softmax', ['r'], ['output'], axis=-1),
    ]
    graph = helper.make_graph(
        nodes, 'fixed',
        [helper.make_tensor_value_info('input', dtype, ['N', h, w, c])],
        [helper.make_tensor_value_info('output', TensorProto.FLOAT, ['N', slots, len(alphabet)])],
        initializer=[helper.make_tensor('ax', TensorProto.INT64, [1], [1]),
                     helper.make_tensor('zero', TensorProto.FLOAT, [], [0.0]),
                     onnx.numpy_helper.from_array(logits, 'logits'),
                     helper.make_tensor('shape', TensorProto.INT64, [3], [-1, slots, len(alphabet)])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def with_config(model_path, **changes):
    config = {**CONFIG, **changes}
    model_path.with_name(f'{model_path.stem}_plate_config.yaml').write_text(yaml.safe_dump(config))
    return model_path


@pytest.fixture
def tiny(tmp_path):
    return with_config(fixed_model(tmp_path / 'tiny.onnx'))


def test_reads_slots_drops_pads_and_keeps_runner_ups(tiny):
    r = SlotRecognizer(str(tiny))
    line = r.recognize(np.zeros((30, 120, 3), np.uint8))
    assert line.text == 'AB12'
    assert line.char_confidences == pytest.approx((0.8,) * 4, abs=0.01)
    assert line.alternatives[0][0] == ("8", pytest.approx(0.19, abs=0.01))
    assert line.weakest == pytest.approx(0.8, abs=0.01)
    batch = r.probabilities([np.zeros((10, 40, 3), np.uint8), np.zeros((50, 90), np.uint8)])
    assert batch.shape == (2, 9, len(ALPHABET))


def test_keep_aspect_ratio_letterboxes(tmp_path):
    path = with_config(fixed_model(tmp_path / 'm.onnx'), keep_aspect_ratio=True, padding_color=[1, 2, 3])
    blob = SlotRecognizer(str(path)).blob(np.full((10, 100, 3), 200, np.uint8))
    assert blob.shape == (64, 128, 3) and blob.dtype == np.uint8
    assert tuple(blob[0, 0]) == (1, 2, 3) and tuple(blob[32, 64]) == (200, 200, 200)


@pytest.mark.parametrize('kwargs, config, message', [
    ({'slots': 7}, {}, 'output'),
    ({'h': 32}, {}, 'input'),
    ({'dtype': TensorProto.FLOAT}, {}, 'uint8'),
    ({}, {'pad_char': '#'}, 'pad_char'),
    ({}, {'alphabet': 'AAB'}, 'distinct'),
    ({}, {'image_color_mode': 'cmyk'}, 'image_color_mode'),
])
def test_a_model_that_does_not_match_its_config_is_refused(tmp_path, kwargs, config, message):
    path = with_config(fixed_model(tmp_path / 'bad.onnx', **kwargs), **config)
    with pytest.raises(OcrError, match=message):
        SlotRecognizer(str(path))


def test_a_model_without_config_or_known_hash_is_refused(tmp_path):
    path = fixed_model(tmp_path / 'unknown.onnx')
    with pytest.raises(OcrError, match='no plate config'):
        SlotRecognizer(str(path))
    with pytest.raises(OcrError, match='not found'):
        SlotRecognizer(str(tmp_path / 'absent.onnx'))
    (tmp_path / 'junk.onnx').write_bytes(b'not a model')
    with_config(tmp_path / 'junk.onnx')
    with pytest.raises(OcrError, match='cannot load'):
        SlotRecognizer(str(tmp_path / 'junk.onnx'))


def test_plate_config_keys_are_checked():
    with pytest.raises(OcrError, match='lacks alphabet'):
        PlateModelConfig.from_mapping({k: v for k, v in CONFIG.items() if k != 'alphabet'}, 'x.yaml')


def engine(tmp_path, text, p_best, regions=('auto',), general=True, reader='chain', fallback_below=0.7):
    model = with_config(fixed_model(tmp_path / f'{text}.onnx', text=text, p_best=p_best))
    config = OcrConfig(reader=reader if general else 'plate', plate_model=str(model), regions=list(regions),
                       fallback_below=fallback_below)
    return PlateOcr.from_config(config)


def render(text):
    import cv2
    img = np.full((60, 260, 3), 235, np.uint8)
    cv2.putText(img, text, (8, 46), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (20, 20, 20), 3, cv2.LINE_AA)
    return img


def test_sure_plate_reads_skip_the_general_ocr(tmp_path):
    ocr = engine(tmp_path, 'LS15EBC', 0.95)
    read, trace = ocr.read_traced(render('XX00XXX'))
    assert read.text == 'LS15EBC' and read.region == 'UK'
    assert not trace.fallback and trace.general is None


def test_unsure_reads_are_checked_and_disagreement_lowers_confidence(tmp_path):
    ocr = engine(tmp_path, 'LS15EBC', 0.6)     # weakest slot 0.6 < 0.7: the general OCR looks
    read, trace = ocr.read_traced(render('LS15EBC'))
    assert trace.fallback and trace.reason == 'unsure'
    assert read.text == 'LS15EBC' and trace.agree
    # the general OCR reads something else, surely: its answer wins, but less
    # sure than it would be alone (no second reader vouches for it)
    general = PlateOcr.from_config(OcrConfig(reader='general', regions=['UK'])).read(render('MT23BKG'))
    read, trace = ocr.read_traced(render('MT23BKG'))
    assert trace.fallback and not trace.agree
    assert read.text == general.text == 'MT23BKG'
    assert read.confidence < 0.85 * general.confidence


def test_empty_and_one_pixel_crops_read_nothing(tmp_path):
    ocr = engine(tmp_path, 'AB12', 0.95)
    for crop in (np.zeros((0, 0, 3), np.uint8), np.zeros((1, 1, 3), np.uint8)):
        read, trace = ocr.read_traced(crop)
        assert read.text == ''


def test_reader_chain_needs_the_model_and_auto_falls_back(tmp_path, caplog):
    with pytest.raises(OcrError, match='not found'):
        PlateOcr.from_config(OcrConfig(reader='chain', plate_model=str(tmp_path / 'absent.onnx')))
    with pytest.raises(OcrError, match='not found'):   # a model named but absent is an error in auto too
        PlateOcr.from_config(OcrConfig(reader='auto', plate_model=str(tmp_path / 'absent.onnx')))


def test_reader_trained_is_the_projects_own_model_alone(tmp_path, monkeypatch):
    """reader: trained reads with the shipped weights (lpr_ocr/weights) and no
    general OCR; a build without them says so in one line at configure. An
    alphabet with Chinese province characters may read a province, under the
    colour rule of 'auto' regions."""
    from lpr_ocr import plate_model
    monkeypatch.setattr(plate_model, 'trained_model_path', lambda: tmp_path / 'weights' / 'absent.onnx')
    with pytest.raises(OcrError, match='reader trained: no weights.*tools/train_reader'):
        PlateOcr.from_config(OcrConfig(reader='trained'))
    alphabet = ALPHABET[:-1] + '京_'
    model = with_config(fixed_model(tmp_path / 'own.onnx', text='京A12345', alphabet=alphabet, p_best=0.95),
                        alphabet=alphabet)
    monkeypatch.setattr(plate_model, 'trained_model_path', lambda: model)
    ocr = PlateOcr.from_config(OcrConfig(reader='trained'))
    assert ocr.general is None and ocr.primary is not None and ocr.name.startswith('plate:own')
    grey = np.full((40, 160, 3), 200, np.uint8)
    blue = np.zeros((40, 160, 3), np.uint8)
    blue[:] = (200, 60, 20)                       # BGR: a blue plate
    assert ocr.read(blue).text == '京A12345'
    assert ocr.read(grey).text != '京A12345'      # no province on a plate not coloured like a Chinese one
    cn = PlateOcr.from_config(OcrConfig(reader='trained', regions=['CN']))
    assert cn.read(grey).text == '京A12345'


def line(text, confs, alts=None):
    confs = tuple(confs)
    ln = TextLine(text, confs, (0, 0, 1, 1), tuple(alts or [()] * len(text)))
    return PlateText(text, float(np.mean(confs)), confs, text, lines=(ln,))


def test_fusion_takes_each_character_from_the_reader_that_is_sure_of_it():
    m = FormatMatcher(['UK'])
    plate = line('LS15EBG', [0.99] * 6 + [0.5], [()] * 6 + [(('C', 0.45),)])
    general = line('L515EBC', [0.95, 0.5] + [0.95] * 5, [(), (('S', 0.45),)] + [()] * 5)
    fused = m.fuse(plate, (general,), frozenset(ALPHABET))
    assert fused.text == 'LS15EBC'


def test_a_province_character_needs_a_chinese_coloured_plate_in_auto():
    m = FormatMatcher(['auto'])
    plate = line('AB12345', [0.95] * 7)
    general = line('京AB12345', [0.9] * 8)
    assert not m.fuse(plate, (general,), frozenset(ALPHABET), province=False).text.startswith('京')
    m = FormatMatcher(['auto'])
    general = line('京A12345', [0.9] * 7)
    plate = line('RA12345', [0.95] * 7)
    assert m.fuse(plate, (general,), frozenset(ALPHABET), province=True).text == '京A12345'


def test_plate_colour():
    blue = np.zeros((24, 94, 3), np.uint8)
    blue[:] = (180, 60, 20)     # BGR: a Chinese regular plate's blue
    white = np.full((24, 94, 3), 230, np.uint8)
    eu = white.copy()
    eu[:, :10] = (180, 60, 20)  # the EU band
    assert plate_colour(blue) == 'blue'
    assert plate_colour(white) == '' and plate_colour(eu) == ''


# -- the real model (../shared copy) ---------------------------------------------------------------
def test_real_plate_model_reads_a_dev_crop():
    import cv2
    model = shared_path('models-reference', 'cct_xs_v1_global.onnx')
    from lpr_tools.datasets import load
    from lpr_tools.evaluate import cut_label
    ds = load(shared_path('datasets', 'openalpr-br'))
    r = SlotRecognizer(str(model))
    hits = 0
    for sample in ds.samples[:10]:
        hits += r.recognize(cut_label(cv2.imread(str(sample.path)), sample.box)).text == sample.text
    assert hits >= 8


def test_install_from_file_checks_hash_and_shape(tmp_path, monkeypatch):
    from lpr_tools import models
    monkeypatch.setenv('LPR_MODEL_DIR', str(tmp_path / 'cache'))
    bad = tmp_path / 'random.onnx'
    fixed_model(bad)
    with pytest.raises(models.InstallError, match='not a known plate model'):
        models.install_reader(bad, log=lambda *_: None)
    assert not (tmp_path / 'cache' / 'random.onnx').exists()
    assert models.install(reader_from=bad, log=lambda *_: None) == 2
    own = with_config(fixed_model(tmp_path / 'own.onnx'))     # an unknown model with its own config
    installed = models.install_reader(own, log=lambda *_: None)
    assert installed.is_file() and installed.with_name('own_plate_config.yaml').is_file()
    real = shared_path('models-reference', 'cct_xs_v1_global.onnx')
    installed = models.install_reader(real, log=lambda *_: None)
    assert installed.name == 'cct_xs_v1_global.onnx'
    assert hashlib.sha256(installed.read_bytes()).hexdigest() == hashlib.sha256(real.read_bytes()).hexdigest()
    assert models.reader_model_status()[0] == 'ok'
