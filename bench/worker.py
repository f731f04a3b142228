"""One measurement in a fresh interpreter: ``python bench/worker.py '<json spec>'``.

Started by bench/bench.py, never imported by it. It sets itself up (imports, AWS clients, a warm-up call per
client), then times exactly one thing and prints one line ``BENCH-RESULT {json}`` on stdout:

- ``unit``:     the exporter's real path, ``kaltura_export.run.handle`` with a unit event (one report, one window:
                 secret, session, fetch, normalise, upload, manifest);
- ``run``:      ``handle`` with a scheduled or manual event (every unit of the run, run summary, SNS notification);
- ``download``: the same report call as the exporter's, body streamed to /dev/null (requests);
- ``naive``:    ``requests.post(...).content`` then one ``put_object`` of those bytes (the raw transfer, and the
                 naive exporter of the memory figure).

Reported: wall seconds, CPU seconds (user, sys; every thread of this process), peak RSS before and after the
measured section (VmHWM, KiB), and what the code returned. Nothing here is imported at bench start-up, and it
never imports moto (its memory would count).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _rusage() -> resource.struct_rusage:
    return resource.getrusage(resource.RUSAGE_SELF)


def peak_rss_kib() -> int:
    """This process's peak RSS (VmHWM). Not ru_maxrss: on Linux that carries over the RSS of the parent the
    process was forked from, across exec, so a child of a big parent would report the parent's size."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _clients(spec: dict[str, Any]) -> tuple[Any, Any, Any]:
    import boto3
    from botocore.config import Config

    # the function's own client configuration (functions/export/app.py)
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, max_pool_connections=32)
    session = boto3.session.Session()
    s3 = session.client("s3", config=config)
    sm = session.client("secretsmanager", config=config)
    sns = session.client("sns", config=config)
    # warm-up: the first call of a client loads its models and endpoint rules; a warm Lambda container has done so
    s3.head_bucket(Bucket=spec["bucket"])
    if spec.get("secret_id"):
        sm.get_secret_value(SecretId=spec["secret_id"])
    if spec.get("topic_arn"):
        sns.get_topic_attributes(TopicArn=spec["topic_arn"])
    return s3, sm, sns


def _prepare_exporter(spec: dict[str, Any]) -> Any:
    """The exporter's settings and services, built as the function builds them; returns a callable to time."""
    # layer: another copy of the layer to measure (bench.py --layer, e.g. a candidate fix); default the repository's
    for p in (ROOT / "functions" / "export", Path(spec.get("layer") or ROOT / "layers" / "exporter")):
        sys.path.insert(0, str(p))
    from kaltura_export.run import Services, handle
    from kaltura_export.settings import Settings

    s3, sm, sns = _clients(spec)

    def read_secret(name: str, force: bool) -> str | bytes:
        value = sm.get_secret_value(SecretId=name)
        return value["SecretString"] if "SecretString" in value else value["SecretBinary"]

    settings = Settings.from_env(os.environ)
    # part_size: an experiment knob of the bench (--part-size); None keeps the function's default
    services = Services(s3=s3, sns=lambda: sns, read_secret=read_secret, part_size=spec.get("part_size"))
    event = spec["event"]

    def measured() -> Any:
        try:
            return handle(event, settings, services)
        except Exception as exc:  # a FAILED run raises after notifying: report what it said
            summary = getattr(exc, "summary", None)
            out: dict[str, Any] = {"exception": f"{type(exc).__name__}: {exc}"[:500]}
            if summary is not None:
                out["summary"] = summary.to_dict()
            return out

    return measured


def _report_request(spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The URL and form of the report call the exporter makes (KS in the body), for the raw baselines."""
    url = f"{spec['service_url']}/api_v3/service/report/action/getCsvFromStringParams"
    form = {
        "format": 1,
        "clientTag": "kaltura-export",
        "ks": spec["ks"],
        "id": spec["report_id"],
        "params": spec["params"],
    }
    return url, form


def _prepare_download(spec: dict[str, Any]) -> Any:
    import requests

    http = requests.Session()
    url, form = _report_request(spec)

    def measured() -> Any:
        size = 0
        with (
            open(os.devnull, "wb") as sink,
            http.post(url, data=form, stream=True, timeout=(10, 660)) as resp,
        ):
            resp.raise_for_status()
            for chunk in resp.iter_content(256 * 1024):
                sink.write(chunk)
                size += len(chunk)
        return {"bytes": size}

    return measured


def _prepare_naive(spec: dict[str, Any]) -> Any:
    import requests

    s3, _, _ = _clients(spec)
    http = requests.Session()
    url, form = _report_request(spec)

    def measured() -> Any:
        resp = http.post(url, data=form, timeout=(10, 660))
        resp.raise_for_status()
        body = resp.content
        s3.put_object(Bucket=spec["bucket"], Key=spec["key"], Body=body, ContentType="text/csv; charset=utf-8")
        return {"bytes": len(body)}

    return measured


PREPARE = {"unit": _prepare_exporter, "run": _prepare_exporter, "download": _prepare_download, "naive": _prepare_naive}


@contextmanager
def _profiling(spec: dict[str, Any]) -> Iterator[None]:
    """With ``profile`` in the spec: pyinstrument (time), cProfile (time) or memray (memory at its peak)."""
    kind = spec.get("profile")
    if not kind:
        yield
        return
    out = Path(spec["profile_out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
        try:
            yield
        finally:
            profiler.stop()
        out.with_suffix(".txt").write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        out.with_suffix(".html").write_text(profiler.output_html())
    elif kind == "cprofile":
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        try:
            yield
        finally:
            prof.disable()
        prof.dump_stats(str(out.with_suffix(".prof")))
        with out.with_suffix(".txt").open("w") as f:
            f.write("=== by own time (where the CPU goes) ===\n")
            pstats.Stats(prof, stream=f).sort_stats("tottime").print_stats(30)
            f.write("=== by cumulative time ===\n")
            pstats.Stats(prof, stream=f).sort_stats("cumulative").print_stats(40)
    elif kind == "memray":
        import memray

        capture = out.with_suffix(".bin")
        capture.unlink(missing_ok=True)
        with memray.Tracker(str(capture)):
            yield
    else:
        raise ValueError(f"unknown profiler {kind!r}")


def main() -> int:
    spec = json.loads(sys.argv[1])
    measured = PREPARE[spec["mode"]](spec)

    peak_before = peak_rss_kib()
    before = _rusage()
    t0 = time.perf_counter()
    with _profiling(spec):
        result = measured()
    wall = time.perf_counter() - t0
    after = _rusage()
    peak_after = peak_rss_kib()

    report = {
        "wall": wall,
        "cpu_user": after.ru_utime - before.ru_utime,
        "cpu_sys": after.ru_stime - before.ru_stime,
        "maxrss_before_kib": peak_before,
        "maxrss_after_kib": peak_after,
        "result": result,
    }
    sys.stdout.flush()
    print("BENCH-RESULT " + json.dumps(report, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
