"""The detector interface, its results and the backend registry (no ROS here)."""
from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from lpr_common.registry import Registry


class DetectorError(RuntimeError):
    """A detector that cannot be built or run (missing model, bad file, ...)."""


@dataclass(frozen=True)
class Box:
    """A detection in source-image pixels."""
    x: float
    y: float
    width: float
    height: float
    score: float
    label: str = 'plate'

    @property
    def x2(self) -> float:
        return self.x + self.width

    @property
    def y2(self) -> float:
        return self.y + self.height

    def iou(self, other: 'Box') -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x, other.x))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y, other.y))
        inter = ix * iy
        union = self.width * self.height + other.width * other.height - inter
        return inter / union if union > 0 else 0.0


class Detector(abc.ABC):
    """Finds objects of one or more labels in a BGR image."""

    name: str = 'detector'

    @abc.abstractmethod
    def detect(self, image: np.ndarray) -> list[Box]:
        """Boxes sorted by score, best first."""

    def close(self) -> None:
        """Release the model / device."""


def _load_builtin_backends() -> None:
    # Importing registers; heavy runtimes (onnxruntime, hailo_platform) are
    # imported only inside the backends' constructors.
    from lpr_detector import hailo, onnx_yolo  # noqa: F401


BACKENDS: Registry[Detector] = Registry('detector', DetectorError, _load_builtin_backends)
register = BACKENDS.register
create = BACKENDS.create
