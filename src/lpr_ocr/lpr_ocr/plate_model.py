"""Fixed-slot plate recognisers on ONNX Runtime (fast-plate-ocr's format).

Such a model reads a whole plate at once: a uint8 image ``[N, H, W, C]`` in,
one softmax per character slot out, ``[N, slots, len(alphabet)]``; slots a
shorter plate does not use hold the pad character. The model's plate config
(a YAML file; the publisher names it ``<model>_plate_config.yaml``) gives the
input size, colour mode, resizing, alphabet, pad character and slot count. For
models we know by hash the config is built in, so a bare ``.onnx`` works.

The recogniser returns a ``TextLine`` like the general OCR: per-character
confidences and runner-up characters, so the region formats, candidates and
the recorder's vote work unchanged; ``weakest`` (the least sure slot, pad
slots included) tells the engine when to ask the general OCR as well.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from lpr_common.onnx import open_session
from lpr_common.paths import model_dir
from lpr_ocr.base import LineRecognizer, OcrError, TextLine, register

_INTERPOLATION = {'nearest': cv2.INTER_NEAREST, 'linear': cv2.INTER_LINEAR, 'cubic': cv2.INTER_CUBIC,
                  'area': cv2.INTER_AREA, 'lanczos4': cv2.INTER_LANCZOS4}


@dataclass(frozen=True)
class PlateModelConfig:
    """What a fixed-slot model expects and emits (fast-plate-ocr's plate config keys)."""
    max_plate_slots: int
    alphabet: str
    pad_char: str
    img_height: int
    img_width: int
    keep_aspect_ratio: bool = False
    interpolation: str = 'linear'
    image_color_mode: str = 'rgb'
    padding_color: tuple[int, int, int] = (114, 114, 114)

    @classmethod
    def from_mapping(cls, values: dict, source: str) -> 'PlateModelConfig':
        if not isinstance(values, dict):
            raise OcrError(f'{source}: a plate config must be a mapping')
        names = {f for f in cls.__dataclass_fields__}
        missing = [k for k in ('max_plate_slots', 'alphabet', 'pad_char', 'img_height', 'img_width')
                   if k not in values]
        if missing:
            raise OcrError(f'{source}: plate config lacks {", ".join(missing)}')
        known = {k: v for k, v in values.items() if k in names}
        if 'padding_color' in known:
            colour = known['padding_color']
            known['padding_color'] = tuple(colour) if isinstance(colour, (list, tuple)) else (int(colour),) * 3
        try:
            config = cls(**known)
        except TypeError as exc:
            raise OcrError(f'{source}: {exc}') from None
        config.validate(source)
        return config

    @classmethod
    def from_yaml(cls, path: Path) -> 'PlateModelConfig':
        import yaml
        try:
            values = yaml.safe_load(Path(path).read_text(encoding='utf-8'))
        except (OSError, yaml.YAMLError) as exc:
            raise OcrError(f'cannot read plate config {path}: {exc}') from None
        return cls.from_mapping(values, str(path))

    def validate(self, source: str) -> None:
        problems = []
        if not isinstance(self.alphabet, str) or len(set(self.alphabet)) != len(self.alphabet):
            problems.append('alphabet must be a string of distinct characters')
        elif self.pad_char not in self.alphabet:
            problems.append(f'pad_char {self.pad_char!r} is not in the alphabet')
        if not (isinstance(self.max_plate_slots, int) and 1 <= self.max_plate_slots <= 32):
            problems.append('max_plate_slots must be an integer in 1..32')
        if not all(isinstance(v, int) and 8 <= v <= 1024 for v in (self.img_height, self.img_width)):
            problems.append('img_height and img_width must be integers in 8..1024')
        if self.image_color_mode not in ('rgb', 'grayscale'):
            problems.append("image_color_mode must be 'rgb' or 'grayscale'")
        if self.interpolation not in _INTERPOLATION:
            problems.append(f'interpolation must be one of {", ".join(_INTERPOLATION)}')
        if problems:
            raise OcrError(f'{source}: ' + '; '.join(problems))

    @property
    def channels(self) -> int:
        return 3 if self.image_color_mode == 'rgb' else 1


@dataclass(frozen=True)
class KnownModel:
    """A published model we can check by hash and configure without its YAML."""
    name: str
    file: str
    sha256: str
    url: str
    config: dict
    notes: str = ''
    config_url: str = ''
    aliases: tuple[str, ...] = field(default=())


_FPO_RELEASE = 'https://github.com/ankandrew/fast-plate-ocr/releases/download/arg-plates'
KNOWN_MODELS: dict[str, KnownModel] = {m.name: m for m in (
    KnownModel(
        name='cct_xs_v1_global', file='cct_xs_v1_global.onnx',
        sha256='c1ae2ae031b10f8ab7ed6e3cdaf8d9c753477e299dbad3579c8f705a7d882134',
        url=f'{_FPO_RELEASE}/cct_xs_v1_global.onnx',
        config_url=f'{_FPO_RELEASE}/cct_xs_v1_global_plate_config.yaml',
        config={'max_plate_slots': 9, 'alphabet': '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_', 'pad_char': '_',
                'img_height': 64, 'img_width': 128, 'keep_aspect_ratio': False, 'interpolation': 'linear',
                'image_color_mode': 'rgb'},
        notes='fast-plate-ocr (MIT code) CCT-XS global plate model, 2.1 MB; its training data is reported '
              'to be the GlobalPlates set (CC-BY-NC-ND-4.0), not verified: check before commercial use',
        aliases=('cct-xs-v1-global-model',)),
)}
DEFAULT_PLATE_MODEL = 'cct_xs_v1_global'


def default_plate_model_path() -> Path:
    return model_dir() / KNOWN_MODELS[DEFAULT_PLATE_MODEL].file


# The project's own reader, trained by tools/train_reader and shipped with this
# package (weights and plate config beside each other).
TRAINED_MODEL = 'lpr_reader_v1.onnx'


def trained_model_path() -> Path:
    return Path(__file__).resolve().parent / 'weights' / TRAINED_MODEL


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def known_by_hash(sha256: str) -> KnownModel | None:
    return next((m for m in KNOWN_MODELS.values() if m.sha256 == sha256), None)


def resolve_config(model_path: Path, config_path: str = '') -> PlateModelConfig:
    """The plate config: the one given, else ``<stem>_plate_config.yaml`` (or
    ``<stem>.yaml``) beside the model, else the built-in one for a known hash."""
    if config_path:
        return PlateModelConfig.from_yaml(Path(config_path).expanduser())
    for name in (f'{model_path.stem}_plate_config.yaml', f'{model_path.stem}.yaml'):
        beside = model_path.with_name(name)
        if beside.is_file():
            return PlateModelConfig.from_yaml(beside)
    known = known_by_hash(sha256_of(model_path))
    if known is None:
        raise OcrError(f'{model_path}: no plate config (put {model_path.stem}_plate_config.yaml beside it, '
                       'or set plate_config)')
    return PlateModelConfig.from_mapping(known.config, known.name)


@register('plate')
class SlotRecognizer(LineRecognizer):
    """Reads a plate crop with a fixed-slot model: greedy per slot, pad slots dropped."""

    def __init__(self, model_path: str = '', threads: int = 1, config_path: str = '', alternatives: int = 3):
        path = Path(model_path).expanduser() if model_path else default_plate_model_path()
        if not path.is_file():
            raise OcrError(f'plate model not found: {path} (run `lpr models install`)')
        self.config = resolve_config(path, config_path)
        self._session = open_session(path, threads, OcrError)
        self._check_shapes(path)
        self._alphabet = list(self.config.alphabet)
        self._pad = self._alphabet.index(self.config.pad_char)
        self._alternatives = alternatives
        self.name = f'plate:{path.stem}'

    def _check_shapes(self, path: Path) -> None:
        c = self.config
        inp, out = self._session.get_inputs()[0], self._session.get_outputs()[0]
        want_in = [c.img_height, c.img_width, c.channels]
        if inp.type != 'tensor(uint8)' or len(inp.shape) != 4 or list(inp.shape[1:]) != want_in:
            raise OcrError(f'{path}: input {inp.type} {inp.shape} does not match the plate config '
                           f'(uint8 [N, {", ".join(map(str, want_in))}])')
        shape = list(out.shape)
        if len(shape) == 2 and shape[1] == c.max_plate_slots * len(c.alphabet):
            return  # flattened slots, reshaped after the run
        if len(shape) != 3 or shape[1:] != [c.max_plate_slots, len(c.alphabet)]:
            raise OcrError(f'{path}: output {shape} does not match the plate config '
                           f'({c.max_plate_slots} slots x {len(c.alphabet)} characters)')

    def blob(self, image: np.ndarray) -> np.ndarray:
        """BGR (or grey) crop -> the model's uint8 [H, W, C] input."""
        c = self.config
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB if c.channels == 3 else cv2.COLOR_BGR2GRAY)
        interp = _INTERPOLATION[c.interpolation]
        if not c.keep_aspect_ratio:
            out = cv2.resize(image, (c.img_width, c.img_height), interpolation=interp)
        else:
            h, w = image.shape[:2]
            scale = min(c.img_width / w, c.img_height / h)
            nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
            resized = cv2.resize(image, (nw, nh), interpolation=interp)
            fill = c.padding_color[:c.channels] if c.channels == 3 else c.padding_color[0]
            out = np.full((c.img_height, c.img_width) + ((3,) if c.channels == 3 else ()), fill, np.uint8)
            y, x = (c.img_height - nh) // 2, (c.img_width - nw) // 2
            out[y:y + nh, x:x + nw] = resized
        return out.reshape(c.img_height, c.img_width, c.channels).astype(np.uint8)

    def probabilities(self, images: list[np.ndarray]) -> np.ndarray:
        """[N, slots, alphabet] for a batch of crops."""
        batch = np.stack([self.blob(im) for im in images])
        out = self._session.run(None, {self._session.get_inputs()[0].name: batch})[0]
        return out.reshape(len(images), self.config.max_plate_slots, len(self._alphabet))

    def recognize(self, line: np.ndarray) -> TextLine:
        return self.decode(self.probabilities([line])[0], line.shape)

    def decode(self, probs: np.ndarray, shape=(0, 0)) -> TextLine:
        best = probs.argmax(1)
        chars, confs, alts = [], [], []
        for slot, index in enumerate(best):
            if index == self._pad:
                continue
            chars.append(self._alphabet[index])
            confs.append(float(probs[slot, index]))
            alts.append(self._runner_ups(probs[slot], index))
        h, w = shape[:2]
        return TextLine(''.join(chars), tuple(confs), (0.0, 0.0, float(w), float(h)), tuple(alts),
                        weakest=float(probs.max(1).min()))

    def _runner_ups(self, p: np.ndarray, best: int) -> tuple[tuple[str, float], ...]:
        if self._alternatives <= 0:
            return ()
        order = np.argsort(p)[::-1]
        return tuple((self._alphabet[i], float(p[i])) for i in order
                     if i not in (best, self._pad))[:self._alternatives]
