"""The synthetic scene the camera node shows, from its parameters (and the
demo's ground truth, computed from the same parameters)."""
from __future__ import annotations

import dataclasses

from lpr_camera.config import CameraConfig
from lpr_camera.synthetic import SceneConfig, SyntheticScene


def scene_config(config: CameraConfig) -> SceneConfig:
    """SceneConfig for the camera parameters (a ``synthetic:SEED`` source sets the seed)."""
    kwargs = dict(car_count=config.synthetic_cars)
    if config.synthetic_plates:
        kwargs['cars'] = tuple(config.synthetic_plates)
    if config.fps:
        kwargs['fps'] = config.fps
    if config.synthetic_stops:
        kwargs['stops'] = tuple((i, float(sec)) for i, sec in enumerate(config.synthetic_stops) if sec > 0)
    return SceneConfig(**kwargs)


def demo_plates(seed: int, config: CameraConfig = CameraConfig()) -> list[str]:
    """The plates, in order, that ``synthetic:SEED`` shows with these parameters."""
    return SyntheticScene(dataclasses.replace(scene_config(config), seed=seed)).plates()
