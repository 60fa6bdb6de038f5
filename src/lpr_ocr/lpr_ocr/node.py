"""OCR node: plates/detections -> plates/reads."""
from __future__ import annotations

import time

from lpr_interfaces.msg import PlateCandidate, PlateDetectionArray, PlateRead, PlateReadArray

from lpr_common import topics
from lpr_common.images import ImageError, image_to_array
from lpr_common.node import LprNode, run_node
from lpr_common.worker import Worker
from lpr_ocr.base import PlateText
from lpr_ocr.config import OcrConfig
from lpr_ocr.engine import PlateOcr


class OcrNode(LprNode):
    config_class = OcrConfig

    def __init__(self, name: str = 'ocr', **kwargs):
        super().__init__(name, **kwargs)
        self.ocr: PlateOcr | None = None
        self.worker: Worker | None = None
        self._subs = []

    def configure(self, config: OcrConfig) -> None:
        self.ocr = PlateOcr.from_config(config)
        self.ocr.warm_up()
        if self.ocr.notice:
            self.get_logger().warning(self.ocr.notice)
        self.get_logger().info(f'OCR {self.ocr.name} ready, regions {",".join(config.regions)}')
        self.pub = self.create_lifecycle_publisher(PlateReadArray, topics.READS.name, topics.READS.qos)

    def activate(self) -> None:
        self.worker = Worker(self._process, 'ocr', maxsize=self.config.queue_size,
                             on_error=self.worker_error('OCR'),
                             key=lambda msg: msg.header.frame_id)   # cameras served in turns
        self._subs = [self.create_subscription(PlateDetectionArray, topics.DETECTIONS.name,
                                               self.worker.submit, topics.DETECTIONS.qos)]

    def deactivate(self) -> None:
        self.stop_worker(self.worker, self._subs)
        self.worker = None

    def release(self) -> None:
        if self.ocr is not None:
            self.ocr.close()
            self.ocr = None

    def _process(self, msg: PlateDetectionArray) -> None:
        start = time.perf_counter()
        out = PlateReadArray(header=msg.header, frame_seq=msg.frame_seq, frame_width=msg.frame_width,
                             frame_height=msg.frame_height, vehicles=msg.vehicles, frame=msg.frame,
                             detect_ms=msg.detect_ms)
        out.reads = [self._read(det) for det in msg.plates]
        out.ocr_ms = float((time.perf_counter() - start) * 1000.0)
        self.status.count('reads', sum(1 for r in out.reads if r.text))
        self.pub.publish(out)

    def _read(self, det) -> PlateRead:
        msg = PlateRead(detection=det, backend=self.ocr.name)
        try:
            crop = image_to_array(det.crop)
        except ImageError as exc:
            self.status.count('bad_crops')
            self.get_logger().warning(f'crop skipped: {exc}', throttle_duration_sec=5.0)
            return msg
        if min(crop.shape[:2]) < 4:
            self.status.count('tiny_crops')
            return msg
        box = (det.box.x - det.crop_box.x, det.box.y - det.crop_box.y, det.box.width, det.box.height)
        read, trace = self.ocr.read_traced(crop, box)
        if trace.fallback:
            self.status.count('general_checks')
            if trace.agree is not None:
                self.status.count('readers_agreed' if trace.agree else 'readers_disagreed')
        _fill(msg, read)
        return msg

    def fill_status(self, status) -> None:
        if self.worker is not None:
            status.values.update(handled=self.worker.handled, dropped=self.worker.dropped,
                                 pending=self.worker.pending)


def _fill(msg: PlateRead, read: PlateText) -> None:
    msg.text = read.text
    msg.confidence = float(read.confidence)
    msg.char_confidences = [float(c) for c in read.char_confidences]
    msg.raw_text = read.raw_text
    msg.region = read.region
    msg.format = read.format
    msg.candidates = [PlateCandidate(text=c.text, confidence=float(c.confidence), region=c.region,
                                     format=c.format) for c in read.candidates]


def main(args=None) -> int:
    return run_node(OcrNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
