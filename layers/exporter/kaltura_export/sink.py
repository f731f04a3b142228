"""S3 sink: stream a CSV into one object that appears only when complete; JSON documents beside it.

Bodies under one part (5 MiB) go up as a single PUT. Larger ones use a multipart upload whose parts are sent
while the next one is being produced, with a bound on parts in flight (flat memory). On any failure
the upload is aborted, so an earlier object under the key stays as it was. Every write can be made
conditional (``IfMatch``/``IfNoneMatch``) on what was there when the unit started, so two runs of the
same window cannot interleave their objects and manifests. S3 checks a SHA-256 of every part we send
and reports its own checksum, which is compared with ours before the write is called done.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import ExportError, SinkError

#: S3's minimum part size: the fewest bytes held per part in flight, while parts still overlap the download
PART_SIZE = 5 * 1024 * 1024
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
#: ``expect`` value meaning "only if nothing is there yet"
ABSENT = "absent"


class PreconditionFailed(ExportError):
    """Someone else wrote the key after we looked: our write did not happen."""

    code = "SUPERSEDED"
    action = "nothing: a concurrent run landed this window; its object and manifest stand"


@dataclass(frozen=True)
class Landed:
    """What S3 holds now under ``key``."""

    key: str
    bytes: int
    sha256: str
    etag: str
    version_id: str | None
    parts: int
    part_size: int
    #: S3's own checksum, base64, and its type (FULL_OBJECT for one PUT, COMPOSITE for multipart)
    checksum_sha256: str | None
    checksum_type: str


@dataclass(frozen=True)
class Current:
    """The version of a key a write is conditional on."""

    etag: str
    version_id: str | None
    size: int | None = None
    #: S3's own SHA-256 (base64; "-<parts>" may follow a composite one), when the object was written with one
    checksum_sha256: str | None = None

    def is_version(self, version_id: str | None, etag: str | None) -> bool:
        """Whether this is the object recorded as (version_id, etag): by version when both have one, else ETag."""
        if self.version_id and version_id:
            return self.version_id == version_id
        return self.etag.strip('"') == (etag or "").strip('"')


class S3Sink:
    """Writes to one bucket through an injected boto3 S3 client."""

    def __init__(self, s3: Any, bucket: str, *, part_size: int = PART_SIZE, parts_in_flight: int = 2) -> None:
        self._s3 = s3
        self.bucket = bucket
        self._part_size = part_size
        self._parts_in_flight = parts_in_flight

    def current(self, key: str) -> Current | None:
        """The object under ``key`` now, or None."""
        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except (ClientError, BotoCoreError) as exc:
            if _missing(exc):
                return None
            raise self._failed("reading", key, exc) from exc
        return Current(head["ETag"], _version(head), head.get("ContentLength"), head.get("ChecksumSHA256"))

    def upload(
        self,
        key: str,
        chunks: Iterable[bytes],
        *,
        content_type: str = CSV_CONTENT_TYPE,
        expect: Current | str | None = None,
    ) -> Landed:
        """Stream ``chunks`` into ``key``; the object exists only once every byte is in.

        ``expect``: the version this write replaces (``ABSENT`` for none); None writes unconditionally.
        """
        condition = _condition(expect)
        digest = hashlib.sha256()
        size = 0
        # chunks are kept as they come and joined once per part: one copy, no growing bytearray
        pending: list[bytes] = []
        pending_size = 0
        upload: _Multipart | None = None
        try:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                pending.append(chunk)
                pending_size += len(chunk)
                while pending_size >= self._part_size:
                    if upload is None:
                        upload = _Multipart(self._s3, self.bucket, key, content_type, self._parts_in_flight)
                    last = pending.pop()
                    cut = len(last) - (pending_size - self._part_size)
                    pending.append(last[:cut])
                    part = b"".join(pending)
                    pending = [last[cut:]] if cut < len(last) else []
                    pending_size -= len(part)
                    del last
                    upload.send(part)
                    del part
            buf = b"".join(pending)
            del pending
            if upload is None:
                resp = self._s3.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=bytes(buf),
                    ContentType=content_type,
                    ChecksumAlgorithm="SHA256",
                    **condition,
                )
                landed = Landed(
                    key,
                    size,
                    digest.hexdigest(),
                    resp["ETag"].strip('"'),
                    _version(resp),
                    1,
                    self._part_size,
                    resp.get("ChecksumSHA256"),
                    "FULL_OBJECT",
                )
                expected = base64.b64encode(digest.digest()).decode()
            else:
                if buf:
                    upload.send(bytes(buf))
                resp = upload.complete(condition)
                reported = resp.get("ChecksumSHA256") or self._reported_checksum(key, _version(resp))
                landed = Landed(
                    key,
                    size,
                    digest.hexdigest(),
                    resp["ETag"].strip('"'),
                    _version(resp),
                    upload.count,
                    self._part_size,
                    reported,
                    "COMPOSITE",
                )
                expected = upload.composite_checksum()
        except BaseException as exc:
            if upload is not None:
                upload.abort()
            if isinstance(exc, ClientError | BotoCoreError):
                raise self._failed("writing", key, exc) from exc
            raise
        # AWS appends "-<parts>" to a composite checksum; moto does not
        if landed.checksum_sha256 is not None and landed.checksum_sha256.split("-")[0] != expected:
            raise SinkError(f"s3://{self.bucket}/{key}: S3's SHA-256 differs from the bytes sent")
        return landed

    def put_json(self, key: str, document: Any, *, expect: Current | str | None = None) -> Current:
        """Write a small JSON document (manifest, run summary), optionally conditional on its current version."""
        body = json.dumps(document, indent=2, sort_keys=False).encode()
        try:
            resp = self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", **_condition(expect)
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._failed("writing", key, exc) from exc
        return Current(resp["ETag"], _version(resp))

    def get_json(self, key: str) -> tuple[Any, Current] | None:
        """A JSON document and its version, or None when there is none under ``key``."""
        try:
            resp = self._s3.get_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            if _missing(exc):
                return None
            raise self._failed("reading", key, exc) from exc
        with resp["Body"] as body:
            try:
                document = json.loads(body.read())
            except ValueError:
                document = None
        return document, Current(resp["ETag"], _version(resp))

    def _failed(self, verb: str, key: str, exc: ClientError | BotoCoreError) -> ExportError:
        """The domain error for a failed S3 call on ``key``."""
        if isinstance(exc, ClientError) and _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
            return PreconditionFailed(f"s3://{self.bucket}/{key} changed while this unit ran")
        return SinkError(f"{verb} s3://{self.bucket}/{key} failed: {_describe(exc)}")

    def _reported_checksum(self, key: str, version_id: str | None) -> str | None:
        args = {"VersionId": version_id} if version_id else {}
        try:
            attrs = self._s3.get_object_attributes(Bucket=self.bucket, Key=key, ObjectAttributes=["Checksum"], **args)
        except (ClientError, BotoCoreError):
            return None
        checksum: str | None = attrs.get("Checksum", {}).get("ChecksumSHA256")
        return checksum


class _Multipart:
    """One multipart upload with a bounded number of parts in flight."""

    def __init__(self, s3: Any, bucket: str, key: str, content_type: str, in_flight: int) -> None:
        self._s3, self._bucket, self._key = s3, bucket, key
        self._upload_id: str = s3.create_multipart_upload(
            Bucket=bucket, Key=key, ContentType=content_type, ChecksumAlgorithm="SHA256"
        )["UploadId"]
        self._pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="s3-part")
        self._slots = threading.BoundedSemaphore(in_flight)
        self._futures: list[Future[dict[str, Any]]] = []
        self._digests: list[bytes] = []
        self.count = 0

    def send(self, body: bytes) -> None:
        # waits while `in_flight` parts are still uploading: memory stays at a few parts whatever the size
        self._slots.acquire()
        for f in self._futures:
            error = f.exception() if f.done() else None
            if error is not None:
                self._slots.release()
                raise error
        self.count += 1
        digest = hashlib.sha256(body).digest()
        self._digests.append(digest)
        future = self._pool.submit(self._part, self.count, body, base64.b64encode(digest).decode())
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)

    def _part(self, number: int, body: bytes, checksum: str) -> dict[str, Any]:
        resp = self._s3.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
            ChecksumSHA256=checksum,
        )
        return {"PartNumber": number, "ETag": resp["ETag"], "ChecksumSHA256": resp.get("ChecksumSHA256", checksum)}

    def composite_checksum(self) -> str:
        """S3's composite SHA-256 of a multipart object: the hash of the parts' hashes."""
        return base64.b64encode(hashlib.sha256(b"".join(self._digests)).digest()).decode()

    def complete(self, condition: dict[str, str]) -> dict[str, Any]:
        parts = [f.result() for f in self._futures]
        self._pool.shutdown()
        resp: dict[str, Any] = self._s3.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": parts},
            **condition,
        )
        return resp

    def abort(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        # the bucket's lifecycle rule removes an upload we could not abort; the object never appeared
        with contextlib.suppress(ClientError, BotoCoreError):
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)


def _condition(expect: Current | str | None) -> dict[str, str]:
    if expect is None:
        return {}
    if expect == ABSENT:
        return {"IfNoneMatch": "*"}
    assert isinstance(expect, Current)
    return {"IfMatch": expect.etag}


def _version(resp: dict[str, Any]) -> str | None:
    version = resp.get("VersionId")
    return None if version in (None, "null") else str(version)


def _missing(exc: ClientError | BotoCoreError) -> bool:
    return isinstance(exc, ClientError) and _code(exc) in ("404", "NoSuchKey", "NotFound")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".strip()
    return type(exc).__name__
