"""Score a fixed-slot ONNX reader: the generated test set per region, and, for
comparison only (never for tuning), crops of the public evaluation sets.

Crops are fed as the project's backend feeds them (RGB, resized to the
model's input with linear interpolation). Scores: ``exact`` (strict);
``folded`` (O->0 and I->1 on both sides, and Cyrillic letters read as their
Latin twins: the benchmark labels are Latin); on CCPD also ``no_province``
(the plate without its first, Chinese character: a Latin-only reader's best).
"""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import yaml

from .alphabet import CN_PROVINCES, CYRILLIC, fold
from .data import load_npz, read_rgb

_CYRILLIC_TO_LATIN = str.maketrans(CYRILLIC, 'ABEKMHOPCTYX')
# The reference model's config (it ships without a YAML; see lpr_ocr.plate_model.KNOWN_MODELS).
_CCT_CONFIG = {'max_plate_slots': 9, 'alphabet': '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_', 'pad_char': '_',
               'img_height': 64, 'img_width': 128}


class OnnxReader:
    def __init__(self, model: Path, threads: int = 1):
        from .export import ort_session
        self.session = ort_session(model, threads)
        self.name = model.stem
        beside = model.with_name(f'{model.stem}_plate_config.yaml')
        config = yaml.safe_load(beside.read_text(encoding='utf-8')) if beside.is_file() else _CCT_CONFIG
        self.alphabet, self.pad = config['alphabet'], config['pad_char']
        self.size = (config['img_width'], config['img_height'])

    def read(self, crops: list[np.ndarray], batch: int = 128) -> list[str]:
        """RGB crops (any size) -> texts."""
        out = []
        for start in range(0, len(crops), batch):
            blob = np.stack([c if c.shape[1::-1] == self.size else
                             cv2.resize(c, self.size, interpolation=cv2.INTER_LINEAR)
                             for c in crops[start:start + batch]])
            probs = self.session.run(None, {self.session.get_inputs()[0].name: blob})[0]
            out += [''.join(self.alphabet[i] for i in row if self.alphabet[i] != self.pad)
                    for row in probs.argmax(-1)]
        return out


def openalpr_crops(folder: Path) -> tuple[list[np.ndarray], list[str]]:
    """Crops cut from the labelled boxes (``NAME.txt``: file x y w h TEXT)."""
    crops, labels = [], []
    for txt in sorted(folder.glob('*.txt')):
        for line in txt.read_text(encoding='utf-8', errors='replace').splitlines():
            parts = line.split('\t') if '\t' in line else line.split()
            if len(parts) < 6:
                continue
            image = read_rgb(folder / parts[0])
            if image is None:
                continue
            x, y, w, h = (int(float(v)) for v in parts[1:5])
            crop = image[max(0, y):y + h, max(0, x):x + w]
            if min(crop.shape[:2]) >= 4:
                crops.append(crop)
                labels.append(parts[5].strip().upper())
    return crops, labels


def ccpd_crops(folder: Path) -> tuple[list[np.ndarray], list[str]]:
    crops, labels = [], []
    for path in sorted(folder.iterdir()):
        image = read_rgb(path)
        if image is not None:
            crops.append(image)
            labels.append(path.stem)
    return crops, labels


def _pct(hits: int, total: int) -> float:
    return round(100 * hits / max(1, total), 2)


def score_set(predictions: list[str], labels: list[str], province: bool = False) -> dict:
    def latin(text):
        return fold(text.translate(_CYRILLIC_TO_LATIN))
    out = {'n': len(labels), 'exact': _pct(sum(p == t for p, t in zip(predictions, labels)), len(labels)),
           'folded': _pct(sum(latin(p) == latin(t) for p, t in zip(predictions, labels)), len(labels))}
    if province:
        tail = [p[1:] if p[:1] in CN_PROVINCES else p for p in predictions]
        out['no_province'] = _pct(sum(p == t[1:] for p, t in zip(tail, labels)), len(labels))
    return out


def evaluate(model: Path, data_root: Path, test_set: Path | None) -> dict:
    reader = OnnxReader(model)
    result = {'model': str(model)}
    if test_set is not None and test_set.is_file():
        test = load_npz(test_set)
        predictions = reader.read(list(test.images))
        by_region = {}
        for region in sorted(set(test.groups)):
            idx = [i for i, g in enumerate(test.groups) if g == region]
            by_region[region] = score_set([predictions[i] for i in idx], [test.labels[i] for i in idx])['exact']
        result['generated_test'] = {'exact_all': score_set(predictions, test.labels)['exact'],
                                    'exact_by_region': by_region, 'n': len(test.labels)}
    for name in ('openalpr-eu', 'openalpr-br'):
        if (data_root / name).is_dir():
            crops, labels = openalpr_crops(data_root / name)
            result[name] = score_set(reader.read(crops), labels)
    if (data_root / 'ccpd-crops').is_dir():
        crops, labels = ccpd_crops(data_root / 'ccpd-crops')
        result['ccpd-crops'] = score_set(reader.read(crops), labels, province=True)
    from .export import latency_ms
    result['ms_per_crop_1_thread'] = latency_ms(reader.session)
    result['time'] = time.strftime('%Y-%m-%dT%H:%M:%S')
    return result
