"""Crash torture of the journal + image store (shared by tests/test_crash.py and
tools/crash_test.py).

A child process records synthetic events at full speed with the real
EventWriter, Journal and ImageStore and acknowledges each committed event on
stdout (the stand-in for the events topic). The parent kills it with SIGKILL at
random moments, again and again on the same journal and image directory; every
restart first runs ``recover()``. ``check`` then verifies what must hold after
any crash: the database is intact, every row's images exist and are complete
JPEGs, no event is stored twice, nothing acknowledged is lost, and no orphan or
temporary file is left after a final recovery.

SIGKILL tests crash atomicity and recovery; the page cache survives it, so it
does not prove the fsync ordering a real power cut needs.

Child protocol (one line each): ``recovery <json report>``, ``ready``, ``ack <event_id>``.
"""
from __future__ import annotations

import dataclasses
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
    """The child's main: recover, then commit events until killed (or ``limit``)."""
    from lpr_recorder.recovery import recover
    from lpr_recorder.writer import EventWriter
    journal, store = open_recorder(data_dir)
    report = recover(journal, store)
    out = sys.stdout
    out.write(f'recovery {json.dumps(dataclasses.asdict(report))}\n')
    writer = EventWriter(journal, store, site_id='torture')
    evidence = synthetic_evidence(os.getpid())
    out.write('ready\n')
    out.flush()
    n = 0
    while not limit or n < limit:
        d = synthetic_decision(evidence, n)
        writer.commit(d)
        out.write(f'ack {d.event_id}\n')  # one write < PIPE_BUF: never torn
        out.flush()
        n += 1
    journal.close()
    return 0


# -- the parent --------------------------------------------------------------
@dataclass
class RunResult:
    acked: list[str]
    recovery: dict | None
    recording_s: float  # from 'ready' to the kill


def child_command(data_dir: str | os.PathLike, limit: int = 0) -> list[str]:
    return [sys.executable, '-m', 'lpr_recorder.torture', 'child', str(data_dir), str(limit)]


def child_env() -> dict:
    """The child imports the same lpr_recorder / lpr_common as this process."""
    import lpr_common
    import lpr_recorder
    roots = [str(Path(m.__file__).resolve().parents[1]) for m in (lpr_recorder, lpr_common)]
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(roots + [p for p in [env.get('PYTHONPATH', '')] if p])
    env['PYTHONUNBUFFERED'] = '1'
    return env


def run_and_kill(data_dir, delay_s: float, after_ready: bool, env=None,
                 ready_timeout_s: float = 60.0) -> RunResult:
    """Start the child, SIGKILL it ``delay_s`` after its start (or after 'ready')."""
    proc = subprocess.Popen(child_command(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env or child_env())
    started = time.monotonic()
    lines: list[str] = []
    ready = threading.Event()
    ready_at = [None]

    def read() -> None:
        for raw in proc.stdout:
            line = raw.decode('ascii', 'replace')
            if not line.endswith('\n'):
                break  # a torn last line is no acknowledgement
            if line == 'ready\n':
                ready_at[0] = time.monotonic()
                ready.set()
            lines.append(line.rstrip('\n'))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if after_ready:
        if not ready.wait(ready_timeout_s):
            proc.kill()
            raise RuntimeError(f'crash child not ready: {_stderr(proc)}')
        time.sleep(delay_s)
    else:
        time.sleep(max(0.0, delay_s - (time.monotonic() - started)))
    killed_at = time.monotonic()
    if proc.poll() is not None:  # it must still be running: anything else is a failure
        reader.join(5.0)
        raise RuntimeError(f'crash child exited by itself ({proc.returncode}): {_stderr(proc)}')
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    reader.join(10.0)
    proc.stderr.close()
    acked = [ln[4:] for ln in lines if ln.startswith('ack ')]
    recovery = next((json.loads(ln[9:]) for ln in lines if ln.startswith('recovery ')), None)
    recording = killed_at - ready_at[0] if ready_at[0] is not None else 0.0
    return RunResult(acked, recovery, recording)


def _stderr(proc) -> str:
    try:
        return proc.stderr.read().decode(errors='replace')[-2000:]
    except (OSError, ValueError):
        return ''


@dataclass
class TortureResult:
    kills: int = 0
    acked: set[str] = field(default_factory=set)
    recording_s: float = 0.0
    tmp_removed: int = 0
    orphans_removed: int = 0
    recoveries_seen: int = 0
    wall_s: float = 0.0

    @property
    def rate(self) -> float:
        """Committed and acknowledged events per second of recording."""
        return len(self.acked) / self.recording_s if self.recording_s else 0.0


def kill_loop(n: int, data_dir: str | os.PathLike, rng, long_share: float = 0.1,
              progress=None) -> TortureResult:
    """Kill the recording child ``n`` times in a row on the same data directory.

    Half the kills are timed from the process start (0.05-0.6 s: they land in
    start-up, in ``recover()`` or in the first commits), the others from its
    first commit; ``long_share`` of those after a long run (1-3 s)."""
    result = TortureResult()
    env = child_env()
    t0 = time.monotonic()
    for i in range(n):
        after_ready = rng.random() < 0.5
        if after_ready and rng.random() < long_share * 2:
            delay = rng.uniform(1.0, 3.0)
        else:
            delay = rng.uniform(0.05, 0.6)
        run = run_and_kill(data_dir, delay, after_ready, env)
        result.kills += 1
        result.acked.update(run.acked)
        result.recording_s += run.recording_s
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
    duplicates: int = 0
    lost_acked: int = 0
    final_tmp_removed: int = 0
    final_orphans_removed: int = 0
    leftover_files: int = 0  # tmp / orphan files still there after the final recovery
    examples: list[str] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return ((self.integrity != 'ok') + self.missing_images + self.torn_images + self.duplicates
                + self.lost_acked + self.leftover_files)


def check(data_dir: str | os.PathLike, acked: set[str] = frozenset()) -> CheckResult:
    """Verify the data directory after the kills (runs a final ``recover()`` first)."""
    import cv2

    from lpr_recorder.recovery import IMAGE_COLUMNS, is_tmp_name, recover
    db, images = paths(data_dir)
    res = CheckResult()
    journal, store = open_recorder(data_dir)  # opening replays the WAL, like a restart
    try:
        final = recover(journal, store)
        res.final_tmp_removed, res.final_orphans_removed = final.tmp_removed, final.orphans_removed
    finally:
        journal.close()

    con = sqlite3.connect(db)
    try:
        res.integrity = ','.join(r[0] for r in con.execute('PRAGMA integrity_check'))
        res.duplicates = con.execute('SELECT COUNT(*) FROM (SELECT event_id FROM events '
                                     'GROUP BY event_id HAVING COUNT(*) > 1)').fetchone()[0]
        stored: set[str] = set()
        referenced: set[str] = set()
        columns = ', '.join(c.name for c in IMAGE_COLUMNS)
        for event_id, *rels in con.execute(f'SELECT event_id, {columns} FROM events'):
            res.rows += 1
            stored.add(event_id)
            for rel in rels:
                if not rel:
                    continue
                referenced.add(rel)
                res.images_checked += 1
                try:
                    data = (images / rel).read_bytes()
                except FileNotFoundError:
                    res.missing_images += 1
                    _example(res, f'missing {rel} ({event_id})')
                    continue
                ok = data.endswith(b'\xff\xd9') and cv2.imdecode(
                    np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) is not None
                if not ok:
                    res.torn_images += 1
                    _example(res, f'torn {rel} ({event_id})')
    finally:
        con.close()
    lost = acked - stored
    res.lost_acked = len(lost)
    for event_id in sorted(lost)[:5]:
        _example(res, f'acknowledged but not stored: {event_id}')

    for dirpath, _dirs, files in os.walk(images):
        for name in files:
            rel = (Path(dirpath) / name).relative_to(images).as_posix()
            if is_tmp_name(name) or rel not in referenced:
                res.leftover_files += 1
                _example(res, f'left over: {rel}')
    return res


def _example(res: CheckResult, text: str, limit: int = 10) -> None:
    if len(res.examples) < limit:
        res.examples.append(text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) >= 2 and argv[0] == 'child':
        return run_child(argv[1], int(argv[2]) if len(argv) > 2 else 0)
    print('usage: python -m lpr_recorder.torture child DATA_DIR [LIMIT]  '
          '(the driver is tools/crash_test.py)', file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main())
