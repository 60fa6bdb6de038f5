"""Ingest node: plate events from ANPR cameras (Hikvision ISAPI and Dahua
ITSAPI pushes, FTP uploads) -> plates/ingested, which the recorder journals."""
from __future__ import annotations

import cv2
import numpy as np
from lpr_interfaces.msg import IngestedEvent, PlateCandidate

from lpr_common import topics
from lpr_common.config import ConfigError
from lpr_common.images import array_to_image
from lpr_common.node import LprNode, run_node
from lpr_common.paths import data_dir
from lpr_ingest.auth import PASSWORD_ENV, DigestAuth, load_password
from lpr_ingest.config import IngestConfig
from lpr_ingest.event import CameraRead
from lpr_ingest.ftp import FtpServer, NamePattern, UploadIngest
from lpr_ingest.server import IngestServer


class IngestNode(LprNode):
    config_class = IngestConfig

    def __init__(self, name: str = 'ingest', **kwargs):
        super().__init__(name, **kwargs)
        self.http: IngestServer | None = None
        self.ftp: FtpServer | None = None
        self.uploads: UploadIngest | None = None
        self._password = ''
        self._names: dict[str, str] = {}

    def configure(self, config: IngestConfig) -> None:
        self._password = load_password(config.password_file)   # a file or the environment, never a parameter
        if not self._password and not config.allow_anonymous:
            raise ConfigError(f'no password for the cameras (password_file or ${PASSWORD_ENV}); '
                              'set allow_anonymous: true only on a trusted LAN')
        self._names = config.names()
        if config.ftp_port:
            root = data_dir() / 'ftp' if not config.ftp_root else config.ftp_root
            self.uploads = UploadIngest(root, NamePattern.compile(config.file_pattern, config.time_format),
                                        self._accept, self._warn)
        self.pub = self.create_lifecycle_publisher(IngestedEvent, topics.INGESTED.name, topics.INGESTED.qos)

    def activate(self) -> None:
        c = self.config
        if c.http_port:
            auth = DigestAuth(c.username, self._password) if self._password else None
            self.http = IngestServer(c.listen_host, c.http_port, self._accept, auth, c.max_body_bytes, self._warn)
            self.http.start()
            self.get_logger().info(f'camera pushes on http://{c.listen_host}:{self.http.port}/ '
                                   f'(Dahua: /NotificationInfo/TollgateInfo)')
        if self.uploads is not None:
            for path in self.uploads.pending():   # left by an earlier run (before uploads can start)
                self.uploads.take(path)
            passive = range(c.ftp_passive_ports[0], c.ftp_passive_ports[1] + 1) if c.ftp_passive_ports else None
            self.ftp = FtpServer(c.listen_host, c.ftp_port, self.uploads, c.username, self._password,
                                 c.max_body_bytes, passive)
            self.ftp.start()
            self.get_logger().info(f'FTP uploads on ftp://{c.listen_host}:{self.ftp.port}/ into {self.uploads.root}')

    def deactivate(self) -> None:
        for server in (self.http, self.ftp):
            if server is not None:
                server.stop()
        self.http = self.ftp = None

    # -- flow ---------------------------------------------------------------
    def _accept(self, read: CameraRead) -> bool:
        """Publish one camera read; False (the camera sends it again, the FTP
        file stays) while no recorder listens. Called from the listener threads."""
        if self.pub.get_subscription_count() == 0:
            self.status.count('not_taken')
            self.get_logger().warning('no recorder subscribed to plates/ingested: camera events are not taken now',
                                      throttle_duration_sec=30.0)
            return False
        camera = self._names.get(read.camera_id, read.camera_id)
        self.pub.publish(to_msg(read, camera, self.status))
        self.status.count('published')
        if read.retransmitted:
            self.status.count('retransmitted')
        self.get_logger().info(f'{read.source} {read.plate} camera={camera} conf={read.confidence:.2f} '
                               f'id={read.event_id}{" (retransmission)" if read.retransmitted else ""}')
        return True

    def _warn(self, message: str) -> None:
        self.get_logger().warning(message)   # refused pushes and uploads: each one, as they come

    def fill_status(self, status) -> None:
        for prefix, counts in (('http', self.http and self.http.counts), ('ftp', self.uploads and self.uploads.counts)):
            for key, n in list((counts or {}).items()):   # the listener threads add keys
                status.values[f'{prefix}_{key}'] = n


def to_msg(read: CameraRead, camera: str, status=None) -> IngestedEvent:
    msg = IngestedEvent(event_id=read.event_id, source=read.source, direction=read.direction,
                        vehicle_type=read.vehicle_type, vehicle_color=read.vehicle_color)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(read.stamp_ns, 1_000_000_000)
    msg.header.frame_id = camera
    r = msg.read
    r.text = r.raw_text = read.plate
    r.confidence, r.region, r.backend = float(read.confidence), read.region, read.source
    r.candidates = [PlateCandidate(text=read.plate, confidence=float(read.confidence))]
    crop = _decode(read.plate_jpeg)
    if crop is not None:
        array_to_image(crop, r.detection.crop)
    elif read.plate_jpeg and status is not None:
        status.count('bad_plate_pictures')   # the event goes on without its crop
    if read.scene_jpeg:
        msg.frame.format = 'jpeg'
        msg.frame.data = read.scene_jpeg
    msg.frame.header = msg.header
    return msg


def _decode(jpeg: bytes | None) -> np.ndarray | None:
    if not jpeg:
        return None
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return image if image is not None and image.size else None


def main(args=None) -> int:
    return run_node(IngestNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
