"""python -m tools.train_reader {train,eval,export,preview} ...

  train    train (or resume: a checkpoint in --run-dir is picked up) for --hours
  export   checkpoint -> ONNX + <name>_plate_config.yaml (+ op list, latency)
  eval     score ONNX models on the generated test set and the evaluation crops
  preview  a PNG of rendered, damaged samples (to look at the renderer)

Run from the repository root with the training venv (tools/train_reader/setup.sh).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .data import default_data_root, repo_root, write_json

DEFAULT_RUN = repo_root() / 'tools' / 'train_reader' / 'runs' / 'v1'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python -m tools.train_reader', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', type=Path, default=default_data_root(),
                        help='the shared datasets folder (default: ../shared/datasets beside the repo)')
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('train', help='train or resume')
    p.add_argument('--run-dir', type=Path, default=DEFAULT_RUN)
    p.add_argument('--hours', type=float, default=1.0, help='this session: stop (checkpointed) after this long')
    p.add_argument('--budget-hours', type=float, default=None,
                   help='planned length of the whole run (LR schedule); fixed at the first session')
    p.add_argument('--max-shards', type=int, default=None, help='synthetic set size, in shards of 5000')
    p.add_argument('--checkpoint-minutes', type=float, default=10.0)
    p.add_argument('--seed', type=int, default=None)

    p = sub.add_parser('export', help='checkpoint -> ONNX + plate config')
    p.add_argument('--run-dir', type=Path, default=DEFAULT_RUN)
    p.add_argument('--out', type=Path, required=True)
    p.add_argument('--name', default='lpr_reader_v1')

    p = sub.add_parser('eval', help='score ONNX models')
    p.add_argument('--run-dir', type=Path, default=DEFAULT_RUN, help='its data/test.npz is the generated test set')
    p.add_argument('--model', type=Path, action='append', required=True, help='an ONNX file (repeatable)')
    p.add_argument('--out', type=Path, default=None, help='JSON file (default RUN_DIR/eval.json)')

    p = sub.add_parser('preview', help='PNG of rendered samples')
    p.add_argument('--out', type=Path, default=Path('preview.png'))
    p.add_argument('--test', action='store_true', help='held-out fonts and damage')
    p.add_argument('--seed', type=int, default=0)

    args = parser.parse_args(argv)
    return {'train': _train, 'export': _export, 'eval': _eval, 'preview': _preview}[args.command](args)


def _train(args) -> int:
    from .train import Run, TrainConfig
    overrides = {k: v for k, v in (('budget_hours', args.budget_hours), ('max_shards', args.max_shards),
                                   ('seed', args.seed)) if v is not None}
    overrides['checkpoint_minutes'] = args.checkpoint_minutes
    run = Run(args.run_dir, args.data_root, TrainConfig(**overrides), overrides)
    summary = run.train(args.hours)
    print(json.dumps({k: summary[k] for k in ('steps', 'samples_seen', 'train_hours', 'generated_test_exact')},
                     ensure_ascii=False))
    return 0


def _export(args) -> int:
    from .alphabet import ALPHABET
    from .export import export
    from .train import load_model
    report = export(load_model(args.run_dir / 'checkpoint.pt'), ALPHABET, args.out, args.name)
    write_json(args.out / f'{args.name}_export.json', report)
    print(json.dumps(report, indent=2))
    return 0


def _eval(args) -> int:
    from .evaluate import evaluate
    results = [evaluate(m, args.data_root, args.run_dir / 'data' / 'test.npz') for m in args.model]
    out = args.out or args.run_dir / 'eval.json'
    write_json(out, results)
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


def _preview(args) -> int:
    import cv2
    import numpy as np
    from .damage import TEST, TRAIN, damage
    from .render import REGIONS, Renderer
    renderer = Renderer(held_out=args.test)
    rng = np.random.default_rng(args.seed)
    rows = [np.hstack([damage(renderer.render(r, rng).image, rng, TEST if args.test else TRAIN) for _ in range(6)])
            for r in REGIONS]
    cv2.imwrite(str(args.out), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    print(args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
