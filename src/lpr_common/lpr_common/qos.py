"""QoS profiles of the lpr topics, in one place, each with its reason."""
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile,
                       ReliabilityPolicy)

# Frames: only the newest matters; a slow consumer must never stall the camera
# (with RELIABLE, publish() raises once the reader falls behind). BEST_EFFORT
# raw frames need the shared-memory transport profile to arrive whole.
FRAMES = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=2,
                    reliability=ReliabilityPolicy.BEST_EFFORT,
                    durability=DurabilityPolicy.VOLATILE)

# Detections and reads: small, every one counts for voting; a short queue
# absorbs bursts while the next stage is busy.
RESULTS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                     reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.VOLATILE)

# Events: must not be lost between live nodes; a late joiner (the bridge, a
# monitor) gets the last few committed events.
EVENTS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                    reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.TRANSIENT_LOCAL)

# Status: latest value per publisher, kept for late joiners.
STATUS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                    reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.TRANSIENT_LOCAL)

# Debug views: lossy is fine.
DEBUG = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                   reliability=ReliabilityPolicy.BEST_EFFORT,
                   durability=DurabilityPolicy.VOLATILE)
