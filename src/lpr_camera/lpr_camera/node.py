"""Camera node: a frame source -> image_raw (sensor_msgs/Image, header stamped
at capture, frame_id = camera id), optionally only frames with motion in them."""
from __future__ import annotations

import threading
import time

from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image

from lpr_camera.config import CameraConfig
from lpr_camera.motion import MotionGate
from lpr_camera.sources import FrameSource, SourceError, open_source
from lpr_common import topics
from lpr_common.images import array_to_image
from lpr_common.node import WARN, LprNode, run_node
from lpr_common.rate import RateMeter


class CameraNode(LprNode):
    config_class = CameraConfig

    def __init__(self, name: str = 'camera', **kwargs):
        super().__init__(name, **kwargs)
        self.source: FrameSource | None = None
        self.finished = False            # run_node exits when a finite source has ended
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._rate = RateMeter()
        self.published = 0
        self.gate: MotionGate | None = None

    def configure(self, config: CameraConfig) -> None:
        self.camera_id = config.camera_id or self.get_namespace().strip('/') or 'camera'
        self.source = open_source(config.source, **source_options(config))
        self.source.open()
        self.gate = MotionGate(config.motion_config()) if config.motion_gating else None
        self.pub = self.create_lifecycle_publisher(Image, topics.FRAMES.name, topics.FRAMES.qos)
        self.get_logger().info(f'camera {self.camera_id}: {config.source} '
                               f'({self.source.fps or "?"} fps, {"live" if self.source.is_live else "finite"})')

    def activate(self) -> None:
        self.source.resume()
        self._stop.clear()
        self._thread = threading.Thread(target=self._capture, name='camera', daemon=True)
        self._thread.start()

    def deactivate(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)
        self._thread = None
        if self.source is not None:
            self.source.pause()       # Picamera2: the stream stops, the camera stays ours

    def release(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None

    def _capture(self) -> None:
        if not self.source.is_live:
            self._wait_for_subscriber()
        while not self._stop.is_set():
            try:
                frame = self.source.read()
            except SourceError as exc:
                self.status.count('read_errors')
                self.status.set(WARN, str(exc))
                self.get_logger().warning(str(exc), throttle_duration_sec=5.0)
                self._stop.wait(0.5)
                continue
            if frame is None:
                self._end_of_source()
                return
            if self.gate is None or self.gate.check(frame.image, time.monotonic()).passed:
                self._publish(frame)

    def _wait_for_subscriber(self) -> None:
        """A file or the synthetic scene starts when someone listens, so that the
        first frames are not lost while the detector is still loading."""
        deadline = time.monotonic() + self.config.start_timeout_s
        while (self.pub.get_subscription_count() == 0 and time.monotonic() < deadline
               and not self._stop.is_set()):
            self._stop.wait(0.05)

    def _publish(self, frame) -> None:
        msg = Image()
        msg.header.stamp = Time(sec=frame.stamp_ns // 1_000_000_000, nanosec=frame.stamp_ns % 1_000_000_000)
        msg.header.frame_id = self.camera_id
        array_to_image(frame.image, msg)
        try:
            self.pub.publish(msg)
        except Exception as exc:  # noqa: BLE001 - e.g. shutting down; the next frame tries again
            self.status.count('publish_errors')
            self.get_logger().warning(f'frame not published: {exc}', throttle_duration_sec=5.0)
            return
        self.published += 1
        self._rate.tick()

    def _end_of_source(self) -> None:
        self.get_logger().info(f'source ended after {self.published} frames')
        self.status.set(WARN if self.published == 0 else self.status.level, 'source ended')
        self.publish_status()
        if self.config.exit_on_end:
            self.finished = True

    def fill_status(self, status) -> None:
        status.values.update(frames=self.published, fps=self._rate.rate())
        if self.gate is not None:   # frames the motion gate held back (not in frames / fps)
            status.values['motion_gated'] = self.gate.gated
        source = self.source
        if source is None:
            return
        status.values['source_dropped'] = source.dropped
        # live sources: connected, reconnects, source_fps, last_frame_age_s
        status.values.update({k: v for k, v in source.health().items() if v is not None})


def source_options(config: CameraConfig) -> dict:
    """Keyword options of open_source() from the node's parameters."""
    from lpr_camera.scene import scene_config
    return dict(fps=config.fps or None, loop=config.loop, width=config.width or None,
                height=config.height or None,
                reconnect_initial_s=config.reconnect_initial_s, reconnect_max_s=config.reconnect_max_s,
                scene=scene_config(config), picamera=config.picamera_controls())


def main(args=None) -> int:
    return run_node(CameraNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
