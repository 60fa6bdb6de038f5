"""Training and evaluation data.

Synthetic: rendered in shards of ``SHARD_SIZE`` crops (128x64, uint8) to the
run directory, shard k seeded with ``seed + k``; the training loop renders
one more shard between epochs up to a limit, so training starts at once and
the set grows. The generated test set uses the held-out fonts and the
held-out damage setting, with its own seeds, per region.

Real: ``train-br`` (labelled) and the pseudo-labels of ``train-eu-unlabelled``
(``pseudolabel.py``). The evaluation sets (``openalpr-eu``, ``openalpr-br``,
``ccpd-crops``) are read only by ``evaluate.py``, never here.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .alphabet import IMG_HEIGHT, IMG_WIDTH, usable
from .damage import TEST, TRAIN, damage
from .render import REGIONS, Renderer, random_region

SHARD_SIZE = 5000
TEST_PER_REGION = 200
TEST_SEED_BASE = 10_000_000   # far from any training shard's seed


@dataclass
class Samples:
    images: np.ndarray          # uint8 [N, 64, 128, 3] RGB
    labels: list[str]
    groups: list[str]           # region or source name per sample


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def default_data_root() -> Path:
    return repo_root().parent / 'shared' / 'datasets'


# -- synthetic --------------------------------------------------------------------
def render_shard(path: Path, seed: int, count: int = SHARD_SIZE) -> None:
    """Render ``count`` damaged training plates into ``path`` (.npz), atomically."""
    renderer = Renderer(held_out=False)
    rng = np.random.default_rng(seed)
    images = np.empty((count, IMG_HEIGHT, IMG_WIDTH, 3), np.uint8)
    labels, regions = [], []
    for i in range(count):
        plate = renderer.render(random_region(rng), rng)
        images[i] = damage(plate.image, rng, TRAIN)
        labels.append(plate.text)
        regions.append(plate.region)
    _save(path, Samples(images, labels, regions))


def render_test_set(path: Path, per_region: int = TEST_PER_REGION) -> None:
    renderer = Renderer(held_out=True)
    images, labels, regions = [], [], []
    for k, region in enumerate(REGIONS):
        rng = np.random.default_rng(TEST_SEED_BASE + k)
        for _ in range(per_region):
            plate = renderer.render(region, rng)
            images.append(damage(plate.image, rng, TEST))
            labels.append(plate.text)
            regions.append(region)
    _save(path, Samples(np.stack(images), labels, regions))


def _save(path: Path, samples: Samples) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + '.tmp.npz')
    np.savez(tmp, images=samples.images, labels=np.array(samples.labels), groups=np.array(samples.groups))
    tmp.replace(path)


def load_npz(path: Path) -> Samples:
    with np.load(path) as z:
        return Samples(z['images'], [str(s) for s in z['labels']], [str(s) for s in z['groups']])


# -- real -------------------------------------------------------------------------
@dataclass
class RealSet:
    crops: list[np.ndarray]     # RGB crops at their own size
    labels: list[str]
    groups: list[str]
    skipped: dict


def read_rgb(path: Path) -> np.ndarray | None:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_labelled_csv(csv_path: Path, image_dir: Path, group: str, text_column: str = 'text') -> RealSet:
    """Crops listed in a CSV (``file`` and ``text_column``); unreadable
    images and labels outside the alphabet are skipped and counted."""
    out = RealSet([], [], [], {'unreadable': 0, 'outside_alphabet': 0})
    if not csv_path.is_file():
        return out
    with open(csv_path, newline='', encoding='utf-8') as f:
        for row in csv.DictReader(f):
            text = row[text_column].strip().upper().replace(' ', '').replace('-', '')
            if not usable(text):
                out.skipped['outside_alphabet'] += 1
                continue
            crop = read_rgb(image_dir / row['file'])
            if crop is None or min(crop.shape[:2]) < 4:
                out.skipped['unreadable'] += 1
                continue
            out.crops.append(crop)
            out.labels.append(text)
            out.groups.append(row.get('kind') and f'{group}-{row["kind"]}' or group)
    return out


def load_real(data_root: Path, run_dir: Path) -> tuple[RealSet, dict]:
    """train-br plus the EU pseudo-labels of this run; counts per source."""
    br = load_labelled_csv(data_root / 'train-br' / 'labels.csv', data_root / 'train-br' / 'images', 'br')
    eu = load_labelled_csv(run_dir / 'pseudo_labels_eu.csv', data_root / 'train-eu-unlabelled' / 'images', 'eu')
    merged = RealSet(br.crops + eu.crops, br.labels + eu.labels, br.groups + eu.groups, {})
    counts = {'train-br': len(br.labels), 'train-br_skipped': br.skipped,
              'train-eu-pseudo': len(eu.labels), 'train-eu-pseudo_skipped': eu.skipped}
    return merged, counts


def write_json(path: Path, value) -> None:
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_text(json.dumps(value, indent=2, ensure_ascii=False), encoding='utf-8')
    tmp.replace(path)
