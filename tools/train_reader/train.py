"""Training loop: resumable, checkpointed, single-threaded.

Everything lives in the run directory:
  ``checkpoint.pt``   model, optimiser, step, data cursor, alphabet (resume)
  ``data/``           rendered synthetic shards and the generated test set
  ``log.jsonl``       one line per checkpoint: loss, lr, speed, test accuracy
  ``summary.json``    totals: time, samples, last figures
"""
from __future__ import annotations

import json
import math
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import data
from .alphabet import ALPHABET, SLOTS, decode, encode
from .damage import augment_real
from .model import PlateReader, parameter_count, to_input


@dataclass
class TrainConfig:
    seed: int = 13
    batch: int = 64
    real_fraction: float = 0.15     # of each batch, from train-br + EU pseudo-labels
    lr: float = 2e-3
    min_lr_ratio: float = 0.03
    warmup_steps: int = 300
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    max_shards: int = 40            # synthetic set grows to max_shards x SHARD_SIZE
    budget_hours: float = 12.0      # the whole run's planned length (sets the LR schedule)
    checkpoint_minutes: float = 10.0


class Run:
    # Settings a resumed run may change; the others stay as the first session set them.
    CHANGEABLE = ('max_shards', 'checkpoint_minutes')

    def __init__(self, run_dir: Path, data_root: Path, config: TrainConfig, overrides: dict | None = None):
        self.dir = run_dir
        self.data_root = data_root
        self.config = config
        self.overrides = overrides or {}
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / 'data').mkdir(exist_ok=True)
        torch.manual_seed(config.seed)
        self.net = PlateReader(SLOTS, len(ALPHABET))
        self.optimizer = torch.optim.AdamW(self.net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.state = {'step': 0, 'epoch': 0, 'shard_order': [], 'shard_pos': 0, 'samples': 0,
                      'train_seconds': 0.0, 'total_steps': None, 'sessions': 0}
        self._stop = False
        self.last_scores: dict | None = None

    # -- checkpoint ---------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.dir / 'checkpoint.pt'

    def resume(self) -> bool:
        if not self.checkpoint_path.is_file():
            return False
        ckpt = load_checkpoint(self.checkpoint_path)
        self.net.load_state_dict(ckpt['model'])
        self.optimizer.load_state_dict(ckpt['optimizer'])
        self.state.update(ckpt['state'])
        kept = {**asdict(self.config), **ckpt.get('config', {})}
        for key, value in self.overrides.items():
            if key in self.CHANGEABLE:
                kept[key] = value
            elif kept.get(key) != value:
                self.log_event(f'ignoring --{key.replace("_", "-")} {value}: the run keeps {kept.get(key)}')
        self.config = TrainConfig(**kept)
        return True

    def save(self) -> None:
        tmp = self.checkpoint_path.with_suffix('.tmp')
        torch.save({'model': self.net.state_dict(), 'optimizer': self.optimizer.state_dict(),
                    'state': self.state, 'config': asdict(self.config), 'alphabet': ALPHABET, 'slots': SLOTS}, tmp)
        tmp.replace(self.checkpoint_path)

    # -- data ---------------------------------------------------------------------
    def shard_path(self, k: int) -> Path:
        return self.dir / 'data' / f'train_{k:04d}.npz'

    def shards(self) -> list[int]:
        return [k for k in range(self.config.max_shards) if self.shard_path(k).is_file()]

    def grow(self) -> None:
        """Render the next synthetic shard, if the set is not full yet."""
        k = len(self.shards())
        if k < self.config.max_shards:
            start = time.time()
            data.render_shard(self.shard_path(k), self.config.seed * 1000 + k)
            self.log_event(f'rendered shard {k} in {time.time() - start:.0f} s')

    def test_set(self) -> data.Samples:
        path = self.dir / 'data' / 'test.npz'
        if not path.is_file():
            data.render_test_set(path)
        return data.load_npz(path)

    # -- loop ---------------------------------------------------------------------
    def train(self, hours: float) -> dict:
        import cv2
        torch.set_num_threads(1)   # the machine's other core belongs to other work
        cv2.setNumThreads(1)
        resumed = self.resume()
        self.state['sessions'] += 1
        self.log_event(f'{"resumed at step " + str(self.state["step"]) if resumed else "new run"}; '
                       f'{parameter_count(self.net)} parameters')
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        real, counts = data.load_real(self.data_root, self.dir)
        self.log_event(f'real crops: {json.dumps(counts)}')
        test = self.test_set()
        if not self.shards():
            self.grow()
        session_end = time.time() + hours * 3600
        last_save = time.time()
        window = {'loss': 0.0, 'n': 0, 'start': time.time(), 'samples': 0}
        while not self._stop and time.time() < session_end:
            if self.state['shard_pos'] >= len(self.state['shard_order']):
                self._next_epoch()
            k = self.state['shard_order'][self.state['shard_pos']]
            shard = data.load_npz(self.shard_path(k))
            rng = np.random.default_rng([self.config.seed, self.state['epoch'], k])
            for images, targets in self._batches(shard, real, rng):
                loss = self._step(images, targets)
                window['loss'] += loss
                window['n'] += 1
                window['samples'] += len(images)
                if time.time() - last_save >= self.config.checkpoint_minutes * 60:
                    self._checkpoint(window, test)
                    window = {'loss': 0.0, 'n': 0, 'start': time.time(), 'samples': 0}
                    last_save = time.time()
                if self._stop or time.time() >= session_end:
                    break
            else:
                self.state['shard_pos'] += 1
        if window['n']:
            self._checkpoint(window, test)
        else:
            self.save()
        return self.write_summary(test, counts)

    def _next_epoch(self) -> None:
        if self.state['step'] > 0:
            self.grow()
        self.state['epoch'] += 1
        order = np.random.default_rng([self.config.seed, self.state['epoch']]).permutation(self.shards())
        self.state['shard_order'] = [int(k) for k in order]
        self.state['shard_pos'] = 0
        self.log_event(f'epoch {self.state["epoch"]}: {len(order)} shards')

    def _batches(self, shard: data.Samples, real: data.RealSet, rng: np.random.Generator):
        n_real = int(round(self.config.batch * self.config.real_fraction)) if real.labels else 0
        n_syn = self.config.batch - n_real
        order = rng.permutation(len(shard.labels))
        for start in range(0, len(order) - n_syn + 1, n_syn):
            idx = order[start:start + n_syn]
            images = [shard.images[i] for i in idx]
            labels = [shard.labels[i] for i in idx]
            for j in rng.integers(0, len(real.labels), n_real):
                images.append(augment_real(real.crops[j], rng))
                labels.append(real.labels[j])
            yield np.stack(images), np.stack([encode(t) for t in labels])

    def _lr(self) -> float:
        c, step = self.config, self.state['step']
        if step < c.warmup_steps:
            return c.lr * (step + 1) / c.warmup_steps
        total = self.state['total_steps'] or 10 ** 9
        progress = min(1.0, (step - c.warmup_steps) / max(1, total - c.warmup_steps))
        return c.lr * (c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))

    def _step(self, images: np.ndarray, targets: np.ndarray) -> float:
        start = time.time()
        self.net.train()
        for group in self.optimizer.param_groups:
            group['lr'] = self._lr()
        logits = self.net(to_input(torch.from_numpy(images)))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.from_numpy(targets).reshape(-1),
                               label_smoothing=self.config.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 5.0)
        self.optimizer.step()
        self.state['step'] += 1
        self.state['samples'] += len(images)
        self.state['train_seconds'] += time.time() - start
        if self.state['total_steps'] is None and self.state['step'] == 50:
            # Fix the schedule's length from the measured speed, once; stored in the checkpoint.
            per_step = self.state['train_seconds'] / 50
            self.state['total_steps'] = int(self.config.budget_hours * 3600 / (per_step * 1.25))
            self.log_event(f'{per_step:.2f} s/step: schedule set to {self.state["total_steps"]} steps')
        return loss.item()

    def _checkpoint(self, window: dict, test: data.Samples) -> None:
        self.save()
        elapsed = max(1e-6, time.time() - window['start'])
        scores = self.last_scores = score(predict(self.net, test.images), test.labels, test.groups)
        entry = {'time': time.strftime('%Y-%m-%dT%H:%M:%S'), 'step': self.state['step'], 'epoch': self.state['epoch'],
                 'samples': self.state['samples'], 'train_hours': round(self.state['train_seconds'] / 3600, 3),
                 'lr': round(self._lr(), 6), 'loss': round(window['loss'] / max(1, window['n']), 4),
                 'samples_per_s': round(window['samples'] / elapsed, 1), 'shards': len(self.shards()),
                 'test_exact': scores['all'], 'test_by_region': scores['groups']}
        with open(self.dir / 'log.jsonl', 'a', encoding='utf-8') as f:
            f.write(json.dumps(entry, ensure_ascii=False) + '\n')
        print(f'[{entry["time"]}] step {entry["step"]} loss {entry["loss"]} lr {entry["lr"]} '
              f'{entry["samples_per_s"]} samples/s test {entry["test_exact"]}%', flush=True)

    def write_summary(self, test: data.Samples, counts: dict) -> dict:
        scores = self.last_scores or score(predict(self.net, test.images), test.labels, test.groups)
        summary = {'steps': self.state['step'], 'epochs': self.state['epoch'], 'samples_seen': self.state['samples'],
                   'train_hours': round(self.state['train_seconds'] / 3600, 3), 'sessions': self.state['sessions'],
                   'schedule_steps': self.state['total_steps'], 'parameters': parameter_count(self.net),
                   'synthetic_shards': len(self.shards()), 'shard_size': data.SHARD_SIZE, 'real': counts,
                   'generated_test_exact': scores, 'config': asdict(self.config),
                   'updated': time.strftime('%Y-%m-%dT%H:%M:%S')}
        data.write_json(self.dir / 'summary.json', summary)
        return summary

    def log_event(self, text: str) -> None:
        print(f'[{time.strftime("%Y-%m-%dT%H:%M:%S")}] {text}', flush=True)

    def _on_signal(self, signum, frame) -> None:
        self.log_event(f'signal {signum}: checkpointing and stopping')
        self._stop = True


def load_checkpoint(path: Path) -> dict:
    ckpt = torch.load(path, map_location='cpu', weights_only=False)
    if ckpt.get('alphabet') != ALPHABET or ckpt.get('slots') != SLOTS:
        raise SystemExit(f'{path}: this checkpoint was trained for another alphabet or slot count '
                         f'({len(ckpt.get("alphabet") or "")} characters, {ckpt.get("slots")} slots; this code has '
                         f'{len(ALPHABET)} and {SLOTS}). Use a new --run-dir, or the code version that made it.')
    return ckpt


def load_model(path: Path) -> PlateReader:
    net = PlateReader(SLOTS, len(ALPHABET))
    net.load_state_dict(load_checkpoint(path)['model'])
    return net.eval()


@torch.no_grad()
def predict(net: PlateReader, images: np.ndarray, batch: int = 256) -> list[str]:
    net.eval()
    out = []
    for start in range(0, len(images), batch):
        logits = net(to_input(torch.from_numpy(np.ascontiguousarray(images[start:start + batch]))))
        out += [decode(row) for row in logits.argmax(-1).numpy()]
    return out


def score(predictions: list[str], labels: list[str], groups: list[str]) -> dict:
    """Exact-match % overall and per group."""
    per: dict[str, list[int]] = {}
    for p, t, g in zip(predictions, labels, groups):
        per.setdefault(g, [0, 0])
        per[g][0] += p == t
        per[g][1] += 1
    hits = sum(v[0] for v in per.values())
    total = sum(v[1] for v in per.values())
    return {'all': round(100 * hits / max(1, total), 2),
            'groups': {g: round(100 * v[0] / v[1], 2) for g, v in sorted(per.items())}}
