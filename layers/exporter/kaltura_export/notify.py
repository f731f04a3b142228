"""The run's notification: one SNS message whose e-mail reads in ten seconds (DESIGN.md "Summary and notification")."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from .summary import RunSummary, UnitResult

#: SNS's limit is 256 KiB for the whole message; leave room for the e-mail text and the envelope
_DEFAULT_BUDGET = 120_000
_EMAIL_BUDGET = 100_000
_FAILURES_IN_SHORT = 20


def subject(summary: RunSummary) -> str:
    """ASCII, one line, under 100 characters, starting with the status (real SNS rejects anything else)."""
    total = len(summary.reports)
    failed = summary.count("FAILED")
    if summary.error is not None:
        text = f"FAILED: kaltura-export run did not start ({summary.error.code})"
    elif failed:
        text = f"FAILED: kaltura-export {failed} of {total} report exports failed"
    else:
        text = f"SUCCEEDED: kaltura-export {summary.count('SUCCEEDED')} report exports, {_rows(summary)} rows"
    text = text.encode("ascii", "replace").decode("ascii").replace("\n", " ").replace("\r", " ")
    return text[:99]


def _rows(summary: RunSummary) -> int:
    return sum(u.rows or 0 for u in summary.reports)


def _window(u: UnitResult) -> str:
    return f"{u.window_start} - {u.window_end}"


def email_text(summary: RunSummary) -> str:
    """Plain text: the verdict first, then counts, failures with what to do, drift and warnings."""
    lines: list[str] = []
    failed = [u for u in summary.reports if u.status == "FAILED"]
    if summary.error is not None:
        lines.append(f"FAILED: the export did not run. {summary.error.message}")
        lines.append(f"What to do: {summary.error.action or 'see the function logs'}.")
    elif failed:
        others = "nothing landed" if len(failed) == len(summary.reports) else "the others landed"
        lines.append(
            f"FAILED: {len(failed)} of {len(summary.reports)} report exports failed; {others}. "
            "Nothing partial was written; fix the cause below and the next run (or a manual run) re-exports them."
        )
    else:
        landed, skipped = summary.count("SUCCEEDED"), summary.count("SKIPPED")
        also = f" ({skipped} skipped: already landed or landed by a concurrent run)" if skipped else ""
        lines.append(f"SUCCEEDED: {landed} report exports landed{also}, {_rows(summary)} rows in all. Nothing to do.")
    lines.append("")
    lines.append(f"Run {summary.run_id} ({summary.trigger}), partners {', '.join(map(str, summary.partners)) or '-'}")

    per_report: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for u in summary.reports:
        c = per_report[u.report]
        c[u.status] += 1
        c["rows"] += u.rows or 0
    if per_report:
        lines.append("")
        lines.append("Per report:")
        for name, c in per_report.items():
            parts = [f"{c['SUCCEEDED']} landed ({c['rows']} rows)"]
            if c["FAILED"]:
                parts.append(f"{c['FAILED']} failed")
            if c["SKIPPED"]:
                parts.append(f"{c['SKIPPED']} skipped")
            lines.append(f"  {name}: {', '.join(parts)}")
    if failed:
        lines.append("")
        lines.append("Failures:")
        for u in failed:
            err = u.error
            if err is None:
                continue
            lines.append(f"  {u.report} ({u.report_id}), partner {u.partner_id}, {_window(u)}")
            lines.append(f"    {err.code} after {err.attempts} attempt(s): {err.message}")
            lines.append(f"    What to do: {err.action or 'see the function logs'}")
    drift = [u for u in summary.reports if any(u.drift.get(k) for k in ("added", "dropped"))]
    if drift:
        lines.append("")
        lines.append("Column drift (Kaltura changed a report's columns; the table's columns did not move):")
        for u in drift:
            added = ", ".join(u.drift.get("added", [])) or "-"
            dropped = ", ".join(u.drift.get("dropped", [])) or "-"
            lines.append(f"  {u.report} {_window(u)}: added (not landed) {added}; dropped (landed empty) {dropped}")
    if summary.warnings:
        lines.append("")
        lines.append("Warnings:")
        lines.extend(f"  {w}" for w in summary.warnings)
    if summary.uri:
        lines.append("")
        lines.append(f"Full summary: {summary.uri}")
    text = "\n".join(lines) + "\n"
    if len(text.encode()) > _EMAIL_BUDGET:
        text = text.encode()[: _EMAIL_BUDGET - 200].decode(errors="ignore")
        text += f"\n... cut to fit an e-mail; the full summary is at {summary.uri or 'the _runs/ prefix'}\n"
    return text


def default_message(summary: RunSummary) -> str:
    """The summary JSON, cut to its counts and first failures when it would not fit SNS."""
    full = summary.to_dict()
    text = json.dumps(full, separators=(",", ":"))
    if len(text.encode()) <= _DEFAULT_BUDGET:
        return text
    failures = [u.to_dict() for u in summary.reports if u.status == "FAILED"][:_FAILURES_IN_SHORT]
    short: dict[str, Any] = {k: v for k, v in full.items() if k != "reports"}
    short["truncated"] = True
    short["summary_uri"] = summary.uri
    short["counts"] = {s: summary.count(s) for s in ("SUCCEEDED", "FAILED", "SKIPPED")}
    short["reports"] = failures
    short["warnings"] = short["warnings"][:20]
    return json.dumps(short, separators=(",", ":"))


def sns_message(summary: RunSummary) -> dict[str, Any]:
    """Keyword arguments for ``sns.publish`` (without ``TopicArn``)."""
    return {
        "MessageStructure": "json",
        "Message": json.dumps({"default": default_message(summary), "email": email_text(summary)}),
        "Subject": subject(summary),
        "MessageAttributes": {"status": {"DataType": "String", "StringValue": summary.status}},
    }
