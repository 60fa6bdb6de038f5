# SPDX-License-Identifier: AGPL-3.0-or-later
"""Contract tests of the Hailo-8 backend against a stubbed ``hailo_platform``.

The stub follows HailoRT 4.18's documented Python API: hailo_platform/pyhailort/pyhailort.py
in hailo-ai/hailort at v4.18.0, and its "Python inference tutorial" notebook
(HRT_0_Inference_Tutorial.ipynb). The 4.20/4.21 changes are covered too: the NMS output's
format order is ``HAILO_NMS`` up to 4.20 and ``HAILO_NMS_BY_CLASS`` since. Shapes as documented:
- ``HEF(path).get_input_vstream_infos()[0].shape`` is (H, W, C). An NMS output's
  ``.nms_shape`` has ``number_of_classes`` and ``max_bboxes_per_class``.
- ``VDevice.create_params()`` defaults to the ROUND_ROBIN scheduler; ``VDevice(params)``.
- ``ConfigureParams.create_from_hef(hef=, interface=)``; ``vdevice.configure(hef, params)`` returns
  a list of configured network groups.
- ``InputVStreamParams.make(ng, format_type=)`` and the output equivalent return dicts by vstream name.
- ``InferVStreams(ng, in_params, out_params)`` is a context manager. Its ``infer({name: N x H x W x C})``
  returns, for an NMS output, one list per frame of one (n, 5) float array per class:
  [y_min, x_min, y_max, x_max, score] in 0..1. It needs the network group to be activated
  first (``ng.activate(ng.create_params())``, a context manager).
"""
from __future__ import annotations

import enum
import sys
import types

import numpy as np
import pytest

from lpr_detector import base
from lpr_detector.base import DetectorError
from lpr_detector.hailo import COCO_NAMES, INSTALL_HINT, HailoDetector, decode_nms_by_class

INPUT = 'yolov8n/input_layer1'
OUTPUT = 'yolov8n/yolov8_nms_postprocess'


class FormatOrder(enum.Enum):
    NHWC = 1
    FCR = 3
    HAILO_NMS = 6  # name up to HailoRT 4.20
    HAILO_NMS_BY_CLASS = 22  # name since 4.20
    HAILO_NMS_BY_SCORE = 23


class FormatType(enum.Enum):
    AUTO = 0
    UINT8 = 1
    UINT16 = 2
    FLOAT32 = 3


class HailoStreamInterface(enum.Enum):
    PCIe = 0
    ETH = 3


class HailoSchedulingAlgorithm(enum.Enum):
    NONE = 0
    ROUND_ROBIN = 1


class HailoRTException(Exception):
    pass


def vstream_info(name, shape, order, num_classes=None):
    info = types.SimpleNamespace(name=name, shape=shape, network_name='yolov8n',
                                 format=types.SimpleNamespace(order=order, type=FormatType.AUTO))
    if num_classes is not None:
        info.nms_shape = types.SimpleNamespace(number_of_classes=num_classes, max_bboxes_per_class=100)
    return info


def make_stub(input_shape=(640, 640, 3), num_classes=1, outputs=None):
    """A ``hailo_platform`` module that records its calls in ``stub.calls``. The test sets
    ``stub.per_class`` (one (n, 5) array per class), which ``infer`` returns."""
    stub = types.ModuleType('hailo_platform')
    calls = stub.calls = []
    stub.per_class = [np.empty((0, 5), np.float32) for _ in range(num_classes)]
    stub.fail_configure = False
    stub.infer_raises = None
    stub.fed = []
    if outputs is None:
        outputs = [vstream_info(OUTPUT, (num_classes, 5, 100), FormatOrder.HAILO_NMS_BY_CLASS, num_classes)]
    state = {'active': False}

    class HEF:
        def __init__(self, hef_source):
            if not isinstance(hef_source, (str, bytes)):
                raise ValueError('HEF can only be created from a file path (str) or a buffer (bytes)')
            calls.append(('HEF', hef_source))

        def get_input_vstream_infos(self, name=None):
            return [vstream_info(INPUT, input_shape, FormatOrder.NHWC)]

        def get_output_vstream_infos(self, name=None):
            return outputs

    class Activated:
        def __enter__(self):
            calls.append(('activate',))
            state['active'] = True
            return self

        def __exit__(self, *args):
            calls.append(('deactivate',))
            state['active'] = False

    class ConfiguredNetwork:
        name = 'yolov8n'

        def create_params(self):
            return 'activation params'

        def activate(self, network_group_params=None):
            assert network_group_params == 'activation params'
            return Activated()

    class VDevice:
        def __init__(self, params=None, *, device_ids=None):
            calls.append(('VDevice', params.scheduling_algorithm))
            self._released = False

        @staticmethod
        def create_params():
            return types.SimpleNamespace(scheduling_algorithm=HailoSchedulingAlgorithm.ROUND_ROBIN,
                                         group_id='SHARED', multi_process_service=False)

        def configure(self, hef, configure_params_by_name={}):
            assert configure_params_by_name == {'yolov8n': 'configure params'}
            calls.append(('configure',))
            if stub.fail_configure:
                raise HailoRTException('Invalid HEF. See hailort.log for more information')
            return [ConfiguredNetwork()]

        def release(self):
            if not self._released:
                calls.append(('release VDevice',))
                self._released = True

        def __enter__(self):
            return self

        def __exit__(self, *args):
            self.release()
            return False

    class ConfigureParams:
        @staticmethod
        def create_from_hef(hef, interface):
            calls.append(('ConfigureParams', interface))
            return {'yolov8n': 'configure params'}

    def vstream_params(kind, names):
        def make(configured_network, quantized=None, format_type=None, timeout_ms=None,
                 queue_size=None, network_name=None):
            calls.append((kind, format_type))
            return {n: types.SimpleNamespace(user_buffer_format=format_type) for n in names}
        return staticmethod(make)

    class InputVStreamParams:
        make = vstream_params('InputVStreamParams', [INPUT])

    class OutputVStreamParams:
        make = vstream_params('OutputVStreamParams', [o.name for o in outputs])

    class InferVStreams:
        def __init__(self, configured_net_group, input_vstreams_params, output_vstreams_params,
                     tf_nms_format=False):
            self._outputs = output_vstreams_params

        def __enter__(self):
            calls.append(('open vstreams',))
            return self

        def __exit__(self, *args):
            calls.append(('release vstreams',))
            return False

        def infer(self, input_data):
            if not state['active']:
                raise HailoRTException('Network group is not activated')
            if stub.infer_raises:
                raise stub.infer_raises
            (name, data), = input_data.items()
            calls.append(('infer', name, data.shape, data.dtype.name, data.flags.c_contiguous))
            stub.fed.append(data.copy())
            return {n: [stub.per_class] for n in self._outputs}

    for value in (HEF, VDevice, ConfigureParams, InputVStreamParams, OutputVStreamParams,
                  InferVStreams, FormatType, FormatOrder, HailoStreamInterface,
                  HailoSchedulingAlgorithm, HailoRTException):
        setattr(stub, value.__name__, value)
    return stub


@pytest.fixture
def hef(tmp_path):
    path = tmp_path / 'yolov8n_relu6_lp--640x640_quant_hailort_hailo8_1.hef'
    path.write_bytes(b'HEF stand-in')
    return path


@pytest.fixture
def install(monkeypatch):
    def _install(**kwargs):
        stub = make_stub(**kwargs)
        monkeypatch.setitem(sys.modules, 'hailo_platform', stub)
        return stub
    return _install


def nms_row(x1, y1, x2, y2, score, width, height):
    """A box in source pixels -> one HailoRT NMS row for an image of width x height."""
    return [y1 / height, x1 / width, y2 / height, x2 / width, score]


OPENED = [('configure',), ('InputVStreamParams', FormatType.UINT8),
          ('OutputVStreamParams', FormatType.FLOAT32), ('open vstreams',), ('activate',)]


def test_api_calls_in_order_with_documented_shapes_and_dtypes(install, hef):
    stub = install()
    detector = HailoDetector(hef)
    assert stub.calls == [('HEF', str(hef)), ('VDevice', HailoSchedulingAlgorithm.NONE),
                          ('ConfigureParams', HailoStreamInterface.PCIe), *OPENED]
    stub.calls.clear()
    assert detector.detect(np.zeros((720, 1280, 3), np.uint8)) == []
    detector.detect(np.zeros((480, 640, 3), np.uint8))
    assert stub.calls == [('infer', INPUT, (1, 640, 640, 3), 'uint8', True)] * 2
    stub.calls.clear()
    detector.close()
    assert stub.calls == [('deactivate',), ('release vstreams',), ('release VDevice',)]


def test_close_twice_is_safe_and_detect_after_close_fails(install, hef):
    stub = install()
    detector = HailoDetector(hef)
    detector.close()
    n = len(stub.calls)
    detector.close()
    assert len(stub.calls) == n
    with pytest.raises(DetectorError, match='closed'):
        detector.detect(np.zeros((10, 10, 3), np.uint8))


def test_letterboxed_box_comes_back_in_source_pixels(install, hef):
    stub = install()
    # 1280x720 -> scale 0.5, 640x360 centred: 140 rows of padding above.
    # Source plate (400, 300)-(600, 340) -> input (200, 290)-(300, 310).
    stub.per_class = [np.array([[290 / 640, 200 / 640, 310 / 640, 300 / 640, 0.9]], np.float32)]
    (box,) = HailoDetector(hef).detect(np.zeros((720, 1280, 3), np.uint8))
    assert (box.x, box.y, box.width, box.height) == pytest.approx((400, 300, 200, 40), abs=1e-3)
    assert box.score == pytest.approx(0.9)
    assert box.label == 'plate'


def test_input_is_rgb_and_letterbox_padding_is_grey(install, hef):
    stub = install()
    image = np.zeros((720, 1280, 3), np.uint8)
    image[:, :] = (255, 0, 0)  # BGR blue
    HailoDetector(hef).detect(image)
    fed = stub.fed[0][0]
    assert fed[320, 320].tolist() == [0, 0, 255]  # RGB blue
    assert fed[10, 320].tolist() == [114, 114, 114]


def test_stretch_maps_each_axis_on_its_own(install, hef):
    stub = install()
    stub.per_class = [np.array([nms_row(400, 300, 600, 340, 0.8, 1280, 720)], np.float32)]
    detector = HailoDetector(hef, resize='stretch')
    (box,) = detector.detect(np.zeros((720, 1280, 3), np.uint8))
    assert (box.x, box.y, box.width, box.height) == pytest.approx((400, 300, 200, 40), abs=1e-3)
    assert stub.fed[0].shape == (1, 640, 640, 3)


def test_boxes_are_clipped_to_the_frame(install, hef):
    stub = install()
    # Reaches into the padding below the picture: y_max 0.95 of the input.
    stub.per_class = [np.array([[0.5, 0.25, 0.95, 0.75, 0.7]], np.float32)]
    (box,) = HailoDetector(hef).detect(np.zeros((720, 1280, 3), np.uint8))
    assert box.y2 == pytest.approx(720)
    assert (box.x, box.x2) == pytest.approx((320, 960))


def test_score_threshold_and_order(install, hef):
    stub = install()
    stub.per_class = [np.array([nms_row(10, 10, 110, 40, 0.5, 640, 640),
                                nms_row(200, 200, 300, 230, 0.2, 640, 640),
                                nms_row(400, 400, 500, 430, 0.95, 640, 640)], np.float32)]
    boxes = HailoDetector(hef, score_threshold=0.35).detect(np.zeros((640, 640, 3), np.uint8))
    assert [b.score for b in boxes] == pytest.approx([0.95, 0.5])


def test_overlapping_boxes_of_one_class_are_suppressed_at_iou_threshold(install, hef):
    stub = install()
    stub.per_class = [np.array([nms_row(100, 100, 200, 140, 0.9, 640, 640),
                                nms_row(105, 100, 205, 140, 0.6, 640, 640)], np.float32)]
    image = np.zeros((640, 640, 3), np.uint8)
    assert len(HailoDetector(hef, iou_threshold=0.5).detect(image)) == 1
    assert len(HailoDetector(hef, iou_threshold=0.95).detect(image)) == 2


def coco_frame():
    per_class = [np.empty((0, 5), np.float32) for _ in COCO_NAMES]
    per_class[0] = np.array([nms_row(10, 10, 50, 100, 0.9, 640, 640)], np.float32)    # person
    per_class[2] = np.array([nms_row(100, 100, 300, 200, 0.7, 640, 640)], np.float32)  # car
    per_class[7] = np.array([nms_row(350, 100, 600, 300, 0.8, 640, 640)], np.float32)  # truck
    return per_class


def test_coco_labels_by_default_and_classes_filter(install, hef):
    stub = install(num_classes=80)
    stub.per_class = coco_frame()
    image = np.zeros((640, 640, 3), np.uint8)
    assert len(COCO_NAMES) == 80
    assert [b.label for b in HailoDetector(hef).detect(image)] == ['person', 'truck', 'car']
    for classes in (['car', 'truck', 'bus', 'motorcycle'], [2, 7], 'car, truck'):
        boxes = HailoDetector(hef, classes=classes).detect(image)
        assert [b.label for b in boxes] == ['truck', 'car']


def test_unknown_class_or_label_count_mismatch_fails(install, hef):
    install(num_classes=80)
    with pytest.raises(DetectorError, match="unknown class 'lorry'"):
        HailoDetector(hef, classes=['lorry'])
    with pytest.raises(DetectorError, match='2 labels given, but the HEF has 80 classes'):
        HailoDetector(hef, labels=['a', 'b'])


def test_own_labels(install, hef):
    stub = install(num_classes=2)
    stub.per_class = [np.empty((0, 5)), np.array([nms_row(10, 10, 110, 40, 0.9, 640, 640)])]
    (box,) = HailoDetector(hef, labels=['plate', 'plate_2row']).detect(np.zeros((640, 640, 3), np.uint8))
    assert box.label == 'plate_2row'


def test_missing_module_gives_install_hint(monkeypatch, hef):
    monkeypatch.setitem(sys.modules, 'hailo_platform', None)  # import raises ImportError
    with pytest.raises(DetectorError) as err:
        HailoDetector(hef)
    assert str(err.value) == INSTALL_HINT
    assert 'python3-hailort' in str(err.value) and 'hailo-all' in str(err.value)


def test_missing_hef_names_the_path(install, tmp_path):
    stub = install()
    missing = tmp_path / 'nope.hef'
    with pytest.raises(DetectorError, match='nope.hef'):
        HailoDetector(missing)
    assert stub.calls == []


@pytest.mark.parametrize('outputs', [
    [vstream_info(f'yolov8n/conv{i}', (80, 80, 64), FormatOrder.FCR) for i in range(6)],  # raw heads
    [vstream_info(OUTPUT, (80, 5, 100), FormatOrder.HAILO_NMS_BY_SCORE, 80)],
], ids=['raw-heads', 'nms-by-score'])
def test_unknown_output_layout_fails_before_opening_the_device(install, hef, outputs):
    stub = install(outputs=outputs)
    with pytest.raises(DetectorError, match='unsupported output layout.*NMS'):
        HailoDetector(hef)
    assert stub.calls == [('HEF', str(hef))]


def test_legacy_hailo_nms_order_of_hailort_4_18_is_read(install, hef):
    stub = install(outputs=[vstream_info(OUTPUT, (1, 5, 100), FormatOrder.HAILO_NMS, 1)])
    stub.per_class = [np.array([nms_row(10, 10, 110, 40, 0.9, 640, 640)], np.float32)]
    assert len(HailoDetector(hef).detect(np.zeros((640, 640, 3), np.uint8))) == 1


def test_non_square_input_needs_stretch(install, hef):
    install(input_shape=(384, 640, 3))
    with pytest.raises(DetectorError, match="resize='stretch'"):
        HailoDetector(hef)
    detector = HailoDetector(hef, resize='stretch')
    assert detector.layout.input_hw == (384, 640)


def test_bad_resize_mode(install, hef):
    install()
    with pytest.raises(DetectorError, match='resize must be one of'):
        HailoDetector(hef, resize='crop')


def test_hailort_failure_while_opening_releases_the_device(install, hef):
    stub = install()
    stub.fail_configure = True
    with pytest.raises(DetectorError, match='cannot open .* on the Hailo-8: Invalid HEF'):
        HailoDetector(hef)
    assert stub.calls[-2:] == [('configure',), ('release VDevice',)]


def test_hailort_failure_while_inferring_is_a_detector_error(install, hef):
    stub = install()
    detector = HailoDetector(hef)
    stub.infer_raises = HailoRTException('Received a timeout')
    with pytest.raises(DetectorError, match='inference failed: Received a timeout'):
        detector.detect(np.zeros((640, 640, 3), np.uint8))


def test_tensor_instead_of_nms_lists_fails(install, hef):
    stub = install()
    detector = HailoDetector(hef)
    detector._pipeline.infer = lambda data: {OUTPUT: np.zeros((1, 1, 5, 100), np.float32)}
    with pytest.raises(DetectorError, match='not an NMS-by-class result'):
        detector.detect(np.zeros((640, 640, 3), np.uint8))


def test_decode_rejects_rows_that_are_not_five_wide():
    with pytest.raises(DetectorError, match='rows of 5'):
        decode_nms_by_class([np.zeros((2, 4))], (640, 640))
    xyxy, scores, ids = decode_nms_by_class([np.empty((0, 5)), np.empty((0, 5))], (640, 640))
    assert xyxy.shape == (0, 4) and scores.shape == (0,) and ids.shape == (0,)


def test_registry_finds_the_backend(install, hef):
    install()
    assert 'hailo' in base.BACKENDS.names()
    detector = base.create('hailo', model_path=hef, score_threshold=0.4, iou_threshold=0.5, threads=1)
    assert isinstance(detector, HailoDetector)
    assert detector.name == f'hailo:{hef.stem}'
    assert detector.score_threshold == 0.4
    detector.close()
