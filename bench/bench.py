"""``make bench``: the exporter's performance figures, each a ratio measured side by side in one run.

The Kaltura emulator and a moto server run in processes of their own; every measured thing runs in a fresh
interpreter (bench/worker.py), so neither the servers' work nor an earlier measurement's memory is counted.
Prints a table and writes the same figures to bench/results/latest.json. See bench/README.md.

    python bench/bench.py [--only 1,3] [--quick] [--repeats N] [--profile] [--no-build] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "exporter")]

from kaltura_export.settings import VARIABLES  # noqa: E402
from local.env import fake_aws_env as local_fake_aws_env  # noqa: E402

RESULTS = BENCH / "results"
LOGS = RESULTS / "logs"
PY = sys.executable
WORKER = str(BENCH / "worker.py")

PARTNER_ID = 4242
MB = 1_000_000
#: every unit figure uses the attendees report (6001) of one monthly window, made bigger with the emulator's scale
MONTH = ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", 1793491200, 1796083200)
#: figure 4: the scheduled run's day (events/scheduled.json with LOOKBACK=1) and a 30-day backfill
DAY = (1796169600, 1796256000)
SCHEDULED_EVENT = {"scheduled_time": "2026-12-03T02:00:00Z", "execution_id": "bench"}
BACKFILL_EVENT = {"from": "2026-11-01", "to": "2026-11-30"}
#: the row cap raised together in the emulator and in ROW_CAP, so the large sizes are complete results
ROW_CAP = 2_000_000

#: what the exporter reads (kept out of the workers' environment unless a figure sets it), and AWS overrides
EXPORTER_VARS = (*VARIABLES, "AWS_PROFILE", "AWS_ENDPOINT_URL")


def fake_aws_env() -> dict[str, str]:
    """What every entry point of the project sets (nothing may reach real AWS), plus the bench's namespace."""
    return {
        **local_fake_aws_env(),
        "POWERTOOLS_SERVICE_NAME": "kaltura-export",
        "POWERTOOLS_METRICS_NAMESPACE": "KalturaExportBench",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in EXPORTER_VARS}
    env.update(fake_aws_env())
    env.pop("PYTHONPATH", None)
    return env


os.environ.update(fake_aws_env())
for _var in EXPORTER_VARS:
    os.environ.pop(_var, None)


# ----------------------------------------------------------------------------------------------- results


@dataclass
class Figure:
    number: str
    name: str
    measured: str = ""
    ratio: float | None = None
    target: float | None = None
    #: "<=" or "<"
    op: str = "<="
    met: bool | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def judge(self) -> None:
        if self.ratio is None or self.target is None:
            self.met = None
        else:
            self.met = self.ratio <= self.target if self.op == "<=" else self.ratio < self.target

    def to_dict(self) -> dict[str, Any]:
        return {
            "figure": self.number,
            "name": self.name,
            "measured": self.measured,
            "ratio": None if self.ratio is None else round(self.ratio, 4),
            "target": None if self.target is None else f"{self.op} {self.target:g}",
            "met": self.met,
            "note": self.note,
            "details": self.details,
        }


def median(values: list[float]) -> float:
    return statistics.median(values)


def mb(n: float) -> str:
    return f"{n / MB:.1f} MB"


# ----------------------------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A child process we started; stopped by its own pid only."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], stdout: Any) -> None:
        self.name = name
        LOGS.mkdir(parents=True, exist_ok=True)
        self._log = (LOGS / f"{name}.log").open("wb")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=stdout, stderr=self._log, start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def start_emulator(admin_secret: str) -> tuple[Server, str]:
    argv = [
        PY,
        "-m",
        "local.kaltura_emulator",
        "--port",
        "0",
        "--json",
        "--partner-id",
        str(PARTNER_ID),
        "--admin-secret",
        admin_secret,
        "--row-cap",
        str(ROW_CAP),
    ]
    server = Server("emulator", argv, base_env(), subprocess.PIPE)
    assert server.proc.stdout is not None
    ready, _, _ = select.select([server.proc.stdout], [], [], 30)
    if not ready:
        server.stop()
        raise RuntimeError("the Kaltura emulator did not start within 30 s (see bench/results/logs/emulator.log)")
    line = server.proc.stdout.readline()
    info = json.loads(line)
    return server, str(info["url"])


def start_moto() -> tuple[Server, str]:
    import requests

    console = Path(PY).parent / "moto_server"
    for _ in range(3):
        port = free_port()
        argv = [str(console)] if console.exists() else [PY, "-m", "moto.server"]
        server = Server("moto", [*argv, "-H", "127.0.0.1", "-p", str(port)], base_env(), subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.proc.poll() is None:
            try:
                requests.get(f"{url}/moto-api/reset-auth", timeout=1)
                return server, url
            except requests.RequestException:
                time.sleep(0.2)
        server.stop()
    raise RuntimeError("the moto server did not start (see bench/results/logs/moto.log)")


# ----------------------------------------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick: bool = args.quick
        self.repeats: int = args.repeats or (1 if self.quick else 3)
        self.figures: list[Figure] = []
        self._seq = 0
        self.servers: list[Server] = []

    # -- set-up ------------------------------------------------------------------------------------------------

    def setup(self) -> None:
        import boto3
        import requests

        self.http = requests.Session()
        self.admin_secret = secrets.token_hex(16)
        emu, self.emu_url = start_emulator(self.admin_secret)
        self.servers.append(emu)
        moto, self.moto_url = start_moto()
        self.servers.append(moto)

        def client(service: str) -> Any:
            return boto3.client(service, endpoint_url=self.moto_url, region_name="us-east-1")

        self.s3 = client("s3")
        self.bucket = f"kx-bench-{secrets.token_hex(4)}"
        self.s3.create_bucket(Bucket=self.bucket)
        # as the template's bucket: versioned
        self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        self.topic_arn = client("sns").create_topic(Name=self.bucket)["TopicArn"]
        secret = {"partner_id": PARTNER_ID, "admin_secret": self.admin_secret, "user_id": "bench", "expiry": 86400}
        self.secret_id = client("secretsmanager").create_secret(
            Name=f"{self.bucket}/kaltura", SecretString=json.dumps(secret)
        )["ARN"]
        self.ks = self.control(mint_ks={"expiry": 86400})["ks"]

        sys.path.insert(0, str(ROOT / "layers" / "exporter"))
        from kaltura_export.catalogue import ATTENDEES, ROOMS, build_params

        self.attendees_params = build_params(ATTENDEES, MONTH[2], MONTH[3], {})[0]
        self.rooms_day_params = build_params(ROOMS, DAY[0], DAY[1], {})[0]

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def control(self, **payload: Any) -> dict[str, Any]:
        resp = self.http.post(f"{self.emu_url}/_emulator/control", data=json.dumps(payload), timeout=30)
        resp.raise_for_status()
        result: dict[str, Any] = resp.json()
        return result

    def warm(self, report_id: int, params: str) -> int:
        """Have the emulator compute (and cache) a body's length, so no measured call pays for that pass."""
        resp = self.http.head(
            f"{self.emu_url}/api_v3/service/report/action/getCsvFromStringParams",
            params={"ks": self.ks, "id": report_id, "params": params, "format": 1},
            timeout=600,
        )
        resp.raise_for_status()
        return int(resp.headers["Content-Length"])

    def scale_for(self, target_bytes: float) -> tuple[int, int]:
        """The emulator scale giving about ``target_bytes`` of attendees for the month, and the exact size."""
        self.control(scale=1)
        base = self.warm(6001, self.attendees_params)
        scale = max(1, -(-int(target_bytes) // base))
        self.control(scale=scale)
        return scale, self.warm(6001, self.attendees_params)

    # -- workers -----------------------------------------------------------------------------------------------

    def exporter_env(self, prefix: str, **extra: str) -> dict[str, str]:
        env = base_env()
        env.update(
            {
                "AWS_ENDPOINT_URL": self.moto_url,
                "KALTURA_SERVICE_URL": self.emu_url,
                "KALTURA_SECRET_ARN": self.secret_id,
                "EXPORT_BUCKET": self.bucket,
                "EXPORT_PREFIX": prefix,
                "TIMEZONE": "UTC",
                **extra,
            }
        )
        return env

    def worker(self, name: str, spec: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
        self._seq += 1
        spec = {"bucket": self.bucket, "service_url": self.emu_url, **spec}
        env = env or {**base_env(), "AWS_ENDPOINT_URL": self.moto_url}
        log = LOGS / f"{self._seq:03d}-{name}.log"
        proc = subprocess.run(
            [PY, WORKER, json.dumps(spec)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )
        log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
        line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("BENCH-RESULT ")), None)
        if proc.returncode != 0 or line is None:
            raise RuntimeError(f"worker {name} failed (exit {proc.returncode}); see {log.relative_to(ROOT)}")
        out: dict[str, Any] = json.loads(line[len("BENCH-RESULT ") :])
        out["cpu"] = out["cpu_user"] + out["cpu_sys"]
        return out

    def unit(self, name: str, prefix: str, **extra: Any) -> dict[str, Any]:
        event = {
            "mode": "unit",
            "report": "attendees",
            "partner_id": PARTNER_ID,
            "window_start": MONTH[0],
            "window_end": MONTH[1],
        }
        env = self.exporter_env(prefix, PERIOD="monthly", ROW_CAP=str(ROW_CAP))
        spec = {
            "mode": "unit",
            "event": event,
            "secret_id": self.secret_id,
            "part_size": self.args.part_size,
            "layer": self.args.layer,
            **extra,
        }
        out = self.worker(name, spec, env)
        result = out["result"]
        if not isinstance(result, dict) or result.get("status") != "SUCCEEDED":
            raise RuntimeError(f"the unit did not succeed: {json.dumps(result)[:400]}")
        return out

    def raw(self, name: str, mode: str, **extra: Any) -> dict[str, Any]:
        spec = {
            "mode": mode,
            "ks": self.ks,
            "report_id": 6001,
            "params": self.attendees_params,
            "key": f"bench/raw/{name}.csv",
            **extra,
        }
        return self.worker(name, spec)

    def profiled(
        self, name: str, fn: Callable[..., dict[str, Any]], *args: Any, memory: bool = False, cpu: bool = False
    ) -> str | None:
        """With --profile: the same measurement once more under a profiler; the path of its text report.

        Wall time: pyinstrument if installed, else cProfile; CPU (``cpu``): cProfile, sorted by own time;
        memory: memray (what is held at the peak), if installed. ``--profiler`` forces one time profiler."""
        if not self.args.profile:
            return None
        out = RESULTS / "profiles" / name
        if memory:
            try:
                import memray  # noqa: F401
            except ImportError:
                return None
            fn(f"profile-{name}", *args, profile="memray", profile_out=str(out))
            capture = out.with_suffix(".bin")
            proc = subprocess.run(
                [PY, "-m", "memray", "stats", str(capture)],
                capture_output=True,
                text=True,
                env={**base_env(), "COLUMNS": "160", "TERM": "dumb"},
            )
            out.with_suffix(".txt").write_text(peak_report(capture) + "\n\n" + proc.stdout)
            return str(out.with_suffix(".txt").relative_to(ROOT))
        kind = self.args.profiler
        if kind == "auto" and cpu:
            kind = "cprofile"
        if kind == "auto":
            try:
                import pyinstrument  # noqa: F401
            except ImportError:
                kind = "cprofile"
            else:
                kind = "pyinstrument"
        fn(f"profile-{name}", *args, profile=kind, profile_out=str(out))
        return str(out.with_suffix(".txt").relative_to(ROOT))

    # -- figures -----------------------------------------------------------------------------------------------

    def fig_overlap(self) -> Figure:
        fig = Figure("1", "Overlap: unit vs download to /dev/null, throttled", target=1.15)
        target = 6 * MB if self.quick else 16 * MB
        self.control(clear=True)
        scale, size = self.scale_for(target)
        ttfb, bps = 1.0, 5e6
        self.control(throttle={"ttfb": ttfb, "bytes_per_second": bps})
        units, downloads = [], []
        try:
            for i in range(self.repeats):
                order = ("download", "unit") if i % 2 == 0 else ("unit", "download")
                for what in order:
                    if what == "download":
                        downloads.append(self.raw(f"fig1-download-{i}", "download")["wall"])
                    else:
                        out = self.unit(f"fig1-unit-{i}", "bench-fig1")
                        units.append(out["wall"])
            prof = self.profiled("fig1-unit", self.unit, "bench-fig1")
        finally:
            self.control(throttle={"ttfb": 0, "bytes_per_second": None})
        fig.ratio = median(units) / median(downloads)
        fig.measured = (
            f"unit {median(units):.2f} s / download {median(downloads):.2f} s "
            f"({mb(size)}, ttfb {ttfb:g} s, {bps / MB:g} MB/s)"
        )
        fig.details = {
            "bytes": size,
            "scale": scale,
            "ttfb_s": ttfb,
            "bytes_per_second": bps,
            "unit_wall_s": units,
            "download_wall_s": downloads,
            "profile": prof,
            "ideal_download_s": ttfb + size / bps,
        }
        return fig

    def fig_cpu(self) -> Figure:
        fig = Figure("2", "CPU per row: unit vs raw transfer, full speed", target=2.5)
        target = 6 * MB if self.quick else 16 * MB
        self.control(clear=True)
        scale, size = self.scale_for(target)
        units, raws, rows = [], [], 0
        for i in range(self.repeats):
            order = ("raw", "unit") if i % 2 == 0 else ("unit", "raw")
            for what in order:
                if what == "raw":
                    raws.append(self.raw(f"fig2-raw-{i}", "naive")["cpu"])
                else:
                    out = self.unit(f"fig2-unit-{i}", "bench-fig2")
                    units.append(out["cpu"])
                    rows = out["result"]["rows"]
        prof = self.profiled("fig2-unit", self.unit, "bench-fig2", cpu=True)
        fig.ratio = median(units) / median(raws)
        per_row = 1e6 / max(rows, 1)
        fig.measured = (
            f"unit {median(units):.2f} s CPU ({median(units) * per_row:.1f} us/row) / raw {median(raws):.2f} s "
            f"({median(raws) * per_row:.1f} us/row); {rows:,} rows, {mb(size)}"
        )
        fig.details = {
            "bytes": size,
            "rows": rows,
            "scale": scale,
            "unit_cpu_s": units,
            "raw_cpu_s": raws,
            "profile": prof,
        }
        return fig

    def interpreter_rss(self) -> int:
        """Peak RSS of a bare interpreter (the venv's python, site included), measured as the workers measure."""
        code = "print(next(int(ln.split()[1]) for ln in open('/proc/self/status') if ln.startswith('VmHWM:')))"
        runs = [
            int(subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True, env=base_env()).stdout)
            for _ in range(3)
        ]
        return int(median(runs))

    def fig_memory(self) -> list[Figure]:
        fig = Figure("3", "Memory: peak RSS above the interpreter, 100 MB vs 1 MB report", op="<", target=1.5)
        naive_fig = Figure("3n", "  naive exporter (.content -> put_object), same sizes", note="for comparison")
        targets = [1 * MB, 10 * MB] if self.quick else [1 * MB, 10 * MB, 100 * MB]
        self.control(clear=True)
        interp = self.interpreter_rss()
        rows: list[dict[str, Any]] = []
        for target in targets:
            scale, size = self.scale_for(target)
            label = f"{round(target / MB)}MB"
            exp = self.unit(f"fig3-unit-{label}", "bench-fig3")
            naive = self.raw(f"fig3-naive-{label}", "naive")
            rows.append(
                {
                    "target_bytes": target,
                    "bytes": size,
                    "scale": scale,
                    "rows": exp["result"]["rows"],
                    "exporter_peak_above_interpreter_kib": exp["maxrss_after_kib"] - interp,
                    "exporter_growth_during_unit_kib": exp["maxrss_after_kib"] - exp["maxrss_before_kib"],
                    "naive_peak_above_interpreter_kib": naive["maxrss_after_kib"] - interp,
                    "naive_growth_during_transfer_kib": naive["maxrss_after_kib"] - naive["maxrss_before_kib"],
                }
            )
        # the last size is still the emulator's scale: the largest report
        prof = self.profiled("fig3-unit-largest", self.unit, "bench-fig3", memory=True)
        first, last = rows[0], rows[-1]
        fig.ratio = last["exporter_peak_above_interpreter_kib"] / first["exporter_peak_above_interpreter_kib"]
        naive_fig.ratio = last["naive_peak_above_interpreter_kib"] / first["naive_peak_above_interpreter_kib"]

        def series(key: str) -> str:
            return " / ".join(f"{r[key] / 1024:.0f}" for r in rows)

        sizes = " / ".join(mb(r["bytes"]) for r in rows)
        fig.measured = f"exporter {series('exporter_peak_above_interpreter_kib')} MiB for {sizes}"
        naive_fig.measured = f"naive {series('naive_peak_above_interpreter_kib')} MiB for the same"
        if self.quick:
            fig.note = "quick run: 10 MB vs 1 MB, not the target's 100 MB"
        fig.details = {"interpreter_rss_kib": interp, "sizes": rows, "profile": prof}
        return [fig, naive_fig]

    def fig_concurrency(self) -> list[Figure]:
        latency = 1.0
        sched = Figure("4a", f"Concurrency: scheduled run, 3 reports, L = {latency:g} s", target=1.25)
        backfill = Figure("4b", "Concurrency: backfill 30 days x 3 reports, MAX_CONCURRENCY=8", target=1.3)
        self.control(clear=True)
        self.control(latency=latency)
        try:
            singles, runs, backfills = [], [], []
            rooms = {"mode": "download", "ks": self.ks, "report_id": 6000, "params": self.rooms_day_params}
            for i in range(self.repeats):
                singles.append(self.worker(f"fig4-single-{i}", rooms)["wall"])
                env = self.exporter_env("bench-fig4", PERIOD="daily", LOOKBACK="1", NOTIFY_TOPIC_ARN=self.topic_arn)
                out = self.worker(
                    f"fig4-scheduled-{i}",
                    {
                        "mode": "run",
                        "event": SCHEDULED_EVENT,
                        "secret_id": self.secret_id,
                        "topic_arn": self.topic_arn,
                        "layer": self.args.layer,
                    },
                    env,
                )
                self._check_run(out)
                runs.append(out["wall"])
            for i in range(1 if self.quick else max(1, self.repeats - 1)):
                env = self.exporter_env(
                    "bench-fig4", PERIOD="daily", MAX_CONCURRENCY="8", NOTIFY_TOPIC_ARN=self.topic_arn
                )
                out = self.worker(
                    f"fig4-backfill-{i}",
                    {
                        "mode": "run",
                        "event": BACKFILL_EVENT,
                        "secret_id": self.secret_id,
                        "topic_arn": self.topic_arn,
                        "layer": self.args.layer,
                    },
                    env,
                )
                self._check_run(out, units=90)
                backfills.append(out["wall"])
        finally:
            self.control(latency=0)
        one = median(singles)
        sched.ratio = median(runs) / one
        sched.measured = f"run {median(runs):.2f} s / one report call {one:.2f} s (serially: 3 L = {3 * one:.2f} s)"
        sched.details = {"latency_s": latency, "single_call_s": singles, "run_s": runs, "max_concurrency": 4}
        ideal = one * 90 / 8
        backfill.ratio = median(backfills) / ideal
        backfill.measured = (
            f"run {median(backfills):.2f} s / (90/8) x {one:.2f} s = {ideal:.2f} s "
            f"(12 waves: {12 * one:.2f} s; serially {90 * one:.0f} s)"
        )
        backfill.details = {
            "latency_s": latency,
            "single_call_s": singles,
            "run_s": backfills,
            "units": 90,
            "max_concurrency": 8,
        }
        return [sched, backfill]

    @staticmethod
    def _check_run(out: dict[str, Any], units: int = 3) -> None:
        result = out["result"]
        if (
            not isinstance(result, dict)
            or result.get("status") != "SUCCEEDED"
            or len(result.get("reports", [])) != units
        ):
            raise RuntimeError(f"the run did not succeed with {units} units: {json.dumps(result)[:400]}")

    def fig_cold_start(self) -> Figure:
        fig = Figure("5", "Cold start: import app (function + layer) vs import boto3", target=1.5)
        paths = [str(ROOT / "functions" / "export"), self.args.layer or str(ROOT / "layers" / "exporter")]
        timer = (
            "import sys, time; sys.path[:0] = {paths!r}; t = time.perf_counter(); import {mod}; "
            "print(time.perf_counter() - t)"
        )
        env = base_env()
        apps, botos = [], []
        reps = 3 if self.quick else 7
        for i in range(reps):
            order = ("app", "boto3") if i % 2 == 0 else ("boto3", "app")
            for mod in order:
                code = timer.format(paths=paths, mod=mod)
                proc = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
                if proc.returncode != 0:
                    raise RuntimeError(f"import {mod} failed: {proc.stderr.strip()[-400:]}")
                (apps if mod == "app" else botos).append(float(proc.stdout.strip().splitlines()[-1]))
        fig.ratio = median(apps) / median(botos)
        fig.measured = (
            f"import app {median(apps) * 1000:.0f} ms / import boto3 {median(botos) * 1000:.0f} ms (median of {reps})"
        )
        fig.details = {"import_app_s": apps, "import_boto3_s": botos}
        if self.args.profile:
            code = f"import sys; sys.path[:0] = {paths!r}; import app"
            proc = subprocess.run(
                [PY, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env, cwd=ROOT
            )
            fig.details["importtime_top"] = top_imports(proc.stderr)
        return fig

    def fig_package(self) -> Figure:
        fig = Figure("6", "Package size: zipped function + layer (.aws-sam/build)", op="<", target=5.0)
        build = ROOT / ".aws-sam" / "build"
        if not (build / "ExportFunction").is_dir() or not (build / "ExporterLayer").is_dir():
            if self.args.no_build:
                fig.note = "not measured: .aws-sam/build is missing (run `make build`)"
                return fig
            left = max(60.0, 560 - (time.monotonic() - self.started))
            print(f"  .aws-sam/build is missing: running `make build` (up to {left:.0f} s)...", flush=True)
            try:
                proc = subprocess.run(
                    ["make", "build"], cwd=ROOT, capture_output=True, text=True, timeout=left, env=base_env()
                )
                (LOGS / "make-build.log").write_text(proc.stdout + proc.stderr)
                ok = proc.returncode == 0
            except (subprocess.TimeoutExpired, OSError) as exc:
                ok = False
                (LOGS / "make-build.log").write_text(str(exc))
            if not ok or not (build / "ExportFunction").is_dir():
                fig.note = "not measured: `make build` failed or took too long (bench/results/logs/make-build.log)"
                return fig
        sizes = {name: zipped_size(build / name) for name in ("ExportFunction", "ExporterLayer")}
        total = sum(sizes.values())
        fig.ratio = total / MB
        newest_source = max(p.stat().st_mtime for p in (ROOT / "layers" / "exporter").rglob("*.py"))
        built = (build / "ExporterLayer").stat().st_mtime
        fig.measured = (
            f"function {sizes['ExportFunction'] / 1000:.0f} kB + layer {mb(sizes['ExporterLayer'])} "
            f"= {mb(total)} (MB, not a ratio)"
        )
        if newest_source > built:
            fig.note = "the build is older than layers/exporter's sources: `make build` for a current figure"
        fig.details = {
            "zipped_bytes": sizes,
            "total_bytes": total,
            "largest_in_layer": largest_dirs(build / "ExporterLayer"),
        }
        return fig

    # -- driver ------------------------------------------------------------------------------------------------

    def run(self) -> int:
        self.started = time.monotonic()
        started_at = datetime.now(UTC)
        only = {s.strip() for s in self.args.only.split(",")} if self.args.only else None
        plan: list[tuple[str, Callable[[], Figure | list[Figure]], str]] = [
            ("5", self.fig_cold_start, "Cold start"),
            ("1", self.fig_overlap, "Overlap"),
            ("2", self.fig_cpu, "CPU per row"),
            ("3", self.fig_memory, "Memory"),
            ("4", self.fig_concurrency, "Concurrency"),
            ("6", self.fig_package, "Package size"),
        ]
        LOGS.mkdir(parents=True, exist_ok=True)
        for old in LOGS.glob("*.log"):
            old.unlink()
        needs_servers = any(n in ("1", "2", "3", "4") for n, _, _ in plan if only is None or n in only)
        try:
            if needs_servers:
                self.setup()
            for number, fn, title in plan:
                if only is not None and number not in only:
                    continue
                t0 = time.monotonic()
                print(f"[{time.monotonic() - self.started:5.0f} s] figure {number}: {title}...", flush=True)
                try:
                    got = fn()
                    figs = got if isinstance(got, list) else [got]
                except Exception as exc:  # one figure failing must not hide the others
                    figs = [Figure(number, title, note=f"error: {type(exc).__name__}: {exc}"[:300])]
                for f in figs:
                    f.judge()
                    if number != "6" and (self.args.part_size or self.args.layer):
                        what = [f"part size {self.args.part_size}"] if self.args.part_size else []
                        what += [f"layer {self.args.layer}"] if self.args.layer else []
                        f.note = "; ".join(filter(None, [f.note, "EXPERIMENT: " + ", ".join(what)]))
                    f.details["seconds"] = round(time.monotonic() - t0, 1)
                self.figures.extend(figs)
        finally:
            self.stop()
        wall = time.monotonic() - self.started
        table = render(self.figures, wall)
        print()
        print(table)
        doc = {
            "started_at": started_at.isoformat().replace("+00:00", "Z"),
            "wall_seconds": round(wall, 1),
            "quick": self.quick,
            "repeats": self.repeats,
            "part_size_override": self.args.part_size,
            "layer_override": self.args.layer,
            "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
            "figures": [f.to_dict() for f in self.figures],
            "table": table,
        }
        out = Path(self.args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"\nwrote {out}")
        return 0


# ----------------------------------------------------------------------------------------------- helpers


def zipped_size(folder: Path) -> int:
    """Bytes of ``folder`` zipped as SAM deploys it (deflate, every file)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for file in sorted(folder.rglob("*")):
                if file.is_file():
                    zf.write(file, file.relative_to(folder))
        return path.stat().st_size


def largest_dirs(layer: Path, n: int = 6) -> dict[str, int]:
    root = layer / "python" if (layer / "python").is_dir() else layer
    sizes = {}
    for child in root.iterdir():
        files = [child] if child.is_file() else [f for f in child.rglob("*") if f.is_file()]
        sizes[child.name] = sum(f.stat().st_size for f in files)
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:n])


def top_imports(importtime_stderr: str, n: int = 12) -> list[str]:
    """The slowest top-level imports from ``python -X importtime`` (cumulative microseconds)."""
    entries = []
    for line in importtime_stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:") :].split("|")
        try:
            cumulative = int(parts[1])
        except ValueError:
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        if depth <= 1:
            entries.append((cumulative, name.strip()))
    return [f"{name}: {us / 1000:.0f} ms" for us, name in sorted(entries, reverse=True)[:n]]


def peak_report(capture: Path, n: int = 15) -> str:
    """What was held at the capture's peak, by allocating line (memray's high-water mark), biggest first."""
    import memray

    reader = memray.FileReader(str(capture))
    by_line: dict[str, list[int]] = {}
    for record in reader.get_high_watermark_allocation_records(merge_threads=True):
        stack = record.stack_trace(max_stacks=12)
        ours = [f for f in stack if "kaltura_export" in f[1]] or stack
        fn, path, line = ours[0] if ours else ("?", "?", 0)
        where = f"{Path(path).name}:{line} {fn}"
        top = stack[0] if stack else ("?", "?", 0)
        if top[:2] != (fn, path):
            where += f"  (allocated in {Path(top[1]).name}:{top[2]} {top[0]})"
        entry = by_line.setdefault(where, [0, 0])
        entry[0] += record.size
        entry[1] += record.n_allocations
    total = sum(v[0] for v in by_line.values())
    lines = [f"held at the peak: {total / 2**20:.1f} MiB (heap allocations tracked by memray)"]
    for where, (size, count) in sorted(by_line.items(), key=lambda kv: -kv[1][0])[:n]:
        lines.append(f"  {size / 2**20:7.1f} MiB  {100 * size / max(total, 1):5.1f} %  {count:6d} allocs  {where}")
    return "\n".join(lines)


def render(figures: list[Figure], wall: float) -> str:
    header = ("#", "figure", "measured side by side", "ratio", "target", "met")
    rows = []
    for f in figures:
        if f.number == "6" and f.ratio is not None:
            ratio = f"{f.ratio:.2f} MB"
            target = f"{f.op} {f.target:g} MB"
        else:
            ratio = "-" if f.ratio is None else f"{f.ratio:.2f}x"
            target = "-" if f.target is None else f"{f.op} {f.target:g}x"
        met = {True: "MET", False: "MISSED", None: "n/a"}[f.met]
        measured = f.measured + (f" [{f.note}]" if f.note else "")
        rows.append((f.number, f.name, measured, ratio, target, met))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    judged = [f for f in figures if f.target is not None and f.met is not None]
    lines.append("")
    lines.append(f"{sum(1 for f in judged if f.met)} of {len(judged)} targets met; bench wall time {wall:.0f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/bench.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma list of figures to run (1-6)")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat (a smoke test, not the figures)")
    parser.add_argument("--repeats", type=int, default=0, help="repeats of each side-by-side pair (default 3)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile the exporter's side once per figure (pyinstrument if installed, else cProfile)",
    )
    parser.add_argument(
        "--profiler",
        choices=("auto", "pyinstrument", "cprofile"),
        default="auto",
        help="time profiler for --profile (auto: pyinstrument if installed)",
    )
    parser.add_argument(
        "--part-size",
        type=int,
        default=None,
        help="experiment: the sink's part size in bytes (Services.part_size); default: the function's",
    )
    parser.add_argument(
        "--layer",
        default=None,
        help="experiment: measure the exporter from this folder (holding kaltura_export) instead of layers/exporter",
    )
    parser.add_argument("--no-build", action="store_true", help="never run `make build` for figure 6")
    parser.add_argument("--json", default=str(RESULTS / "latest.json"), help="where to write the figures")
    return Bench(parser.parse_args(argv)).run()


if __name__ == "__main__":
    sys.exit(main())
