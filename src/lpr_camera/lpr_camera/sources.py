"""Frame sources of the camera node: video files, streams, USB cameras, image folders,
Picamera2 and the synthetic scene, behind one small interface.

Pure Python (no rclpy): the node opens a source with :func:`open_source` and publishes what
``read()`` returns. Every source hands out BGR ``uint8`` frames numbered from 0.

Live sources (RTSP/HTTP streams, USB cameras) are read by a background thread that keeps
only the newest frame, so a slow consumer always gets a fresh image; frames it never saw are
counted in ``dropped``. A lost stream is reopened with exponential backoff (``reconnects``).
The first open is not retried: a camera that cannot be opened at all is a clear error for the
caller (a failed lifecycle transition), not a silent wait.
"""
from __future__ import annotations

import abc
import dataclasses
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from lpr_camera.config import CameraConfig
from lpr_camera.picamera_controls import ControlError, PiCameraControls, SensorClock, frame_duration_us
from lpr_camera.synthetic import SceneConfig, SceneError, SyntheticScene

_LOG = logging.getLogger(__name__)

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
DEFAULT_FOLDER_FPS = 1.0   # an image folder's own frame rate, when options.fps is not set
_STREAM_PREFIXES = ('rtsp://', 'rtsps://', 'http://', 'https://')
_FFMPEG_OPTIONS_ENV = 'OPENCV_FFMPEG_CAPTURE_OPTIONS'


class SourceError(RuntimeError):
    """A source that cannot be opened or read; the message is one line for the log."""


class SourceTimeout(SourceError):
    """A live source gave no frame in time (it keeps trying to reconnect)."""


@dataclass(frozen=True)
class Frame:
    """One captured image.

    ``stamp_ns`` is the wall-clock capture time (``time.time_ns()``; Picamera2: the sensor's
    time stamp on that clock), ``source_pts_ms`` the position the source itself reports (video
    timestamp, sensor time), when it has one.
    """

    image: np.ndarray
    seq: int
    stamp_ns: int
    source_pts_ms: float | None = None


@dataclass(frozen=True)
class SourceOptions:
    """Options of every source kind; each kind uses those that apply to it.

    loop: start files, folders and the synthetic scene again at their end.
    realtime: pace non-live sources (files, folders, the synthetic scene) at their frame rate,
        measured from open; a slow reader makes them late, nothing is skipped. False reads
        as fast as the caller asks (tests, evaluation).
    fps: frame rate to pace non-live sources at instead of their own (a file's rate, the
        scene's, DEFAULT_FOLDER_FPS for folders); requested rate of cameras.
    width, height: requested size of USB cameras and Picamera2, size of the synthetic scene.
    reconnect_initial_s, reconnect_max_s: backoff between reconnects of a live source.
    read_timeout_s: how long ``read()`` of a live source waits before raising SourceTimeout.
    max_frame_age_s: a live frame that waited longer than this is dropped as stale.
    scene: the synthetic scene (a ``synthetic:SEED`` spec still sets its seed).
    picamera: Picamera2 controls (focus, exposure mode, brightness, contrast, sharpness).

    0 for fps, width or height means "not set", like None.
    """

    loop: bool = False
    realtime: bool = True
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    reconnect_initial_s: float = CameraConfig.reconnect_initial_s   # the node's defaults, kept in one place
    reconnect_max_s: float = CameraConfig.reconnect_max_s
    read_timeout_s: float = 5.0
    max_frame_age_s: float = 1.0   # live sources: a frame older than this when read is dropped (0 = keep)
    scene: SceneConfig | None = None
    picamera: PiCameraControls | None = None

    def __post_init__(self) -> None:
        for name in ('fps', 'width', 'height'):
            if getattr(self, name) == 0:
                object.__setattr__(self, name, None)
        problems = [msg for bad, msg in (
            (self.fps is not None and self.fps <= 0, 'fps must be > 0'),
            ((self.width is None) != (self.height is None),
             'give both width and height, or neither'),
            (any(v is not None and v <= 0 for v in (self.width, self.height)),
             'width and height must be > 0'),
            (self.reconnect_initial_s <= 0, 'reconnect_initial_s must be > 0'),
            (self.reconnect_max_s < self.reconnect_initial_s,
             'reconnect_max_s must be >= reconnect_initial_s'),
            (self.read_timeout_s <= 0, 'read_timeout_s must be > 0'),
        ) if bad] + (self.picamera.problems() if self.picamera else [])
        if problems:
            raise SourceError('bad source options: ' + '; '.join(problems))


class FrameSource(abc.ABC):
    """A stream of frames: ``open()``, ``read()`` until it returns None, ``close()``.

    Also a context manager (opens on enter, closes on exit). ``dropped`` counts frames a live
    source captured but nobody read.
    """

    def __init__(self) -> None:
        self._seq = 0
        self.dropped = 0

    @abc.abstractmethod
    def open(self) -> None:
        """Acquire the device, file or stream; raises SourceError."""

    @abc.abstractmethod
    def read(self) -> Frame | None:
        """The next frame, or None at the end of the stream."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release everything; safe to call twice."""

    @property
    def fps(self) -> float | None:
        """Nominal frame rate, when known."""
        return None

    @property
    def is_live(self) -> bool:
        """True for cameras and streams (frames are not waiting to be read)."""
        return False

    def health(self) -> dict:
        """Figures for the status topic (live sources: connection, reconnects, frame age)."""
        return {}

    def pause(self) -> None:
        """Stop capturing but keep the device (the node is deactivated); no-op by default."""

    def resume(self) -> None:
        """Capture again after ``pause()``; no-op by default."""

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _frame(self, image: np.ndarray, pts_ms: float | None = None,
               stamp_ns: int | None = None) -> Frame:
        frame = Frame(_as_bgr(image), self._seq, stamp_ns or time.time_ns(), pts_ms)
        self._seq += 1
        return frame


def _as_bgr(image: np.ndarray) -> np.ndarray:
    """3-channel uint8 BGR from grey or 4-channel input."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, :3])
    return image


class _Pacer:
    """Sleeps so that frame n is handed out no earlier than n / fps after the
    first one. The clock starts at the first frame, not at open(): a source
    opened early (the camera waits for a subscriber) must not burst to catch up."""

    def __init__(self, fps: float | None) -> None:
        self._period = 1.0 / fps if fps else 0.0
        self._start: float | None = None
        self._count = 0

    def wait(self) -> None:
        if self._start is None:
            self._start = time.monotonic()
        if self._period:
            delay = self._start + self._count * self._period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self._count += 1


@dataclass
class _Backoff:
    """Exponential backoff: initial, 2x initial, ... capped at maximum."""

    initial: float
    maximum: float
    _next: float = 0.0

    def reset(self) -> None:
        self._next = self.initial

    def next_delay(self) -> float:
        delay = self.peek()
        self._next = min(self.maximum, delay * 2)
        return delay

    def peek(self) -> float:
        return self._next or self.initial


def redact_url(url: str) -> str:
    """The URL with any password replaced, fit for a log line."""
    return re.sub(r'(://[^:/@]+):[^@/]*@', r'\1:***@', url)


# ---------------------------------------------------------------------------------------------
# OpenCV VideoCapture: files, streams, USB cameras
# ---------------------------------------------------------------------------------------------

class _LatestFrameReader:
    """Thread that reads a live capture, keeps only the newest frame and reconnects.

    ``connect`` opens a fresh capture or raises SourceError; the reader owns the capture it
    is given and releases it from its own thread (VideoCapture is not thread-safe).
    """

    def __init__(self, capture, connect: Callable[[], object], name: str,
                 backoff: _Backoff, on_connect: Callable[[object], None] | None = None) -> None:
        self._capture = capture          # None: not reachable yet, the thread keeps trying
        self._connect = connect
        self._name = name
        self._backoff = backoff
        self._on_connect = on_connect or (lambda capture: None)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._latest: tuple[np.ndarray, float | None, int] | None = None
        self.dropped = 0
        self.reconnects = 0
        self.ever_connected = capture is not None
        self.last_frame_ns: int | None = None
        self.stale = 0          # frames dropped because they waited too long
        self._thread = threading.Thread(target=self._run, name=f'frames:{name}', daemon=True)

    @property
    def connected(self) -> bool:
        return self._capture is not None

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout)

    def get(self, timeout: float, max_age_s: float = 0.0) -> tuple[np.ndarray, float | None, int] | None:
        """The newest unread frame (image, pts_ms, stamp_ns); None after timeout or stop.
        A frame that waited longer than ``max_age_s`` (when > 0) is dropped as stale."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                self._cond.wait_for(lambda: self._latest is not None or self._stop.is_set(),
                                    max(0.0, end - time.monotonic()))
                item, self._latest = self._latest, None
                if item is None or not max_age_s or time.time_ns() - item[2] <= max_age_s * 1e9:
                    return item
                self.stale += 1

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self._capture is None and not self._reconnect():
                    continue
                if not self._read_one():
                    self._capture.release()
                    self._capture = None
                    with self._cond:        # a frame of the lost connection is stale by now
                        self._latest = None
        finally:
            if self._capture is not None:
                self._capture.release()

    def _read_one(self) -> bool:
        """Read a frame into the slot; False when the stream is lost."""
        try:
            ok, image = self._capture.read()
            pts_ms = self._capture.get(cv2.CAP_PROP_POS_MSEC)
        except Exception as exc:   # noqa: BLE001 - a decoder error must not end the thread
            _LOG.warning('lost %s: %s; reconnecting', self._name, exc)
            return False
        if not ok or image is None:
            _LOG.warning('lost %s; reconnecting', self._name)
            return False
        self._publish(image, pts_ms)
        return True

    def _publish(self, image: np.ndarray, pts_ms: float) -> None:
        with self._cond:
            if self._latest is not None:
                self.dropped += 1
            self.last_frame_ns = time.time_ns()
            self._latest = (image, pts_ms if pts_ms > 0 else None, self.last_frame_ns)
            self._cond.notify_all()

    def _reconnect(self) -> bool:
        delay = self._backoff.next_delay()
        if self._stop.wait(delay):
            return False
        try:
            self._capture = self._connect()
        except SourceError as exc:
            _LOG.warning('%s; next try in %.1f s', exc, self._backoff.peek())
            return False
        self._backoff.reset()
        self._on_connect(self._capture)
        if self.ever_connected:
            self.reconnects += 1
            _LOG.info('reconnected to %s', self._name)
        else:
            self.ever_connected = True
            _LOG.info('connected to %s', self._name)
        return True


class VideoSource(FrameSource):
    """A video file, an RTSP/HTTP stream or a USB camera, read with ``cv2.VideoCapture``.

    ``target``: a file path, a ``rtsp://``/``http(s)://`` URL, a device index or
    ``/dev/videoN``. Streams are opened over TCP (``OPENCV_FFMPEG_CAPTURE_OPTIONS`` is set to
    ``rtsp_transport;tcp`` unless the user set it). Files end with None, or start again with
    ``loop``; ``realtime`` plays them at their own frame rate.
    """

    def __init__(self, target: str | int, options: SourceOptions | None = None) -> None:
        super().__init__()
        self.target = target
        self.options = options or SourceOptions()
        self.kind = _capture_kind(target)
        self.reconnects = 0
        self._capture = None
        self._reader: _LatestFrameReader | None = None
        self._pacer: _Pacer | None = None
        self._fps: float | None = None

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def is_live(self) -> bool:
        return self.kind != 'file'

    @property
    def name(self) -> str:
        if self.kind == 'file':
            return f'video file {str(self.target)!r}'
        if self.kind == 'stream':
            return f'stream {redact_url(str(self.target))}'
        return f'USB camera {self.target}'

    def open(self) -> None:
        if self.kind == 'file' and not Path(str(self.target)).is_file():
            raise SourceError(f'cannot open {self.name}: no such file')
        if self.is_live:
            self._open_live()
            return
        self._capture = self._connect()
        self._fps = self.options.fps or _capture_fps(self._capture)
        self._pacer = _Pacer(self._fps if self.options.realtime else None)
        _LOG.info('opened %s (%s fps)', self.name, f'{self._fps:.1f}' if self._fps else 'unknown')

    def _open_live(self) -> None:
        """A camera or stream that is not reachable yet (edge boxes boot before
        their cameras) is waited for like one that dropped: the reader thread
        keeps trying with back-off, and read() times out meanwhile."""
        try:
            capture = self._connect()
        except SourceError as exc:
            _LOG.warning('%s; waiting for it', exc)
            capture = None
        if capture is not None:
            self._connected(capture)
        backoff = _Backoff(self.options.reconnect_initial_s, self.options.reconnect_max_s)
        self._reader = _LatestFrameReader(capture, self._connect, self.name, backoff, on_connect=self._connected)
        self._reader.start()

    def _connected(self, capture) -> None:
        self._fps = _capture_fps(capture)
        _LOG.info('opened %s (%s fps)', self.name, f'{self._fps:.1f}' if self._fps else 'unknown')

    def health(self) -> dict:
        reader = self._reader
        if reader is None:
            return {}
        age = (time.time_ns() - reader.last_frame_ns) / 1e9 if reader.last_frame_ns else None
        return {'connected': reader.connected, 'reconnects': reader.reconnects, 'source_fps': self._fps,
                'last_frame_age_s': round(age, 3) if age is not None else None, 'source_dropped': reader.dropped,
                'stale_frames': reader.stale}

    def read(self) -> Frame | None:
        if self.is_live:
            return self._read_live() if self._reader is not None else None
        if self._capture is None:
            return None
        ok, image = self._capture.read()
        if not ok and self.options.loop:
            self._capture.release()
            self._capture = self._connect()
            ok, image = self._capture.read()
        if not ok:
            return None
        self._pacer.wait()
        return self._frame(image, self._capture.get(cv2.CAP_PROP_POS_MSEC))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.stop()
            self.dropped, self.reconnects = self._reader.dropped, self._reader.reconnects
            self._reader = None
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def stats(self) -> dict[str, int]:
        """Counters for the status topic: frames read, dropped, reconnects."""
        reader = self._reader
        return {'frames': self._seq,
                'dropped': reader.dropped if reader else self.dropped,
                'reconnects': reader.reconnects if reader else self.reconnects}

    def _read_live(self) -> Frame | None:
        reader = self._reader   # close() may run in another thread
        item = reader.get(self.options.read_timeout_s, self.options.max_frame_age_s)
        if item is None:
            if reader.stopped:
                return None
            if not reader.ever_connected:
                raise SourceTimeout(f'waiting for camera: {self.name} not reachable yet (retrying)')
            raise SourceTimeout(f'no frame from {self.name} for '
                                f'{self.options.read_timeout_s:.1f} s (reconnecting)')
        image, pts_ms, stamp_ns = item
        self.dropped = reader.dropped
        return self._frame(image, pts_ms, stamp_ns)

    def _connect(self):
        """A fresh, opened VideoCapture for the target; raises SourceError."""
        if self.kind == 'stream' and str(self.target).lower().startswith(('rtsp://', 'rtsps://')):
            os.environ.setdefault(_FFMPEG_OPTIONS_ENV, 'rtsp_transport;tcp')
        if self.kind == 'stream':
            timeout_ms = int(self.options.read_timeout_s * 1000)
            capture = cv2.VideoCapture(str(self.target), cv2.CAP_FFMPEG,
                                       [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms,
                                        cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms])
        elif self.kind == 'usb':
            capture = cv2.VideoCapture(self.target)
            self._request_usb_mode(capture)
        else:
            capture = cv2.VideoCapture(str(self.target))
        if not capture.isOpened():
            capture.release()
            reason = ('OpenCV could not decode it' if self.kind == 'file'
                      else 'not reachable or not a video')
            raise SourceError(f'cannot open {self.name}: {reason}')
        return capture

    def _request_usb_mode(self, capture) -> None:
        if not capture.isOpened():
            return
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        if self.options.width:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.options.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.options.height)
        if self.options.fps:
            capture.set(cv2.CAP_PROP_FPS, self.options.fps)


def _capture_kind(target: str | int) -> str:
    if isinstance(target, int) or re.fullmatch(r'/dev/video\d+', str(target)):
        return 'usb'
    if str(target).lower().startswith(_STREAM_PREFIXES):
        return 'stream'
    return 'file'


def _capture_fps(capture) -> float | None:
    fps = capture.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and 0 < fps < 1000 else None


# ---------------------------------------------------------------------------------------------
# Image folder
# ---------------------------------------------------------------------------------------------

def _natural_key(path: Path) -> list:
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r'(\d+)', path.name)]


class ImageFolderSource(FrameSource):
    """The images of a folder (jpg/jpeg/png/bmp) in natural name order.

    Unreadable files are logged, counted in ``skipped`` and left out. With
    ``options.realtime`` the frames are paced at ``options.fps`` (default DEFAULT_FOLDER_FPS).
    """

    def __init__(self, folder: str | Path, options: SourceOptions | None = None) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.options = options or SourceOptions()
        self.skipped = 0
        self.current_path: Path | None = None
        self._paths: list[Path] = []
        self._index = 0
        self._pacer: _Pacer | None = None

    @property
    def fps(self) -> float | None:
        return self.options.fps or DEFAULT_FOLDER_FPS

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f'cannot open image folder {str(self.folder)!r}: no such folder')
        images = (p for p in self.folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        self._paths = sorted(images, key=_natural_key)
        if not self._paths:
            raise SourceError(f'no images ({"/".join(s[1:] for s in IMAGE_SUFFIXES)}) '
                              f'in folder {str(self.folder)!r}')
        self._index = 0
        self._pacer = _Pacer(self.fps if self.options.realtime else None)

    def read(self) -> Frame | None:
        while self._paths:
            if self._index >= len(self._paths):
                if not self.options.loop:
                    return None
                self._index = 0
            path = self._paths[self._index]
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:   # forget it, so that a loop logs and counts it once
                del self._paths[self._index]
                self.skipped += 1
                _LOG.warning('skipping unreadable image %s', path)
                continue
            self._index += 1
            self.current_path = path
            self._pacer.wait()
            return self._frame(image)
        return None

    def close(self) -> None:
        self._paths = []
        self._index = 0


# ---------------------------------------------------------------------------------------------
# Picamera2 (Raspberry Pi camera modules)
# ---------------------------------------------------------------------------------------------

class Picamera2Source(FrameSource):
    """A Raspberry Pi camera through Picamera2 (libcamera).

    One long-lived camera: ``open()`` (the node's configure) acquires, configures and starts
    it; ``pause()``/``resume()`` (deactivate/activate) stop and start the stream without
    letting the camera go; ``close()`` stops and releases it. Nothing is reopened per frame:
    each ``read()`` takes the next completed request, copies its main stream, reads its
    metadata and hands the buffer straight back (``request.release()``).

    The main stream is configured as ``"RGB888"``. Picamera2 names formats after libcamera /
    DRM, where the name lists the channels of a little-endian word: its manual (section 4.2.2.2,
    "Image formats") says RGB888 is "24 bits per pixel, ordered [B, G, R]". So the arrays
    are already in OpenCV's BGR order and are passed on unchanged. ``options.fps`` fixes the
    frame rate through ``FrameDurationLimits`` (what Picamera2's newer ``FrameRate`` control
    sets; without it the video configuration's default, 30 fps, applies). ``options.picamera``
    gives the other controls (see :mod:`lpr_camera.picamera_controls`), checked against the
    ranges the camera reports before it is configured.

    Frames are stamped with the sensor's time stamp (``SensorTimestamp``), mapped onto the wall
    clock by :class:`SensorClock`; ``source_pts_ms`` keeps the raw sensor time.
    """

    def __init__(self, camera_index: int = 0, options: SourceOptions | None = None,
                 clock: SensorClock | None = None) -> None:
        super().__init__()
        self.camera_index = camera_index
        self.options = options or SourceOptions()
        self.controls = self.options.picamera or PiCameraControls()
        self.clock = clock or SensorClock()
        self.opens = 0                  # how often a camera was acquired (once per configure)
        self.stamp_fallbacks = 0        # frames stamped on arrival: no usable sensor stamp
        self._camera = None
        self._running = False

    @property
    def fps(self) -> float | None:
        return self.options.fps

    @property
    def is_live(self) -> bool:
        return True

    @property
    def size(self) -> tuple[int, int]:
        return self.options.width or 1280, self.options.height or 720

    def open(self) -> None:
        if self._camera is not None:
            return
        camera = self._acquire()
        try:
            camera.configure(self._configuration(camera))
            camera.start()
        except SourceError:
            camera.close()
            raise
        except Exception as exc:
            camera.close()
            raise SourceError(f'cannot start Picamera2 camera {self.camera_index} at '
                              f'{self.size[0]}x{self.size[1]}: {exc}') from exc
        self._camera, self._running = camera, True
        self.opens += 1
        self.clock.sync()

    def _acquire(self):
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceError('picamera2 is not installed: it exists only on Raspberry Pi OS '
                              '(apt install python3-picamera2)') from exc
        try:
            return Picamera2(self.camera_index)
        except Exception as exc:   # Picamera2 raises IndexError/RuntimeError without a camera
            raise SourceError(f'cannot open Picamera2 camera {self.camera_index}: {exc}') from exc

    def _configuration(self, camera) -> dict:
        """The video configuration; a control the camera cannot take is a SourceError."""
        try:
            controls = self.controls.to_controls(getattr(camera, 'camera_controls', None))
        except ControlError as exc:
            raise SourceError(f'Picamera2 camera {self.camera_index}: {exc}') from None
        if self.options.fps:
            controls['FrameDurationLimits'] = frame_duration_us(self.options.fps)
        return camera.create_video_configuration(main={'size': self.size, 'format': 'RGB888'},
                                                 controls=controls)

    def pause(self) -> None:
        if self._camera is not None and self._running:
            self._running = False
            self._camera.stop()

    def resume(self) -> None:
        if self._camera is not None and not self._running:
            self._camera.start()
            self._running = True
            self.clock.sync()

    def read(self) -> Frame | None:
        camera = self._camera
        if camera is None:
            return None
        if not self._running:
            raise SourceError(f'Picamera2 camera {self.camera_index} is paused')
        try:
            request = camera.capture_request()
        except Exception as exc:
            raise SourceError(f'Picamera2 camera {self.camera_index} failed: {exc}') from exc
        try:
            image = request.make_array('main')      # a copy: the buffer goes back below
            metadata = request.get_metadata()
        finally:
            request.release()
        sensor_ns = metadata.get('SensorTimestamp')
        stamp_ns = self.clock.to_wall(sensor_ns) if sensor_ns else None
        if stamp_ns is None:
            self.stamp_fallbacks += 1
        return self._frame(image, sensor_ns / 1e6 if sensor_ns else None, stamp_ns)

    def health(self) -> dict:
        return {'source_fps': self.options.fps, 'stamp_fallbacks': self.stamp_fallbacks,
                'clock_resyncs': self.clock.resyncs}

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is None:
            return
        try:
            if self._running:
                camera.stop()
        finally:
            self._running = False
            camera.close()


# ---------------------------------------------------------------------------------------------
# Synthetic scene
# ---------------------------------------------------------------------------------------------

class SyntheticSource(FrameSource):
    """Frames of :class:`SyntheticScene`; ``truth(frame)`` gives the plates of a frame.

    ``options`` override the scene's fps and size when set; ``loop`` repeats the scene.
    """

    def __init__(self, config: SceneConfig | None = None,
                 options: SourceOptions | None = None) -> None:
        super().__init__()
        self.options = options or SourceOptions()
        self.config = _scene_config(config or self.options.scene or SceneConfig(), self.options)
        self.scene: SyntheticScene | None = None
        self._pacer: _Pacer | None = None

    @property
    def fps(self) -> float | None:
        return self.config.fps

    def open(self) -> None:
        self.scene = SyntheticScene(self.config)
        self._pacer = _Pacer(self.config.fps if self.options.realtime else None)

    def read(self) -> Frame | None:
        if self.scene is None or (self._seq >= self.scene.num_frames and not self.options.loop):
            return None
        self._pacer.wait()
        pts_ms = (self._seq % self.scene.num_frames) * 1000.0 / self.config.fps
        return self._frame(self.scene.frame(self._seq), pts_ms)

    def truth(self, frame: Frame):
        """Plates drawn in ``frame`` (a list of ``PlateTruth``)."""
        return self.scene.truth(frame.seq)

    def close(self) -> None:
        self.scene = None


def _scene_config(config: SceneConfig, options: SourceOptions) -> SceneConfig:
    changes = {k: v for k, v in (('fps', options.fps), ('width', options.width),
                                 ('height', options.height)) if v is not None}
    return _replace_scene(config, **changes) if changes else config


def _replace_scene(config: SceneConfig, **changes) -> SceneConfig:
    try:
        return dataclasses.replace(config, **changes)
    except SceneError as exc:
        raise SourceError(str(exc)) from exc


# ---------------------------------------------------------------------------------------------
# Factory
# ---------------------------------------------------------------------------------------------

def open_source(spec: str, **options) -> FrameSource:
    """A (not yet opened) source for ``spec``; ``options`` are :class:`SourceOptions` fields.

    ``synthetic`` or ``synthetic:SEED``; ``picamera2`` or ``picamera2:INDEX``;
    ``rtsp://...``, ``http(s)://...``; a device index or ``/dev/videoN``; a folder of images;
    otherwise a video file, which must exist.
    """
    opts = _options(options)
    spec = str(spec).strip()
    if not spec:
        raise SourceError('empty source spec')
    head, _, arg = spec.partition(':')
    if head.lower() == 'synthetic':
        scene = opts.scene or SceneConfig()
        if arg:
            scene = _replace_scene(scene, seed=_int_arg(spec, arg, 0))
        return SyntheticSource(scene, opts)
    if head.lower() == 'picamera2':
        return Picamera2Source(_int_arg(spec, arg, 0), opts)
    if spec.lower().startswith(_STREAM_PREFIXES) or re.fullmatch(r'/dev/video\d+', spec):
        return VideoSource(spec, opts)
    if spec.isdigit():
        return VideoSource(int(spec), opts)
    path = Path(spec).expanduser()
    if path.is_dir():
        return ImageFolderSource(path, opts)
    if '://' in spec:
        raise SourceError(f'unknown source {spec!r}: supported URLs are '
                          f'{", ".join(_STREAM_PREFIXES)}')
    if not path.is_file():
        raise SourceError(f'cannot open video file {spec!r}: no such file')
    return VideoSource(str(path), opts)


def _options(options: dict) -> SourceOptions:
    known = {f.name for f in fields(SourceOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise SourceError(f'unknown source option(s) {", ".join(unknown)} '
                          f'(known: {", ".join(sorted(known))})')
    return SourceOptions(**options)


def _int_arg(spec: str, arg: str, default: int) -> int:
    if not arg:
        return default
    try:
        return int(arg)
    except ValueError:
        raise SourceError(f'bad source {spec!r}: expected an integer after ":"') from None
