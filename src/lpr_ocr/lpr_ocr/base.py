"""The OCR interface and its results (no ROS here)."""
from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

from lpr_common.registry import Registry


class OcrError(RuntimeError):
    """An OCR backend that cannot be built or run."""


@dataclass(frozen=True)
class Candidate:
    text: str
    confidence: float
    region: str = ''
    format: str = ''


@dataclass(frozen=True)
class TextLine:
    """One recognised line: text plus one confidence per character."""
    text: str
    char_confidences: tuple[float, ...]
    box: tuple[float, float, float, float]  # x, y, w, h in the crop
    alternatives: tuple[tuple[tuple[str, float], ...], ...] = ()  # per char: other (char, p)
    weakest: float | None = None  # fixed-slot readers: the least sure slot, empty slots included

    @property
    def confidence(self) -> float:
        return float(np.mean(self.char_confidences)) if self.char_confidences else 0.0


@dataclass(frozen=True)
class PlateText:
    """The reading of one plate crop, as the OCR node publishes it."""
    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    raw_text: str
    candidates: tuple[Candidate, ...] = ()
    region: str = ''
    format: str = ''
    lines: tuple[TextLine, ...] = field(default=(), compare=False)

    @staticmethod
    def empty(raw_text: str = '') -> 'PlateText':
        return PlateText('', 0.0, (), raw_text)


class LineRecognizer(abc.ABC):
    """Reads the text of one rectified text-line image."""

    name: str = 'recognizer'

    @abc.abstractmethod
    def recognize(self, line: np.ndarray) -> TextLine:
        ...

    def close(self) -> None:
        pass


def _load_builtin_backends() -> None:
    from lpr_ocr import easyocr_backend, plate_model, ppocr  # noqa: F401 - they register; easyocr loads lazily


BACKENDS: Registry[LineRecognizer] = Registry('OCR', OcrError, _load_builtin_backends)
register = BACKENDS.register
create = BACKENDS.create
