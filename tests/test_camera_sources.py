# SPDX-License-Identifier: AGPL-3.0-or-later
"""lpr_camera core: the synthetic scene and the frame sources (no ROS needed).

Run: PYTHONPATH=src/lpr_camera python -m pytest tests/test_camera_sources.py -q
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from lpr_camera import sources
from lpr_camera.sources import (
    Frame,
    ImageFolderSource,
    Picamera2Source,
    SourceError,
    SourceOptions,
    SourceTimeout,
    SyntheticSource,
    VideoSource,
    open_source,
    redact_url,
)
from lpr_camera.picamera_controls import PiCameraControls, SensorClock
from lpr_camera.synthetic import FORMATS, SceneConfig, SceneError, SyntheticScene, parse_plate

SHARED = Path(__file__).resolve().parents[1].parent / 'shared'

ALL_FORMATS = ('UK:AB12CDE', 'SK:BA 123XY', 'DE:M AB 123', 'KZ:123ABC02', 'RU:A123BC77',
               'US:ABC1234', 'BR:ABC1D23')

# a scene that is fast to render: small frame, fast cars, no gap
SMALL = dict(width=480, height=270, speed=1500.0, gap_s=0.0)


@pytest.fixture(scope='module')
def format_scene() -> SyntheticScene:
    return SyntheticScene(SceneConfig(seed=3, cars=ALL_FORMATS, speed=1200.0, gap_s=0.2))


def first_full_view(scene: SyntheticScene) -> dict[int, int]:
    """car id -> a frame index where its plate is fully in view (the middle such frame)."""
    frames: dict[int, list[int]] = {}
    for i in range(scene.num_frames):
        for plate in scene.truth(i):
            if plate.fully_visible:
                frames.setdefault(plate.car_id, []).append(i)
    return {car: idx[len(idx) // 2] for car, idx in frames.items()}


# --------------------------------------------------------------------------------------------
# synthetic scene
# --------------------------------------------------------------------------------------------

def test_same_seed_same_frames_in_any_order():
    a = SyntheticScene(SceneConfig(seed=5, **SMALL))
    b = SyntheticScene(SceneConfig(seed=5, **SMALL))
    indices = [0, 7, 3, a.num_frames // 2, a.num_frames - 1]
    for i in indices:
        assert np.array_equal(a.frame(i), b.frame(i))
    assert np.array_equal(a.frame(7), b.frame(7 + b.num_frames))   # the scene repeats
    assert a.plates() == b.plates()
    assert [a.truth(i) for i in indices] == [b.truth(i) for i in reversed(indices)][::-1]


def test_other_seed_other_plates():
    a = SyntheticScene(SceneConfig(seed=1, **SMALL))
    b = SyntheticScene(SceneConfig(seed=2, **SMALL))
    assert a.plates() != b.plates()


def test_frames_are_bgr_of_the_configured_size():
    scene = SyntheticScene(SceneConfig(seed=0, **SMALL))
    image = scene.frame(3)
    assert image.shape == (270, 480, 3) and image.dtype == np.uint8


def test_random_cars_cycle_through_the_formats():
    scene = SyntheticScene(SceneConfig(seed=4, car_count=len(FORMATS), **SMALL))
    formats = {scene.truth(i)[0].format for i in first_full_view(scene).values()}
    assert formats == set(FORMATS)


def test_every_format_renders_with_its_text(format_scene):
    assert format_scene.plates() == ['AB12CDE', 'BA123XY', 'MAB123', '123ABC02', 'A123BC77',
                                     'ABC1234', 'ABC1D23']
    views = first_full_view(format_scene)
    assert sorted(views) == list(range(len(ALL_FORMATS)))
    seen = {format_scene.truth(i)[0].format for i in views.values()}
    assert seen == set(FORMATS)


def test_truth_boxes_lie_in_the_frame_on_a_bright_plate(format_scene):
    cfg = format_scene.config
    for car, i in first_full_view(format_scene).items():
        image = format_scene.frame(i)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        (plate,) = format_scene.truth(i)
        x, y, w, h = plate.box
        assert plate.car_id == car
        assert 0 <= x and 0 <= y and x + w <= cfg.width and y + h <= cfg.height
        assert 160 <= w <= 260, f'{plate.format} plate {w} px wide'
        region = grey[y:y + h, x:x + w]
        ring = np.concatenate([grey[y - 3:y - 1, x:x + w].ravel(),      # the plate holder
                               grey[y + h + 1:y + h + 3, x:x + w].ravel()])
        assert region.mean() > 120, plate.format                 # light plate ...
        assert region.mean() > ring.mean() + 30, plate.format    # ... in a darker holder
        assert region.min() < 80, plate.format                   # with dark characters


def test_partly_visible_plates_are_clipped():
    scene = SyntheticScene(SceneConfig(seed=2, **SMALL))
    partial = [p for i in range(scene.num_frames) for p in scene.truth(i) if not p.fully_visible]
    assert partial
    for p in partial:
        x, y, w, h = p.box
        assert x >= 0 and x + w <= 480 and w > 0


def test_truth_is_empty_between_cars():
    scene = SyntheticScene(SceneConfig(seed=0, cars=['UK:AB12CDE'], speed=2000.0, gap_s=1.0))
    assert scene.truth(0) == []                 # half a gap before the first car
    assert scene.truth(scene.num_frames - 1) == []


@pytest.mark.parametrize('entry, expected', [
    ('AB12CDE', ('UK', 'AB12 CDE')),
    ('BA123XY', ('SK', 'BA 123XY')),
    ('123ABC02', ('KZ', '123 ABC 02')),
    ('A123BC777', ('RU', 'A123BC 777')),
    ('abc1d23', ('BR', 'ABC1D23')),
    ('US:ABC1234', ('US', 'ABC1234')),
    ('de:HH AB 12', ('DE', 'HH AB 12')),
    ('DE:MAB123', ('DE', 'M AB 123')),      # no spaces: a one-letter district is assumed
])
def test_parse_plate(entry, expected):
    assert parse_plate(entry) == expected


def test_plain_text_of_several_formats_prefers_the_specific_one():
    assert parse_plate('ABC1234')[0] == 'US'
    assert parse_plate('DE:ABC1234') == ('DE', 'A BC 1234')


@pytest.mark.parametrize('entry', ['XX:AB12CDE', '12', 'UK:', 'HELLO WORLD', 'RU:AB12CDE'])
def test_parse_plate_rejects(entry):
    with pytest.raises(SceneError):
        parse_plate(entry)


def test_plates_render_without_opencv_fonts(monkeypatch):
    """OpenCV 4 has no cv2.FontFace: Pillow's built-in font (or Hershey) draws the text."""
    monkeypatch.delattr(cv2, 'FontFace', raising=False)
    scene = SyntheticScene(SceneConfig(seed=1, cars=['UK:AB12CDE'], speed=1200.0))
    (i,) = first_full_view(scene).values()
    x, y, w, h = scene.truth(i)[0].box
    plate = cv2.cvtColor(scene.frame(i)[y:y + h, x:x + w], cv2.COLOR_BGR2GRAY)
    dark = plate < 80
    assert 0.1 < dark.mean() < 0.5                       # characters cover part of the plate
    assert dark[:, : w // 2].any() and dark[:, w // 2:].any()


@pytest.mark.parametrize('bad', [dict(fps=0), dict(width=100), dict(speed=-1), dict(cars=[]),
                                 dict(formats=('UK', 'XX')), dict(noise=-1)])
def test_scene_config_validation(bad):
    with pytest.raises(SceneError):
        SceneConfig(**bad)


# --------------------------------------------------------------------------------------------
# factory
# --------------------------------------------------------------------------------------------

def test_factory_dispatch(tmp_path):
    video = tmp_path / 'clip.avi'
    video.write_bytes(b'')
    folder = tmp_path / 'images'
    folder.mkdir()

    synthetic = open_source('synthetic')
    assert isinstance(synthetic, SyntheticSource) and synthetic.config.seed == 0
    assert open_source('synthetic:42').config.seed == 42
    seeded = open_source(' synthetic:7 ', scene=SceneConfig(seed=1, car_count=2))
    assert (seeded.config.seed, seeded.config.car_count) == (7, 2)
    assert open_source('synthetic', scene=SceneConfig(seed=9)).config.seed == 9

    cam = open_source('picamera2:1')
    assert isinstance(cam, Picamera2Source) and cam.camera_index == 1 and cam.is_live
    assert open_source('picamera2').camera_index == 0

    for spec, kind in [('rtsp://user:pw@cam/stream', 'stream'),
                       ('https://cam/video.mjpg', 'stream'),
                       ('0', 'usb'), ('/dev/video2', 'usb'), (str(video), 'file')]:
        src = open_source(spec)
        assert isinstance(src, VideoSource) and src.kind == kind, spec
        assert src.is_live == (kind != 'file')
    assert open_source('2').target == 2

    assert isinstance(open_source(str(folder)), ImageFolderSource)


def test_factory_errors(tmp_path):
    missing = tmp_path / 'nope.mp4'
    with pytest.raises(SourceError, match=f"cannot open video file '{missing}': no such file"):
        open_source(str(missing))
    for spec in ['', 'synthetic:abc', 'picamera2:x', 'ftp://host/file.mp4']:
        with pytest.raises(SourceError):
            open_source(spec)
    with pytest.raises(SourceError, match='unknown source option'):
        open_source('synthetic', colour='red')
    with pytest.raises(SourceError, match='width and height'):
        open_source('synthetic', width=640)


def test_options_treat_zero_as_unset():
    opts = SourceOptions(fps=0, width=0, height=0)
    assert (opts.fps, opts.width, opts.height) == (None, None, None)


def test_redact_url():
    assert redact_url('rtsp://admin:secret@10.0.0.5:554/s1') == 'rtsp://admin:***@10.0.0.5:554/s1'
    assert redact_url('rtsp://10.0.0.5/s1') == 'rtsp://10.0.0.5/s1'


# --------------------------------------------------------------------------------------------
# synthetic source
# --------------------------------------------------------------------------------------------

def test_synthetic_source_reads_the_scene_then_ends():
    scene = SceneConfig(seed=1, cars=['UK:AB12CDE'], **SMALL)
    with SyntheticSource(scene, SourceOptions(realtime=False)) as src:
        frames = []
        while (frame := src.read()) is not None:
            frames.append(frame)
        n = src.scene.num_frames
        assert [f.seq for f in frames] == list(range(n))
        assert np.array_equal(frames[5].image, src.scene.frame(5))
        assert frames[3].source_pts_ms == pytest.approx(3 * 1000 / 15)
        assert any(src.truth(f) for f in frames)


def test_synthetic_source_loops_and_overrides_size():
    opts = SourceOptions(realtime=False, loop=True, width=320, height=240, fps=30)
    with SyntheticSource(SceneConfig(cars=['BR:ABC1D23'], speed=3000.0, gap_s=0.0), opts) as src:
        n = src.scene.num_frames
        frames = [src.read() for _ in range(n + 3)]
    assert all(f is not None for f in frames)
    assert frames[0].image.shape == (240, 320, 3) and src.fps == 30
    assert np.array_equal(frames[1].image, frames[n + 1].image)


def test_synthetic_source_paces_in_realtime():
    scene = SceneConfig(cars=['UK:AB12CDE'], fps=100.0, **SMALL)
    with SyntheticSource(scene, SourceOptions(realtime=True)) as src:
        start = time.monotonic()
        for _ in range(11):
            src.read()
        assert time.monotonic() - start >= 0.09


# --------------------------------------------------------------------------------------------
# video files (cv2.VideoWriter, MJPG)
# --------------------------------------------------------------------------------------------

def write_video(path: Path, n: int = 12, fps: float = 25.0, size=(64, 48)) -> list[np.ndarray]:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, size)
    assert writer.isOpened(), 'no MJPG writer in this OpenCV build'
    images = []
    for k in range(n):
        image = np.full((size[1], size[0], 3), 10 + 20 * k, np.uint8)
        writer.write(image)
        images.append(image)
    writer.release()
    return images


def test_video_file_reads_every_frame_then_none(tmp_path):
    path = tmp_path / 'clip.avi'
    images = write_video(path)
    with VideoSource(str(path), SourceOptions(realtime=False)) as src:
        assert not src.is_live and src.fps == pytest.approx(25.0)
        frames = [src.read() for _ in range(len(images))]
        assert src.read() is None
        assert src.read() is None
    assert [f.seq for f in frames] == list(range(len(images)))
    for frame, image in zip(frames, images):
        assert isinstance(frame, Frame) and frame.image.shape == (48, 64, 3)
        assert abs(float(frame.image.mean()) - float(image.mean())) < 6   # MJPG is lossy
    assert frames[-1].source_pts_ms > frames[0].source_pts_ms >= 0
    assert frames[0].stamp_ns <= frames[-1].stamp_ns


def test_video_file_loops(tmp_path):
    path = tmp_path / 'clip.avi'
    write_video(path, n=5)
    with open_source(str(path), loop=True, realtime=False) as src:
        frames = [src.read() for _ in range(13)]
    assert all(f is not None for f in frames)
    assert [f.seq for f in frames] == list(range(13))
    assert abs(float(frames[5].image.mean()) - float(frames[0].image.mean())) < 6


def test_video_file_realtime_pacing(tmp_path):
    path = tmp_path / 'clip.avi'
    write_video(path, n=6, fps=50.0)
    with VideoSource(str(path), SourceOptions(realtime=True)) as src:
        start = time.monotonic()
        while src.read() is not None:
            pass
        assert time.monotonic() - start >= 5 / 50 - 0.01


def test_undecodable_video_file(tmp_path):
    path = tmp_path / 'garbage.mp4'
    path.write_bytes(b'this is not a video' * 100)
    with pytest.raises(SourceError, match="cannot open video file '.*garbage.mp4'"):
        VideoSource(str(path)).open()


def test_shared_uk_video():
    path = SHARED / 'videos' / 'uk-LS15EBC.mp4'
    if not path.exists():
        pytest.skip(f'shared evaluation data not present: {path}')
    count = 0
    with open_source(str(path), realtime=False) as src:
        assert src.fps == pytest.approx(30.0)
        while (frame := src.read()) is not None:
            assert frame.image.shape == (720, 1280, 3)
            count += 1
    assert count == 140


# --------------------------------------------------------------------------------------------
# live streams (a fake VideoCapture: no network, no camera)
# --------------------------------------------------------------------------------------------

class FakeCapture:
    """A stream that serves ``frames_per_connection`` frames, then fails (stream lost)."""

    opened: list = []
    frames_per_connection = 5
    fail_opens = 0

    def __init__(self, target, *args):
        self.target, self.args = target, args
        self.served = 0
        FakeCapture.opened.append(self)
        self._ok = FakeCapture.fail_opens <= 0
        FakeCapture.fail_opens -= 1

    def isOpened(self):
        return self._ok

    def read(self):
        time.sleep(0.002)
        if self.served >= self.frames_per_connection:
            return False, None
        self.served += 1
        return True, np.full((8, 8, 3), self.served % 256, np.uint8)

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: 25.0, cv2.CAP_PROP_POS_MSEC: 40.0 * self.served}.get(prop, 0.0)

    def set(self, prop, value):
        return True

    def release(self):
        pass


@pytest.fixture
def fake_capture(monkeypatch):
    FakeCapture.opened = []
    FakeCapture.frames_per_connection = 5
    FakeCapture.fail_opens = 0
    monkeypatch.setattr(sources.cv2, 'VideoCapture', FakeCapture)
    monkeypatch.delenv('OPENCV_FFMPEG_CAPTURE_OPTIONS', raising=False)
    return FakeCapture


def live_options(**kw) -> SourceOptions:
    return SourceOptions(reconnect_initial_s=0.01, reconnect_max_s=0.05, read_timeout_s=2.0, **kw)


def test_rtsp_uses_tcp_and_reconnects(fake_capture, monkeypatch):
    src = VideoSource('rtsp://user:pw@cam/stream', live_options())
    src.open()
    try:
        assert os.environ['OPENCV_FFMPEG_CAPTURE_OPTIONS'] == 'rtsp_transport;tcp'
        assert src.is_live and src.fps == 25.0
        frames = [src.read() for _ in range(12)]     # more than one connection serves
        assert [f.seq for f in frames] == list(range(12))
        assert src.stats()['reconnects'] >= 2
        assert fake_capture.opened[0].args[0] == cv2.CAP_FFMPEG
    finally:
        src.close()
    assert src.read() is None


def test_rtsp_keeps_user_ffmpeg_options(fake_capture, monkeypatch):
    monkeypatch.setenv('OPENCV_FFMPEG_CAPTURE_OPTIONS', 'rtsp_transport;udp')
    with VideoSource('rtsp://cam/stream', live_options()) as src:
        src.read()
    assert os.environ['OPENCV_FFMPEG_CAPTURE_OPTIONS'] == 'rtsp_transport;udp'


def test_live_source_keeps_only_the_newest_frame(fake_capture):
    fake_capture.frames_per_connection = 10_000
    with VideoSource(0, live_options()) as src:
        src.read()
        time.sleep(0.2)                   # the reader captures ~100 frames meanwhile
        frame = src.read()
        served = fake_capture.opened[0].served
        assert src.dropped > 20
        assert frame.seq == 1             # seq counts frames handed out
        assert (served - int(frame.image[0, 0, 0])) % 256 <= 3    # a fresh one


def test_live_reader_survives_a_decoder_exception(fake_capture, monkeypatch):
    calls = []
    real_read = FakeCapture.read

    def flaky_read(self):
        calls.append(1)
        if len(calls) == 3:
            raise cv2.error('decoder hiccup')
        return real_read(self)

    monkeypatch.setattr(FakeCapture, 'read', flaky_read)
    with VideoSource('rtsp://cam/s', live_options()) as src:
        frames = [src.read() for _ in range(6)]
    assert all(f is not None for f in frames)
    assert len(fake_capture.opened) >= 2


def test_live_source_reconnects_after_failed_opens(fake_capture, caplog):
    fake_capture.frames_per_connection = 2
    with VideoSource('http://cam/video.mjpg', live_options()) as src:
        fake_capture.fail_opens = 3       # the next three reconnects fail
        with caplog.at_level(logging.WARNING, logger='lpr_camera.sources'):
            frames = [src.read() for _ in range(4)]
    assert all(f is not None for f in frames)
    assert any('cannot open stream http://cam/video.mjpg' in r.message for r in caplog.records)


def test_live_source_timeout_is_typed(fake_capture):
    fake_capture.frames_per_connection = 1
    opts = SourceOptions(reconnect_initial_s=5.0, reconnect_max_s=5.0, read_timeout_s=0.2)
    with VideoSource('/dev/video0', opts) as src:
        assert src.read() is not None
        with pytest.raises(SourceTimeout, match='no frame from USB camera /dev/video0'):
            src.read()


def test_a_live_source_not_reachable_at_start_is_waited_for(fake_capture, caplog):
    """Edge boxes boot before their cameras: open() does not fail, read() says
    it is waiting, and frames flow once the camera answers."""
    fake_capture.fail_opens = 4
    fake_capture.frames_per_connection = 10_000
    opts = SourceOptions(reconnect_initial_s=0.2, reconnect_max_s=0.2, read_timeout_s=0.1)
    with caplog.at_level(logging.WARNING, logger='lpr_camera.sources'):
        src = VideoSource('rtsp://u:secret@cam/s', opts)
        src.open()
    try:
        assert any(r'cannot open stream rtsp://u:***@cam/s' in r.message for r in caplog.records)
        with pytest.raises(SourceTimeout, match='waiting for camera'):
            src.read()
        assert src.health()['connected'] is False
        deadline = time.monotonic() + 5
        frame = None
        while frame is None and time.monotonic() < deadline:
            try:
                frame = src.read()
            except SourceTimeout:
                pass
        assert frame is not None
        health = src.health()
        assert health['connected'] and health['reconnects'] == 0 and health['source_fps'] == 25.0
        assert 0 <= health['last_frame_age_s'] < 1.0
    finally:
        src.close()


def test_a_missing_video_file_still_fails_at_open(tmp_path):
    with pytest.raises(SourceError, match='no such file'):
        VideoSource(str(tmp_path / 'nope.mp4'), SourceOptions()).open()


def test_close_unblocks_a_waiting_reader(fake_capture):
    fake_capture.frames_per_connection = 0
    opts = SourceOptions(reconnect_initial_s=5.0, reconnect_max_s=5.0, read_timeout_s=10.0)
    src = VideoSource(0, opts)
    src.open()
    result = []
    thread = threading.Thread(target=lambda: result.append(src.read()))
    thread.start()
    time.sleep(0.1)
    src.close()
    thread.join(3.0)
    assert not thread.is_alive() and result == [None]


# --------------------------------------------------------------------------------------------
# image folders
# --------------------------------------------------------------------------------------------

def make_folder(tmp_path: Path) -> Path:
    folder = tmp_path / 'images'
    folder.mkdir()
    for k, name in [(1, 'img2.png'), (2, 'img10.jpg'), (3, 'IMG1.BMP')]:
        cv2.imwrite(str(folder / name), np.full((20, 30, 3), 40 * k, np.uint8))
    (folder / 'img5.jpg').write_bytes(b'not a jpeg')
    (folder / 'notes.txt').write_text('ignored')
    return folder


def test_image_folder_skips_unreadable_files(tmp_path, caplog):
    folder = make_folder(tmp_path)
    with caplog.at_level(logging.WARNING, logger='lpr_camera.sources'):
        with ImageFolderSource(folder, SourceOptions(realtime=False)) as src:
            frames = []
            while (frame := src.read()) is not None:
                frames.append((frame, src.current_path.name))
    assert [name for _, name in frames] == ['IMG1.BMP', 'img2.png', 'img10.jpg']   # natural order
    assert [f.seq for f, _ in frames] == [0, 1, 2]
    assert frames[0][0].image.shape == (20, 30, 3)
    assert src.skipped == 1
    assert any('img5.jpg' in r.message for r in caplog.records)


def test_image_folder_loops_counting_a_bad_file_once(tmp_path):
    with ImageFolderSource(make_folder(tmp_path), SourceOptions(realtime=False, loop=True)) as src:
        frames = [src.read() for _ in range(8)]
    assert all(f is not None for f in frames)
    assert src.skipped == 1


def test_image_folder_paces_at_its_fps(tmp_path):
    with ImageFolderSource(make_folder(tmp_path), SourceOptions(fps=40.0)) as src:
        start = time.monotonic()
        while src.read() is not None:
            pass
        assert time.monotonic() - start >= 2 / 40 - 0.01
    assert src.fps == 40.0


def test_image_folder_errors(tmp_path):
    with pytest.raises(SourceError, match='no such folder'):
        ImageFolderSource(tmp_path / 'missing').open()
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(SourceError, match='no images'):
        ImageFolderSource(empty).open()


# --------------------------------------------------------------------------------------------
# Picamera2 (stubbed module)
# --------------------------------------------------------------------------------------------

class StubRequest:
    """A completed request: the main stream's array and metadata, until released."""

    def __init__(self, camera, image, metadata):
        self.camera, self.image, self.metadata = camera, image, metadata
        self.released = False

    def make_array(self, name):
        assert not self.released and name == 'main'
        return self.image.copy()

    def get_metadata(self):
        assert not self.released
        return dict(self.metadata)

    def release(self):
        assert not self.released, 'released twice'
        self.released = True
        self.camera.calls.append(('release',))


class StubPicamera2:
    """Records the calls the source makes; capture_request returns a known BGR image."""

    instances: list = []
    # what Picamera2.camera_controls reports (name -> (min, max, default)); a Camera Module 3
    camera_controls = {'AfMode': (0, 2, 0), 'LensPosition': (0.0, 15.0, 1.0), 'AeExposureMode': (0, 3, 0),
                       'Brightness': (-1.0, 1.0, 0.0), 'Contrast': (0.0, 32.0, 1.0),
                       'Sharpness': (0.0, 16.0, 1.0), 'FrameDurationLimits': (33333, 120000, None)}

    def __init__(self, camera_num=0):
        self.camera_num = camera_num
        self.calls: list = []
        self.requests: list = []
        self.started = False
        self.image = np.zeros((480, 640, 3), np.uint8)
        self.image[..., 0] = 200          # RGB888 arrays are ordered B, G, R
        self.sensor_ns = lambda: time.clock_gettime_ns(time.CLOCK_BOOTTIME) - 20_000_000   # exposed 20 ms ago
        StubPicamera2.instances.append(self)

    def create_video_configuration(self, main=None, controls=None, **kwargs):
        self.calls.append(('create_video_configuration', main, controls))
        return {'main': main, 'controls': controls}

    def configure(self, config):
        unknown = set(config['controls']) - set(self.camera_controls)
        if unknown:   # what Picamera2's Controls does
            raise RuntimeError(f'Control {unknown.pop()} is not advertised by libcamera')
        self.calls.append(('configure', config))

    def start(self):
        self.started = True
        self.calls.append(('start',))

    def capture_request(self):
        assert self.started, 'capture_request on a stopped camera blocks forever'
        self.calls.append(('capture_request',))
        request = StubRequest(self, self.image, {'SensorTimestamp': self.sensor_ns(), 'ExposureTime': 10000})
        self.requests.append(request)
        return request

    def stop(self):
        self.started = False
        self.calls.append(('stop',))

    def close(self):
        self.calls.append(('close',))


@pytest.fixture
def stub_picamera2(monkeypatch):
    StubPicamera2.instances = []
    module = types.ModuleType('picamera2')
    module.Picamera2 = StubPicamera2
    monkeypatch.setitem(sys.modules, 'picamera2', module)
    return StubPicamera2


@pytest.fixture
def stub_libcamera(monkeypatch):
    """libcamera.controls with its enums as distinct objects, to see that they are used."""
    controls = types.SimpleNamespace(
        AfModeEnum=types.SimpleNamespace(Manual='AfMode.Manual', Auto='AfMode.Auto', Continuous='AfMode.Continuous'),
        AeExposureModeEnum=types.SimpleNamespace(Normal='Ae.Normal', Short='Ae.Short', Long='Ae.Long',
                                                 Custom='Ae.Custom'))
    module = types.ModuleType('libcamera')
    module.controls = controls
    monkeypatch.setitem(sys.modules, 'libcamera', module)
    return controls


def test_picamera2_one_camera_for_many_frames_with_the_documented_api(stub_picamera2, stub_libcamera):
    controls = PiCameraControls(af_mode='continuous', ae_exposure_mode='short', brightness=0.1,
                                contrast=1.5, sharpness=2.0)
    src = open_source('picamera2:1', width=640, height=480, fps=15, picamera=controls)
    with src:
        frames = [src.read() for _ in range(50)]
    (cam,) = stub_picamera2.instances                  # opened once, not per frame
    assert cam.camera_num == 1 and src.opens == 1
    names = [c[0] for c in cam.calls]
    assert names == (['create_video_configuration', 'configure', 'start']
                     + ['capture_request', 'release'] * 50 + ['stop', 'close'])
    assert cam.calls[0][1] == {'size': (640, 480), 'format': 'RGB888'}
    assert cam.calls[0][2] == {'FrameDurationLimits': (66667, 66667),      # 15 fps, in us
                               'AfMode': 'AfMode.Continuous', 'AeExposureMode': 'Ae.Short',
                               'Brightness': 0.1, 'Contrast': 1.5, 'Sharpness': 2.0}
    assert all(r.released for r in cam.requests)
    frame = frames[-1]
    assert [f.seq for f in frames] == list(range(50))
    assert frame.image.shape == (480, 640, 3)
    assert frame.image[0, 0].tolist() == [200, 0, 0]    # passed on as BGR, not swapped
    assert src.is_live and src.read() is None


def test_picamera2_lens_position_sets_manual_focus_and_enums_without_libcamera(stub_picamera2, monkeypatch):
    monkeypatch.setitem(sys.modules, 'libcamera', None)      # import fails: libcamera's integer values
    monkeypatch.setattr(StubPicamera2, 'camera_controls',
                        {k: v for k, v in StubPicamera2.camera_controls.items() if k != 'Brightness'})
    with open_source('picamera2', picamera=PiCameraControls(lens_position=2.0)):
        pass
    controls = stub_picamera2.instances[0].calls[0][2]
    assert controls['AfMode'] == 0 and controls['LensPosition'] == 2.0      # AfModeEnum.Manual == 0
    assert 'FrameDurationLimits' not in controls                            # no fps: the default rate
    assert 'Brightness' not in controls        # not advertised, and at its default: left out


def test_picamera2_deactivate_stops_the_stream_and_keeps_the_camera(stub_picamera2):
    src = Picamera2Source()
    src.open()
    src.read()
    src.pause()
    with pytest.raises(SourceError, match='paused'):
        src.read()
    src.resume()
    src.read()
    src.open()                                     # a second open does not reopen either
    src.close()
    src.close()
    (cam,) = stub_picamera2.instances
    names = [c[0] for c in cam.calls if c[0] != 'release']
    assert names == ['create_video_configuration', 'configure', 'start', 'capture_request', 'stop',
                     'start', 'capture_request', 'stop', 'close']


def test_picamera2_frames_carry_the_sensor_time_on_the_wall_clock(stub_picamera2):
    """SensorTimestamp (CLOCK_BOOTTIME ns) + the offset measured at start = the exposure's wall time."""
    boot, wall = [5_000_000_000], [1_700_000_000_000_000_000]
    clock = SensorClock(sensor_ns=lambda: boot[0], wall_ns=lambda: wall[0])
    src = Picamera2Source(options=SourceOptions(), clock=clock)
    src.open()
    assert clock.offset_ns == wall[0] - boot[0]
    cam = stub_picamera2.instances[0]
    boot[0] += 3_000_000_000                           # 3 s later, a frame exposed 40 ms before now
    wall[0] += 3_000_000_000
    cam.sensor_ns = lambda: boot[0] - 40_000_000
    frame = src.read()
    assert frame.stamp_ns == wall[0] - 40_000_000
    assert frame.source_pts_ms == (boot[0] - 40_000_000) / 1e6
    wall[0] += 3_600 * 10**9                           # NTP steps the wall clock: resync once
    frame = src.read()
    assert frame.stamp_ns == wall[0] - 40_000_000 and clock.resyncs == 1
    cam.sensor_ns = lambda: 0                           # a stamp of some other clock: arrival time
    assert src.read().stamp_ns > 0 and src.stamp_fallbacks == 1
    src.close()


def test_picamera2_real_clocks_map_close_to_now(stub_picamera2):
    src = Picamera2Source()
    with src:
        frame = src.read()
    lag_ms = (time.time_ns() - frame.stamp_ns) / 1e6
    assert 19 < lag_ms < 1000                          # the stub's exposure was 20 ms before capture


@pytest.mark.parametrize('controls, lacks, message', [
    (PiCameraControls(af_mode='continuous'), 'AfMode',
     'this camera has no AfMode control (a camera without autofocus)'),
    (PiCameraControls(lens_position=20.0), '', "picamera2_lens_position 20 is outside this camera's range 0..15"),
    (PiCameraControls(sharpness=3.0), 'Sharpness', 'this camera has no Sharpness control'),
])
def test_picamera2_control_the_camera_cannot_take_fails_at_configure(stub_picamera2, monkeypatch,
                                                                     controls, lacks, message):
    monkeypatch.setattr(StubPicamera2, 'camera_controls',
                        {k: v for k, v in StubPicamera2.camera_controls.items() if k != lacks})
    with pytest.raises(SourceError) as err:
        open_source('picamera2', picamera=controls).open()
    text = str(err.value)
    assert message in text and '\n' not in text
    cam = stub_picamera2.instances[0]
    assert [c[0] for c in cam.calls] == ['close']      # refused before configure; camera let go


def test_picamera2_bad_control_values_are_refused_with_one_line():
    with pytest.raises(SourceError, match=r"^bad source options: picamera2_af_mode must be one of manual, auto, "
                                          r"continuous \(or empty\), got 'contineous'$"):
        open_source('picamera2', picamera=PiCameraControls(af_mode='contineous'))
    problems = PiCameraControls(ae_exposure_mode='fast', brightness=1.5, contrast=-1, sharpness=17,
                                lens_position=-1, af_mode='auto').problems()
    assert problems == [
        "picamera2_ae_exposure_mode must be one of normal, short, long, custom (or empty), got 'fast'",
        'picamera2_lens_position must be >= 0 dioptres (0 = infinity), got -1',
        "picamera2_lens_position needs picamera2_af_mode manual (or empty), got 'auto'",
        'picamera2_brightness must be in -1..1, got 1.5',
        'picamera2_contrast must be in 0..32, got -1',
        'picamera2_sharpness must be in 0..16, got 17']


def test_camera_parameters_refuse_a_bad_picamera2_control():
    from lpr_camera.config import CameraConfig
    from lpr_common.config import ConfigError, build_config
    with pytest.raises(ConfigError, match=r'^picamera2_contrast must be in 0\.\.32, got 40$'):
        build_config(CameraConfig, {'source': 'picamera2', 'picamera2_contrast': 40.0})
    config = build_config(CameraConfig, {'picamera2_af_mode': 'Manual', 'picamera2_lens_position': 0.5})
    assert config.picamera_controls() == PiCameraControls(af_mode='Manual', lens_position=0.5)
    assert CameraConfig().picamera_controls().lens_position is None      # -1 = not set


def test_picamera2_start_failure_closes_the_camera(stub_picamera2, monkeypatch):
    def broken_start(self):
        raise RuntimeError('camera __init__ sequence did not complete')
    monkeypatch.setattr(StubPicamera2, 'start', broken_start)
    with pytest.raises(SourceError, match='cannot start Picamera2 camera 0 at 1280x720'):
        Picamera2Source().open()
    assert stub_picamera2.instances[0].calls[-1] == ('close',)


def test_picamera2_missing_module(monkeypatch):
    monkeypatch.setitem(sys.modules, 'picamera2', None)     # import raises ImportError
    with pytest.raises(SourceError, match=r'picamera2 is not installed: .*python3-picamera2'):
        open_source('picamera2').open()


# --------------------------------------------------------------------------------------------
# a real RTSP server on 127.0.0.1 (GStreamer), started late, killed and restarted
# --------------------------------------------------------------------------------------------

SYSTEM_PYTHON = '/usr/bin/python3'


def _rtsp_server_available() -> bool:
    import subprocess
    probe = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import GstRtspServer")
    try:
        return subprocess.run([SYSTEM_PYTHON, '-c', probe], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class RtspServer:
    def __init__(self, port: int):
        self.port, self.proc = port, None

    def start(self) -> None:
        import subprocess
        script = Path(__file__).with_name('rtsp_server.py')
        self.proc = subprocess.Popen([SYSTEM_PYTHON, str(script), str(self.port)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout.readline().strip() == 'ready'

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _read_until(src, deadline_s: float):
    """The first frame within ``deadline_s`` (None if none came)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            return src.read()
        except SourceTimeout:
            continue
    return None


@pytest.mark.skipif(not _rtsp_server_available(), reason='GStreamer RTSP server not installed (.ci/run installs it)')
def test_a_real_rtsp_camera_that_starts_late_and_drops_for_10_s():
    """The issue's measurement: the source waits for a camera that is not up
    yet, reads once it appears; after a 10 s outage it is back within 5 s of
    the server's return and never hands out a frame older than 1 s."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    server = RtspServer(port)
    opts = SourceOptions(reconnect_initial_s=0.5, reconnect_max_s=2.0, read_timeout_s=1.0)
    src = VideoSource(f'rtsp://127.0.0.1:{port}/cam', opts)
    src.open()                                   # nothing listens yet: no error
    try:
        with pytest.raises(SourceTimeout, match='waiting for camera'):
            src.read()
        server.start()
        first = _read_until(src, 15.0)
        assert first is not None, 'no frame after the server came up'
        ages = []
        for _ in range(10):
            frame = _read_until(src, 5.0)
            ages.append((time.time_ns() - frame.stamp_ns) / 1e9)
        server.kill()
        time.sleep(10.0)
        assert not src.health()['connected'] or src.health()['last_frame_age_s'] > 5
        server.start()
        back = time.monotonic()
        frame = _read_until(src, 5.0)
        assert frame is not None, 'not reconnected within 5 s of the server coming back'
        print(f'reconnected {time.monotonic() - back:.1f} s after the server returned')
        for _ in range(10):
            frame = _read_until(src, 5.0)
            ages.append((time.time_ns() - frame.stamp_ns) / 1e9)
        assert max(ages) < 1.0, ages
        assert src.health()['reconnects'] >= 1
    finally:
        src.close()
        server.kill()
