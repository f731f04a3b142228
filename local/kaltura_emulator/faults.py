"""The fault switchboard: misbehaviour injected into report.getCsvFromStringParams calls."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

# serialized KalturaAPIException bodies (HTTP 200)
ERROR_KINDS = frozenset(
    {
        "ACTION_BLOCKED",
        "DRUID_QUERY_TIMED_OUT",
        "INTERNAL_SERVERL_ERROR",
        "SEARCH_TOO_GENERAL",
        "SERVICE_FORBIDDEN",
        # the KS is rejected as the real server rejects a forged one: echoing it in the message and args
        "INVALID_KS",
    }
)
# kinds that decide the whole response: at most one per call
TERMINAL_KINDS = ERROR_KINDS | {"HTTP_500", "REPORT_NOT_FOUND", "EMPTY_NO_HEADER"}
# kinds that alter an otherwise normal CSV response; they combine
MODIFIER_KINDS = frozenset({"ADD_COLUMN", "DROP_COLUMN", "IGNORE_FILTER", "DROP_MID_BODY", "SHORT_BODY"})
DELAY_KINDS = frozenset({"SLOW"})
KINDS = TERMINAL_KINDS | MODIFIER_KINDS | DELAY_KINDS

_DEFAULTS: dict[str, dict[str, Any]] = {
    "SLOW": {"seconds": 1.0},
    "ADD_COLUMN": {"name": "meeting_new_metric", "value": "0", "position": None},
    "DROP_MID_BODY": {"fraction": 0.5},
    "SHORT_BODY": {"missing": 1024},
}


@dataclass
class Fault:
    """One armed fault: ``times`` matching calls left (None: every matching call, forever)."""

    kind: str
    report_id: int | None = None
    times: int | None = 1
    options: dict[str, Any] = field(default_factory=dict)
    hits: int = 0

    def matches(self, report_id: int) -> bool:
        """Whether this fault applies to a call for ``report_id``."""
        return self.report_id is None or self.report_id == report_id

    @property
    def exhausted(self) -> bool:
        """True once it has been consumed ``times`` times."""
        return self.times is not None and self.hits >= self.times

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description (for the control endpoint)."""
        return {"kind": self.kind, "report_id": self.report_id, "times": self.times, "hits": self.hits, **self.options}


class Faults:
    """Thread-safe list of armed faults, consumed in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, kind: str, *, report_id: int | None = None, times: int | None = 1, **options: Any) -> Fault:
        """Arm a fault for the next ``times`` report calls (for ``report_id`` only, when given)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(KINDS)}")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError("times must be a positive integer or None")
        if report_id is not None and not isinstance(report_id, int):
            raise ValueError("report_id must be an integer or None")
        merged = {**_DEFAULTS.get(kind, {}), **options}
        if kind == "DROP_COLUMN" and not merged.get("name"):
            raise ValueError("DROP_COLUMN needs name=<column>")
        if kind == "SLOW" and float(merged["seconds"]) < 0:
            raise ValueError("SLOW needs seconds >= 0")
        if kind == "DROP_MID_BODY" and not 0 <= float(merged["fraction"]) < 1:
            raise ValueError("DROP_MID_BODY needs 0 <= fraction < 1")
        if kind == "SHORT_BODY" and int(merged["missing"]) < 1:
            raise ValueError("SHORT_BODY needs missing >= 1")
        fault = Fault(kind=kind, report_id=report_id, times=times, options=merged)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        """The faults still armed, in order."""
        with self._lock:
            return [f for f in self._faults if not f.exhausted]

    def __len__(self) -> int:
        return len(self.pending())

    def take(self, report_id: int) -> list[Fault]:
        """Consume the faults that apply to one call for ``report_id``.

        Every matching SLOW applies. If any terminal fault matches, the first one decides the response and
        the modifiers stay armed for a later call; otherwise every matching modifier applies (at most one
        of DROP_MID_BODY / SHORT_BODY).
        """
        with self._lock:
            live = [f for f in self._faults if not f.exhausted and f.matches(report_id)]
            chosen = [f for f in live if f.kind in DELAY_KINDS]
            terminal = next((f for f in live if f.kind in TERMINAL_KINDS), None)
            if terminal is not None:
                chosen.append(terminal)
            else:
                transport = False
                for f in live:
                    if f.kind in MODIFIER_KINDS:
                        if f.kind in ("DROP_MID_BODY", "SHORT_BODY"):
                            if transport:
                                continue
                            transport = True
                        chosen.append(f)
            picked = {id(f) for f in chosen}
            ordered = [f for f in live if id(f) in picked]
            for f in ordered:
                f.hits += 1
            self._faults = [f for f in self._faults if not f.exhausted]
            return ordered
