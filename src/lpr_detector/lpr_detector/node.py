"""Detector node: image_raw (or cameras/<id>/image_raw per camera) ->
plates/detections (+ debug/image/compressed).

One detector can serve several cameras (one model per process is what fits a
small box): it takes the cameras' newest frames in turns, so a busy camera
cannot starve a quiet one, and searches each within that camera's region."""
from __future__ import annotations

import time

from lpr_interfaces.msg import BoundingBox, PlateDetection, PlateDetectionArray, PlateReadArray, VehicleDetection
from sensor_msgs.msg import CompressedImage, Image

from lpr_common import topics
from lpr_common.images import ImageError, array_to_compressed, array_to_image, image_to_array
from lpr_common.node import LprNode, run_node
from lpr_common.rate import RateMeter
from lpr_common.worker import Worker
from lpr_detector.annotate import annotate
from lpr_detector.base import Box
from lpr_detector.config import DetectorConfig
from lpr_detector.finder import FoundPlate, PlateFinder
from lpr_detector.gating import Gates
from lpr_detector.vehicles import VehicleFinder


class DetectorNode(LprNode):
    config_class = DetectorConfig

    def __init__(self, name: str = 'detector', **kwargs):
        super().__init__(name, **kwargs)
        self.finder: PlateFinder | None = None
        self.vehicles: VehicleFinder | None = None
        self.worker: Worker | None = None
        self._subs = []
        self._frames = 0
        self._detect_ms: float | None = None   # moving average, for the status
        self._rate = RateMeter()
        self._last_reads: list[tuple[Box, str]] = []

    # -- lifecycle ----------------------------------------------------------
    def configure(self, config: DetectorConfig) -> None:
        self.finder = PlateFinder.from_config(config)
        self.finder.warm_up()   # the first inference is slow: not on the first car's frames
        self.gates = Gates(config.roi, config.min_plate_width_by_camera)
        self.get_logger().info(f'plate detector {self.finder.detector.name} ready')
        self.vehicles = VehicleFinder.from_config(config)
        if self.vehicles is not None:
            self.vehicles.warm_up()
            self.get_logger().info(f'vehicle detector {self.vehicles.detector.name} ready (frames with plates only)')
        self.pub = self.create_lifecycle_publisher(PlateDetectionArray, topics.DETECTIONS.name, topics.DETECTIONS.qos)
        self.debug_pub = self.create_lifecycle_publisher(CompressedImage, topics.DEBUG_IMAGE.name, topics.DEBUG_IMAGE.qos)

    def activate(self) -> None:
        # One newest-frame slot per camera, served in turns.
        self.worker = Worker(self._process, 'detector', maxsize=1, on_error=self.worker_error('detection'),
                             key=lambda msg: msg.header.frame_id)
        frame_topics = [topics.camera_frames(c) for c in self.config.cameras] or [topics.FRAMES.name]
        self._subs = [self.create_subscription(Image, name, self.worker.submit, topics.FRAMES.qos)
                      for name in frame_topics]
        self._subs.append(
            self.create_subscription(PlateReadArray, topics.READS.name, self._remember_reads, topics.READS.qos))

    def deactivate(self) -> None:
        self.stop_worker(self.worker, self._subs)
        self.worker = None

    def release(self) -> None:
        if self.finder is not None:
            self.finder.close()
            self.finder = None
        if self.vehicles is not None:
            self.vehicles.close()
            self.vehicles = None

    # -- work ---------------------------------------------------------------
    def _process(self, msg: Image) -> None:
        try:
            image = image_to_array(msg)
            if image.ndim != 3:
                raise ImageError(f'expected a colour frame, got {msg.encoding}')
        except ImageError as exc:
            self.status.count('bad_frames')
            self.get_logger().warning(f'frame skipped: {exc}', throttle_duration_sec=5.0)
            return
        start = time.perf_counter()
        found = self.finder.find(image, self.gates.for_camera(msg.header.frame_id))
        vehicles, owners = (self.vehicles.for_plates(image, [f.box for f in found])
                            if self.vehicles is not None else ([], [-1] * len(found)))
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        self._detect_ms = elapsed_ms if self._detect_ms is None else 0.9 * self._detect_ms + 0.1 * elapsed_ms
        self._frames += 1
        self._rate.tick()
        self.pub.publish(self._to_msg(msg, image, found, elapsed_ms, vehicles, owners))
        self.status.count('plates', len(found))
        if vehicles:
            self.status.count('vehicles', len(vehicles))
        if self.config.debug_image and self.debug_pub.get_subscription_count() > 0:
            self._publish_debug(msg, image, found)

    def _to_msg(self, src: Image, image, found: list[FoundPlate], elapsed_ms: float,
                vehicles: list[Box], owners: list[int]) -> PlateDetectionArray:
        out = PlateDetectionArray()
        out.header = src.header
        out.frame_seq = self._frames
        out.frame_height, out.frame_width = image.shape[:2]
        out.detect_ms = float(elapsed_ms)
        out.plates = [self._plate_msg(f, owner) for f, owner in zip(found, owners)]
        out.vehicles = [VehicleDetection(box=_bbox(v.x, v.y, v.width, v.height), score=float(v.score), label=v.label)
                        for v in vehicles]
        if found and self.config.attach_frame:
            out.frame.header = src.header
            array_to_compressed(image, out.frame, self.config.jpeg_quality)
        return out

    def _plate_msg(self, f: FoundPlate, vehicle_index: int) -> PlateDetection:
        det = PlateDetection()
        det.box = _bbox(f.box.x, f.box.y, f.box.width, f.box.height)
        det.score = float(f.box.score)
        det.backend = self.finder.detector.name
        det.crop_box = _bbox(*f.crop_rect)
        det.vehicle_index = int(vehicle_index)
        if f.crop is not None and f.crop.size:
            array_to_image(f.crop, det.crop)
        return det

    def _remember_reads(self, msg: PlateReadArray) -> None:
        self._last_reads = [(Box(r.detection.box.x, r.detection.box.y, r.detection.box.width,
                                 r.detection.box.height, r.confidence),
                             f'{r.text} {r.confidence:.2f}' if r.text else '')
                            for r in msg.reads]

    def _publish_debug(self, src: Image, image, found: list[FoundPlate]) -> None:
        labels = []
        for f in found:
            match = max(self._last_reads, key=lambda br: br[0].iou(f.box), default=None)
            labels.append(match[1] if match and match[0].iou(f.box) > 0.3 else '')
        view = annotate(image, [f.box for f in found], labels, self._rate.rate())
        msg = CompressedImage()
        msg.header = src.header
        array_to_compressed(view, msg, self.config.jpeg_quality)
        self.debug_pub.publish(msg)

    def fill_status(self, status) -> None:
        if self.worker is not None:
            status.values.update(frames=self._frames, dropped=self.worker.dropped,
                                 fps=self._rate.rate(), failed=self.worker.failed)
        if self.finder is not None:   # the accelerator's health: which device runs the model, how fast
            detector = self.finder.detector
            status.values.update(backend=detector.name,
                                 device=', '.join(getattr(detector, 'providers', ()) or ()) or detector.name)
        if self._detect_ms is not None:
            status.values['detect_ms'] = round(self._detect_ms, 1)


def _bbox(x, y, w, h) -> BoundingBox:
    return BoundingBox(x=float(x), y=float(y), width=float(w), height=float(h))


def main(args=None) -> int:
    return run_node(DetectorNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
