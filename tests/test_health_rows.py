"""The graph's health without ROS: /diagnostics fields -> rows, the write
throttle, staleness, what the health page shows and the heartbeat summary."""
import datetime as dt
import json

from lpr_recorder.health_rows import (ERROR, OK, STALE, WARN, HealthRow, LatestHealth, box_figures, health_row,
                                      level_number, node_view, parse_value, summary)

UTC = dt.timezone.utc
NOW = dt.datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


def _row(node='/cam0/camera', level=OK, message='active', age_s=1.0, **figures):
    figures = {'lifecycle': 'active', 'cpu_percent': 12.5, 'rss_mb': 80.2, **figures}
    return HealthRow(node, node.strip('/').split('/')[0], level, message, figures,
                     NOW - dt.timedelta(seconds=age_s))


def test_a_status_becomes_a_row_with_typed_figures():
    row = health_row('/cam0/camera', 'cam0', b'\x01', 'reconnecting',
                     [('lifecycle', 'active'), ('connected', 'False'), ('reconnects', '3'),
                      ('last_frame_age_s', '2.500'), ('driver', 'gpio'), ('x', 'nan')], NOW)
    assert (row.node, row.camera, row.level, row.message, row.updated_at) == \
        ('/cam0/camera', 'cam0', WARN, 'reconnecting', NOW)
    assert row.figures == {'lifecycle': 'active', 'connected': False, 'reconnects': 3,
                           'last_frame_age_s': 2.5, 'driver': 'gpio', 'x': 'nan'}
    assert row.short_name == 'camera'


def test_levels_names_and_sizes_are_bounded():
    assert [level_number(v) for v in (b'\x00', b'\x02', 3, 9, 'x', b'')] == [OK, ERROR, STALE, STALE, ERROR, OK]
    row = health_row('/x/' + 'n' * 500, '', 0, 'm' * 1000, [(f'k{i}', 'v' * 500) for i in range(100)])
    assert len(row.node) == 200 and row.camera == 'x' and len(row.message) == 200
    assert len(row.figures) == 64 and all(len(v) == 200 for v in row.figures.values())
    assert parse_value('7') == 7 and parse_value('0.125') == 0.125 and parse_value('True') is True


def test_each_node_is_written_at_most_once_per_interval():
    clock = [100.0]
    latest = LatestHealth(min_interval_s=5.0, clock=lambda: clock[0])
    latest.offer(_row('/cam0/camera'))
    latest.offer(_row('/cam0/detector'))
    assert [r.node for r in latest.due()] == ['/cam0/camera', '/cam0/detector']
    assert latest.due() == []                          # nothing new
    latest.offer(_row('/cam0/camera', message='newer'))
    clock[0] += 2.0
    assert latest.due() == []                          # new, but written 2 s ago
    clock[0] += 3.0
    (row,) = latest.due()
    assert row.message == 'newer'
    latest.retry([row])                                # the write failed: due again at once
    assert latest.due() == [row]


def test_the_tracker_is_bounded():
    latest = LatestHealth(max_nodes=2)
    for i in range(5):
        latest.offer(_row(f'/n/node{i}'))
    latest.offer(_row('/n/node0', message='update of a known node'))
    assert len(latest.rows()) == 2 and latest.ignored == 3
    assert latest.rows()[0].message == 'update of a known node'


def test_node_view_marks_old_rows_stale_and_problems():
    fresh = node_view(_row(fps=14.9, queued=2, temperature_c=55.0, extra='x'), NOW)
    assert fresh['level_name'] == 'OK' and not fresh['stale'] and not fresh['problem']
    assert fresh['state'] == 'active' and fresh['cpu_percent'] == 12.5 and fresh['age_s'] == 1.0
    assert fresh['key_figures'] == {'fps': 14.9, 'queued': 2, 'temperature_c': 55.0}
    assert fresh['other_figures'] == {'extra': 'x'}
    old = node_view(_row(age_s=61), NOW, stale_after_s=60)
    assert old['stale'] and old['problem'] and old['level_name'] == 'STALE' and old['reported_level'] == 'OK'
    assert node_view(_row(level=ERROR, message='cannot record'), NOW)['problem']


def test_box_figures_come_from_the_freshest_row():
    rows = [_row('/a/recorder', disk_free_gb=10.0, temperature_c=50.0, age_s=30),
            _row('/b/recorder', disk_free_gb=9.0, age_s=2)]
    assert box_figures(rows) == {'disk_free_gb': 9.0, 'temperature_c': 50.0}


def test_summary_has_the_key_figures_and_puts_problems_first():
    rows = [_row('/cam0/camera', connected=True, last_frame_age_s=0.04, source_fps=15.0, noise=1),
            _row('/cam0/recorder', level=ERROR, message='cannot record events: disk full',
                 queued=40, disk_free_gb=0.01, temperature_c=71.234)]
    s = summary(rows, NOW)
    assert s['worst'] == ERROR and s['box'] == {'disk_free_gb': 0.01, 'temperature_c': 71.23}
    assert list(s['nodes']) == ['cam0/recorder', 'cam0/camera']
    camera = s['nodes']['cam0/camera']
    assert camera == {'level': OK, 'state': 'active', 'age_s': 1, 'cpu': 12.5, 'rss_mb': 80.2,
                      'connected': True, 'last_frame_age_s': 0.04, 'source_fps': 15.0}
    assert s['nodes']['cam0/recorder']['msg'] == 'cannot record events: disk full'
    assert summary([_row(age_s=300)], NOW)['nodes']['cam0/camera']['level'] == STALE
    assert summary([], NOW) == {'worst': OK, 'box': {}, 'nodes': {}}


def test_summary_stays_within_its_budget_keeping_the_nodes_in_trouble():
    many = {k: 123456.789 for k in ('fps', 'source_fps', 'queued', 'pending', 'dropped', 'spool', 'errors')}
    rows = [_row(f'/camera{i:02d}/some_rather_long_node_name', **many) for i in range(40)]
    rows.append(_row('/zz/recorder', level=ERROR, message='E' * 500, **many))
    for budget in (2500, 1200, 400):
        s = summary(rows, NOW, budget=budget)
        size = len(json.dumps(s, separators=(',', ':')).encode())
        assert size <= budget, (budget, size)
        assert 'zz/recorder' in s['nodes'] and s['worst'] == ERROR
        assert s.get('omitted', 0) + len(s['nodes']) == 41
    roomy = summary(rows[:3], NOW, budget=2500)
    assert 'omitted' not in roomy and all('fps' in n for n in roomy['nodes'].values())
    tight = summary(rows, NOW, budget=1200)
    assert tight['nodes']['zz/recorder']['msg'] == 'E' * 120    # the trouble keeps its message longest
