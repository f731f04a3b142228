"""Reading back what the exporter wrote: manifest listings, "is this unit already complete?", JSON documents.

Through an injected boto3 S3 client, like the sink; used by self-healing, resumable backfills, `status` and the
Step Functions summary.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .catalogue import Report
from .coverage import ManifestRef, manifests_prefix, parse_manifest_key
from .errors import SinkError
from .sink import S3Sink
from .windows import Window


def list_keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    """Every key under ``prefix``, in S3's (lexicographic) order."""
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"]
    except (ClientError, BotoCoreError) as exc:
        raise SinkError(f"listing s3://{bucket}/{prefix} failed: {exc}") from exc


def list_folders(s3: Any, bucket: str, prefix: str) -> list[str]:
    """The next level of "folders" under ``prefix``."""
    out: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            out += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    except (ClientError, BotoCoreError) as exc:
        raise SinkError(f"listing s3://{bucket}/{prefix} failed: {exc}") from exc
    return out


def manifests(s3: Any, bucket: str, prefix: str, report: str, partner_id: int | None = None) -> list[ManifestRef]:
    """The manifests of one report (of one partner, or of all), parsed from their keys."""
    refs = (parse_manifest_key(prefix, k) for k in list_keys(s3, bucket, manifests_prefix(prefix, report, partner_id)))
    return [r for r in refs if r is not None]


def get_json(s3: Any, bucket: str, key: str) -> Any:
    """A JSON document, or None when there is none under ``key``."""
    found = S3Sink(s3, bucket).get_json(key)
    return found[0] if found else None


def complete(s3: Any, bucket: str, manifest: Any, *, report: Report, partner_id: int, window: Window, key: str) -> bool:
    """True when ``manifest`` records a landed object for exactly this unit and that object is still the one in S3
    (same version, or same ETag, and S3's SHA-256 equal to the one the manifest recorded)."""
    if not isinstance(manifest, Mapping) or manifest.get("status") != "SUCCEEDED":
        return False
    same_unit = (
        manifest.get("report") == report.name
        and manifest.get("partner_id") == partner_id
        and manifest.get("period") == window.period.value
        and manifest.get("window_start") == window.iso_start()
        and manifest.get("window_end") == window.iso_end()
        and manifest.get("s3_uri") == f"s3://{bucket}/{key}"
    )
    recorded = manifest.get("s3")
    if not same_unit or not isinstance(recorded, Mapping):
        return False
    now = S3Sink(s3, bucket).current(key)
    if now is None:
        return False
    if not now.is_version(recorded.get("version_id"), recorded.get("etag")):
        return False
    if now.size is not None and now.size != manifest.get("bytes"):
        return False
    ours, theirs = recorded.get("checksum_sha256"), now.checksum_sha256
    # AWS appends "-<parts>" to a composite checksum; compare the digests
    return not (ours and theirs) or str(ours).split("-")[0] == str(theirs).split("-")[0]
