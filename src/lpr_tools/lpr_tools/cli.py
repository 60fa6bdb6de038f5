"""The ``lpr`` command."""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from lpr import graph


def _event_line(msg) -> str:
    stamp = dt.datetime.fromtimestamp(msg.header.stamp.sec + msg.header.stamp.nanosec / 1e9)
    region = f' {msg.best.region}' if msg.best.region else ''
    region += f' {msg.direction}' if msg.direction else ''
    image = f'  {msg.frame_path}' if msg.frame_path else ''
    return (f'{stamp:%H:%M:%S}.{stamp.microsecond // 1000:03d}  {msg.camera_id:<6} '
            f'{msg.best.text:<10} conf {msg.best.confidence:.2f}  reads {msg.read_count:<3}{region}{image}')


def _print_event(msg) -> None:
    print(_event_line(msg), flush=True)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument('--params', type=Path, default=None, help='params YAML (default: the installed lpr.params.yaml)')
    p.add_argument('--namespace', default=graph.DEFAULT_NAMESPACE, help='camera namespace')
    p.add_argument('--server', default='', help='central Socket.IO server URL (default: keep events queued)')
    p.add_argument('--data-dir', default='', help='journal and images directory (default: ~/.local/share/lpr)')
    p.add_argument('--no-bridge', action='store_true', help='do not start the bridge node')
    p.add_argument('--foxglove', action='store_true',
                   help='live view: Foxglove WebSocket on ws://127.0.0.1:PORT (annotated frames, reads, events)')
    p.add_argument('--foxglove-port', type=int, default=8765, metavar='PORT',
                   help='port of the Foxglove live view (default: %(default)s)')
    p.add_argument('--ingest', action='store_true',
                   help='also start the ingest node: plate events pushed by ANPR cameras (Hikvision, Dahua) or '
                        'uploaded by FTP')
    p.add_argument('--access', action='store_true',
                   help='also start the access node: open/deny/review decisions from the access lists, '
                        'and the barrier driver')
    p.add_argument('--duration', type=float, default=0.0, help='stop after this many seconds (0 = at the end of the source)')
    p.add_argument('--log-level', default='warn', choices=['debug', 'info', 'warn', 'error'])
    p.add_argument('--respawn', type=int, default=3, metavar='N',
                   help='start a node that dies again, up to N times a minute (0 = a dying node stops the graph)')


def _run_options(args, source: str):
    from lpr.runner import RunOptions
    params = args.params or graph.default_params_file()
    return RunOptions(params_file=Path(params), namespace=args.namespace, source=source,
                      server_url=args.server, data_dir=args.data_dir, bridge=not args.no_bridge,
                      log_level=args.log_level, duration_s=args.duration, foxglove=args.foxglove,
                      foxglove_port=args.foxglove_port, ingest=args.ingest, access=args.access,
                      respawn=max(0, args.respawn), **_ups_options(args))


def _add_ups_options(p: argparse.ArgumentParser) -> None:
    p.add_argument('--ups', default='', metavar='NAME@HOST[:PORT]',
                   help='watch this UPS through NUT (upsd); on a low battery stop the graph as SIGTERM does '
                        'and exit with status 3 ("stopped: UPS low battery")')
    p.add_argument('--ups-min-charge', type=float, default=20.0, metavar='PCT',
                   help='with --ups: on battery, stop at this charge or below (default: %(default)s; 0 = off)')
    p.add_argument('--ups-min-runtime', type=float, default=180.0, metavar='S',
                   help='with --ups: on battery, stop at this runtime or below (default: %(default)s; 0 = off)')


def _ups_options(args) -> dict:
    if not getattr(args, 'ups', ''):          # only `lpr run` has --ups
        return {}
    from lpr.ups import UpsTarget
    UpsTarget.parse(args.ups)                 # a bad NAME@HOST[:PORT] is a usage error before anything starts
    return {'ups': args.ups, 'ups_min_charge': args.ups_min_charge, 'ups_min_runtime_s': args.ups_min_runtime}


def _preflight(options) -> bool:
    """Before any node starts: the params file (unknown keys, types, values),
    the source and the data directory, each problem on one line."""
    from lpr.params import check_params
    try:
        extra = graph.overrides(options.source, options.server_url, options.data_dir,
                                graph.camera_names(options.params_file))
    except ValueError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return False
    problems = check_params(options.params_file, options.namespace, extra)
    problems += _source_problems(options.source)
    problems += _data_dir_problems(options.data_dir)
    for problem in problems:
        print(f'error: {problem}', file=sys.stderr)
    return not problems


def _source_problems(source: str) -> list[str]:
    if not source or source.startswith(('synthetic', 'rtsp://', 'rtsps://', 'http://', 'https://', '/dev/video')) \
            or source == 'picamera2' or source.isdigit():
        return []
    path = Path(source).expanduser()
    return [] if path.exists() else [f'source {source}: no such file or folder']


def _data_dir_problems(data_dir: str) -> list[str]:
    if not data_dir:
        return []
    path = Path(data_dir).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / '.lpr-write-test'
        probe.write_bytes(b'')
        probe.unlink()
    except OSError as exc:
        return [f'data dir {data_dir}: not writable ({exc.strerror or exc})']
    return []


def _check_models() -> bool:
    from lpr_tools.models import plate_model_status
    state, path = plate_model_status()
    if state != 'ok':
        print(f'error: plate model {state}: {path}; run `lpr models install`', file=sys.stderr)
        return False
    return True


def _report(runner, started: float) -> None:
    import time
    elapsed = time.monotonic() - started
    events = runner.monitor_events
    print(f'[lpr] {len(events)} event(s) in {elapsed:.1f} s', file=sys.stderr)
    det = runner.last_status.get('detector', {})
    frames = [s.get('frames') for name, s in runner.last_status.items() if name == 'camera' or graph.camera_id(name)]
    if det:
        published = sum(int(float(f)) for f in frames) if frames and None not in frames else '?'
        print(f"[lpr] camera published {published} frames, detector processed "
              f"{det.get('frames', '?')} (the newest frame wins when it is busy)", file=sys.stderr)
    for name, cpu, share, rss in runner.cpu_report():
        print(f'[lpr]   {name:<9} CPU {cpu:6.1f} s  ({100 * share:5.1f} % of one core)  peak RSS {rss:5.0f} MB',
              file=sys.stderr)


def cmd_run(args) -> int:
    import time
    from lpr.runner import run
    options = _run_options(args, args.source)
    if not _preflight(options) or not _check_models():
        return 2
    started = time.monotonic()
    code, runner = run(options, on_event=_print_event)
    _report(runner, started)
    if options.ups:
        from lpr.ups import EXIT_CODE, STOP_MESSAGE
        if code == EXIT_CODE:
            print(f'[lpr] {STOP_MESSAGE} (exit status {code})', file=sys.stderr)
    return code


def cmd_demo(args) -> int:
    import time
    from lpr.runner import run
    if not _check_models():
        return 2
    source = f'synthetic:{args.seed}'
    if not _preflight(_run_options(args, source)):
        return 2
    from lpr_camera.config import CameraConfig
    from lpr_camera.scene import demo_plates
    from lpr_common.config import build_config
    from lpr.params import node_parameters
    options = _run_options(args, source)
    camera = build_config(CameraConfig, node_parameters(options.params_file, 'camera', args.namespace))
    truth = demo_plates(args.seed, camera)
    print(f'[lpr] demo: synthetic scene, seed {args.seed}, plates {" ".join(truth)}', file=sys.stderr)
    started = time.monotonic()
    code, runner = run(options, on_event=_print_event)
    _report(runner, started)
    read = [e.best.text for e in runner.monitor_events]
    hits = sum(1 for t in truth if t in read)
    print(f'[lpr] demo: {hits}/{len(truth)} synthetic plates read exactly', file=sys.stderr)
    return code


def cmd_models(args) -> int:
    from lpr_tools import models
    if args.action == 'install':
        return models.install(force=args.force, reader_from=args.source_file, fetch_reader=args.reader)
    rows = models.status_lines()
    for what, state, path in rows:
        print(f'{what:<16}{state:<9}{path}')
    # the plate reader is optional; the rest is needed
    return 0 if all(state == 'ok' for what, state, _ in rows if what != 'plate reader') else 1


def cmd_params(args) -> int:
    from lpr.params import describe
    print(describe())
    return 0


def cmd_events(args) -> int:
    from lpr.params import journal_url
    from lpr_recorder.journal import Journal, JournalError
    try:
        journal = Journal(journal_url(args.params or graph.default_params_file(), args.data_dir))
    except JournalError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    rows = journal.latest(args.limit)
    if not rows:
        print(f'no events yet in {journal.url}', file=sys.stderr)
    for e in reversed(rows):
        print(f'{e.best_seen.astimezone():%Y-%m-%d %H:%M:%S}  {e.camera_id:<6} {e.plate:<10} '
              f'conf {e.confidence:.2f}  reads {e.read_count:<3} {e.upload_state:<8} {e.frame_path}')
    return 0


def cmd_eval(args) -> int:
    if args.bag is not None or args.video is not None:
        if args.bag is not None and args.video is not None:
            print('error: give --bag or --video, not both', file=sys.stderr)
            return 2
        from lpr_tools.bag_eval import cmd_eval_bag
        return cmd_eval_bag(args)
    import json
    from lpr_tools.datasets import DatasetError, load
    from lpr_tools.evaluate import Pipeline, evaluate, reader_lines, summary_line
    if args.dataset is None:
        print('error: give a DATASET folder', file=sys.stderr)
        return 2
    try:
        dataset = load(args.dataset, args.mode)
    except DatasetError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    if args.limit:
        dataset.samples = dataset.samples[:args.limit]
    if dataset.mode == 'plates' and not _check_models():
        return 2
    from lpr_ocr.base import OcrError
    try:
        overrides = ({'detector': {'small_plate_tiles': args.small_plate_tiles}}
                     if args.small_plate_tiles is not None else None)
        pipeline = Pipeline.from_params(args.params, args.regions, need_detector=dataset.mode == 'plates',
                                        reader=args.reader, overrides=overrides)
    except OcrError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    if pipeline.ocr.notice:
        print(f'note: {pipeline.ocr.notice}', file=sys.stderr)
    if not 0.05 <= args.scale <= 4.0:
        print(f'error: --scale must be in 0.05..4, got {args.scale}', file=sys.stderr)
        return 2
    result = evaluate(dataset, pipeline, progress=not args.quiet, per_reader=not args.no_per_reader,
                      scale=args.scale)
    result['reader'] = pipeline.ocr.name
    for skipped in result['skipped_files']:
        print(f"skipped {skipped['file']}: {skipped['reason']}", file=sys.stderr)
    print(summary_line(result) + f'  [{pipeline.ocr.name}]')
    for line in reader_lines(result):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, ensure_ascii=False))
    if args.plot:
        from lpr_tools.plot import plot
        plot(result, args.plot)
    return 0


def cmd_record(args) -> int:
    from lpr_tools import bag
    if args.reindex:
        info = bag.reindex(args.bag)['rosbag2_bagfile_information']
        print(f"[lpr] {args.bag}: {info['message_count']} messages, metadata.yaml written", file=sys.stderr)
        return 0
    options = _run_options(args, args.source) if args.source else None
    if options is not None and (not _preflight(options) or not _check_models()):
        return 2
    return bag.record(args.bag, namespace=args.namespace, topics=args.topics or bag.DEFAULT_TOPICS,
                      duration_s=args.duration, run_options=options, on_event=_print_event,
                      **({'compression': args.compression} if args.compression else {}))


def cmd_play(args) -> int:
    from lpr_tools import bag
    return bag.play(args.bag, rate=args.rate, namespace=args.namespace, topics=args.topics, wait_s=args.wait)


def cmd_bench(args) -> int:
    from lpr_tools import bench
    if not _check_models():
        return 2
    return bench.cmd(args, on_event=_print_event)


def cmd_service(args) -> int:
    from lpr import service
    options = service.ServiceOptions(user=args.user or service.default_user(),
                                     params_file=args.params.resolve() if args.params else None,
                                     data_dir=args.data_dir, namespace=args.namespace, web=args.web,
                                     web_port=args.web_port, entry_cameras=args.entry_cameras,
                                     exit_cameras=args.exit_cameras, **_ups_options(args))
    if args.action == 'show':
        for name, text in service.units(options).items():
            print(f'# {name}\n{text}')
        return 0
    return service.install(options, args.unit_dir or service.UNIT_DIR, enable=not args.no_enable)


def cmd_web(args) -> int:
    from lpr_web.cli import run
    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='lpr', description='Licence-plate recognition on a ROS 2 node graph.')
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('run', help='run the graph on a source; prints each event as it is committed')
    p.add_argument('--source', default='', help='video file, image folder, rtsp://..., /dev/videoN, picamera2, '
                                                'synthetic[:SEED] (default: the params file)')
    _add_run_options(p)
    _add_ups_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser('demo', help='run the graph on the built-in synthetic scene (no camera needed)')
    p.add_argument('--seed', type=int, default=1, help='scene seed (which plates appear)')
    _add_run_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser('eval', help='score the detector and OCR on a labelled folder')
    p.add_argument('dataset', nargs='?', type=Path,
                   help='OpenALPR benchmark folder (image + .txt) or a folder of crops (labels.csv or file names)')
    p.add_argument('--mode', default='auto', choices=['auto', 'plates', 'crops'],
                   help='plates: detector + OCR on full images; crops: OCR only (on an OpenALPR folder, the '
                        'labelled box is cut out); auto: plates where .txt labels exist')
    from lpr_ocr.engine_names import READERS
    p.add_argument('--reader', choices=READERS, default=None,
                   help='score one reader setting (default: the params file\'s, auto): ' + ', '.join(READERS))
    p.add_argument('--scale', type=float, default=1.0,
                   help='shrink every image by this factor inside a grey frame of its own size: the same '
                        'cars further away (0.3 = small, distant plates)')
    p.add_argument('--small-plate-tiles', type=int, default=None, metavar='N',
                   help="override the detector's small_plate_tiles (0 = off, 2..4 tiles)")
    p.add_argument('--no-per-reader', action='store_true',
                   help="skip each reader's own answer (faster; the combined figures are unchanged)")
    p.add_argument('--json', type=Path, help='write the full result (per image) here')
    p.add_argument('--plot', type=Path, help='write a PNG chart of accuracy and latency here')
    p.add_argument('--params', type=Path, default=None, help='params YAML for the detector and OCR (default: installed)')
    p.add_argument('--regions', nargs='+', help='override the OCR regions, e.g. --regions BR')
    p.add_argument('--limit', type=int, default=0, help='only the first N images')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    p.add_argument('--bag', type=Path, default=None,
                   help='instead of a folder: replay this recorded bag through the real graph (see lpr_tools.bag_eval)')
    p.add_argument('--video', type=Path, default=None,
                   help='instead of a folder: play this video file through the real graph and score its events')
    p.add_argument('--truth', type=Path, help='with --bag/--video: truth file, lines text,start_s,end_s (or YAML)')
    p.add_argument('--tolerance', type=float, default=None,
                   help='with --bag/--video: seconds an event may lie outside its span (default: 0.5)')
    p.add_argument('--rate', type=float, default=1.0, help='with --bag/--video: playback rate (0 = as fast as possible)')
    p.add_argument('--data-dir', default='', help='with --bag/--video: keep the journal and images here (default: a temp dir)')
    p.add_argument('--log-level', default='warn', choices=['debug', 'info', 'warn', 'error'])
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser('record', help='record topics into a rosbag2-compatible MCAP bag (BAG/BAG_0.mcap)')
    p.add_argument('bag', type=Path, help='bag directory to create')
    p.add_argument('--source', default='', help='also start the graph on this source and record it until it ends')
    p.add_argument('--topics', nargs='+', default=None, metavar='NAME[=TYPE]',
                   help='topics, relative to the namespace or absolute (default: image_raw and every plates/* topic)')
    p.add_argument('--compression', default=None, choices=['lz4', 'none'], help='chunk compression (default: lz4)')
    p.add_argument('--reindex', action='store_true',
                   help='repair an existing bag whose recorder was killed and write its metadata.yaml')
    _add_run_options(p)
    p.set_defaults(func=cmd_record)

    p = sub.add_parser('play', help='replay a bag (raw messages, original timing)')
    p.add_argument('bag', type=Path, help='bag directory or .mcap file')
    p.add_argument('--rate', type=float, default=1.0, help='speed factor (0 = as fast as possible)')
    p.add_argument('--namespace', default=None, help='play into this namespace instead of the recorded one')
    p.add_argument('--topics', nargs='+', default=None, help='only these topics (default: all in the bag)')
    p.add_argument('--wait', type=float, default=10.0, help='seconds to wait for subscribers before playing')
    p.set_defaults(func=cmd_play)

    p = sub.add_parser('bench', help='time each stage in one process, then the graph, on a clip')
    p.add_argument('--source', default='', help='video file or synthetic[:SEED] '
                                                '(default: synthetic:1, the embedded scene; e.g. '
                                                '../shared/videos/uk-LS15EBC.mp4 for real footage)')
    p.add_argument('--frames', type=int, default=140, help='frames for the in-process part (the graph plays it all)')
    p.add_argument('--json', type=Path, help='write every figure here')
    p.add_argument('--params', type=Path, default=None, help='params YAML (default: the installed lpr.params.yaml)')
    p.add_argument('--no-graph', action='store_true', help='only the in-process part')
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser('models', help='set up or check the models in the model cache')
    p.add_argument('action', choices=['install', 'status'])
    p.add_argument('--force', action='store_true', help='rebuild even if up to date')
    p.add_argument('--reader', action='store_true',
                   help='also download the plate reader (cct_xs_v1_global) from its publisher, sha256-checked')
    p.add_argument('--from', dest='source_file', type=Path, default=None, metavar='FILE',
                   help='install the plate reader from this file (offline machines); checked by hash and shape')
    p.set_defaults(func=cmd_models)

    p = sub.add_parser('params', help='list every node parameter with its default and description')
    p.set_defaults(func=cmd_params)

    p = sub.add_parser('events', help='list the latest events in the journal')
    p.add_argument('--limit', type=int, default=20)
    p.add_argument('--params', type=Path, default=None)
    p.add_argument('--data-dir', default='')
    p.set_defaults(func=cmd_events)

    p = sub.add_parser('service', help='systemd units for this box: the graph and the web journal')
    p.add_argument('action', choices=['install', 'show'], help='install: write (and enable) the units; show: print them')
    p.add_argument('--user', default='', help='run as this user (default: the one who called sudo, else you)')
    p.add_argument('--params', type=Path, default=None, help='params YAML the graph runs with (default: the installed one)')
    p.add_argument('--data-dir', default='', help="journal and images (default: the user's ~/.local/share/lpr)")
    p.add_argument('--namespace', default='', help='camera namespace (default: cam0)')
    p.add_argument('--web', action='store_true', help='also the web journal (lpr web)')
    p.add_argument('--web-port', type=int, default=8080)
    p.add_argument('--entry-cameras', default='', help='with --web: camera ids on the way in (visits paired and timed)')
    p.add_argument('--exit-cameras', default='', help='with --web: camera ids on the way out')
    p.add_argument('--unit-dir', type=Path, default=None, help='where the units go (default: /etc/systemd/system)')
    p.add_argument('--no-enable', action='store_true', help='write the units only')
    _add_ups_options(p)
    p.set_defaults(func=cmd_service)

    p = sub.add_parser('web', help='the local web journal (events, search, corrections, access lists); '
                                   '`lpr web user add NAME` adds a login')
    from lpr_web.cli import add_arguments as add_web_arguments
    add_web_arguments(p)
    p.set_defaults(func=cmd_web)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except (FileNotFoundError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    raise SystemExit(main())
