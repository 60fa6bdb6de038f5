"""Pseudo-labels for ``train-eu-unlabelled``: a crop gets a label only where
two independent readers give the same text.

Readers: (a) the fixed-slot model ``cct_xs_v1_global.onnx`` (reference copy),
(b) the project's PP-OCRv4 general reader (text-line detection + CTC
recogniser, as the OCR node runs it). Rule: both texts, upper-cased with
separators removed, identical (no O/0 or I/1 folding), 4..10 characters of
0-9A-Z. Run with the project's venv (it has ``lpr_ocr``), e.g.

    .venv/bin/python -m tools.train_reader.pseudolabel --run-dir tools/train_reader/runs/v1

Writes ``pseudo_labels_eu.csv`` (file,text,cct,ppocr) and
``pseudo_labels_eu.json`` (counts) in the run directory.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_PLATE = re.compile(r'^[0-9A-Z]{4,10}$')


def clean(text: str) -> str:
    return re.sub(r'[\s\-\.·_|/\\:]', '', text.upper())


def make_readers(cct_path: Path):
    import cv2  # noqa: F401  (lpr_ocr needs it; fail early if the venv lacks it)
    from lpr_ocr.plate_model import SlotRecognizer
    from lpr_ocr.ppocr import PpOcrDetector, PpOcrRecognizer
    from lpr_ocr.reader import PlateReader
    slot = PlateReader(SlotRecognizer(str(cct_path), threads=1), upscale_to=0)
    general = PlateReader(PpOcrRecognizer(threads=1), PpOcrDetector(threads=1))
    return slot, general


def label_all(image_dir: Path, cct_path: Path) -> tuple[list[dict], dict]:
    import cv2
    slot, general = make_readers(cct_path)
    rows, counts = [], {'images': 0, 'unreadable': 0, 'agree': 0, 'agree_after_fold_only': 0,
                        'disagree': 0, 'agree_but_not_plate_like': 0}
    for path in sorted(image_dir.iterdir()):
        if path.suffix.lower() not in ('.jpg', '.jpeg', '.png', '.bmp'):
            continue
        counts['images'] += 1
        crop = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if crop is None or min(crop.shape[:2]) < 4:
            counts['unreadable'] += 1
            continue
        a = clean(slot.read_whole(crop).text)
        b = clean(general.read(crop).text)
        if a != b:
            fold = str.maketrans('OI', '01')
            key = 'agree_after_fold_only' if a and a.translate(fold) == b.translate(fold) else 'disagree'
            counts[key] += 1
            continue
        if not _PLATE.match(a):
            counts['agree_but_not_plate_like'] += 1
            continue
        counts['agree'] += 1
        rows.append({'file': path.name, 'text': a, 'cct': a, 'ppocr': b})
    return rows, counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--run-dir', type=Path, required=True)
    parser.add_argument('--data-root', type=Path, default=ROOT.parent / 'shared' / 'datasets')
    parser.add_argument('--cct', type=Path, default=None, help='default: DATA_ROOT/../models-reference/...')
    args = parser.parse_args(argv)
    cct = args.cct or args.data_root.parent / 'models-reference' / 'cct_xs_v1_global.onnx'
    image_dir = args.data_root / 'train-eu-unlabelled' / 'images'
    if not image_dir.is_dir() or not cct.is_file():
        print(f'missing {image_dir} or {cct}', file=sys.stderr)
        return 2
    start = time.time()
    rows, counts = label_all(image_dir, cct)
    counts['seconds'] = round(time.time() - start, 1)
    counts['rule'] = 'cct_xs_v1_global and PP-OCRv4 read the same text exactly; 4..10 chars of 0-9A-Z'
    args.run_dir.mkdir(parents=True, exist_ok=True)
    with open(args.run_dir / 'pseudo_labels_eu.csv', 'w', newline='', encoding='utf-8') as f:
        writer = csv.DictWriter(f, fieldnames=['file', 'text', 'cct', 'ppocr'])
        writer.writeheader()
        writer.writerows(rows)
    (args.run_dir / 'pseudo_labels_eu.json').write_text(json.dumps(counts, indent=2), encoding='utf-8')
    print(json.dumps(counts, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
