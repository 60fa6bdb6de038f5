"""`lpr service`: systemd units for the graph and the web journal."""
import shutil
import subprocess
import sys

import pytest

from lpr import service


def test_units_run_this_lpr_and_stop_in_order(tmp_path):
    options = service.ServiceOptions(user='lpr', params_file=tmp_path / 'p.yaml', data_dir='/var/lib/lpr', web=True)
    assert service.install(options, tmp_path, enable=False, log=lambda *_: None) == 0
    graph = (tmp_path / 'lpr-graph.service').read_text()
    web = (tmp_path / 'lpr-web.service').read_text()
    lpr = service.lpr_command()
    assert f'ExecStart={lpr} run --params {tmp_path / "p.yaml"} --data-dir /var/lib/lpr' in graph
    assert 'Restart=always' in graph and 'KillSignal=SIGTERM' in graph and 'SuccessExitStatus=130' in graph
    assert 'User=lpr' in graph and 'EnvironmentFile=-/etc/lpr/lpr.env' in graph
    assert f'ExecStart={lpr} web --port 8080 --data-dir /var/lib/lpr' in web
    assert 'token' not in graph.lower()          # secrets stay in the environment file


def test_the_web_unit_pairs_entry_and_exit_cameras():
    web = service.web_unit(service.ServiceOptions(user='lpr', web=True, entry_cameras='gate_in, side_in',
                                                  exit_cameras='gate_out'))
    assert '--entry-cameras gate_in,side_in --exit-cameras gate_out' in web


def test_a_ups_stop_is_not_restarted(tmp_path):
    """--ups: the runner's UPS stop (exit status 3) is a clean end, not restarted
    on a dying battery; every other exit still is (Restart=always)."""
    plain = service.graph_unit(service.ServiceOptions(user='lpr'))
    assert '--ups' not in plain and 'RestartPreventExitStatus' not in plain
    unit = service.graph_unit(service.ServiceOptions(user='lpr', ups='eaton@10.0.0.5:3493', ups_min_charge=30))
    assert ' run --ups eaton@10.0.0.5:3493 --ups-min-charge 30 --ups-min-runtime 180\n' in unit
    assert 'Restart=always' in unit and 'RestartPreventExitStatus=3' in unit and 'SuccessExitStatus=3' in unit
    assert unit.rstrip().endswith('WantedBy=multi-user.target')


def _systemd_problems(unit) -> list[str]:
    result = subprocess.run(['systemd-analyze', 'verify', str(unit)], capture_output=True, text=True)
    return [ln for ln in (result.stderr + result.stdout).splitlines()
            if any(k in ln for k in ('Unknown key', 'Invalid', 'Failed to parse', 'Missing'))]


@pytest.mark.skipif(shutil.which('systemd-analyze') is None, reason='systemd-analyze not installed')
def test_systemd_accepts_the_units(tmp_path):
    options = service.ServiceOptions(user='root', web=True, ups='ups@127.0.0.1')
    service.install(options, tmp_path, enable=False, log=lambda *_: None)
    for name in ('lpr-graph.service', 'lpr-web.service'):
        assert _systemd_problems(tmp_path / name) == []
    bogus = tmp_path / 'bogus.service'          # the check itself can fail
    bogus.write_text('[Service]\nExecStart=/bin/true\nRestartEvery=5\n')
    assert _systemd_problems(bogus)


def test_show_prints_the_units():
    result = subprocess.run([sys.executable, '-m', 'lpr_tools.cli', 'service', 'show', '--user', 'lpr', '--web'],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and '# lpr-graph.service' in result.stdout and '# lpr-web.service' in result.stdout
    result = subprocess.run([sys.executable, '-m', 'lpr_tools.cli', 'service', 'show', '--user', 'lpr', '--ups', 'ups@nas'],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and '--ups ups@nas --ups-min-charge 20' in result.stdout
    result = subprocess.run([sys.executable, '-m', 'lpr_tools.cli', 'service', 'show', '--user', 'lpr', '--ups', 'ups@nas:x'],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and 'NAME@HOST[:PORT]' in result.stderr
