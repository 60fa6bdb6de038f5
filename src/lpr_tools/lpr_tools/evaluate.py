"""`lpr eval DATASET`: the detector and OCR cores the nodes run, over a
labelled folder, scored. One committed read per image (the most confident
read in it), as the recorder would commit it; extra unlabelled plates are not
counted as errors."""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lpr_tools.datasets import Dataset, Sample
from lpr_common.plate_text import compact, fold_label_quirks

IOU_HIT = 0.5


@dataclass
class Pipeline:
    finder: object   # lpr_detector.finder.PlateFinder (None for crop sets)
    ocr: object      # lpr_ocr.engine.PlateOcr

    @classmethod
    def from_params(cls, params_file: Path | None, regions: list[str] | None = None,
                    need_detector: bool = True, overrides: dict | None = None,
                    reader: str | None = None) -> 'Pipeline':
        """Build the cores from the same params YAML the nodes read."""
        from lpr_common.config import build_config
        from lpr_detector.config import DetectorConfig
        from lpr_detector.finder import PlateFinder
        from lpr_ocr.config import OcrConfig
        from lpr_ocr.engine import PlateOcr

        from lpr import graph
        from lpr.params import node_parameters
        params_file = params_file or graph.default_params_file()
        overrides = overrides or {}
        ocr_values = {**node_parameters(params_file, 'ocr'), **overrides.get('ocr', {})}
        if regions:
            ocr_values['regions'] = regions
        if reader:
            ocr_values['reader'] = reader
        ocr = PlateOcr.from_config(build_config(OcrConfig, ocr_values))
        finder = None
        if need_detector:
            det_values = {**node_parameters(params_file, 'detector'), **overrides.get('detector', {})}
            finder = PlateFinder.from_config(build_config(DetectorConfig, det_values))
        return cls(finder, ocr)

    def read_image(self, image: np.ndarray) -> list[tuple[object, object, object]]:
        """(FoundPlate, PlateText, ReadTrace) per plate found, as the detector and OCR nodes do it."""
        return [(found, *self.ocr.read_traced(found.crop, self._box_in_crop(found)))
                for found in self.finder.find(image)]

    def read_each(self, found) -> dict[str, str]:
        return self.ocr.read_each(found.crop, self._box_in_crop(found))

    @staticmethod
    def _box_in_crop(found):
        x, y, _, _ = found.crop_rect
        box = found.box
        return (box.x - x, box.y - y, box.width, box.height)


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


# Label-box margins for crops cut from full images (`--mode crops` on an
# OpenALPR folder): a little more than the box, as a detector would give.
CROP_MARGIN = (0.04, 0.08)
SIZE_BANDS = ((0, 40), (40, 60), (60, 100), (100, 160), (160, 10 ** 6))   # plate width, pixels


def _commit(reads):
    """The read the system would commit for this image: the most confident one."""
    readable = [item for item in reads if item[1].text]
    return max(readable, key=lambda item: item[1].confidence, default=(None, None, None))


def cut_label(image: np.ndarray, box, margin=CROP_MARGIN) -> np.ndarray:
    x, y, w, h = box
    mx, my = w * margin[0], h * margin[1]
    H, W = image.shape[:2]
    x0, y0 = max(0, int(round(x - mx))), max(0, int(round(y - my)))
    x1, y1 = min(W, int(round(x + w + mx))), min(H, int(round(y + h + my)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise ValueError(f'label box {box} lies outside the {W}x{H} image')
    return image[y0:y1, x0:x1]


def _score(row: dict, truth: str) -> None:
    row['ok'] = bool(row['read']) and compact(row['read']) == compact(truth)
    row['ok_folded'] = bool(row['read']) and fold_label_quirks(row['read']) == fold_label_quirks(truth)
    for name, text in row.get('readers', {}).items():
        row['readers'][name] = {'read': text, 'ok': bool(text) and compact(text) == compact(truth),
                                'ok_folded': bool(text) and fold_label_quirks(text) == fold_label_quirks(truth)}
    row['latency_ms'] = round(row['latency_ms'], 1)


def _trace_fields(row: dict, trace) -> None:
    row['fallback'] = bool(trace.fallback) if trace else False
    row['fallback_reason'] = trace.reason if trace else ''
    row['agree'] = trace.agree if trace else None


def evaluate_sample(sample: Sample, pipeline: Pipeline, mode: str, per_reader: bool = True,
                    scale: float = 1.0) -> dict:
    image = cv2.imread(str(sample.path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError('unreadable image')
    if scale != 1.0:
        image, sample = _further_away(image, sample, scale)
    row = {'file': sample.path.name, 'truth': sample.text}
    if mode == 'crops':
        crop = cut_label(image, sample.box) if sample.box is not None else image
        start = time.perf_counter()
        read, trace = pipeline.ocr.read_traced(crop)
        row['latency_ms'] = (time.perf_counter() - start) * 1000
        row['read'] = read.text
        row['confidence'] = round(read.confidence, 4)
        if per_reader:
            row['readers'] = pipeline.ocr.read_each(crop)
    else:
        start = time.perf_counter()
        reads = pipeline.read_image(image)
        row['latency_ms'] = (time.perf_counter() - start) * 1000
        committed, read, trace = _commit(reads)
        ious = [_iou(sample.box, (f.box.x, f.box.y, f.box.width, f.box.height)) for f, _, _ in reads]
        row['iou'] = round(max(ious, default=0.0), 3)
        row['detected'] = row['iou'] >= IOU_HIT
        row['found_loose'] = any(_centre_inside(sample.box, f.box) for f, _, _ in reads)
        row['label_width'] = round(sample.box[2], 1)
        at_label = [r for (_, r, _), iou in zip(reads, ious) if iou >= IOU_HIT]
        row['read_at_label'] = at_label[0].text if at_label else ''
        row['plates_found'] = len(reads)
        row['read'] = read.text if read else ''
        row['confidence'] = round(read.confidence, 4) if read else 0.0
        row['candidates'] = [c.text for c in read.candidates[:3]] if read else []
        if per_reader and committed is not None:
            row['readers'] = pipeline.read_each(committed)
    _trace_fields(row, trace)
    _score(row, sample.text)
    return row


def _further_away(image: np.ndarray, sample: Sample, scale: float) -> tuple[np.ndarray, Sample]:
    """The same car seen by the same camera from further away: the image shrunk
    by ``scale`` and centred in a grey frame of the original size (the
    detector sees the frame at its input size, so small plates stay small)."""
    H, W = image.shape[:2]
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    canvas = np.full((max(H, h), max(W, w), 3), 114, np.uint8)
    oy, ox = (canvas.shape[0] - h) // 2, (canvas.shape[1] - w) // 2
    canvas[oy:oy + h, ox:ox + w] = small
    box = None
    if sample.box is not None:
        x, y, bw, bh = sample.box
        box = (x * scale + ox, y * scale + oy, bw * scale, bh * scale)
    return canvas, Sample(sample.path, sample.text, box)


def _centre_inside(label, box) -> bool:
    x, y, w, h = label
    cx, cy = x + w / 2, y + h / 2
    return box.x <= cx <= box.x2 and box.y <= cy <= box.y2


def evaluate(dataset: Dataset, pipeline: Pipeline, progress: bool = True, per_reader: bool = True,
             scale: float = 1.0) -> dict:
    rows, skipped = [], list(dataset.skipped)
    samples = dataset.samples
    iterator = samples
    if progress:
        from tqdm import tqdm
        iterator = tqdm(samples, desc=f'eval {dataset.root.name}', unit='img', leave=False)
    for sample in iterator:
        try:
            rows.append(evaluate_sample(sample, pipeline, dataset.mode, per_reader, scale))
        except Exception as exc:  # noqa: BLE001 - one bad file must not end the run
            skipped.append({'file': sample.path.name, 'reason': f'{type(exc).__name__}: {exc}'})
    return summarise(dataset, rows, skipped)


def summarise(dataset: Dataset, rows: list[dict], skipped: list[dict]) -> dict:
    n = len(rows)
    latency = np.array([r['latency_ms'] for r in rows]) if rows else np.zeros(1)

    def share(key):
        return round(sum(1 for r in rows if r.get(key)) / n, 4) if n else 0.0

    result = {
        'dataset': str(dataset.root), 'mode': dataset.mode,
        'images': n, 'plates': n, 'skipped': len(skipped),
        'detection_recall': share('detected') if dataset.mode == 'plates' else None,
        'exact': share('ok'), 'exact_folded': share('ok_folded'),
        'latency_ms': {'p50': round(float(np.percentile(latency, 50)), 1),
                       'p90': round(float(np.percentile(latency, 90)), 1)},
        'readers': _reader_summary(rows),
        'per_image': rows, 'skipped_files': skipped,
    }
    if dataset.mode == 'plates':
        result['recall_by_width'] = _recall_by_width(rows)
    return result


def _reader_summary(rows: list[dict]) -> dict:
    """How often the general OCR checked the plate reader, how often they
    agreed, and each reader's own exact rate on the same crops."""
    n = len(rows)
    if not n:
        return {}
    ran = [r for r in rows if r.get('fallback')]
    agreed = [r for r in ran if r.get('agree') is not None]
    out = {'fallback_rate': round(len(ran) / n, 4),
           'fallback_reasons': dict(collections.Counter(r['fallback_reason'] for r in ran)),
           'agreement_rate': round(sum(1 for r in agreed if r['agree']) / len(agreed), 4) if agreed else None}
    names = sorted({name for r in rows for name in r.get('readers', {})})
    for name in names:
        scored = [r['readers'][name] for r in rows if name in r.get('readers', {})]
        out[name] = {'exact': round(sum(s['ok'] for s in scored) / n, 4),
                     'exact_folded': round(sum(s['ok_folded'] for s in scored) / n, 4)}
    out['combined'] = {'exact': round(sum(bool(r['ok']) for r in rows) / n, 4),
                       'exact_folded': round(sum(bool(r['ok_folded']) for r in rows) / n, 4)}
    return out


def _recall_by_width(rows: list[dict]) -> list[dict]:
    """Detection by labelled plate width: strict (IoU >= 0.5) and loose (the
    label's centre inside a detected box; the detector's boxes include the
    plate holder, so IoU undercounts plates it did find)."""
    bands = []
    for lo, hi in SIZE_BANDS:
        band = [r for r in rows if lo <= r.get('label_width', -1) < hi]
        if band:
            bands.append({'width_px': f'{lo}-{hi}' if hi < 10 ** 6 else f'>={lo}', 'plates': len(band),
                          'recall': round(sum(bool(r['detected']) for r in band) / len(band), 4),
                          'recall_loose': round(sum(bool(r['found_loose']) for r in band) / len(band), 4),
                          'exact': round(sum(bool(r['ok']) for r in band) / len(band), 4)})
    return bands


def reader_lines(result: dict) -> list[str]:
    r = result.get('readers') or {}
    if not r:
        return []
    lines = []
    if r.get('fallback_rate') is not None and any(k in r for k in ('plate',)):
        agree = r.get('agreement_rate')
        lines.append(f"  general OCR checked {100 * r['fallback_rate']:.1f} % of reads "
                     f"({', '.join(f'{k} {v}' for k, v in sorted(r['fallback_reasons'].items())) or 'never'})"
                     + (f", agreed with the plate reader on {100 * agree:.1f} %" if agree is not None else ''))
    for name in ('plate', 'general', 'combined'):
        if name in r:
            lines.append(f"  {name:<9} exact {100 * r[name]['exact']:5.1f} %  folded {100 * r[name]['exact_folded']:5.1f} %")
    for band in result.get('recall_by_width', []):
        lines.append(f"  plates {band['width_px']:>8} px: {band['plates']:4d}  recall {100 * band['recall']:5.1f} %  "
                     f"loose {100 * band['recall_loose']:5.1f} %  exact {100 * band['exact']:5.1f} %")
    return lines


def summary_line(result: dict) -> str:
    recall = result['detection_recall']
    recall_text = f'recall {100 * recall:5.1f} %  ' if recall is not None else ''
    return (f"{Path(result['dataset']).name}: {result['images']} images, {recall_text}"
            f"exact {100 * result['exact']:5.1f} %  folded {100 * result['exact_folded']:5.1f} %  "
            f"p50 {result['latency_ms']['p50']:.0f} ms  p90 {result['latency_ms']['p90']:.0f} ms"
            + (f"  ({result['skipped']} skipped)" if result['skipped'] else ''))
