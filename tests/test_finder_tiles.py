"""The finder's second pass for small, distant plates (tiles)."""
import numpy as np

from lpr_detector.base import Box, Detector
from lpr_detector.finder import PlateFinder


class ScaleLimitedDetector(Detector):
    """Finds the one plate at ``plate`` (frame coordinates) only where it
    would be at least ``min_px`` wide after scaling the image to 384 px, as a
    real small-input detector does."""

    def __init__(self, plate, min_px=24.0):
        self.plate, self.min_px, self.calls = plate, min_px, []

    def detect(self, image):
        # the tile's offset is recovered from the marker column painted in the frame
        offset = int(image[0, 0, 0]) + 256 * int(image[0, 0, 1])
        self.calls.append(image.shape[1])
        x, y, w, h = self.plate
        if not (offset <= x and x + w <= offset + image.shape[1]):
            return []
        if w * 384 / max(image.shape[:2]) < self.min_px:
            return []
        return [Box(x - offset, y, w, h, 0.9)]


def frame(width=1280, height=720):
    img = np.zeros((height, width, 3), np.uint8)
    img[0, :, 0] = np.arange(width) % 256     # lets the stub know where a tile starts
    img[0, :, 1] = np.arange(width) // 256
    return img


def test_a_small_plate_missed_on_the_whole_frame_is_found_in_tiles():
    det = ScaleLimitedDetector((900, 400, 60, 15))       # 60 px: 18 px at 384 -> missed whole
    assert PlateFinder(det, tiles=0).find(frame()) == []
    det = ScaleLimitedDetector((900, 400, 60, 15))
    finder = PlateFinder(det, tiles=3)
    found = finder.find(frame())
    assert len(found) == 1 and (found[0].box.x, found[0].box.width) == (900, 60)
    assert finder.tile_passes == 1 and len(det.calls) == 1 + 3


def test_tiles_run_only_when_the_whole_frame_found_nothing():
    det = ScaleLimitedDetector((500, 400, 200, 50))
    finder = PlateFinder(det, tiles=2)
    assert len(finder.find(frame())) == 1
    assert finder.tile_passes == 0 and len(det.calls) == 1


def test_a_plate_in_two_overlapping_tiles_is_found_once():
    det = ScaleLimitedDetector((600, 400, 70, 18))       # inside the overlap of 2 tiles
    found = PlateFinder(det, tiles=2).find(frame())
    assert len(found) == 1
