"""`kaltura-export run --dry-run`: the units a run would export and the keys it would write; writes nothing.

Reads the secrets (for the partner ids in the keys) and, for a run without dates, the manifest listing (for the
periods self-healing would add); calls no Kaltura API and writes no object.
"""

from __future__ import annotations

from typing import Any, TextIO

from . import ledger
from .coverage import gaps, on_grid
from .credentials import parse_secret
from .errors import ExportError
from .events import ManualRequest, ScheduledRequest
from .layout import data_key, manifest_key, s3_uri
from .run import Services, plan_windows
from .settings import Settings


def print_plan(request: ManualRequest | ScheduledRequest, settings: Settings, services: Services, out: TextIO) -> None:
    windows = plan_windows(request, settings)
    partners: list[int] = []
    for secret in settings.secret_ids:
        try:
            value = services.read_secret(secret, False)
            if not isinstance(value, str):
                raise ExportError(f"secret {secret}: the value must be a string (SecretString), not binary")
            partners.append(parse_secret(value, name=secret).partner_id)
        except ExportError as exc:
            print(f"partner of secret {secret}: unknown ({exc}); its units would fail", file=out)
    units: list[tuple[str, int, Any, str]] = []
    for pid in partners:
        for window in windows:
            for report in settings.reports:
                units.append((report.name, pid, window, ""))
        if isinstance(request, ScheduledRequest) and settings.heal_limit and windows:
            healing: list[tuple[str, int, Any, str]] = []
            for report in settings.reports:
                refs = ledger.manifests(services.s3, settings.bucket, settings.prefix, report.name, pid)
                landed = on_grid(refs, settings.period, settings.tz)
                healing += [
                    (report.name, pid, w, " (self-heal)")
                    for w in gaps(landed, windows[0].start, settings.period, settings.tz)
                ]
            healing.sort(key=lambda u: u[2].start, reverse=True)
            units += healing[: settings.heal_limit]
    by_name = {r.name: r for r in settings.reports}
    print(
        f"plan: {len(units)} unit(s): {len(settings.reports)} report(s) x {len(windows)} {settings.period.value} "
        f"period(s) in {settings.timezone} x {len(partners)} partner(s); --dry-run: nothing is written",
        file=out,
    )
    for name, pid, window, note in units:
        report = by_name[name]
        print(f"  {name:<15} partner {pid}  {window.iso_start()} .. {window.iso_end()}{note}", file=out)
        print(f"    {s3_uri(settings.bucket, data_key(settings.prefix, report, pid, window))}", file=out)
        print(f"    {s3_uri(settings.bucket, manifest_key(settings.prefix, report, pid, window))}", file=out)
