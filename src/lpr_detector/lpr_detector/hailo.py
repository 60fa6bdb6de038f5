# SPDX-License-Identifier: AGPL-3.0-or-later
"""YOLOv8 detector on a Hailo-8 through HailoRT's Python API (``hailo_platform``).

Written against the documented Python API of HailoRT 4.18 to 4.21 (the versions that
Raspberry Pi OS ships as ``hailo-all`` / ``python3-hailort``). It has not been run on
hardware yet. It uses the synchronous vstreams API, whose calls are the same in all those
versions: ``HEF``, ``VDevice``, ``ConfigureParams``, ``Input/OutputVStreamParams``,
``InferVStreams``.

The HEF must end in HailoRT's NMS post-process, as the model zoo's YOLOv8 HEFs do. It then
has a single output in the "NMS by class" layout. ``InferVStreams.infer`` returns that
output as one list per frame holding, for each class, an ``(n, 5)`` array of
``[y_min, x_min, y_max, x_max, score]`` normalised to 0..1 of the network input. HailoRT
called this layout ``HAILO_NMS`` up to 4.20. 4.20 renamed it ``HAILO_NMS_BY_CLASS`` and
4.21 removed the old name. Any other output layout is refused with a DetectorError: raw
YOLO heads, NMS by score, or NMS with masks.

Pre-processing: the model zoo prepares its YOLO models with Ultralytics' letterbox
(aspect ratio kept, centred, grey 114 padding; ``yolo_v5`` preprocessing in
hailo_model_zoo). ``resize='letterbox'`` (the default) does the same. Some of Hailo's
streaming examples stretch the frame to the input instead. Use ``resize='stretch'`` for a
HEF that was trained that way. The HEF takes RGB uint8 and normalises on the chip.

The device is opened once, without HailoRT's model scheduler. The network group is
activated once, and the vstreams stay open until ``close()``. This allows one HailoDetector
per Hailo-8 and process.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from lpr_detector import yolo
from lpr_detector.base import Box, Detector, DetectorError, register

INSTALL_HINT = ('hailo_platform is not installed: install HailoRT (python3-hailort / hailo-all on '
                'Raspberry Pi OS) to use the Hailo-8 backend')
RESIZE_MODES = ('letterbox', 'stretch')
# The NMS-by-class output layout under its names before and after HailoRT 4.20.
NMS_BY_CLASS_ORDERS = frozenset({'HAILO_NMS', 'HAILO_NMS_BY_CLASS'})
BBOX_PARAMS = 5  # y_min, x_min, y_max, x_max, score

COCO_NAMES = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat',
    'traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog',
    'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella',
    'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
    'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
    'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
    'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant',
    'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone',
    'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors',
    'teddy bear', 'hair drier', 'toothbrush',
)


@dataclass(frozen=True)
class Layout:
    """The parts of a HEF the detector uses: one HxWx3 input, one NMS-by-class output."""
    input_name: str
    input_hw: tuple[int, int]
    output_name: str
    num_classes: int


@dataclass(frozen=True)
class Stretch:
    """How an image was resized into the network input without keeping its aspect ratio."""
    scale_x: float
    scale_y: float

    def to_source(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        return boxes_xyxy / np.array([self.scale_x, self.scale_y, self.scale_x, self.scale_y])


@register('hailo')
class HailoDetector(Detector):
    def __init__(self, model_path: str | os.PathLike, score_threshold: float = 0.35,
                 iou_threshold: float = 0.5, threads: int = 0, labels: Sequence[str] | None = None,
                 classes: Iterable[str | int] | str | None = None, resize: str = 'letterbox',
                 input_size: int = 0):
        del threads, input_size  # HailoRT runs its own threads; a HEF's input size is fixed
        path = Path(model_path)
        if resize not in RESIZE_MODES:
            raise DetectorError(f'resize must be one of {", ".join(RESIZE_MODES)}, got {resize!r}')
        if not path.is_file():
            raise DetectorError(f'HEF file not found: {path}')
        self._hailo = import_hailo_platform()
        self._stack = contextlib.ExitStack()
        self._pipeline = None
        self.resize = resize
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.name = f'hailo:{path.stem}'
        try:
            self._open(path, labels, classes)
        except DetectorError:
            self._stack.close()
            raise
        except Exception as exc:  # HailoRT raises its own exception types
            self._stack.close()
            raise DetectorError(f'cannot open {path} on the Hailo-8: {exc}') from exc

    def _open(self, path: Path, labels, classes) -> None:
        hef = self._hailo.HEF(str(path))
        self.layout = read_layout(hef, path)
        check_resize(self.resize, self.layout.input_hw, path)
        self.labels = resolve_labels(labels, self.layout.num_classes)
        self.classes = resolve_classes(classes, self.labels)
        self._pipeline = open_pipeline(self._hailo, hef, self._stack)

    def detect(self, image: np.ndarray) -> list[Box]:
        if self._pipeline is None:
            raise DetectorError(f'{self.name} is closed')
        fitted, mapping = fit(image, self.layout.input_hw, self.resize)
        try:
            results = self._pipeline.infer({self.layout.input_name: to_input(fitted)})
        except self._hailo.HailoRTException as exc:
            raise DetectorError(f'{self.name}: inference failed: {exc}') from exc
        per_class = frame_detections(results, self.layout.output_name)
        xyxy, scores, class_ids = decode_nms_by_class(per_class, self.layout.input_hw)
        keep = select(scores, class_ids, self.score_threshold, self.classes)
        boxes = to_boxes(mapping.to_source(xyxy[keep]), scores[keep], class_ids[keep],
                         self.labels, image.shape[:2])
        return suppress(boxes, self.iou_threshold)

    def close(self) -> None:
        """Deactivate the network group, release the vstreams, then the device."""
        self._pipeline = None
        self._stack.close()  # unwinds in reverse order; a second close finds nothing left


def import_hailo_platform():
    try:
        import hailo_platform
    except ImportError:
        raise DetectorError(INSTALL_HINT) from None
    return hailo_platform


def open_pipeline(hailo, hef, stack: contextlib.ExitStack):
    """Device, network group, vstreams, activation: each registered on ``stack`` for release."""
    params = hailo.VDevice.create_params()
    params.scheduling_algorithm = hailo.HailoSchedulingAlgorithm.NONE  # we activate, once
    vdevice = stack.enter_context(hailo.VDevice(params))
    configure_params = hailo.ConfigureParams.create_from_hef(
        hef=hef, interface=hailo.HailoStreamInterface.PCIe)
    network_group = vdevice.configure(hef, configure_params)[0]
    inputs = hailo.InputVStreamParams.make(network_group, format_type=hailo.FormatType.UINT8)
    outputs = hailo.OutputVStreamParams.make(network_group, format_type=hailo.FormatType.FLOAT32)
    pipeline = stack.enter_context(hailo.InferVStreams(network_group, inputs, outputs))
    stack.enter_context(network_group.activate(network_group.create_params()))
    return pipeline


def order_name(order) -> str:
    """``FormatOrder.HAILO_NMS_BY_CLASS`` -> ``'HAILO_NMS_BY_CLASS'``."""
    return getattr(order, 'name', None) or str(order).rsplit('.', 1)[-1]


def read_layout(hef, path: Path) -> Layout:
    inputs, outputs = hef.get_input_vstream_infos(), hef.get_output_vstream_infos()
    if len(inputs) != 1:
        raise DetectorError(f'{path}: expected one input, got {[i.name for i in inputs]}')
    shape = tuple(int(v) for v in inputs[0].shape)
    if len(shape) != 3 or shape[2] != 3:
        raise DetectorError(f'{path}: expected an HxWx3 RGB input, got shape {shape}')
    if len(outputs) != 1 or order_name(outputs[0].format.order) not in NMS_BY_CLASS_ORDERS:
        found = ', '.join(f'{o.name} ({order_name(o.format.order)})' for o in outputs)
        raise DetectorError(f'{path}: unsupported output layout: {found}; the Hailo backend reads one '
                            'NMS-by-class output (HAILO_NMS / HAILO_NMS_BY_CLASS): compile the HEF '
                            'with the NMS post-process')
    num_classes = int(outputs[0].nms_shape.number_of_classes)
    return Layout(inputs[0].name, (shape[0], shape[1]), outputs[0].name, num_classes)


def check_resize(resize: str, input_hw: tuple[int, int], path: Path) -> None:
    h, w = input_hw
    if resize == 'letterbox' and h != w:
        raise DetectorError(f"{path}: letterbox needs a square input, the HEF's is {h}x{w}; "
                            "use resize='stretch'")


def default_labels(num_classes: int) -> list[str]:
    if num_classes == 1:
        return ['plate']
    if num_classes == len(COCO_NAMES):
        return list(COCO_NAMES)
    return [str(i) for i in range(num_classes)]


def resolve_labels(labels: Sequence[str] | None, num_classes: int) -> list[str]:
    """The given labels, or defaults: HailoRT's Python API reads no class names from a HEF."""
    if not labels:
        return default_labels(num_classes)
    if len(labels) != num_classes:
        raise DetectorError(f'{len(labels)} labels given, but the HEF has {num_classes} classes')
    return [str(label) for label in labels]


def resolve_classes(classes, labels: list[str]) -> frozenset[int] | None:
    """Class indices to keep, from names or indices (a comma-separated string works too).

    None or empty keeps every class."""
    if isinstance(classes, str):
        classes = [c.strip() for c in classes.split(',') if c.strip()]
    if not classes:
        return None
    return frozenset(_class_index(c, labels) for c in classes)


def _class_index(wanted, labels: list[str]) -> int:
    if isinstance(wanted, (int, np.integer)) and not isinstance(wanted, bool):
        if not 0 <= wanted < len(labels):
            raise DetectorError(f'class index {wanted} out of range 0..{len(labels) - 1}')
        return int(wanted)
    if str(wanted) not in labels:
        raise DetectorError(f'unknown class {wanted!r}; classes: {", ".join(labels)}')
    return labels.index(str(wanted))


def fit(image: np.ndarray, input_hw: tuple[int, int], resize: str) -> tuple[np.ndarray, object]:
    """BGR image -> BGR network-sized image, and the mapping back (``.to_source(xyxy)``)."""
    h, w = input_hw
    if resize == 'letterbox':
        return yolo.letterbox(image, h)
    ih, iw = image.shape[:2]
    resized = image if (ih, iw) == (h, w) else cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    return resized, Stretch(w / iw, h / ih)


def to_input(fitted_bgr: np.ndarray) -> np.ndarray:
    """BGR HxWx3 -> RGB uint8 1xHxWx3 (NHWC), C-contiguous as HailoRT wants it."""
    return np.ascontiguousarray(fitted_bgr[:, :, ::-1], dtype=np.uint8)[None]


def frame_detections(results: dict, output_name: str) -> list:
    """The first frame's per-class detections in ``InferVStreams.infer``'s result."""
    output = results.get(output_name)
    if isinstance(output, np.ndarray) or not output:
        raise DetectorError(f'output {output_name!r} is not an NMS-by-class result '
                            f'(got {type(output).__name__})')
    return output[0]


def decode_nms_by_class(per_class: Sequence, input_hw: tuple[int, int]
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class (n, 5) [y_min, x_min, y_max, x_max, score] in 0..1 -> xyxy in input pixels,
    scores, class indices."""
    rows, class_ids = [np.empty((0, BBOX_PARAMS))], [np.empty(0, dtype=np.int64)]
    for class_id, dets in enumerate(per_class):
        dets = np.asarray(dets, dtype=np.float64)
        if dets.size % BBOX_PARAMS:
            raise DetectorError(f'class {class_id}: NMS detections of shape {dets.shape}, '
                                f'expected rows of {BBOX_PARAMS}')
        dets = dets.reshape(-1, BBOX_PARAMS)
        rows.append(dets)
        class_ids.append(np.full(len(dets), class_id, dtype=np.int64))
    dets = np.concatenate(rows)
    h, w = input_hw
    xyxy = dets[:, [1, 0, 3, 2]] * np.array([w, h, w, h], dtype=np.float64)
    return xyxy, dets[:, 4], np.concatenate(class_ids)


def select(scores: np.ndarray, class_ids: np.ndarray, score_threshold: float,
           classes: frozenset[int] | None) -> np.ndarray:
    """Mask of the detections at or above the threshold and, if given, in ``classes``."""
    keep = scores >= score_threshold
    if classes is not None:
        keep &= np.isin(class_ids, sorted(classes))
    return keep


def to_boxes(xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, labels: list[str],
             image_hw: tuple[int, int]) -> list[Box]:
    """Source-pixel xyxy -> Boxes clipped to the frame, best first; empty boxes dropped."""
    h, w = image_hw
    xyxy = xyxy.copy()
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
    boxes = []
    for (x1, y1, x2, y2), score, c in zip(xyxy.tolist(), scores.tolist(), class_ids.tolist()):
        if x2 - x1 >= 1 and y2 - y1 >= 1:
            label = labels[c] if c < len(labels) else str(c)
            boxes.append(Box(x1, y1, x2 - x1, y2 - y1, score, label))
    boxes.sort(key=lambda b: b.score, reverse=True)
    return boxes


def suppress(boxes: list[Box], iou_threshold: float) -> list[Box]:
    """Greedy NMS per label on boxes sorted best first.

    HailoRT already ran NMS at the HEF's compiled IoU. This pass applies ours, as the ONNX
    backend does."""
    kept: list[Box] = []
    for box in boxes:
        if all(k.label != box.label or box.iou(k) <= iou_threshold for k in kept):
            kept.append(box)
    return kept
