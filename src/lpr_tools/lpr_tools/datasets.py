"""Labelled evaluation sets: OpenALPR benchmark folders (image + .txt with the
plate box and text) and folders of plate crops (labels in a CSV or the file
name). Bad files and bad label lines are reported per file, never fatal."""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
LABEL_CSV_NAMES = ('labels.csv', 'truth.csv')


@dataclass(frozen=True)
class Sample:
    path: Path
    text: str                                           # the label, as written
    box: tuple[float, float, float, float] | None = None  # x, y, w, h; None for crops


@dataclass
class Dataset:
    root: Path
    mode: str                    # 'plates' (full images with boxes) or 'crops' (OCR only)
    samples: list[Sample] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)   # {'file', 'reason'}

    def skip(self, path: Path | str, reason: str) -> None:
        self.skipped.append({'file': str(Path(path).name), 'reason': reason})


class DatasetError(ValueError):
    """A dataset folder that cannot be evaluated at all."""


def load(root: str | Path, mode: str = 'auto') -> Dataset:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f'not a folder: {root}')
    images = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DatasetError(f'no images (.jpg, .png, .bmp) in {root}')
    has_txt = any(p.with_suffix('.txt').exists() for p in images)
    if mode == 'auto':
        mode = 'plates' if has_txt else 'crops'
    if mode == 'plates':
        return _load_openalpr(root, images)
    if mode == 'crops' and has_txt:
        # an OpenALPR folder read as crops: the labelled box is cut out (OCR only)
        ds = _load_openalpr(root, images)
        ds.mode = 'crops'
        return ds
    if mode == 'crops':
        return _load_crops(root, images)
    raise DatasetError(f"unknown dataset mode {mode!r} (plates, crops or auto)")


def _load_openalpr(root: Path, images: list[Path]) -> Dataset:
    ds = Dataset(root, 'plates')
    for image in images:
        label = image.with_suffix('.txt')
        if not label.exists():
            ds.skip(image, 'no label file')
            continue
        try:
            lines = [ln for ln in label.read_text(encoding='utf-8').splitlines() if ln.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            ds.skip(label, f'unreadable label: {exc}')
            continue
        parsed = [_openalpr_line(ln) for ln in lines]
        good = [p for p in parsed if isinstance(p, tuple)]
        if not good:
            ds.skip(label, parsed[0] if parsed else 'empty label file')
            continue
        for bad in (p for p in parsed if isinstance(p, str)):
            ds.skip(label, bad)
        box, text = good[0]   # one labelled plate per image in this format
        ds.samples.append(Sample(image, text, box))
    return ds


def _openalpr_line(line: str):
    """(box, text) or an error string. Fields: file x y w h text (tabs or spaces)."""
    parts = line.split('\t') if '\t' in line else line.split()
    if len(parts) < 6:
        return f'bad label line {line!r}: expected file, x, y, w, h, text'
    try:
        x, y, w, h = (float(v) for v in parts[1:5])
    except ValueError:
        return f'bad label line {line!r}: box is not numeric'
    text = ' '.join(parts[5:]).strip()
    if w <= 0 or h <= 0 or not text:
        return f'bad label line {line!r}: empty box or text'
    return (x, y, w, h), text


def _load_crops(root: Path, images: list[Path]) -> Dataset:
    ds = Dataset(root, 'crops')
    labels = _crop_labels(root, ds)
    for image in images:
        text = labels.get(image.name) if labels is not None else image.stem.split('_')[0]
        if not text:
            ds.skip(image, 'no label for this file')
            continue
        ds.samples.append(Sample(image, text))
    return ds


def _crop_labels(root: Path, ds: Dataset) -> dict[str, str] | None:
    """file -> text from labels.csv / truth.csv (header optional); None = use file names."""
    for name in LABEL_CSV_NAMES:
        path = root / name
        if path.exists():
            labels = {}
            with path.open(newline='', encoding='utf-8') as f:
                for n, row in enumerate(csv.reader(f), 1):
                    if n == 1 and [c.strip().lower() for c in row[:2]] == ['file', 'text']:
                        continue
                    if len(row) < 2 or not row[0].strip() or not row[1].strip():
                        ds.skip(path, f'bad label line {n}: {",".join(row)!r}')
                        continue
                    labels[row[0].strip()] = row[1].strip()
            return labels
    return None
