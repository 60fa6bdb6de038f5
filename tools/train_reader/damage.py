"""Damage: from a clean plate to a crop as a plate detector would cut it
from a real camera frame, shrunk to the model's 128x64 input.

Two settings: ``TRAIN`` and ``TEST``. The test setting is held out: its
ranges differ (stronger tilt, lower JPEG quality, smaller source crops) and
it adds a colour cast and vignetting that training never sees.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .alphabet import IMG_HEIGHT, IMG_WIDTH


@dataclass(frozen=True)
class Setting:
    tilt_deg: float = 7.0           # in-plane rotation, +-
    skew: float = 0.07              # perspective: corner shift, fraction of plate size
    margin: tuple = (0.0, 0.12)   # crop margin per side, fraction of plate size
    source_width: tuple = (48, 240) # the crop's width in the camera frame, px
    jpeg: tuple = (25, 95)
    blur_sigma: float = 1.4
    motion: int = 7                 # longest motion-blur kernel, px at source size
    noise: float = 10.0
    p_night: float = 0.15
    p_dirt: float = 0.25
    p_glare: float = 0.15
    p_frame: float = 0.25
    p_bolts: float = 0.4
    p_cast: float = 0.0             # colour cast + vignetting (held out of training)


TRAIN = Setting()
TEST = Setting(tilt_deg=10.0, skew=0.09, margin=(0.0, 0.15), source_width=(44, 160), jpeg=(15, 60),
               blur_sigma=1.8, motion=9, noise=14.0, p_night=0.2, p_dirt=0.3, p_glare=0.2, p_cast=0.5)


def damage(plate: np.ndarray, rng: np.random.Generator, setting: Setting = TRAIN) -> np.ndarray:
    """Clean RGB plate -> damaged RGB crop, IMG_HEIGHT x IMG_WIDTH uint8."""
    # Work near the size the camera saw (fast, and the damage keeps its scale).
    width = int(rng.uniform(*setting.source_width))
    work = max(120, int(width * 1.5))
    img = cv2.resize(plate, (work, max(16, int(plate.shape[0] * work / plate.shape[1]))),
                     interpolation=cv2.INTER_AREA) if plate.shape[1] > work else plate.copy()
    if rng.random() < setting.p_bolts:
        _bolts(img, rng)
    if rng.random() < setting.p_dirt:
        img = _dirt(img, rng)
    if rng.random() < setting.p_frame:
        img = _frame(img, rng)
    crop = _place_and_crop(img, rng, setting, width)
    crop = _light(crop, rng)
    if rng.random() < setting.p_glare:
        crop = _glare(crop, rng)
    if rng.random() < setting.p_cast:
        crop = _cast(crop, rng)
    if rng.random() < setting.p_night:
        crop = _night_ir(crop, rng)
    crop = _blur(crop, rng, setting)
    crop = _noise(crop, rng, setting.noise)
    crop = _jpeg(crop, rng, setting.jpeg)
    interp = (cv2.INTER_LINEAR, cv2.INTER_AREA, cv2.INTER_CUBIC)[rng.integers(3)]
    return cv2.resize(crop, (IMG_WIDTH, IMG_HEIGHT), interpolation=interp)


def augment_real(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Light damage for real crops (already damaged by life): jitter the crop
    a little, change the light, sometimes blur or compress; 128x64 out."""
    h, w = crop.shape[:2]
    dx0, dx1 = (rng.uniform(-0.04, 0.06, 2) * w).astype(int)
    dy0, dy1 = (rng.uniform(-0.06, 0.1, 2) * h).astype(int)
    padded = cv2.copyMakeBorder(crop, max(0, dy0), max(0, dy1), max(0, dx0), max(0, dx1), cv2.BORDER_REPLICATE)
    y0, x0 = max(0, -dy0), max(0, -dx0)
    y1 = padded.shape[0] - max(0, -dy1)
    x1 = padded.shape[1] - max(0, -dx1)
    crop = padded[y0:y1, x0:x1]
    angle = rng.uniform(-4, 4)
    m = cv2.getRotationMatrix2D((crop.shape[1] / 2, crop.shape[0] / 2), angle, 1.0)
    crop = cv2.warpAffine(crop, m, (crop.shape[1], crop.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    crop = _light(crop, rng)
    if rng.random() < 0.3:
        crop = cv2.GaussianBlur(crop, (0, 0), rng.uniform(0.3, 1.2))
    if rng.random() < 0.3:
        crop = _jpeg(crop, rng, (30, 90))
    return cv2.resize(crop, (IMG_WIDTH, IMG_HEIGHT), interpolation=cv2.INTER_LINEAR)


# -- steps ----------------------------------------------------------------------
def _bolts(img: np.ndarray, rng) -> None:
    h, w = img.shape[:2]
    r = max(2, int(h * rng.uniform(0.04, 0.07)))
    y = int(h * rng.uniform(0.08, 0.2))
    colour = tuple(int(v) for v in rng.integers(90, 220, 3))
    for x in (w * rng.uniform(0.18, 0.3), w * rng.uniform(0.7, 0.82)):
        cv2.circle(img, (int(x), y), r, colour, -1, cv2.LINE_AA)
        cv2.circle(img, (int(x), y), r, (60, 60, 60), 1, cv2.LINE_AA)


def _dirt(img: np.ndarray, rng) -> np.ndarray:
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.float32)
    for _ in range(rng.integers(2, 12)):
        centre = (int(rng.integers(w)), int(rng.integers(h)))
        axes = (int(rng.integers(4, w // 5)), int(rng.integers(3, h // 3)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(0.2, 0.7)), -1)
    mask = cv2.GaussianBlur(mask, (0, 0), h * 0.06)[..., None]
    mud = np.array([rng.uniform(60, 120), rng.uniform(50, 100), rng.uniform(30, 70)], np.float32)
    return (img * (1 - mask) + mud * mask).astype(np.uint8)


def _frame(img: np.ndarray, rng) -> np.ndarray:
    """A dealer frame around the plate, its lower edge wider (with small print)."""
    h, w = img.shape[:2]
    side, top, bottom = int(h * rng.uniform(0.04, 0.12)), int(h * rng.uniform(0.04, 0.12)), int(h * rng.uniform(0.08, 0.3))
    colour = tuple(int(v) for v in (rng.integers(0, 60, 3) if rng.random() < 0.7 else rng.integers(120, 230, 3)))
    out = cv2.copyMakeBorder(img, top, bottom, side, side, cv2.BORDER_CONSTANT, value=colour)
    if bottom > 8 and rng.random() < 0.6:
        ink = tuple(255 - c for c in colour)
        cv2.putText(out, 'AUTO DEALER', (side + w // 5, h + top + bottom - bottom // 4), cv2.FONT_HERSHEY_SIMPLEX,
                    bottom / 40, ink, max(1, bottom // 12), cv2.LINE_AA)
    return out


def _background(h: int, w: int, rng) -> np.ndarray:
    """Around the plate: a car body's colour with a gradient and some noise."""
    base = rng.integers(0, 255, 3).astype(np.float32)
    ramp = np.linspace(rng.uniform(0.5, 1.0), rng.uniform(0.5, 1.3), h, dtype=np.float32)[:, None, None]
    bg = base * ramp + rng.normal(0, 12, (h, w, 1)).astype(np.float32)
    if rng.random() < 0.5:   # a bumper or grille line
        y = int(rng.integers(h))
        bg[y:y + max(1, h // 20)] *= 0.3
    return np.broadcast_to(np.clip(bg, 0, 255), (h, w, 3)).astype(np.uint8)


def _place_and_crop(img: np.ndarray, rng, s: Setting, width: int) -> np.ndarray:
    """Tilt and skew the plate in a car-coloured surround, then cut the
    detector's box: the warped plate's bounds, with a jittered margin."""
    h, w = img.shape[:2]
    pad = int(0.4 * h + 0.15 * w)
    canvas = _background(h + 2 * pad, w + 2 * pad, rng)
    canvas[pad:pad + h, pad:pad + w] = img
    src = np.float32([[pad, pad], [pad + w, pad], [pad + w, pad + h], [pad, pad + h]])
    dst = src + rng.uniform(-s.skew, s.skew, (4, 2)).astype(np.float32) * np.float32([w, h])
    centre = dst.mean(0)
    a = np.deg2rad(rng.uniform(-s.tilt_deg, s.tilt_deg))
    rot = np.float32([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    dst = (dst - centre) @ rot.T + centre
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    warped = cv2.warpPerspective(canvas, m, (canvas.shape[1], canvas.shape[0]), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
    x0, y0 = dst.min(0)
    x1, y1 = dst.max(0)
    bw, bh = x1 - x0, y1 - y0
    mx = rng.uniform(*s.margin, 2) * bw
    my = rng.uniform(*s.margin, 2) * bh * 1.5
    xa, xb = int(max(0, x0 - mx[0])), int(min(warped.shape[1], x1 + mx[1]))
    ya, yb = int(max(0, y0 - my[0])), int(min(warped.shape[0], y1 + my[1]))
    crop = warped[ya:yb, xa:xb]
    # The camera saw it this small: shrink (the later resize may enlarge it again).
    if width < crop.shape[1]:
        height = max(8, int(crop.shape[0] * width / crop.shape[1]))
        crop = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
    return crop


def _light(img: np.ndarray, rng) -> np.ndarray:
    contrast = rng.uniform(0.55, 1.25)
    brightness = rng.uniform(-50, 40)
    gamma = rng.uniform(0.6, 1.6)
    out = np.clip(img.astype(np.float32) * contrast + brightness, 0, 255)
    out = 255.0 * (out / 255.0) ** gamma
    if rng.random() < 0.3:   # uneven light across the plate
        ramp = np.linspace(rng.uniform(0.5, 1.0), rng.uniform(0.9, 1.2), img.shape[1], dtype=np.float32)
        out *= ramp[None, :, None]
    return np.clip(out, 0, 255).astype(np.uint8)


def _glare(img: np.ndarray, rng) -> np.ndarray:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    sx, sy = rng.uniform(0.1, 0.5) * w, rng.uniform(0.2, 0.8) * h
    spot = np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2))[..., None]
    return np.clip(img + spot * rng.uniform(60, 180), 0, 255).astype(np.uint8)


def _cast(img: np.ndarray, rng) -> np.ndarray:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    vignette = 1 - rng.uniform(0.2, 0.5) * (((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) * 2)
    tint = rng.uniform(0.75, 1.2, 3).astype(np.float32)
    return np.clip(img * vignette[..., None] * tint, 0, 255).astype(np.uint8)


def _night_ir(img: np.ndarray, rng) -> np.ndarray:
    """An infrared night frame: grey, the retro-reflective plate bright, dark ink, hard contrast."""
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lo, hi = np.percentile(grey, (5, 95))
    grey = np.clip((grey - lo) / max(hi - lo, 1) * rng.uniform(1.1, 1.8) * 255 - rng.uniform(0, 80), 0, 255)
    grey = grey + rng.normal(0, rng.uniform(3, 15), grey.shape)
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _blur(img: np.ndarray, rng, s: Setting) -> np.ndarray:
    choice = rng.random()
    if choice < 0.35:
        return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, s.blur_sigma) * max(0.5, img.shape[1] / 128))
    if choice < 0.55:
        longest = max(2, min(s.motion, int(img.shape[1] * s.motion / 160)))
        length = int(rng.integers(2, longest + 1))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        m = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(-180, 180), 1.0)
        kernel = cv2.warpAffine(kernel, m, (length, length))
        return cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))
    h, w = img.shape[:2]
    if choice < 0.75 and w > 48:   # low resolution: down (not below 36 px wide) and up again
        f = rng.uniform(max(0.3, 36 / w), 0.8)
        small = cv2.resize(img, (int(w * f), max(6, int(h * f))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return img


def _noise(img: np.ndarray, rng, sigma: float) -> np.ndarray:
    if rng.random() < 0.4:
        return img
    noise = rng.normal(0, rng.uniform(0, sigma), img.shape).astype(np.float32)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def _jpeg(img: np.ndarray, rng, quality: tuple) -> np.ndarray:
    if rng.random() < 0.3:
        return img
    ok, buf = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(*quality))])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else img
