"""`lpr eval DATASET`: the detector and OCR cores the nodes run, over a
labelled folder, scored. One committed read per image (the most confident
read in it), as the recorder would commit it; extra unlabelled plates are not
counted as errors."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lpr.datasets import Dataset, Sample, fold, normalise

IOU_HIT = 0.5


@dataclass
class Pipeline:
    finder: object   # lpr_detector.finder.PlateFinder (None for crop sets)
    ocr: object      # lpr_ocr.engine.PlateOcr

    @classmethod
    def from_params(cls, params_file: Path | None, regions: list[str] | None = None,
                    need_detector: bool = True, overrides: dict | None = None) -> 'Pipeline':
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
        ocr = PlateOcr.from_config(build_config(OcrConfig, ocr_values))
        finder = None
        if need_detector:
            det_values = {**node_parameters(params_file, 'detector'), **overrides.get('detector', {})}
            finder = PlateFinder.from_config(build_config(DetectorConfig, det_values))
        return cls(finder, ocr)

    def read_image(self, image: np.ndarray) -> list[tuple[object, object]]:
        """(box, PlateText) per plate found, as the detector and OCR nodes do it."""
        out = []
        for found in self.finder.find(image):
            x, y, _, _ = found.crop_rect
            box = found.box
            out.append((box, self.ocr.read(found.crop, (box.x - x, box.y - y, box.width, box.height))))
        return out


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _commit(reads):
    """The read the system would commit for this image: the most confident one."""
    readable = [(box, r) for box, r in reads if r.text]
    return max(readable, key=lambda br: br[1].confidence, default=(None, None))


def evaluate_sample(sample: Sample, pipeline: Pipeline, mode: str) -> dict:
    image = cv2.imread(str(sample.path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError('unreadable image')
    row = {'file': sample.path.name, 'truth': sample.text}
    start = time.perf_counter()
    if mode == 'crops':
        read = pipeline.ocr.read(image)
        row['latency_ms'] = (time.perf_counter() - start) * 1000
        row['read'] = read.text
        row['confidence'] = round(read.confidence, 4)
    else:
        reads = pipeline.read_image(image)
        row['latency_ms'] = (time.perf_counter() - start) * 1000
        box, read = _commit(reads)
        ious = [_iou(sample.box, (b.x, b.y, b.width, b.height)) for b, _ in reads]
        row['iou'] = round(max(ious, default=0.0), 3)
        row['detected'] = row['iou'] >= IOU_HIT
        at_label = [r for (b, r), iou in zip(reads, ious) if iou >= IOU_HIT]
        row['read_at_label'] = at_label[0].text if at_label else ''
        row['plates_found'] = len(reads)
        row['read'] = read.text if read else ''
        row['confidence'] = round(read.confidence, 4) if read else 0.0
        row['candidates'] = [c.text for c in read.candidates[:3]] if read else []
    row['ok'] = bool(row['read']) and normalise(row['read']) == normalise(sample.text)
    row['ok_folded'] = bool(row['read']) and fold(row['read']) == fold(sample.text)
    row['latency_ms'] = round(row['latency_ms'], 1)
    return row


def evaluate(dataset: Dataset, pipeline: Pipeline, progress: bool = True) -> dict:
    rows, skipped = [], list(dataset.skipped)
    samples = dataset.samples
    iterator = samples
    if progress:
        from tqdm import tqdm
        iterator = tqdm(samples, desc=f'eval {dataset.root.name}', unit='img', leave=False)
    for sample in iterator:
        try:
            rows.append(evaluate_sample(sample, pipeline, dataset.mode))
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
        'per_image': rows, 'skipped_files': skipped,
    }
    return result


def summary_line(result: dict) -> str:
    recall = result['detection_recall']
    recall_text = f'recall {100 * recall:5.1f} %  ' if recall is not None else ''
    return (f"{Path(result['dataset']).name}: {result['images']} images, {recall_text}"
            f"exact {100 * result['exact']:5.1f} %  folded {100 * result['exact_folded']:5.1f} %  "
            f"p50 {result['latency_ms']['p50']:.0f} ms  p90 {result['latency_ms']['p90']:.0f} ms"
            + (f"  ({result['skipped']} skipped)" if result['skipped'] else ''))
