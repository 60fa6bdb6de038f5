"""Crash torture of the journal + image store (shared by tests/test_crash.py and
tools/crash_test.py).

A child process records synthetic events with the real EventWriter, Journal,
ImageStore and Spool, at random intervals (so kills also land while it is
idle), and acknowledges each committed event on stdout (the stand-in for the
events topic) with the SHA-256 of every image it wrote. Every fourth event
goes through the spool first, as events do while writes fail: spooled, then
committed, then its spool file removed. The parent kills the child with
SIGKILL at a moment drawn uniformly over its whole life (start-up, recovery,
commits, idle), again and again on the same data; every restart runs
``recover()`` and then commits what the spool holds, skipping events already
recorded. ``check`` then verifies what must hold after any crash: the database
is intact, every acknowledged event is stored with images byte for byte as
written, no pass is stored twice (same camera, plate and time span under
another id), and a final recovery leaves no orphan or temporary file; it also
reports what the crashes had left before that recovery.

SIGKILL tests crash atomicity and recovery; the page cache survives it, so it
does not prove the fsync ordering a real power cut needs.

Child protocol (one line each): ``opening``, ``recovery <json report>``,
``ready``, ``begin <event_id>``, ``ack <event_id> <kind>=<sha256>,...``,
``idle``; the spool drain at start-up acknowledges the same way.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

JOURNAL_NAME = 'journal.sqlite'
IMAGES_NAME = 'images'
SPOOL_NAME = 'spool'


def paths(data_dir: str | os.PathLike) -> tuple[Path, Path]:
    data_dir = Path(data_dir)
    return data_dir / JOURNAL_NAME, data_dir / IMAGES_NAME


def open_recorder(data_dir: str | os.PathLike):
    from lpr_recorder.images import ImageStore
    from lpr_recorder.journal import Journal, sqlite_url
    db, images = paths(data_dir)
    store = ImageStore(images)
    store.check_writable()
    return Journal(sqlite_url(db)), store


# -- the child ---------------------------------------------------------------
def synthetic_evidence(seed: int = 0):
    """A small full-frame JPEG and a plate crop, like the camera would give."""
    from lpr_common.images import encode_jpeg
    from lpr_recorder.writer import Evidence
    rng = np.random.default_rng(seed)
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:] = np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None]
    frame[100:140, 100:220] = rng.integers(0, 255, (40, 120, 3), dtype=np.uint8)
    return Evidence(encode_jpeg(frame, 85), frame[100:140, 100:220].copy(), frame_seq=seed)


def synthetic_decision(evidence, index: int, camera_id: str = 'cam0'):
    """A final decision of a three-read pass, built the way the node builds it."""
    from lpr_recorder.passes import Observation, PassAggregator, PassConfig
    agg = PassAggregator(PassConfig(preview_reads=0))
    t0 = time.time_ns()
    text = f'AB{index % 100:02d}CDE'
    for i in range(3):
        agg.add(Observation(camera_id, t0 + i * 40_000_000, text, 0.9, (100, 100, 120, 40),
                            payload=evidence))
    (d,) = agg.flush()
    return d


def run_child(data_dir: str | os.PathLike, limit: int = 0) -> int:
    """The child's main: recover, commit what the spool holds, then record
    events until killed (or ``limit``)."""
    import random

    from lpr_recorder.recovery import recover
    from lpr_recorder.spool import Spool, SpoolError
    from lpr_recorder.writer import EventWriter
    out = sys.stdout
    say = lambda line: (out.write(line + '\n'), out.flush())  # noqa: E731 - one write < PIPE_BUF: never torn
    say('opening')
    journal, store = open_recorder(data_dir)
    report = recover(journal, store)
    say(f'recovery {json.dumps(dataclasses.asdict(report))}')
    writer = EventWriter(journal, store, site_id='torture')
    spool = Spool(Path(data_dir) / SPOOL_NAME)

    def commit(d) -> None:
        say(f'begin {d.event_id}')
        hashes = ','.join(f'{kind}={hashlib.sha256(data).hexdigest()}'
                          for kind, data in writer.images(d.best.payload))
        writer.commit(d)
        say(f'ack {d.event_id} {hashes}')

    for path in spool.paths():
        try:
            d = spool.load(path)
        except SpoolError:
            continue
        if not journal.has(d.event_id):
            commit(d)
        spool.remove(path)
    say('ready')
    rng = random.Random(os.getpid())
    n = 0
    while not limit or n < limit:
        d = synthetic_decision(synthetic_evidence(os.getpid() * 1000 + n), n)
        if n % 4 == 3:
            path = spool.put(d)
            commit(d)
            spool.remove(path)
        else:
            commit(d)
        n += 1
        say('idle')
        time.sleep(rng.uniform(0.0, 0.02))
    journal.close()
    return 0


# -- the parent --------------------------------------------------------------
PHASES = ('start-up', 'opening / recovery', 'spool drain', 'committing', 'after a commit', 'idle')


@dataclass
class RunResult:
    acked: dict[str, dict[str, str]]   # event id -> {image kind: sha256}
    recovery: dict | None
    recording_s: float  # from 'ready' to the kill
    phase: str          # where the kill landed (one of PHASES)


def child_command(data_dir: str | os.PathLike, limit: int = 0) -> list[str]:
    return [sys.executable, '-m', 'lpr_tools.torture', 'child', str(data_dir), str(limit)]


def child_env() -> dict:
    """The child imports the same lpr_recorder / lpr_common as this process."""
    import lpr_common
    import lpr_recorder
    roots = [str(Path(m.__file__).resolve().parents[1]) for m in (lpr_recorder, lpr_common)]
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(roots + [p for p in [env.get('PYTHONPATH', '')] if p])
    env['PYTHONUNBUFFERED'] = '1'
    return env


def phase_of(lines: list[str]) -> str:
    """Where the child was when killed: its last complete line says."""
    if not lines:
        return 'start-up'
    last = lines[-1].split(' ', 1)[0]
    ready = 'ready' in lines
    if last in ('opening', 'recovery'):
        return 'opening / recovery'
    if last == 'begin':
        return 'committing' if ready else 'spool drain'
    if last == 'ack':
        return 'after a commit' if ready else 'spool drain'
    return 'idle'   # 'ready' or 'idle': waiting for the next event


def run_and_kill(data_dir, delay_s: float, env=None, from_opening: bool = True,
                 start_timeout_s: float = 60.0) -> RunResult:
    """Start the child and SIGKILL it ``delay_s`` after it begins to open the
    journal (``from_opening``; its Python start-up before that touches no
    file) or after its start."""
    proc = subprocess.Popen(child_command(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env or child_env())
    started = time.monotonic()
    lines: list[str] = []
    ready_at = [None]
    opening = threading.Event()

    def read() -> None:
        for raw in proc.stdout:
            line = raw.decode('ascii', 'replace')
            if not line.endswith('\n'):
                break  # a torn last line is no acknowledgement
            if line == 'ready\n':
                ready_at[0] = time.monotonic()
            lines.append(line.rstrip('\n'))
            if line == 'opening\n':
                opening.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if from_opening:
        if not opening.wait(start_timeout_s):
            proc.kill()
            raise RuntimeError(f'crash child did not start: {_stderr(proc)}')
        started = time.monotonic()
    time.sleep(max(0.0, delay_s - (time.monotonic() - started)))
    killed_at = time.monotonic()
    if proc.poll() is not None:  # it must still be running: anything else is a failure
        reader.join(5.0)
        raise RuntimeError(f'crash child exited by itself ({proc.returncode}): {_stderr(proc)}')
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    reader.join(10.0)
    proc.stderr.close()
    acked = {}
    for ln in lines:
        if ln.startswith('ack '):
            event_id, _, hashes = ln[4:].partition(' ')
            acked[event_id] = dict(h.split('=', 1) for h in hashes.split(',') if h)
    recovery = next((json.loads(ln[9:]) for ln in lines if ln.startswith('recovery ')), None)
    recording = killed_at - ready_at[0] if ready_at[0] is not None else 0.0
    return RunResult(acked, recovery, recording, phase_of(lines))


def _stderr(proc) -> str:
    try:
        return proc.stderr.read().decode(errors='replace')[-2000:]
    except (OSError, ValueError):
        return ''


@dataclass
class TortureResult:
    kills: int = 0
    acked: dict[str, dict[str, str]] = field(default_factory=dict)
    recording_s: float = 0.0
    tmp_removed: int = 0
    orphans_removed: int = 0
    recoveries_seen: int = 0
    phases: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PHASES, 0))
    wall_s: float = 0.0

    @property
    def rate(self) -> float:
        """Committed and acknowledged events per second of recording."""
        return len(self.acked) / self.recording_s if self.recording_s else 0.0


def kill_loop(n: int, data_dir: str | os.PathLike, rng, max_life_s: float = 2.0,
              progress=None, startup_share: float = 0.1) -> TortureResult:
    """Kill the recording child ``n`` times in a row on the same data directory,
    each time at a moment drawn uniformly from the first ``max_life_s`` seconds
    after it began to open the journal; ``startup_share`` of the kills are
    timed from the process start instead (they land in Python's start-up)."""
    result = TortureResult()
    env = child_env()
    t0 = time.monotonic()
    for i in range(n):
        from_start = rng.random() < startup_share
        run = run_and_kill(data_dir, rng.uniform(0.0, max_life_s), env, from_opening=not from_start)
        result.kills += 1
        result.acked.update(run.acked)
        result.recording_s += run.recording_s
        result.phases[run.phase] += 1
        if run.recovery is not None:
            result.recoveries_seen += 1
            result.tmp_removed += run.recovery['tmp_removed']
            result.orphans_removed += run.recovery['orphans_removed']
        if progress is not None:
            progress(i + 1, run)
    result.wall_s = time.monotonic() - t0
    return result


# -- the checks --------------------------------------------------------------
@dataclass
class CheckResult:
    integrity: str = ''
    rows: int = 0
    images_checked: int = 0
    missing_images: int = 0
    torn_images: int = 0
    altered_images: int = 0      # stored bytes differ from what the child acknowledged
    passes_twice: int = 0        # the same pass stored under two event ids
    lost_acked: int = 0
    tmp_before: int = 0          # what the crashes left, before the final recovery
    orphans_before: int = 0
    spooled_pending: int = 0     # in the spool, not yet recorded (the next start records them)
    final_tmp_removed: int = 0
    final_orphans_removed: int = 0
    leftover_files: int = 0      # tmp / orphan files still there after the final recovery
    examples: list[str] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return ((self.integrity != 'ok') + self.missing_images + self.torn_images + self.altered_images
                + self.passes_twice + self.lost_acked + self.leftover_files)


def check(data_dir: str | os.PathLike, acked: dict[str, dict[str, str]] | None = None) -> CheckResult:
    """Verify the data directory after the kills: count what the crashes left,
    run a final ``recover()``, then check rows, images and acknowledgements."""
    from lpr_recorder.recovery import recover
    from lpr_recorder.spool import Spool, SpoolError
    acked = acked or {}
    db, images = paths(data_dir)
    res = CheckResult()
    con = sqlite3.connect(db)   # read-only look before recovery: what did the crashes leave?
    try:
        referenced = _referenced(con)
    finally:
        con.close()
    res.tmp_before, res.orphans_before = _stray_files(images, referenced)
    journal, store = open_recorder(data_dir)  # opening replays the WAL, like a restart
    try:
        final = recover(journal, store)
        res.final_tmp_removed, res.final_orphans_removed = final.tmp_removed, final.orphans_removed
        spool = Spool(Path(data_dir) / SPOOL_NAME)
        for path in spool.paths():
            try:
                res.spooled_pending += not journal.has(spool.load(path).event_id)
            except SpoolError:
                pass
    finally:
        journal.close()
    con = sqlite3.connect(db)
    try:
        res.integrity = ','.join(r[0] for r in con.execute('PRAGMA integrity_check'))
        res.passes_twice = con.execute(
            'SELECT COUNT(*) FROM (SELECT 1 FROM events GROUP BY camera_id, plate, first_seen, last_seen '
            'HAVING COUNT(*) > 1)').fetchone()[0]
        stored = _check_rows(con, images, acked, res)
        referenced = _referenced(con)
    finally:
        con.close()
    lost = set(acked) - stored
    res.lost_acked = len(lost)
    for event_id in sorted(lost)[:5]:
        _example(res, f'acknowledged but not stored: {event_id}')
    tmp_after, orphans_after = _stray_files(images, referenced)
    res.leftover_files = tmp_after + orphans_after
    return res


def _check_rows(con, images: Path, acked: dict, res: CheckResult) -> set[str]:
    """Every row's images: present, complete JPEGs, the bytes acknowledged."""
    import cv2

    from lpr_recorder.recovery import IMAGE_COLUMNS
    stored: set[str] = set()
    kinds = [c.name[:-len('_path')] for c in IMAGE_COLUMNS]
    columns = ', '.join(c.name for c in IMAGE_COLUMNS)
    for event_id, *rels in con.execute(f'SELECT event_id, {columns} FROM events'):
        res.rows += 1
        stored.add(event_id)
        for kind, rel in zip(kinds, rels):
            if not rel:
                continue
            res.images_checked += 1
            try:
                data = (images / rel).read_bytes()
            except FileNotFoundError:
                res.missing_images += 1
                _example(res, f'missing {rel} ({event_id})')
                continue
            if not (data.endswith(b'\xff\xd9') and cv2.imdecode(
                    np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) is not None):
                res.torn_images += 1
                _example(res, f'torn {rel} ({event_id})')
            want = acked.get(event_id, {}).get(kind)
            if want is not None and hashlib.sha256(data).hexdigest() != want:
                res.altered_images += 1
                _example(res, f'bytes differ from what was written: {rel} ({event_id})')
    return stored


def _referenced(con) -> set[str]:
    from lpr_recorder.recovery import IMAGE_COLUMNS
    columns = ', '.join(c.name for c in IMAGE_COLUMNS)
    try:
        rows = con.execute(f'SELECT {columns} FROM events').fetchall()
    except sqlite3.OperationalError:   # no table yet: every kill came before the schema
        return set()
    return {rel for row in rows for rel in row if rel}


def _stray_files(images: Path, referenced: set[str]) -> tuple[int, int]:
    """(temporary files, image files no row references) under ``images``."""
    from lpr_recorder.recovery import is_tmp_name
    tmp = orphans = 0
    for dirpath, _dirs, files in os.walk(images):
        for name in files:
            rel = (Path(dirpath) / name).relative_to(images).as_posix()
            if is_tmp_name(name):
                tmp += 1
            elif rel not in referenced:
                orphans += 1
    return tmp, orphans


def _example(res: CheckResult, text: str, limit: int = 10) -> None:
    if len(res.examples) < limit:
        res.examples.append(text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) >= 2 and argv[0] == 'child':
        return run_child(argv[1], int(argv[2]) if len(argv) > 2 else 0)
    print('usage: python -m lpr_tools.torture child DATA_DIR [LIMIT]  '
          '(the driver is tools/crash_test.py)', file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main())
