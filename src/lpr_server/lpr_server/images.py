"""Where the server keeps event images: a local directory (the default) or an
S3-compatible object store.

Keys are relative paths, ``<device>/<YYYY>/<MM>/<DD>/<event_id>_<kind>.jpg``
(see ``image_key``), the same in both stores; the database keeps the key. A
key is a function of the event, so a resent event overwrites its own images:
one file or object per image however often it is uploaded.

Errors are ``OSError``s (the protocol answers them ``retry: true``):
``ImageMissing`` for a key that is not there, ``ImageStoreError`` for a store
that cannot be reached or refuses.
"""
from __future__ import annotations

import abc
import base64
import datetime as dt
import hashlib
import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

ENV = 'LPR_SERVER_'     # prefix of the server's environment variables


class ImageStoreError(OSError):
    """The image store cannot be reached, or refused the request."""


class ImageMissing(FileNotFoundError):
    """No image under that key."""


def image_key(device: str, best_seen: dt.datetime, event_id: str, kind: str) -> str:
    day = best_seen.astimezone(dt.timezone.utc)
    return f'{device}/{day:%Y/%m/%d}/{event_id}_{kind}.jpg'


def checked_key(key: str) -> str:
    """``key`` if it is a plain relative path (no ``..``, no leading ``/``)."""
    if '\\' in key or any(part in ('', '.', '..') for part in key.split('/')):
        raise ValueError(f'invalid image key {key!r}')
    return key


class Images(abc.ABC):
    @abc.abstractmethod
    def put(self, key: str, blob: bytes) -> None:
        """Store ``blob`` under ``key``, atomically; an existing one is replaced."""

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """The image under ``key``; ``ImageMissing`` if there is none."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; no error if it is not there."""

    def check(self) -> None:
        """Raise ``ImageStoreError`` unless the store can be used (at start-up)."""


class LocalImages(Images):
    """Files under one directory (shared, e.g. NFS, by several server processes)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def __str__(self) -> str:
        return str(self.root)

    def path(self, key: str) -> Path:
        path = self.root / checked_key(key)
        if not path.resolve().is_relative_to(self.root.resolve()):     # a symlink out of the directory
            raise ValueError(f'image key {key!r} leaves the image directory')
        return path

    def put(self, key: str, blob: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f'.{path.name}.{secrets.token_hex(6)}.tmp')   # unique across hosts sharing the dir
        try:
            with open(tmp, 'wb') as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise ImageMissing(f'no image {key}') from None

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


def _secret(name: str, environ) -> str:
    """$LPR_SERVER_<name>, else the content of the file named by $LPR_SERVER_<name>_FILE."""
    if environ.get(ENV + name):
        return environ[ENV + name]
    path = environ.get(f'{ENV}{name}_FILE')
    return Path(path).read_text().strip() if path else ''


def s3_credentials(environ=os.environ) -> dict[str, str]:
    """boto3 client keyword arguments from the environment; empty: boto3's own
    chain (AWS_* variables, ~/.aws, an instance role)."""
    key_id = _secret('S3_ACCESS_KEY_ID', environ)
    secret = _secret('S3_SECRET_ACCESS_KEY', environ)
    if bool(key_id) != bool(secret):
        raise ImageStoreError(f'give both {ENV}S3_ACCESS_KEY_ID and {ENV}S3_SECRET_ACCESS_KEY '
                              '(or their _FILE variants), or neither')
    return {'aws_access_key_id': key_id, 'aws_secret_access_key': secret} if key_id else {}


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix without slashes at its ends)."""
    parts = urlsplit(url)
    if parts.scheme != 's3' or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f'not an s3://bucket/prefix URL: {url!r}')
    prefix = parts.path.strip('/')
    if prefix:
        checked_key(prefix)
    return parts.netloc, prefix


class S3Images(Images):
    """Objects in one bucket, under an optional prefix, on AWS S3 or any
    S3-compatible endpoint (path-style addressing when an endpoint is given)."""

    def __init__(self, bucket: str, prefix: str = '', endpoint_url: str = '', region: str = '',
                 credentials: dict[str, str] | None = None):
        import boto3
        from botocore.config import Config
        self.bucket, self.prefix, self.endpoint_url = bucket, prefix.strip('/'), endpoint_url
        config = Config(connect_timeout=5, read_timeout=30, retries={'max_attempts': 3, 'mode': 'standard'},
                        s3={'addressing_style': 'path' if endpoint_url else 'auto'},
                        # Checksums only where S3 requires them: many S3-compatible stores
                        # refuse the newer default (aws-chunked CRC trailers). Puts send Content-MD5.
                        request_checksum_calculation='when_required',
                        response_checksum_validation='when_required')
        creds = s3_credentials() if credentials is None else credentials
        self._client = boto3.session.Session().client(
            's3', endpoint_url=endpoint_url or None, region_name=region or None, config=config, **creds)

    @classmethod
    def from_url(cls, url: str, endpoint_url: str = '', region: str = '') -> 'S3Images':
        bucket, prefix = parse_s3_url(url)
        return cls(bucket, prefix, endpoint_url, region)

    def __str__(self) -> str:
        where = f' at {self.endpoint_url}' if self.endpoint_url else ''
        return f's3://{self.bucket}/{self.prefix}{where}'

    def object_key(self, key: str) -> str:
        key = checked_key(key)
        return f'{self.prefix}/{key}' if self.prefix else key

    def put(self, key: str, blob: bytes) -> None:
        md5 = base64.b64encode(hashlib.md5(blob).digest()).decode()   # the store verifies the upload
        self._call('put_object', key, Body=blob, ContentMD5=md5, ContentType='image/jpeg')

    def get(self, key: str) -> bytes:
        body = self._call('get_object', key)['Body']
        try:
            return body.read()
        except Exception as exc:   # noqa: BLE001 - a connection lost mid-body
            raise ImageStoreError(f'reading {self}/{key}: {exc}') from exc
        finally:
            body.close()

    def delete(self, key: str) -> None:
        self._call('delete_object', key)

    def check(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise ImageStoreError(f'image store {self}: {exc}') from exc

    def _call(self, operation: str, key: str, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            return getattr(self._client, operation)(Bucket=self.bucket, Key=self.object_key(key), **kwargs)
        except ClientError as exc:
            if exc.response.get('Error', {}).get('Code') in ('NoSuchKey', '404'):
                raise ImageMissing(f'no image {key}') from None
            raise ImageStoreError(f'{operation} {self}/{key}: {exc}') from exc
        except BotoCoreError as exc:
            raise ImageStoreError(f'{operation} {self}/{key}: {exc}') from exc


def open_images(where: str | Path, endpoint_url: str = '', region: str = '') -> Images:
    """``s3://bucket/prefix`` (with ``endpoint_url`` for a store other than AWS), else a directory."""
    if re.match(r'[A-Za-z][A-Za-z0-9+.-]+:', str(where)):   # a URL: s3 only (no typo becomes a directory)
        return S3Images.from_url(str(where), endpoint_url, region)
    return LocalImages(where)
