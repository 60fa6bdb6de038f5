#!/usr/bin/env python3
"""Crash torture of the recorder's journal and image store: SIGKILL a recording
child ``--kills`` times on the same data directory, then check it.

    python tools/crash_test.py --kills 200 --dir /tmp/lpr-crash
    python tools/crash_test.py --graph --kills 10     # the real recorder and bridge nodes in a graph

Exit status 0 only when nothing is torn, altered, missing, doubled or lost.
The same loop runs in the test suite with 20 kills (tests/test_crash.py)."""
from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from lpr_tools.torture import check, kill_loop


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--kills', type=int, default=200)
    ap.add_argument('--dir', type=Path, default=None,
                    help='data directory (journal + images); default: a fresh temporary one')
    ap.add_argument('--seed', type=int, default=None)
    ap.add_argument('--max-life', type=float, default=2.0,
                    help='each kill lands at a moment drawn uniformly from the first this many seconds after '
                         'the child begins to open the journal (a tenth: after its start)')
    ap.add_argument('--graph', action='store_true',
                    help='kill the real recorder and bridge nodes inside a running graph (lpr_tools.crash)')
    ap.add_argument('--keep', action='store_true', help='keep the temporary directory')
    ap.add_argument('-q', '--quiet', action='store_true')
    args = ap.parse_args(argv)

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    data_dir = args.dir or Path(tempfile.mkdtemp(prefix='lpr-crash-'))
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f'crash test: {args.kills} kills on {data_dir} (seed {seed})', flush=True)
    if args.graph:
        return _graph(args, data_dir, seed)

    def progress(i, run):
        if not args.quiet and (i % 10 == 0 or i == args.kills):
            print(f'  {i}/{args.kills} kills, last run acknowledged {len(run.acked)} events, '
                  f'killed during {run.phase}', flush=True)

    t0 = time.monotonic()
    run = kill_loop(args.kills, data_dir, random.Random(seed), args.max_life, progress)
    res = check(data_dir, run.acked)
    wall = time.monotonic() - t0

    figures = [
        ('kills', run.kills),
        *((f'  killed during {phase}', count) for phase, count in run.phases.items()),
        ('events committed', res.rows),
        ('events acknowledged', len(run.acked)),
        ('spooled, not yet recorded', res.spooled_pending),
        ('images checked', res.images_checked),
        ('integrity failures', int(res.integrity != 'ok')),
        ('missing images', res.missing_images),
        ('torn images', res.torn_images),
        ('images not as written', res.altered_images),
        ('passes stored twice', res.passes_twice),
        ('lost acknowledged events', res.lost_acked),
        ('left by the last crash', f'{res.tmp_before} temporary, {res.orphans_before} orphan files'),
        ('orphans removed', run.orphans_removed + res.final_orphans_removed),
        ('temporary files removed', run.tmp_removed + res.final_tmp_removed),
        ('files left after recovery', res.leftover_files),
        ('throughput (events/s)', f'{run.rate:.0f}'),
        ('wall time (s)', f'{wall:.1f}'),
    ]
    for name, value in figures:
        print(f'{name:>26}: {value}')
    if res.integrity != 'ok':
        print(f'integrity_check: {res.integrity}')
    for line in res.examples:
        print(f'  {line}')
    ok = res.failures == 0 and res.rows > 0
    print('PASS' if ok else 'FAIL')
    if args.dir is None and not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if ok else 1


def _graph(args, data_dir: Path, seed: int) -> int:
    from lpr_tools.crash import graph_kill_loop
    t0 = time.monotonic()
    run = graph_kill_loop(data_dir, args.kills, random.Random(seed), log=print)
    res = check(data_dir, {event_id: {} for event_id in run.events})
    figures = [
        ('kills', ', '.join(f'{name} at {t} s' for name, t in run.kills) or 'none'),
        ('nodes started again', run.respawns),
        ('graph exit code', run.exit_code),
        ('events published', len(run.events)),
        ('events committed', res.rows),
        ('spooled, not yet recorded', res.spooled_pending),
        ('images checked', res.images_checked),
        ('integrity failures', int(res.integrity != 'ok')),
        ('missing / torn images', f'{res.missing_images} / {res.torn_images}'),
        ('passes stored twice', res.passes_twice),
        ('published but not stored', res.lost_acked),
        ('files left after recovery', res.leftover_files),
        ('/dev/shm (MB) before, after', f'{run.shm_before_mb:.0f}, {run.shm_after_mb:.0f}'),
        ('wall time (s)', f'{time.monotonic() - t0:.1f}'),
    ]
    for name, value in figures:
        print(f'{name:>28}: {value}')
    for line in res.examples:
        print(f'  {line}')
    if run.error:
        print(f'error: {run.error}')
    ok = (not run.error and res.failures == 0 and res.rows > 0 and len(run.kills) == args.kills
          and run.shm_after_mb <= run.shm_before_mb + 1)
    print('PASS' if ok else 'FAIL')
    if args.dir is None and not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
