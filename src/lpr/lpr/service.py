"""systemd units for an edge box: the graph (``lpr run``) and the web journal
(``lpr web``), written for the interpreter and command that run this code, so
ExecStart needs no hand editing.

    sudo .venv/bin/lpr service install --user lpr --params /etc/lpr/params.yaml --web

Stopping: systemd sends SIGTERM, which the runner treats like Ctrl-C (the
camera first, then every node walks down its lifecycle; the recorder turns
open passes into events and commits them), within TimeoutStopSec.
With --ups, a low UPS battery makes the runner do the same stop itself and
exit with status 3, after which systemd does not restart it (_ups_stop).
"""
from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

UNIT_DIR = Path('/etc/systemd/system')


@dataclass(frozen=True)
class ServiceOptions:
    user: str
    params_file: Path | None = None
    data_dir: str = ''
    namespace: str = ''
    web: bool = False
    web_port: int = 8080
    entry_cameras: str = ''         # lpr web --entry-cameras: visits paired and timed
    exit_cameras: str = ''
    ups: str = ''                   # lpr run --ups NAME@HOST[:PORT]
    ups_min_charge: float = 20.0
    ups_min_runtime_s: float = 180.0


def lpr_command() -> str:
    """The lpr executable beside this interpreter (a venv's bin/)."""
    candidate = Path(sys.executable).with_name('lpr')
    return str(candidate if candidate.is_file() else shutil.which('lpr') or candidate)


def _common(o: ServiceOptions) -> str:
    return (f'User={o.user}\n'
            'SupplementaryGroups=video\n'          # USB and Pi cameras
            'Environment=PYTHONUNBUFFERED=1\n'
            'EnvironmentFile=-/etc/lpr/lpr.env\n')  # secrets: LPR_DEVICE_TOKEN=..., never in the unit


def graph_unit(o: ServiceOptions) -> str:
    args = ['run']
    if o.params_file:
        args += ['--params', str(o.params_file)]
    if o.data_dir:
        args += ['--data-dir', o.data_dir]
    if o.namespace:
        args += ['--namespace', o.namespace]
    if o.ups:
        args += ['--ups', o.ups, '--ups-min-charge', f'{o.ups_min_charge:g}',
                 '--ups-min-runtime', f'{o.ups_min_runtime_s:g}']
    return ('[Unit]\n'
            'Description=lpr licence-plate recognition graph (camera, detector, OCR, recorder, bridge)\n'
            'After=network-online.target\n'
            'Wants=network-online.target\n\n'
            '[Service]\n'
            'Type=exec\n'
            f'{_common(o)}'
            f'ExecStart={lpr_command()} {" ".join(args)}\n'
            # SIGTERM = an orderly stop: open passes are committed before the exit.
            'KillSignal=SIGTERM\n'
            'TimeoutStopSec=90\n'
            'SuccessExitStatus=130\n'            # the runner's exit status after a signal
            # Always: a camera file that ends, a crash, an OOM kill; the runner
            # restarts single nodes itself (--respawn), this restarts the whole graph.
            'Restart=always\n'
            'RestartSec=5\n'
            f'{_ups_stop(o)}\n'
            '[Install]\n'
            'WantedBy=multi-user.target\n')


def _ups_stop(o: ServiceOptions) -> str:
    """After a UPS stop (exit status 3, ups.EXIT_CODE) the unit stays down: a
    restart would start the graph on a battery about to run flat, again and
    again. It starts with the next boot once the power is back (the host's
    upsmon shuts it down), or by hand: systemctl start lpr-graph."""
    if not o.ups:
        return ''
    from lpr.ups import EXIT_CODE
    return f'SuccessExitStatus={EXIT_CODE}\nRestartPreventExitStatus={EXIT_CODE}\n'


def web_unit(o: ServiceOptions) -> str:
    args = ['web', '--port', str(o.web_port)]
    if o.data_dir:
        args += ['--data-dir', o.data_dir]
    for flag, cameras in (('--entry-cameras', o.entry_cameras), ('--exit-cameras', o.exit_cameras)):
        if cameras.strip():
            args += [flag, ','.join(cameras.replace(',', ' ').split())]
    return ('[Unit]\n'
            'Description=lpr web journal (events, search, access lists)\n'
            'After=network-online.target lpr-graph.service\n\n'
            '[Service]\n'
            'Type=exec\n'
            f'{_common(o)}'
            f'ExecStart={lpr_command()} {" ".join(args)}\n'
            'Restart=on-failure\n'
            'RestartSec=2\n\n'
            '[Install]\n'
            'WantedBy=multi-user.target\n')


def units(o: ServiceOptions) -> dict[str, str]:
    out = {'lpr-graph.service': graph_unit(o)}
    if o.web:
        out['lpr-web.service'] = web_unit(o)
    return out


def install(o: ServiceOptions, unit_dir: Path = UNIT_DIR, enable: bool = True, log=print) -> int:
    """Write the units; with systemd present, reload and enable --now them."""
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        for name, text in units(o).items():
            path = unit_dir / name
            path.write_text(text)
            os.chmod(path, 0o644)
            log(f'wrote {path}')
    except OSError as exc:
        log(f'error: cannot write the units: {exc} (run with sudo)')
        return 1
    if not enable:
        return 0
    if shutil.which('systemctl') is None:
        log('no systemctl here: enable the units with `systemctl enable --now lpr-graph` on the box')
        return 0
    names = list(units(o))
    for cmd in (['systemctl', 'daemon-reload'], ['systemctl', 'enable', '--now', *names]):
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            log(f'error: {" ".join(cmd)}: {result.stderr.strip() or result.stdout.strip()}')
            return 1
    log(f'enabled and started: {", ".join(names)} (journalctl -u lpr-graph -f to follow)')
    return 0


def default_user() -> str:
    return os.environ.get('SUDO_USER') or getpass.getuser()
