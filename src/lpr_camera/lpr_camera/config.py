"""Camera node parameters (the defaults live here and nowhere else)."""
from __future__ import annotations

from dataclasses import dataclass

from lpr_common.config import check, param


@dataclass(frozen=True)
class CameraConfig:
    source: str = param('synthetic', 'synthetic[:SEED] | video file | image folder | rtsp://... | '
                                     'USB index or /dev/videoN | picamera2[:INDEX]')
    camera_id: str = param('', 'camera id in every frame header (frame_id); empty = the namespace')
    fps: float = param(0.0, 'frames per second to publish; 0 = the source rate (files play in real time)')
    loop: bool = param(False, 'restart files, folders and the synthetic scene at their end')
    exit_on_end: bool = param(True, 'stop the node (exit code 0) when a finite source ends')
    start_timeout_s: float = param(30.0, 'files and the synthetic scene wait this long for a subscriber before starting')
    width: int = param(0, 'requested capture width (USB, Picamera2); 0 = the device default')
    height: int = param(0, 'requested capture height (USB, Picamera2); 0 = the device default')
    reconnect_initial_s: float = param(1.0, 'first wait before reopening a lost live stream')
    reconnect_max_s: float = param(30.0, 'longest wait between reopen attempts')
    synthetic_cars: int = param(7, 'cars the synthetic scene shows (when synthetic_plates is empty)')
    synthetic_plates: list[str] = param([], "plates of the synthetic scene, e.g. ['UK:AB12CDE', 'KZ:123ABC02']")
    synthetic_stops: list[float] = param([], 'seconds each synthetic car stops mid-frame (stop and go), by car order')

    def validate(self) -> None:
        check(self.source.strip() != '', 'source must not be empty')
        check(self.fps >= 0, f'fps must be >= 0, got {self.fps}')
        check(self.start_timeout_s >= 0, 'start_timeout_s must be >= 0')
        check(self.width >= 0 and self.height >= 0, 'width and height must be >= 0')
        check(0 < self.reconnect_initial_s <= self.reconnect_max_s,
              'need 0 < reconnect_initial_s <= reconnect_max_s')
        check(self.synthetic_cars >= 1, 'synthetic_cars must be >= 1')
        check(all(v >= 0 for v in self.synthetic_stops), 'synthetic_stops must be >= 0')
