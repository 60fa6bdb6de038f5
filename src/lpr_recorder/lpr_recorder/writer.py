"""Turns a final decision into stored images plus one committed journal row."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import cv2
import numpy as np

from lpr_common.images import encode_jpeg
from lpr_recorder.images import ImageStore
from lpr_recorder.journal import Event, Journal
from lpr_recorder.passes import Decision
from lpr_recorder.validate import is_image


@dataclass(frozen=True)
class Evidence:
    """What the recorder keeps of the best read of a pass."""
    frame_jpeg: bytes | None      # full frame, already JPEG
    plate_crop: np.ndarray | None  # BGR crop around the plate
    frame_seq: int = 0
    vehicle_box: tuple[float, float, float, float] | None = None   # x, y, w, h of the plate's vehicle in the frame


def processed_crop(crop: np.ndarray, height: int = 96) -> np.ndarray:
    """The crop an operator reads best: grey, contrast-equalised, at least ``height`` px tall."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    if gray.shape[0] < height:
        f = height / gray.shape[0]
        gray = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(gray)


def vehicle_crop(frame_jpeg: bytes, box: tuple[float, float, float, float]) -> np.ndarray | None:
    """The vehicle's box cut from the frame (None when the frame does not decode or the box misses it).
    Cut here, once per event, rather than per read as the reads arrive."""
    frame = cv2.imdecode(np.frombuffer(frame_jpeg, np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        return None
    h, w = frame.shape[:2]
    x, y, bw, bh = box
    x0, y0 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
    x1, y1 = min(w, int(np.ceil(x + bw))), min(h, int(np.ceil(y + bh)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return np.ascontiguousarray(frame[y0:y1, x0:x1])


def to_datetime(stamp_ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(stamp_ns / 1e9, dt.timezone.utc)


class EventWriter:
    def __init__(self, journal: Journal, store: ImageStore, site_id: str = '',
                 save_frame: bool = True, save_plate: bool = True, jpeg_quality: int = 92,
                 save_processed: bool = True, gps: tuple[float, float] | None = None,
                 save_vehicle: bool = True):
        self.journal = journal
        self.store = store
        self.site_id = site_id
        self.save_frame = save_frame
        self.save_plate = save_plate
        self.save_processed = save_processed
        self.save_vehicle = save_vehicle
        self.jpeg_quality = jpeg_quality
        self.gps = gps
        self.bad_frames = 0   # frames that were not images: the event is stored without them

    def commit(self, d: Decision) -> Event:
        """Images first (durable), then the row that references them."""
        best_at = to_datetime(d.best.stamp_ns)
        evidence: Evidence | None = d.best.payload
        paths = {'frame': '', 'plate': '', 'processed': '', 'vehicle': ''}
        written = []
        try:
            for kind, data in self.images(evidence):
                rel = self.store.name_for(d.camera_id, best_at, d.event_id, kind)
                self.store.write(rel, data)
                written.append(rel)
                paths[kind] = rel
            return self.journal.add(self._row(d, best_at, evidence, paths))
        except Exception:
            if not self._maybe_committed(d.event_id):
                for rel in written:  # no orphan images for a row that never committed
                    self.store.remove(rel)
            raise

    def _maybe_committed(self, event_id: str) -> bool:
        """After a failure: could the row be in the journal? (A retry of a row
        that did commit must not delete its images; unsure = keep them, the
        start-up recovery removes true orphans.)"""
        try:
            return self.journal.has(event_id)
        except Exception:  # noqa: BLE001 - the journal is unreachable: be safe
            return True

    def images(self, evidence: Evidence | None):
        """(kind, bytes) of every image ``commit`` stores for this evidence."""
        if evidence is None:
            return
        wanted = self.save_frame or (self.save_vehicle and evidence.vehicle_box is not None)
        frame_ok = wanted and bool(evidence.frame_jpeg) and is_image(evidence.frame_jpeg)
        if self.save_frame and evidence.frame_jpeg:
            if frame_ok:   # evidence must be a picture, not whatever bytes came
                yield 'frame', evidence.frame_jpeg
            else:
                self.bad_frames += 1
        if self.save_vehicle and frame_ok and evidence.vehicle_box is not None:
            vehicle = vehicle_crop(evidence.frame_jpeg, evidence.vehicle_box)
            if vehicle is not None:
                yield 'vehicle', encode_jpeg(vehicle, self.jpeg_quality)
        crop = evidence.plate_crop
        if crop is None or not crop.size:
            return
        if self.save_plate:
            yield 'plate', encode_jpeg(crop, self.jpeg_quality)
        if self.save_processed:
            yield 'processed', encode_jpeg(processed_crop(crop), self.jpeg_quality)

    def _row(self, d: Decision, best_at, evidence, paths) -> Event:
        b = d.best
        return Event(
            event_id=d.event_id, camera_id=d.camera_id, site_id=self.site_id, plate=d.text,
            region=b.region if b.text == d.text else '', plate_format=b.format if b.text == d.text else '',
            confidence=float(d.confidence),
            candidates=[{'text': t, 'share': round(float(w), 4)} for t, w in d.candidates],
            read_count=d.read_count, direction=d.direction,
            first_seen=to_datetime(d.first_ns), last_seen=to_datetime(d.last_ns), best_seen=best_at,
            frame_seq=evidence.frame_seq if evidence else 0, box=[round(float(v), 1) for v in b.box],
            frame_path=paths['frame'], plate_path=paths['plate'], vehicle_path=paths['vehicle'],
            processed_path=paths['processed'],
            latitude=self.gps[0] if self.gps else None, longitude=self.gps[1] if self.gps else None,
            created_at=dt.datetime.now(dt.timezone.utc))
