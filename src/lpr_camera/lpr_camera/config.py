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
    picamera2_af_mode: str = param('', "Picamera2 AfMode: 'manual', 'auto', 'continuous'; empty = the camera "
                                       'default (cameras without autofocus: leave empty)')
    picamera2_lens_position: float = param(-1.0, 'Picamera2 LensPosition in dioptres (1 / distance in m; 0 = '
                                                 "infinity), up to the camera's maximum; sets AfMode manual; "
                                                 '< 0 = not set')
    picamera2_ae_exposure_mode: str = param('', "Picamera2 AeExposureMode: 'normal', 'short' (less motion blur), "
                                                "'long', 'custom'; empty = the camera default (normal)")
    picamera2_brightness: float = param(0.0, 'Picamera2 Brightness, -1.0..1.0')
    picamera2_contrast: float = param(1.0, 'Picamera2 Contrast, 0.0..32.0 (1.0 = normal)')
    picamera2_sharpness: float = param(1.0, 'Picamera2 Sharpness, 0.0..16.0 (1.0 = normal)')
    motion_gating: bool = param(False, 'publish a frame only when something moves (plus motion_keepalive_s); '
                                       'saves the detector and OCR their work on an idle scene')
    motion_width: int = param(160, 'motion gating: width in pixels of the grey copy it compares')
    motion_pixel_threshold: float = param(20.0, 'motion gating: grey levels (0..255) a pixel must differ from '
                                                'the background to count as changed')
    motion_min_fraction: float = param(0.003, 'motion gating: share of changed pixels (0..1) that counts as motion')
    motion_adapt: float = param(0.05, 'motion gating: background update rate per frame (0..1]; a parked car or a '
                                      'lighting change becomes background in about 3 / rate frames')
    motion_hold_s: float = param(0.5, 'motion gating: keep publishing this long after the last motion')
    motion_keepalive_s: float = param(2.0, "motion gating: publish a frame at least this often in a still scene "
                                           "(0 = never); keep it below the recorder's repeat_window_s so that "
                                           'a parked car stays one event')

    def validate(self) -> None:
        check(self.source.strip() != '', 'source must not be empty')
        check(self.fps >= 0, f'fps must be >= 0, got {self.fps}')
        check(self.start_timeout_s >= 0, 'start_timeout_s must be >= 0')
        check(self.width >= 0 and self.height >= 0, 'width and height must be >= 0')
        check(0 < self.reconnect_initial_s <= self.reconnect_max_s,
              'need 0 < reconnect_initial_s <= reconnect_max_s')
        check(self.synthetic_cars >= 1, 'synthetic_cars must be >= 1')
        check(all(v >= 0 for v in self.synthetic_stops), 'synthetic_stops must be >= 0')
        problems = self.picamera_controls().problems() + self.motion_config().problems()
        check(not problems, '; '.join(problems))

    def picamera_controls(self):
        """The Picamera2 controls (lpr_camera.picamera_controls.PiCameraControls)."""
        from lpr_camera.picamera_controls import PiCameraControls
        return PiCameraControls(self.picamera2_af_mode.strip(),
                                self.picamera2_lens_position if self.picamera2_lens_position >= 0 else None,
                                self.picamera2_ae_exposure_mode.strip(), self.picamera2_brightness,
                                self.picamera2_contrast, self.picamera2_sharpness)

    def motion_config(self):
        """The motion gate's settings (lpr_camera.motion.MotionConfig)."""
        from lpr_camera.motion import MotionConfig
        return MotionConfig(self.motion_width, self.motion_pixel_threshold, self.motion_min_fraction,
                            self.motion_adapt, self.motion_hold_s, self.motion_keepalive_s)
