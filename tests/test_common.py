import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from lpr_common.config import ConfigError, build_config, check, field_specs, param
from lpr_common.images import (ImageError, array_to_compressed, array_to_image,
                               compressed_to_array, image_to_array)
from lpr_common.worker import Worker


@dataclass(frozen=True)
class Sample:
    name: str = param('x', 'a name')
    rate: float = param(1.0, 'a rate')
    count: int = param(2, 'a count')
    on: bool = param(True, 'a switch')
    tags: list[str] = param(['a'], 'tags')

    def validate(self):
        check(self.rate > 0, 'rate must be > 0')


def test_config_defaults_and_coercion():
    c = build_config(Sample, {'rate': 3, 'tags': ['b', 'c']})
    assert c.rate == 3.0 and isinstance(c.rate, float)
    assert c.tags == ['b', 'c'] and c.name == 'x'
    assert [s[0] for s in field_specs(Sample)] == ['name', 'rate', 'count', 'on', 'tags']


@pytest.mark.parametrize('values, message', [
    ({'rate': 0.0}, 'rate must be > 0'),
    ({'count': 'many'}, "'count' must be an integer"),
    ({'on': 1}, "'on' must be true or false"),
    ({'bogus': 1}, 'unknown parameter'),
    ({'tags': 'a'}, "'tags' must be a list"),
])
def test_config_rejects_bad_values(values, message):
    with pytest.raises(ConfigError, match=message):
        build_config(Sample, values)


def test_image_roundtrip_bgr_and_padded_step():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (7, 5, 3), dtype=np.uint8)
    msg = Image()
    array_to_image(frame, msg)
    assert (msg.height, msg.width, msg.step, msg.encoding) == (7, 5, 15, 'bgr8')
    assert np.array_equal(image_to_array(msg), frame)
    # rows padded to 16 bytes, as some drivers publish them
    padded = np.zeros((7, 16), np.uint8)
    padded[:, :15] = frame.reshape(7, 15)
    msg.step, msg.data = 16, padded.tobytes()
    assert np.array_equal(image_to_array(msg), frame)


def test_rgb_is_converted_to_bgr():
    msg = Image(height=1, width=1, encoding='rgb8', step=3)
    msg.data = bytes([10, 20, 30])
    assert image_to_array(msg)[0, 0].tolist() == [30, 20, 10]


@pytest.mark.parametrize('encoding, size, message', [
    ('yuv422', 6, 'unsupported image encoding'),
    ('bgr8', 5, 'image data too short'),
])
def test_bad_images_raise(encoding, size, message):
    msg = Image(height=1, width=2, encoding=encoding, step=6)
    msg.data = bytes(size)
    with pytest.raises(ImageError, match=message):
        image_to_array(msg)


def test_compressed_roundtrip_and_corrupt():
    frame = np.full((32, 48, 3), 128, np.uint8)
    msg = CompressedImage()
    array_to_compressed(frame, msg)
    assert msg.format == 'jpeg'
    assert np.abs(compressed_to_array(msg).astype(int) - 128).max() < 4
    msg.data = b'not a jpeg'
    with pytest.raises(ImageError):
        compressed_to_array(msg)


def test_worker_drops_oldest_and_survives_errors():
    seen, gate = [], threading.Event()

    def handle(item):
        gate.wait(5)
        if item == 'bad':
            raise ValueError('boom')
        seen.append(item)

    errors = []
    w = Worker(handle, 'test', maxsize=2, on_error=errors.append)
    w.submit('first')          # taken by the worker, blocks on the gate
    time.sleep(0.1)
    for item in ('a', 'bad', 'c'):
        w.submit(item)          # queue holds 2: 'a' is dropped
    gate.set()
    assert w.wait_idle(5)
    w.stop()
    assert seen == ['first', 'c']
    assert w.dropped == 1 and w.failed == 1 and isinstance(errors[0], ValueError)
