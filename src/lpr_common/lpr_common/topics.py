"""Every topic of the graph in one table: name, message type and QoS.

Names without a leading slash live in the camera's namespace (``/cam0/...``).
The nodes, the Foxglove bridge and the bag tools take names, types and QoS
from here; the QoS profiles and their reasons are in ``lpr_common.qos``.
"""
from __future__ import annotations

from dataclasses import dataclass

from rclpy.qos import QoSProfile

from lpr_common import qos


@dataclass(frozen=True)
class Topic:
    name: str
    type_name: str      # pkg/msg/Type
    qos: QoSProfile
    what: str


FRAMES = Topic('image_raw', 'sensor_msgs/msg/Image', qos.FRAMES,
               'camera frames, BGR8 (camera -> detector)')
DEBUG_IMAGE = Topic('debug/image/compressed', 'sensor_msgs/msg/CompressedImage', qos.DEBUG,
                    'annotated frames, JPEG, while someone listens (detector)')
DETECTIONS = Topic('plates/detections', 'lpr_interfaces/msg/PlateDetectionArray', qos.RESULTS,
                   'plate boxes and crops, the frame as JPEG when plates were found (detector -> OCR)')
READS = Topic('plates/reads', 'lpr_interfaces/msg/PlateReadArray', qos.RESULTS,
              'plate texts with confidences and candidates (OCR -> recorder)')
EVENTS = Topic('plates/events', 'lpr_interfaces/msg/PlateEvent', qos.EVENTS,
               'one per vehicle pass, preview and final, after the journal commit (recorder -> bridge)')
INGESTED = Topic('plates/ingested', 'lpr_interfaces/msg/IngestedEvent', qos.EVENTS,
                 'plates read by ANPR cameras themselves, with their pictures (ingest -> recorder)')
# Reliable but volatile: a late joiner must not get stale opens replayed.
DECISIONS = Topic('access/decisions', 'lpr_interfaces/msg/AccessDecision', qos.RESULTS,
                  'open / deny / review per plate event, and corrections (access; optional node)')
DIAGNOSTICS = Topic('/diagnostics', 'diagnostic_msgs/msg/DiagnosticArray', qos.STATUS,
                    "every node's status and figures")



def camera_frames(camera: str) -> str:
    """Where camera ``camera``'s frames go when one detector serves several cameras
    (the runner and the launch file remap each camera node's image_raw here)."""
    return f'cameras/{camera}/{FRAMES.name}'


ALL = (FRAMES, DEBUG_IMAGE, DETECTIONS, READS, EVENTS, INGESTED, DECISIONS, DIAGNOSTICS)
BY_NAME = {t.name: t for t in ALL}
