"""The S3 sink against moto over HTTP: single PUT, multipart, abort on failure, earlier object untouched."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator

import pytest

from kaltura_export.errors import SinkError, TransientKalturaError
from kaltura_export.sink import ABSENT, PreconditionFailed, S3Sink
from local.aws import MotoServer, create_stack

MIB = 1024 * 1024


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    return create_stack(moto_server, '{"ks": "x"}').bucket


def chunks(total: int, size: int = 256 * 1024) -> Iterator[bytes]:
    line = b"1_abcd1234,1_cp000001,s1001,Garcia  Maria,m.garcia@example.edu,Attendee,58.5,0.91\n"
    block = line * (size // len(line) + 1)
    sent = 0
    while sent < total:
        piece = block[: min(size, total - sent)]
        sent += len(piece)
        yield piece


def test_small_body_is_one_put_with_its_sha256(moto_server: MotoServer, bucket: str) -> None:
    s3 = moto_server.client("s3")
    sink = S3Sink(s3, bucket)
    body = b"a,b\n1,2\n"
    landed = sink.upload("k/small.csv", [body[:3], body[3:]])
    assert landed.bytes == len(body) and landed.parts == 1
    assert landed.sha256 == hashlib.sha256(body).hexdigest()
    obj = s3.get_object(Bucket=bucket, Key="k/small.csv")
    assert obj["Body"].read() == body
    assert obj["ContentType"] == "text/csv; charset=utf-8"


def test_large_body_is_a_multipart_upload(moto_server: MotoServer, bucket: str) -> None:
    s3 = moto_server.client("s3")
    sink = S3Sink(s3, bucket, part_size=5 * MIB)
    expected = b"".join(chunks(12 * MIB))
    landed = sink.upload("k/big.csv", chunks(12 * MIB))
    assert landed.parts == 3 and landed.bytes == len(expected)
    assert landed.sha256 == hashlib.sha256(expected).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="k/big.csv")["Body"].read()
    assert got == expected
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_failing_stream_aborts_and_keeps_the_earlier_object(moto_server: MotoServer, bucket: str) -> None:
    s3 = moto_server.client("s3")
    sink = S3Sink(s3, bucket, part_size=5 * MIB)
    sink.upload("k/report.csv", [b"old,data\n"])

    def broken() -> Iterator[bytes]:
        yield from chunks(11 * MIB)  # two parts sent before the failure
        raise TransientKalturaError("cut", code="TRUNCATED_BODY")

    with pytest.raises(TransientKalturaError):
        sink.upload("k/report.csv", broken())
    assert s3.get_object(Bucket=bucket, Key="k/report.csv")["Body"].read() == b"old,data\n"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    versions = s3.list_object_versions(Bucket=bucket, Prefix="k/report.csv").get("Versions", [])
    assert len(versions) == 1


def test_a_small_failing_stream_writes_nothing(moto_server: MotoServer, bucket: str) -> None:
    s3 = moto_server.client("s3")
    sink = S3Sink(s3, bucket)

    def broken() -> Iterator[bytes]:
        yield b"a,b\n"
        raise TransientKalturaError("cut", code="TRUNCATED_BODY")

    with pytest.raises(TransientKalturaError):
        sink.upload("k/none.csv", broken())
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="k/none.csv")


def test_s3_errors_become_sink_errors_naming_the_key(moto_server: MotoServer) -> None:
    sink = S3Sink(moto_server.client("s3"), "no-such-bucket-" + os.urandom(4).hex())
    with pytest.raises(SinkError, match=r"writing s3://no-such-bucket-\w+/k\.csv failed: NoSuchBucket"):
        sink.upload("k.csv", [b"x\n"])


def test_json_documents_round_trip(moto_server: MotoServer, bucket: str) -> None:
    sink = S3Sink(moto_server.client("s3"), bucket)
    assert sink.get_json("m/none.json") is None
    written = sink.put_json("m/doc.json", {"rows": 3, "name": "Zoë"})
    got = sink.get_json("m/doc.json")
    assert got is not None and got[0] == {"rows": 3, "name": "Zoë"} and got[1] == written


def test_writes_are_conditional_on_what_was_there(moto_server: MotoServer, bucket: str) -> None:
    s3 = moto_server.client("s3")
    sink = S3Sink(s3, bucket)
    assert sink.current("k/c.csv") is None
    first = sink.upload("k/c.csv", [b"v1\n"], expect=ABSENT)
    with pytest.raises(PreconditionFailed):
        sink.upload("k/c.csv", [b"v2\n"], expect=ABSENT)  # someone landed it first
    now = sink.current("k/c.csv")
    assert now is not None and now.version_id == first.version_id
    sink.upload("k/c.csv", [b"v2\n"], expect=now)
    with pytest.raises(PreconditionFailed):
        sink.upload("k/c.csv", [b"v3\n"], expect=now)  # stale: v2 replaced it
    assert s3.get_object(Bucket=bucket, Key="k/c.csv")["Body"].read() == b"v2\n"
    doc = sink.put_json("m/c.json", {"v": 1}, expect=ABSENT)
    with pytest.raises(PreconditionFailed):
        sink.put_json("m/c.json", {"v": 2}, expect=ABSENT)
    sink.put_json("m/c.json", {"v": 2}, expect=doc)


def test_a_conditional_multipart_upload_that_lost_is_aborted(moto_server: MotoServer, bucket: str) -> None:
    s3 = moto_server.client("s3")
    sink = S3Sink(s3, bucket, part_size=5 * MIB)
    sink.upload("k/race.csv", [b"winner\n"])
    with pytest.raises(PreconditionFailed):
        sink.upload("k/race.csv", chunks(11 * MIB), expect=ABSENT)
    assert s3.get_object(Bucket=bucket, Key="k/race.csv")["Body"].read() == b"winner\n"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_s3_checksums_match_the_bytes_sent(moto_server: MotoServer, bucket: str) -> None:
    s3 = moto_server.client("s3")
    small = S3Sink(s3, bucket).upload("k/s.csv", [b"a,b\n"])
    assert small.checksum_type == "FULL_OBJECT"
    assert small.checksum_sha256 == base64.b64encode(hashlib.sha256(b"a,b\n").digest()).decode()
    big = S3Sink(s3, bucket, part_size=5 * MIB).upload("k/b.csv", chunks(11 * MIB))
    body = b"".join(chunks(11 * MIB))
    parts = [body[i : i + 5 * MIB] for i in range(0, len(body), 5 * MIB)]
    composite = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    assert big.checksum_type == "COMPOSITE" and big.parts == 3 and big.part_size == 5 * MIB
    # AWS writes "<base64>-3"; moto leaves the suffix out
    assert big.checksum_sha256 is not None
    assert big.checksum_sha256.split("-")[0] == base64.b64encode(composite).decode()
