"""The report catalogue: the three Virtual Classroom reports, their columns and their filters.

Pure data and lookups; the Glue tables in template.yaml are checked against this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import ConfigError, FilterError

#: settings that hold filters, in the order they are sent
FILTER_SETTINGS = ("ENTRY_IDS", "VIRTUAL_EVENT_IDS", "USER_IDS", "CUE_POINT_IDS")


@dataclass(frozen=True)
class Report:
    """One Kaltura report as the exporter lands it."""

    name: str
    id: int
    columns: tuple[str, ...]
    #: setting name -> Kaltura string-param key
    filters: Mapping[str, str]
    #: pairs of (from key, to key) the report receives the window under
    date_keys: tuple[tuple[str, str], ...] = (("from_date", "to_date"),)
    #: the column that holds the room a row belongs to, and the filter that selects by it
    room_column: str = "entry_id"


ROOMS = Report(
    name="rooms",
    id=6000,
    columns=(
        "entry_id",
        "entry_name",
        "parent_entry_id",
        "cue_point_id",
        "session_start_time",
        "session_end_time",
        "session_host_user_id",
        "meeting_view_period_unique_users",
        "meeting_engaged_play_time_ratio",
    ),
    filters={"ENTRY_IDS": "entry_ids", "VIRTUAL_EVENT_IDS": "virtual_event_ids"},
)

ATTENDEES = Report(
    name="attendees",
    id=6001,
    columns=(
        "entry_id",
        "cue_point_id",
        "user_id",
        "user_name",
        "user_email",
        "user_type",
        "meeting_view_time",
        "meeting_engaged_play_time_ratio",
    ),
    filters={
        "ENTRY_IDS": "entry_ids",
        "VIRTUAL_EVENT_IDS": "virtual_event_ids",
        "USER_IDS": "user_ids",
        "CUE_POINT_IDS": "cue_point_ids",
    },
)

BREAKOUT_ROOMS = Report(
    name="breakout_rooms",
    id=6002,
    columns=(
        "parent_entry_id",
        "parent_entry_name",
        "breakout_entry_id",
        "breakout_entry_name",
        "cue_point_id",
        "session_initiator",
        "session_start_time",
        "session_end_time",
        "duration",
        "participant_count",
        "engagement_rate",
    ),
    filters={"ENTRY_IDS": "parentEntryIds", "VIRTUAL_EVENT_IDS": "virtual_event_ids"},
    # the seed spells 6002's dates fromDate/toDate; the server ignores keys a report does not use
    date_keys=(("from_date", "to_date"), ("fromDate", "toDate")),
    room_column="parent_entry_id",
)

REPORTS: tuple[Report, ...] = (ROOMS, ATTENDEES, BREAKOUT_ROOMS)
_BY_KEY: dict[str, Report] = {r.name: r for r in REPORTS} | {str(r.id): r for r in REPORTS}


def report_for(name_or_id: str | int, *, field: str = "REPORTS") -> Report:
    """The report named ``name_or_id`` (``"attendees"``, ``"6001"`` or ``6001``)."""
    key = str(name_or_id).strip().lower()
    try:
        return _BY_KEY[key]
    except KeyError:
        known = ", ".join(f"{r.name} ({r.id})" for r in REPORTS)
        raise ConfigError(f"{field}: unknown report {str(name_or_id)!r}; known reports: {known}") from None


def resolve_reports(names_or_ids: Iterable[str | int], *, field: str = "REPORTS") -> tuple[Report, ...]:
    """Reports in catalogue order, each once, from names or ids."""
    wanted = {report_for(n, field=field).name for n in names_or_ids}
    if not wanted:
        raise ConfigError(f"{field}: no report given; choose from {', '.join(r.name for r in REPORTS)}")
    return tuple(r for r in REPORTS if r.name in wanted)


def check_filter_value(setting: str, items: Iterable[str]) -> tuple[str, ...]:
    """Validate one filter list: Kaltura's ``params`` has no escaping, so ``;`` can never be sent."""
    values = tuple(items)
    for item in values:
        if not item.strip():
            raise FilterError(f"{setting}: empty item in the list (two commas in a row, or a trailing comma)")
        if ";" in item:
            raise FilterError(f"{setting}: {item!r} contains ';', which Kaltura's params cannot carry")
    return values


def build_params(
    report: Report,
    start: int,
    end: int,
    filters: Mapping[str, tuple[str, ...]],
) -> tuple[str, list[str]]:
    """Kaltura's ``params`` string for one call, and warnings for filters the report does not take.

    ``start``/``end`` are UTC Unix seconds of the half-open window; ``filters`` maps a filter
    setting (``ENTRY_IDS``...) to its values.
    """
    pairs: list[tuple[str, str]] = []
    for from_key, to_key in report.date_keys:
        pairs += [(from_key, str(start)), (to_key, str(end))]
    warnings: list[str] = []
    for setting in FILTER_SETTINGS:
        values = filters.get(setting, ())
        if not values:
            continue
        key = report.filters.get(setting)
        if key is None:
            warnings.append(f"{report.name} ({report.id}) does not take {setting}: exported without that filter")
            continue
        pairs.append((key, ",".join(check_filter_value(setting, values))))
    return ";".join(f"{k}={v}" for k, v in pairs), warnings
