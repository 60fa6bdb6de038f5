"""``lpr eval --video CLIP --truth T.csv``: the real graph on a video file,
its events scored against the truth spans, without recording a bag first.

The clip's frames are published on ``image_raw`` of a throw-away namespace as
the camera node would publish them, each stamped ``start + its position in the
clip`` and paced at the clip's frame rate (or ``rate`` times it), so the
passes behave as live and event times are exact seconds from the first frame.
The rest (graph without camera, idle detection, ordered stop, scoring) is the
bag evaluation's (lpr_tools.bag_eval).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from lpr_common import topics

FRAMES_TOPIC = topics.FRAMES.name


class VideoError(ValueError):
    """A clip that cannot be played."""


class VideoPlayer:
    """Plays a video file into ``/<namespace>/image_raw`` (sensor_msgs/Image)."""

    def __init__(self, path: Path, namespace: str, dds_env: dict | None = None, camera_id: str = 'cam0'):
        import cv2
        import rclpy
        from sensor_msgs.msg import Image  # noqa: F401 - checked here, used in play()

        from lpr.background import ros_context
        self.path = Path(path)
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise VideoError(f'cannot open video {self.path}')
        self.fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        self.count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        capture.release()
        self.camera_id = camera_id
        self.start_ns = time.time_ns()
        self.context = ros_context(dds_env)
        self.node = rclpy.create_node('lpr_video_player', context=self.context)
        name = f'/{namespace}/{FRAMES_TOPIC}'
        self.played_names = {FRAMES_TOPIC: name}
        self.publisher = self.node.create_publisher(Image, name, topics.FRAMES.qos)
        self.published = {FRAMES_TOPIC: 0}
        self.unreadable = 0
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def wait_for_subscribers(self, timeout_s: float, settle_s: float = 0.5) -> bool:
        from lpr.background import wait_for_subscribers
        return wait_for_subscribers([self.publisher], timeout_s, self._cancel, settle_s)

    def play(self, rate: float = 1.0) -> float:
        """Publish every frame; returns the seconds it took."""
        import cv2
        from builtin_interfaces.msg import Time
        from sensor_msgs.msg import Image

        from lpr_common.images import array_to_image
        if rate < 0:
            raise ValueError('rate must be >= 0')
        capture = cv2.VideoCapture(str(self.path))
        self.start_ns = time.time_ns()   # the clip's time 0: frames are stamped from here
        started = time.monotonic()
        index = 0
        try:
            while not self._cancel.is_set():
                ok, frame = capture.read()
                if not ok:
                    break
                offset_s = index / self.fps
                index += 1
                if rate > 0 and self._cancel.wait(max(0.0, started + offset_s / rate - time.monotonic())):
                    break
                if frame is None or frame.ndim != 3:
                    self.unreadable += 1
                    continue
                stamp = self.start_ns + int(offset_s * 1e9)
                msg = Image()
                msg.header.stamp = Time(sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000)
                msg.header.frame_id = self.camera_id
                array_to_image(frame, msg)
                self.publisher.publish(msg)
                self.published[FRAMES_TOPIC] += 1
        finally:
            capture.release()
        if index == 0:
            raise VideoError(f'{self.path}: no frame could be read')
        return time.monotonic() - started

    def close(self) -> None:
        from lpr.background import close_node
        close_node(self.node, self.context)
