"""`kaltura-export`: the exporter on a person's machine — run, backfill (resumable), status, check, emulator.

The same package and code path as the Lambda: settings from the environment (flags override), boto3 with the
user's credentials or whatever AWS_ENDPOINT_URL points at. Its extra dependency, the progress bar (tqdm), is
imported only here and is not in the layer.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from types import FrameType
from typing import Any, TextIO

from .errors import ConfigError, ExportError
from .events import ManualRequest, ScheduledRequest
from .settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EXIT_CODES = """exit codes:
  0    done: every unit landed (or was already complete); check: every check passed
  1    the command ran and something failed: a unit (the summary names it and what to do) or a check
  2    bad arguments or configuration; nothing was exported
  3    AWS or Kaltura could not be reached, or refused, before any unit ran (credentials, bucket, secret)
  130  interrupted (Ctrl-C): the units in flight finished; run the same command again to resume"""

_FLAG_VARIABLES = {
    "bucket": "EXPORT_BUCKET",
    "prefix": "EXPORT_PREFIX",
    "service_url": "KALTURA_SERVICE_URL",
    "period": "PERIOD",
    "timezone": "TIMEZONE",
    "topic": "NOTIFY_TOPIC_ARN",
    "reports": "REPORTS",
    "concurrency": "MAX_CONCURRENCY",
}


class Unavailable(Exception):
    """AWS or Kaltura refused or could not be reached before the command could start (exit 3)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run one command, and turn every error into one readable line and an exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    restore_logs = _quiet_logs(args.debug)
    try:
        code: int = args.command(args)
        return code
    except ConfigError as exc:
        return _fail(args, EXIT_USAGE, str(exc))
    except ExportError as exc:
        return _fail(args, EXIT_UNAVAILABLE, str(exc))
    except Unavailable as exc:
        return _fail(args, EXIT_UNAVAILABLE, str(exc))
    except KeyboardInterrupt:
        return _fail(args, EXIT_INTERRUPTED, "interrupted")
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, BotoCoreError | ClientError):
            return _fail(args, EXIT_UNAVAILABLE, f"AWS: {exc}")
        return _fail(args, EXIT_FAILED, f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)")
    finally:
        restore_logs()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kaltura-export",
        description="Export Kaltura Virtual Classroom reports (rooms 6000, attendees 6001, breakout_rooms 6002) "
        "to S3 as partitioned CSV, from your machine. Settings come from the environment variables of the Lambda "
        "(EXPORT_BUCKET, KALTURA_SECRET_ARN, ...; see the README) and each command's flags override them.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show the exporter's log and tracebacks")
    parser.set_defaults(command=lambda _args: _usage(parser))
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], summary: str, text: str) -> Any:
        sub = commands.add_parser(
            name,
            help=summary,
            description=text,
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sub.set_defaults(command=handler)
        return sub

    run = command(
        "run",
        _run,
        "export now: a range of days, or the recent periods as the schedule would",
        "Export the days --from..--to (both included, in TIMEZONE, widened to whole periods), or without dates "
        "the LOOKBACK periods that ended before now plus any earlier period with no export (self-healing, up to "
        "HEAL_LIMIT), exactly as a scheduled run. Every unit is exported again (overwriting its key); the summary "
        "is published when NOTIFY_TOPIC_ARN (--topic) is set, as the Lambda does.",
    )
    _dates(run, required=False)
    run.add_argument("--dry-run", action="store_true", help="print the plan (units and keys); write nothing")
    _settings_flags(run)

    backfill = command(
        "backfill",
        _backfill,
        "export many days with bounded concurrency and a progress bar; resumable",
        "Export the days --from..--to (both included, in TIMEZONE, widened to whole periods) for every report and "
        "partner, --concurrency units at once, with a progress bar. Resumable: a unit whose manifest records a "
        "complete object for the same report, partner, period and window, with the object still matching the "
        "manifest, is skipped (SKIPPED in the summary) unless --force. Ctrl-C starts no further unit, lets the ones "
        "in flight finish and exits with 130; run the same command again to finish. Ends with the run summary (the "
        "Lambda's e-mail text); --notify also publishes it to the topic.",
    )
    _dates(backfill, required=True)
    backfill.add_argument("--force", action="store_true", help="export every unit again, even complete ones")
    backfill.add_argument("--notify", action="store_true", help="publish the summary to NOTIFY_TOPIC_ARN")
    backfill.add_argument("--no-progress", action="store_true", help="no progress bar (e.g. in a log file)")
    _settings_flags(backfill)

    status = command(
        "status",
        _status,
        "coverage per report and partner: landed, missing, failed",
        "Read the manifests (and the latest run summaries) and print, per report and partner, each period from "
        "--from to --to: LANDED (when, rows, column drift), MISSING (no export), or FAILED (the last run that tried "
        "it failed; with Kaltura's code). Without --from: from the first landed period; without --to: yesterday. "
        "Reads only; needs the bucket, the prefix, PERIOD and TIMEZONE, not the secret.",
    )
    _dates(status, required=False)
    status.add_argument("--gaps", action="store_true", help="list only the periods that are not landed")
    status.add_argument("--runs", type=int, default=30, help="how many recent run summaries to read (default 30)")
    _settings_flags(status)

    check = command(
        "check",
        _check,
        "preflight: secret, session, reports, region, permission, bucket, topic",
        "Read each secret, start a session, call each report for one hour, and check the service URL's region, "
        "the ANALYTICS_BASE permission (Kaltura's SERVICE_FORBIDDEN), a stored KS's expiry, write access to the "
        "bucket (one small object under <prefix>/_check/) and the topic. One line per check; exit 1 on any failure.",
    )
    _settings_flags(check)

    emulator = command(
        "emulator",
        _emulator,
        "serve the local Kaltura emulator (development checkout only) to try the commands",
        "Serve the Kaltura emulator of this repository on 127.0.0.1 until Ctrl-C, with an app token registered. "
        "--with-aws also starts a moto server with a bucket, a topic and the secret, and prints the variables "
        "that point every other command at both. Nothing leaves the machine.",
    )
    emulator.add_argument("--port", type=int, default=0, help="port of the emulator (default: any free port)")
    emulator.add_argument("--latency", type=float, default=0.0, help="seconds added to every report call")
    emulator.add_argument("--with-aws", action="store_true", help="also start a moto server with the AWS resources")
    return parser


def _dates(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--from", dest="first", type=_day, required=required, metavar="DATE", help="YYYY-MM-DD")
    parser.add_argument("--to", dest="last", type=_day, required=required, metavar="DATE", help="YYYY-MM-DD")


def _settings_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (override the environment variables named)")
    group.add_argument("--bucket", help="EXPORT_BUCKET")
    group.add_argument("--prefix", help="EXPORT_PREFIX")
    group.add_argument(
        "--secret", action="append", help="KALTURA_SECRET_ARN; repeat for several partners (KALTURA_SECRET_ARNS)"
    )
    group.add_argument("--service-url", help="KALTURA_SERVICE_URL")
    group.add_argument("--period", help="PERIOD: hourly, daily, weekly or monthly")
    group.add_argument("--timezone", help="TIMEZONE, e.g. Europe/Berlin")
    group.add_argument("--reports", help="REPORTS, e.g. rooms,attendees")
    group.add_argument("--topic", help="NOTIFY_TOPIC_ARN")
    if parser.prog.split()[-1] in ("run", "backfill"):
        group.add_argument("--concurrency", type=int, help="MAX_CONCURRENCY: units (Kaltura calls) at once")


def _day(text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def settings_from(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """The environment with the flags laid over it, validated as the Lambda validates its own."""
    values = dict(env)
    for attr, variable in _FLAG_VARIABLES.items():
        value = getattr(args, attr, None)
        if value is not None:
            values[variable] = str(value)
    secrets = getattr(args, "secret", None)
    if secrets:
        values.pop("KALTURA_SECRET_ARN", None)
        values.pop("KALTURA_SECRET_ARNS", None)
        values["KALTURA_SECRET_ARN" if len(secrets) == 1 else "KALTURA_SECRET_ARNS"] = ",".join(secrets)
    if not values.get("KALTURA_SECRET_ARN") and not values.get("KALTURA_SECRET_ARNS") and args.command is _status:
        values["KALTURA_SECRET_ARN"] = "-"  # status reads only the bucket: it needs no secret
    return Settings.from_env(values)


# --- commands ---------------------------------------------------------------------------------------------------


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _request(args: argparse.Namespace) -> ManualRequest | ScheduledRequest:
    if (args.first is None) != (args.last is None):
        raise ConfigError("give both --from and --to, or neither")
    if args.first is None:
        return ScheduledRequest(datetime.now(UTC).replace(microsecond=0))
    if args.first > args.last:
        raise ConfigError(f"--from ({args.first}) is after --to ({args.last})")
    return ManualRequest(args.first, args.last)


def _run(args: argparse.Namespace) -> int:
    settings = settings_from(args, os.environ)
    request = _request(args)
    services = build_services(settings)
    if args.dry_run:
        from .dryrun import print_plan

        print_plan(request, settings, services, sys.stdout)
        return EXIT_OK
    return _export(args, request, settings, services, resume=False, notify=True, progress=True)


def _backfill(args: argparse.Namespace) -> int:
    settings = settings_from(args, os.environ)
    request = _request(args)
    services = build_services(settings)
    return _export(
        args, request, settings, services, resume=not args.force, notify=args.notify, progress=not args.no_progress
    )


def _export(
    args: argparse.Namespace,
    request: ManualRequest | ScheduledRequest,
    settings: Settings,
    services: Any,
    *,
    resume: bool,
    notify: bool,
    progress: bool,
) -> int:
    from .notify import email_text
    from .run import RunOptions, run_export

    bar = Progress(enabled=progress)
    stop = threading.Event()
    options = RunOptions(resume=resume, notify=notify, on_unit=bar.update, on_plan=bar.start, stop=stop)
    restore = _on_ctrl_c(stop, bar)
    try:
        summary = run_export(request, settings, services, options)
    finally:
        restore()
        bar.close()
    print(email_text(summary), end="")
    if summary.error is not None and summary.error.code == "INTERRUPTED":
        return EXIT_INTERRUPTED
    return EXIT_OK if summary.status == "SUCCEEDED" else EXIT_FAILED


def _status(args: argparse.Namespace) -> int:
    from .status import coverage, render

    settings = settings_from(args, os.environ)
    if args.first and args.last and args.first > args.last:
        raise ConfigError(f"--from ({args.first}) is after --to ({args.last})")
    services = build_services(settings)
    blocks = coverage(services.s3, settings, args.first, args.last, runs=max(0, args.runs))
    render(blocks, sys.stdout, gaps_only=args.gaps)
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from .preflight import preflight

    settings = settings_from(args, os.environ)
    services = build_services(settings)
    failed = 0
    for result in preflight(settings, services):
        mark = "ok  " if result.ok else "FAIL"
        print(f"{mark}  {result.name}: {result.detail}", flush=True)
        failed += not result.ok
    print(f"{'all checks passed' if not failed else f'{failed} check(s) failed'}")
    return EXIT_FAILED if failed else EXIT_OK


def _emulator(args: argparse.Namespace) -> int:
    try:
        from local.aws import MotoServer, create_stack
        from local.kaltura_emulator import KalturaEmulator
    except ImportError:
        raise ConfigError(
            "the emulator is part of the development checkout (local/): install with `make venv` there"
        ) from None
    import secrets as random

    emulator = KalturaEmulator(partner_id=4242, seed=7, port=args.port)
    emulator.latency = max(0.0, args.latency)
    token_id, token = "1_" + random.token_hex(4), random.token_hex(16)
    emulator.add_app_token(token_id, token)
    secret = {"partner_id": emulator.partner_id, "app_token_id": token_id, "app_token": token, "hash_type": "SHA256"}
    url = emulator.start()
    moto = MotoServer() if args.with_aws else None
    try:
        print(f"Kaltura emulator on {url} (partner {emulator.partner_id}); Ctrl-C to stop")
        if moto is None:
            print(f"app token secret value: {json.dumps(secret)}")
            print(f"export KALTURA_SERVICE_URL={url}")
        else:
            endpoint = moto.start()
            os.environ["AWS_ENDPOINT_URL"] = endpoint
            stack = create_stack(moto, secret, name="kaltura-export-try")
            print("moto server with a bucket, a topic and the secret; point the other commands at both with:")
            for name, value in {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true",
                "KALTURA_SERVICE_URL": url,
                **stack.env(),
            }.items():
                print(f"export {name}={value}")
        sys.stdout.flush()
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        try:
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        emulator.stop()
        if moto is not None:
            moto.stop()
    return EXIT_OK


# --- parts ------------------------------------------------------------------------------------------------------


def build_services(settings: Settings) -> Any:
    """boto3 with the user's credentials (or AWS_ENDPOINT_URL), as the Lambda builds its own."""
    from botocore.exceptions import BotoCoreError, ClientError

    from .aws import Connection
    from .run import Services

    try:
        aws = Connection(pool=max(32, settings.max_concurrency * 4))
        secrets_client = aws.client("secretsmanager")
    except BotoCoreError as exc:
        raise Unavailable(f"AWS: {exc}") from None

    def read_secret(name: str, force: bool) -> str | bytes:
        try:
            resp = secrets_client.get_secret_value(SecretId=name)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise Unavailable(f"secret {name}: {error.get('Code')}: {error.get('Message')}") from None
        value: str | bytes = resp["SecretString"] if "SecretString" in resp else resp["SecretBinary"]
        return value

    return Services(s3=aws.s3, sns=aws.sns, read_secret=read_secret)


class Progress:
    """A progress bar on stderr: units done of all, landed/skipped/failed, rows, and tqdm's rate and ETA."""

    def __init__(self, *, enabled: bool, stream: TextIO | None = None) -> None:
        self._enabled = enabled
        self._stream = stream or sys.stderr
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.rows = 0
        self._bar: Any = None

    def start(self, total: int) -> None:
        if not self._enabled:
            return
        try:
            from tqdm import tqdm
        except ImportError:  # the CLI without its extras: a line per unit instead of a bar
            self._bar = None
            self._total = total
            return
        self._bar = tqdm(total=total, unit="unit", file=self._stream, dynamic_ncols=True, smoothing=0.1)

    def update(self, result: Any) -> None:
        with self._lock:
            self.counts[result.status] += 1
            self.rows += result.rows or 0
            text = (
                f"landed {self.counts['SUCCEEDED']}, skipped {self.counts['SKIPPED']}, "
                f"failed {self.counts['FAILED']}, rows {self.rows}"
            )
            if self._bar is not None:
                self._bar.set_postfix_str(text, refresh=False)
                self._bar.update(1)
            elif self._enabled:
                done = sum(self.counts.values())
                print(f"{done}/{getattr(self, '_total', '?')} units: {text}", file=self._stream, flush=True)

    def write(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self._stream)
        else:
            print(text, file=self._stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _on_ctrl_c(stop: threading.Event, bar: Progress) -> Callable[[], None]:
    """First Ctrl-C: start no further unit and let those in flight finish; a second one aborts at once."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        bar.write("stopping after the units in flight (Ctrl-C again to abort at once)")

    previous = signal.signal(signal.SIGINT, handler)

    def restore() -> None:
        signal.signal(signal.SIGINT, previous)

    return restore


def _quiet_logs(debug: bool) -> Callable[[], None]:
    """The exporter logs JSON for CloudWatch; on a terminal only --debug shows it (botocore stays at INFO+, so its
    DEBUG dump of the secret's value never prints). Returns what puts the loggers back (main() run in-process)."""
    service = logging.getLogger(os.environ.get("POWERTOOLS_SERVICE_NAME", "kaltura-export"))
    others = [logging.getLogger(n) for n in ("botocore", "urllib3", "boto3", "s3transfer")]
    saved = (service.propagate, service.level, list(service.handlers), [o.level for o in others])
    for other in others:
        other.setLevel(logging.INFO if debug else logging.WARNING)
    quiet = logging.NullHandler()
    if debug:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        service.setLevel(logging.INFO)
    else:
        service.addHandler(quiet)
        service.propagate = False

    def restore() -> None:
        service.propagate, service.level = saved[0], saved[1]
        if quiet in service.handlers:
            service.removeHandler(quiet)
        for other, level in zip(others, saved[3], strict=True):
            other.setLevel(level)

    return restore


def _fail(args: argparse.Namespace, code: int, message: str) -> int:
    if getattr(args, "debug", False):
        traceback.print_exc()
    print(f"kaltura-export: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
