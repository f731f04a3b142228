"""What `sam build` produced (.aws-sam/build), and one real export run from it laid out as Lambda lays it out."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kaltura_export.catalogue import REPORTS
from kaltura_export.layout import data_key, manifest_key
from kaltura_export.windows import Period, scheduled_windows
from local.aws import MotoServer, Stack, create_stack, fake_aws_env, received
from tests.conftest import load_event
from tests.deploy.cfn import ROOT, load_template
from tests.deploy.conftest import BUILD, need

FUNCTION = BUILD / "ExportFunction"
LAYER = BUILD / "ExporterLayer"
SITE = LAYER / "python"
#: what the Lambda Python runtime provides beside the standard library (the layer must not ship these)
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six")
PARTNER_ID = 4242


@pytest.fixture(scope="module")
def built() -> Path:
    need("the sam build output (.aws-sam/build)", (FUNCTION / "app.py").exists() and SITE.is_dir(), "make build")
    return BUILD


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "layers/exporter/requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonical(name)] = version
    return pins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_distributions(site: Path) -> dict[str, str]:
    found = {}
    for info in site.glob("*.dist-info"):
        meta = (info / "METADATA").read_text(encoding="utf-8")
        name = re.search(r"^Name: (.+)$", meta, re.M)
        version = re.search(r"^Version: (.+)$", meta, re.M)
        assert name and version, info
        found[canonical(name.group(1))] = version.group(1).strip()
    return found


# --- the artifacts ----------------------------------------------------------------------------------------


def test_function_artifact_is_the_handler_alone(built: Path) -> None:
    files = sorted(p.relative_to(FUNCTION).as_posix() for p in FUNCTION.rglob("*") if p.is_file())
    assert files == ["app.py"]
    assert (FUNCTION / "app.py").read_bytes() == (ROOT / "functions/export/app.py").read_bytes()


def test_layer_holds_the_package_under_python(built: Path) -> None:
    source = ROOT / "layers/exporter/kaltura_export"
    shipped = SITE / "kaltura_export"
    want = {p.relative_to(source).as_posix(): p.read_bytes() for p in source.rglob("*.py")}
    got = {p.relative_to(shipped).as_posix(): p.read_bytes() for p in shipped.rglob("*") if p.is_file()}
    assert got == want, "the layer's kaltura_export differs from layers/exporter/kaltura_export: run make build"
    assert not list(LAYER.rglob("__pycache__")) and not list(LAYER.rglob("*.pyc"))
    assert sorted(p.name for p in LAYER.iterdir()) == ["python"]


def test_layer_dependencies_are_the_pinned_requirements_and_what_they_need(built: Path) -> None:
    shipped = installed_distributions(SITE)
    for name, version in requirement_pins().items():
        assert shipped.get(name) == version, f"{name}=={version} is not in the layer (found {shipped.get(name)})"
    # boto3 and botocore come with the runtime; development tools never ship
    unwanted = {"boto3", "botocore", "s3transfer", "moto", "pytest", "pyarrow", "aws-sam-cli", "checkov", "mypy"}
    assert not unwanted & set(shipped)
    for top in SITE.iterdir():
        assert top.name not in RUNTIME_PROVIDED[:3], top


def test_native_code_is_for_the_target_and_optional(built: Path) -> None:
    """Wheels were resolved for python3.13 on arm64; what is compiled is a speed-up with a pure-Python twin."""
    for extension in SITE.rglob("*.so"):
        assert extension.name.endswith(".cpython-313-aarch64-linux-gnu.so"), extension
        twin = extension.with_name(extension.name.split(".", 1)[0] + ".py")
        assert twin.exists(), f"{extension.relative_to(SITE)} has no pure-Python fallback"
    tags = [(info / "WHEEL").read_text() for info in SITE.glob("*.dist-info")]
    platform_tags = {t for text in tags for t in re.findall(r"^Tag: (\S+)$", text, re.M) if not t.endswith("-any")}
    assert all("aarch64" in t and ("cp313" in t or "abi3" in t) for t in platform_tags), platform_tags


def test_built_template_points_at_the_artifacts(built: Path) -> None:
    template = load_template(BUILD / "template.yaml")
    resources = template["Resources"]
    assert resources["ExportFunction"]["Properties"]["CodeUri"] == "ExportFunction"
    assert resources["ExporterLayer"]["Properties"]["ContentUri"] == "ExporterLayer"


def test_artifacts_fit_lambdas_limits(built: Path, tmp_path: Path) -> None:
    unzipped = sum(p.stat().st_size for p in BUILD.rglob("*") if p.is_file() and p.parent != BUILD)
    assert unzipped < 250 * 1024**2  # function + layers, unzipped
    for folder in (FUNCTION, LAYER):
        archive = tmp_path / f"{folder.name}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted(folder.rglob("*")):
                z.write(p, p.relative_to(folder).as_posix())
        assert archive.stat().st_size < 50 * 1024**2, folder.name


# --- one export, from the artifacts, as Lambda runs them ------------------------------------------------


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only what the Lambda runtime adds to the standard library: boto3 and its own dependencies."""
    import boto3

    site = Path(boto3.__file__).resolve().parents[1]
    target = tmp_path_factory.mktemp("lambda-runtime")
    for name in RUNTIME_PROVIDED:
        source = site / name if (site / name).is_dir() else site / f"{name}.py"
        assert source.exists(), source
        (target / source.name).symlink_to(source)
    return target


@pytest.fixture
def servers() -> Iterator[tuple[MotoServer, Any]]:
    from local.kaltura_emulator import KalturaEmulator

    moto = MotoServer()
    moto.start()
    emulator = KalturaEmulator(partner_id=PARTNER_ID, admin_secret=secrets.token_hex(16), seed=7)
    emulator.start()
    yield moto, emulator
    emulator.stop()
    moto.stop()


def run_built_handler(event: dict[str, Any], env: dict[str, str], paths: list[Path], tmp: Path) -> dict[str, Any]:
    result = tmp / "outcome.json"
    request = {"paths": [str(p) for p in paths], "event": event, "result": str(result)}
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", str(Path(__file__).with_name("lambda_like.py"))],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0 and result.exists(), done.stderr[-4000:]
    outcome: dict[str, Any] = json.loads(result.read_text())
    outcome["stdout"] = done.stdout
    return outcome


def emitted_metrics(stdout: str) -> set[tuple[str, str, tuple[str, ...]]]:
    """(namespace, metric, dimension names) of every EMF document the handler printed."""
    found = set()
    for line in stdout.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        doc = json.loads(line)
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dims in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    found.add((directive["Namespace"], metric["Name"], tuple(sorted(dims))))
    return found


def test_the_built_function_exports_with_only_the_layer_and_the_runtime(
    built: Path, runtime_dir: Path, servers: tuple[MotoServer, Any], tmp_path: Path
) -> None:
    moto, emulator = servers
    token_id, token = "1_" + secrets.token_hex(4), secrets.token_hex(16)
    emulator.add_app_token(token_id, token)
    credentials = {"partner_id": PARTNER_ID, "app_token_id": token_id, "app_token": token, "hash_type": "SHA256"}
    stack: Stack = create_stack(moto, credentials)
    env = {
        **fake_aws_env(),
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        # what template.yaml sets (Globals and the function's variables), with this stack's resources
        "POWERTOOLS_SERVICE_NAME": "kaltura-export",
        "POWERTOOLS_METRICS_NAMESPACE": "KalturaExport",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        **stack.env(),
        "KALTURA_SERVICE_URL": emulator.url,
        "TIMEZONE": "Europe/Berlin",  # zone data from the layer's tzdata: the runtime has no system database
        "LOOKBACK": "1",
        "RETRY_BASE_DELAY": "0",
    }
    paths = [FUNCTION, SITE, runtime_dir]
    outcome = run_built_handler(load_event("scheduled.json"), env, paths, tmp_path)

    assert "error" not in outcome, outcome.get("error", {}).get("traceback")
    summary = outcome["result"]
    assert summary["status"] == "SUCCEEDED", summary
    assert [u["report"] for u in summary["reports"]] == [r.name for r in REPORTS]
    assert sum(u["rows"] for u in summary["reports"]) > 0

    # the keys of DESIGN.md's layout, dated in Europe/Berlin
    (window,) = scheduled_windows(datetime(2026, 12, 3, 2, tzinfo=UTC), Period.DAILY, ZoneInfo("Europe/Berlin"), 1)
    s3 = moto.client("s3")
    for report, unit in zip(REPORTS, summary["reports"], strict=True):
        key = data_key("kaltura", report, PARTNER_ID, window)
        assert unit["s3_uri"] == f"s3://{stack.bucket}/{key}"
        body = s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read()
        assert body.decode("utf-8").splitlines()[0] == ",".join(report.columns)
        s3.head_object(Bucket=stack.bucket, Key=manifest_key("kaltura", report, PARTNER_ID, window))
    notes = received(moto, stack)
    assert len(notes) == 1 and notes[0]["MessageAttributes"]["status"]["Value"] == "SUCCEEDED"

    # every module came from the function, the layer, the runtime's packages or the standard library
    stdlib = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")}
    allowed = [str(p) for p in paths] + sorted(stdlib)
    modules = {n: f for n, f in outcome["modules"].items() if n not in ("__main__", "__mp_main__")}
    strays = {n: f for n, f in modules.items() if f and not any(f.startswith(a) for a in allowed)}
    assert not strays, strays
    origin = {name: outcome["modules"][name] for name in ("app", "kaltura_export", "requests", "tzdata", "boto3")}
    assert origin["app"].startswith(str(FUNCTION))
    for name in ("kaltura_export", "requests", "tzdata"):
        assert origin[name].startswith(str(SITE)), (name, origin[name])
    assert origin["boto3"].startswith(str(runtime_dir))
    assert "aws_lambda_powertools" in outcome["modules"]

    # the metrics the template's alarms and dashboard read are the ones the function emits
    metrics = emitted_metrics(outcome["stdout"])
    template = load_template()
    alarm = template["Resources"]["NoSuccessfulExportAlarm"]["Properties"]
    assert ("KalturaExport", alarm["MetricName"], tuple(d["Name"] for d in alarm["Dimensions"])) in metrics
    for name in ("ReportRows", "ReportDuration", "ReportFailures"):
        assert ("KalturaExport", name, ("report", "service")) in metrics, name
    for name in ("SuccessfulExports", "FailedExports", "FailedUnits"):
        assert ("KalturaExport", name, ("service",)) in metrics, name


def test_a_dependency_missing_from_the_layer_fails_the_import(built: Path, runtime_dir: Path, tmp_path: Path) -> None:
    """The isolation is real: without the layer, the handler cannot even be imported."""
    env = {**fake_aws_env(), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    outcome = run_built_handler({}, env, [FUNCTION, runtime_dir], tmp_path)
    assert outcome["error"]["type"] == "ModuleNotFoundError"
    assert "aws_lambda_powertools" in outcome["error"]["message"] or "kaltura_export" in outcome["error"]["message"]
