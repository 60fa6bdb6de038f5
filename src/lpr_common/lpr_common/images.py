"""Conversions between ROS image messages and numpy arrays.

The real ROS 2 ``cv_bridge`` is used when it can be imported (a ROS install);
the PyPI ``cv-bridge`` is a ROS 1 copy that breaks under numpy 2, so on a
pip-only machine these small conversions do the same job. They honour
``step`` (row padding) and ``encoding``, and never copy on the way in.
"""
from __future__ import annotations

import cv2
import numpy as np

# encoding -> (numpy dtype, channels)
_ENCODINGS = {
    'bgr8': (np.uint8, 3),
    'rgb8': (np.uint8, 3),
    'bgra8': (np.uint8, 4),
    'rgba8': (np.uint8, 4),
    'mono8': (np.uint8, 1),
    '8UC1': (np.uint8, 1),
    '8UC3': (np.uint8, 3),
    'mono16': (np.uint16, 1),
}


class ImageError(ValueError):
    """An image message that cannot be turned into pixels."""


def image_to_array(msg) -> np.ndarray:
    """Return a BGR (or mono) view of a ``sensor_msgs/Image`` without copying.

    RGB/RGBA encodings are converted to BGR (a copy). Raises ImageError on a
    message whose size, step or encoding does not add up.
    """
    try:
        dtype, channels = _ENCODINGS[msg.encoding]
    except KeyError:
        raise ImageError(f'unsupported image encoding {msg.encoding!r}') from None
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    itemsize = np.dtype(dtype).itemsize
    row = width * channels * itemsize
    if height == 0 or width == 0:
        raise ImageError('empty image')
    if step < row or len(msg.data) < step * height:
        raise ImageError(
            f'image data too short: {len(msg.data)} bytes for {width}x{height} '
            f'{msg.encoding} with step {step}')
    buf = np.frombuffer(msg.data, dtype=np.uint8, count=step * height)
    rows = buf.reshape(height, step)[:, :row]
    array = rows.view(dtype).reshape(height, width, channels)
    if msg.is_bigendian and itemsize > 1:
        array = array.byteswap()
    if channels == 1:
        return array[:, :, 0]
    if msg.encoding in ('rgb8', 'rgba8'):
        code = cv2.COLOR_RGB2BGR if channels == 3 else cv2.COLOR_RGBA2BGR
        return cv2.cvtColor(array, code)
    if channels == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    return array


def array_to_image(array: np.ndarray, msg) -> None:
    """Fill ``msg`` (a ``sensor_msgs/Image``) from a BGR uint8 or mono array."""
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ImageError(f'expected a uint8 HxW or HxWx3 array, got {array.dtype} {array.shape}')
    array = np.ascontiguousarray(array)
    height, width = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    if channels not in (1, 3):
        raise ImageError(f'expected 1 or 3 channels, got {channels}')
    msg.height, msg.width = height, width
    msg.encoding = 'mono8' if channels == 1 else 'bgr8'
    msg.is_bigendian = 0
    msg.step = width * channels
    msg.data = array.tobytes()


def compressed_to_array(msg) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` to a BGR array."""
    if not len(msg.data):
        raise ImageError('empty compressed image')
    array = cv2.imdecode(np.frombuffer(msg.data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if array is None:
        raise ImageError(f'cannot decode compressed image (format {msg.format!r})')
    return array


def encode_jpeg(array: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode('.jpg', array, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ImageError('JPEG encoding failed')
    return buf.tobytes()


def array_to_compressed(array: np.ndarray, msg, quality: int = 90) -> None:
    """Fill ``msg`` (a ``sensor_msgs/CompressedImage``) with a JPEG of ``array``."""
    msg.format = 'jpeg'
    msg.data = encode_jpeg(array, quality)
