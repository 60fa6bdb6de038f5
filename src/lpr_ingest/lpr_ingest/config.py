"""Ingest node parameters (the defaults live here and nowhere else).

The password is not a parameter: it comes from ``password_file`` or the
environment ($LPR_INGEST_PASSWORD); see lpr_ingest.auth.
"""
from __future__ import annotations

from dataclasses import dataclass

from lpr_common.config import check, param
from lpr_ingest.ftp import DEFAULT_PATTERN, DEFAULT_TIME_FORMAT, NamePattern


@dataclass(frozen=True)
class IngestConfig:
    listen_host: str = param('127.0.0.1', 'address the HTTP and FTP listeners bind to; 0.0.0.0 = every '
                                          'interface (the cameras must reach it)')
    http_port: int = param(8088, 'port for Hikvision ISAPI and Dahua ITSAPI pushes (0 = no HTTP listener)')
    username: str = param('lpr', 'user name the cameras log in with (HTTP Digest and FTP)')
    password_file: str = param('', 'file holding the password the cameras use; empty = the '
                                   'LPR_INGEST_PASSWORD environment variable')
    allow_anonymous: bool = param(False, 'accept pushes and uploads without credentials (cameras that cannot '
                                         'authenticate, trusted LAN only); else a password is required')
    max_body_bytes: int = param(8_000_000, 'largest push or FTP upload in bytes; larger ones are refused '
                                           '(HTTP 413, FTP 552)')
    ftp_port: int = param(0, 'FTP server port for picture uploads (0 = no FTP server)')
    ftp_root: str = param('', 'where FTP uploads land; empty = <data dir>/ftp')
    ftp_passive_ports: list[int] = param([], 'FTP passive data port range [first, last]; empty = any free port')
    file_pattern: str = param(DEFAULT_PATTERN, 'regular expression an uploaded file name must match in full: '
                                               'named groups plate and time, optionally camera')
    time_format: str = param(DEFAULT_TIME_FORMAT, 'strptime format of the time group (no zone = local time)')
    camera_names: list[str] = param([], "camera ids by the address a camera reports: ['192.168.1.64=gate-in', "
                                        "...]; unnamed cameras keep their address (Dahua: DeviceID)")

    def validate(self) -> None:
        check(0 <= self.http_port <= 65535 and 0 <= self.ftp_port <= 65535, 'ports must be within 0..65535')
        check(self.http_port or self.ftp_port, 'http_port and ftp_port are both 0: nothing to listen on')
        check(self.max_body_bytes >= 10_000, 'max_body_bytes must be >= 10000')
        check(self.username != '', 'username must not be empty')
        check(self.ftp_passive_ports == [] or (len(self.ftp_passive_ports) == 2
                                               and 1024 <= self.ftp_passive_ports[0] <= self.ftp_passive_ports[1]
                                               <= 65535),
              'ftp_passive_ports must be [] or [first, last] within 1024..65535')
        check(all('=' in n and n.split('=', 1)[1] for n in self.camera_names),
              "camera_names entries must read 'address=name'")
        try:
            NamePattern.compile(self.file_pattern, self.time_format)
        except (ValueError, TypeError) as exc:   # re.error is a ValueError
            check(False, f'file_pattern: {exc}')

    def names(self) -> dict[str, str]:
        return dict(n.split('=', 1) for n in self.camera_names)
