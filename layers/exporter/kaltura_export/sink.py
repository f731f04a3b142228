"""S3 sink: stream a CSV into one object that appears only when complete; JSON documents beside it.

Bodies under one part go up as a single PUT. Larger ones use a multipart upload whose parts are sent
while the next one is being produced, with a bound on parts in flight (flat memory). On any failure
the upload is aborted, so an earlier object under the key stays as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import SinkError

PART_SIZE = 8 * 1024 * 1024
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


@dataclass(frozen=True)
class Landed:
    """What S3 holds now under ``key``."""

    key: str
    bytes: int
    sha256: str
    etag: str
    version_id: str | None
    parts: int


class S3Sink:
    """Writes to one bucket through an injected boto3 S3 client."""

    def __init__(self, s3: Any, bucket: str, *, part_size: int = PART_SIZE, parts_in_flight: int = 2) -> None:
        self._s3 = s3
        self.bucket = bucket
        self._part_size = part_size
        self._parts_in_flight = parts_in_flight

    def upload(self, key: str, chunks: Iterable[bytes], *, content_type: str = CSV_CONTENT_TYPE) -> Landed:
        """Stream ``chunks`` into ``key``; the object exists only once every byte is in."""
        digest = hashlib.sha256()
        size = 0
        buf = bytearray()
        upload: _Multipart | None = None
        try:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                buf += chunk
                while len(buf) >= self._part_size:
                    if upload is None:
                        upload = _Multipart(self._s3, self.bucket, key, content_type, self._parts_in_flight)
                    upload.send(bytes(buf[: self._part_size]))
                    del buf[: self._part_size]
            if upload is None:
                resp = self._s3.put_object(Bucket=self.bucket, Key=key, Body=bytes(buf), ContentType=content_type)
                return Landed(key, size, digest.hexdigest(), resp["ETag"].strip('"'), resp.get("VersionId"), 1)
            if buf:
                upload.send(bytes(buf))
            resp = upload.complete()
            return Landed(key, size, digest.hexdigest(), resp["ETag"].strip('"'), resp.get("VersionId"), upload.count)
        except BaseException as exc:
            if upload is not None:
                upload.abort()
            if isinstance(exc, ClientError | BotoCoreError):
                raise SinkError(f"writing s3://{self.bucket}/{key} failed: {_describe(exc)}") from exc
            raise

    def put_json(self, key: str, document: Any) -> None:
        """Write a small JSON document (manifest, run summary)."""
        body = json.dumps(document, indent=2, sort_keys=False).encode()
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        except (ClientError, BotoCoreError) as exc:
            raise SinkError(f"writing s3://{self.bucket}/{key} failed: {_describe(exc)}") from exc

    def get_json(self, key: str) -> Any | None:
        """A JSON document, or None when there is none under ``key``."""
        try:
            resp = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise SinkError(f"reading s3://{self.bucket}/{key} failed: {_describe(exc)}") from exc
        except BotoCoreError as exc:
            raise SinkError(f"reading s3://{self.bucket}/{key} failed: {_describe(exc)}") from exc
        with resp["Body"] as body:
            return json.loads(body.read())


class _Multipart:
    """One multipart upload with a bounded number of parts in flight."""

    def __init__(self, s3: Any, bucket: str, key: str, content_type: str, in_flight: int) -> None:
        self._s3, self._bucket, self._key = s3, bucket, key
        self._upload_id: str = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)["UploadId"]
        self._pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="s3-part")
        self._slots = threading.BoundedSemaphore(in_flight)
        self._futures: list[Future[dict[str, Any]]] = []
        self.count = 0

    def send(self, body: bytes) -> None:
        # waits while `in_flight` parts are still uploading: memory stays at a few parts whatever the size
        self._slots.acquire()
        for f in self._futures:
            if f.done() and f.exception() is not None:
                self._slots.release()
                raise f.exception()  # type: ignore[misc]
        self.count += 1
        future = self._pool.submit(self._part, self.count, body)
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)

    def _part(self, number: int, body: bytes) -> dict[str, Any]:
        resp = self._s3.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": resp["ETag"]}

    def complete(self) -> dict[str, Any]:
        parts = [f.result() for f in self._futures]
        self._pool.shutdown()
        resp: dict[str, Any] = self._s3.complete_multipart_upload(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": parts}
        )
        return resp

    def abort(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        # the bucket's lifecycle rule removes an upload we could not abort; the object never appeared
        with contextlib.suppress(ClientError, BotoCoreError):
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".strip()
    return type(exc).__name__
