"""A synthetic university's virtual classrooms: deterministic in (seed, date, scale), for any date.

Courses meet on a repeating fortnight timetable (weeks A and B) at local hours in America/New_York;
every session, attendee and breakout room is derived from hashes of the seed and the local date, so
any window can be generated without precomputing anything and the same window always gives the same rows.
"""

from __future__ import annotations

import hashlib
import random
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("America/New_York")
# sessions exist only between these local dates: bounds the work for absurd windows such as [0, 2**40)
FIRST_DAY = date(2015, 1, 1)
LAST_DAY = date(2099, 12, 31)
_WEEK_A_MONDAY = date(2001, 1, 1).toordinal()  # a Monday; even weeks since then are "week A"

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_WEEKDAYS = {"Mon": 0, "Tue": 1, "Wed": 2, "Thu": 3, "Fri": 4, "Sat": 5, "Sun": 6}


def hashed_id(*parts: object, length: int = 8) -> str:
    """Lower-case base-36 id derived from ``parts`` (Kaltura ids look like ``1_ab12cd34``)."""
    value = int.from_bytes(hashlib.sha1("|".join(map(str, parts)).encode()).digest(), "big")
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 36)
        chars.append(_B36[digit])
    return "".join(chars)


@dataclass(frozen=True)
class Person:
    """A user: id, display name (may contain commas, quotes, any script), e-mail (may be empty)."""

    user_id: str
    name: str
    email: str


@dataclass(frozen=True)
class Slot:
    """A weekly meeting: ``week`` 0/1 for fortnight weeks A/B, None for every week."""

    week: int | None
    weekday: int
    start_minute: int
    minutes: int


@dataclass(frozen=True)
class Room:
    """A course's virtual classroom (a main-room entry) with its persistent breakout-room entries."""

    index: int
    entry_id: str
    name: str
    instructor: Person
    assistant: Person | None
    virtual_event_id: str
    breakout_entry_ids: tuple[str, ...]
    slots: tuple[Slot, ...]

    def breakout_name(self, group: int) -> str:
        """Name of breakout entry number ``group``."""
        return f"{self.name} / Group {'ABCD'[group]}"


@dataclass(frozen=True)
class BreakoutSession:
    """One breakout-room session inside a main-room session."""

    group: int
    entry_id: str
    cue_point_id: str
    start: int
    end: int
    participants: int
    engagement: float


@dataclass(frozen=True)
class Session:
    """One main-room session (a cue point) and the breakout sessions it opened."""

    key: str
    room: Room
    cue_point_id: str
    start: int
    end: int
    host: Person
    cohost: Person | None
    attendees: int
    engagement: float
    breakouts: tuple[BreakoutSession, ...]

    @property
    def unique_users(self) -> int:
        """Distinct users in the main room: host, co-host, attendees (the 6001 rows of this cue point)."""
        return 1 + (self.cohost is not None) + self.attendees


@dataclass(frozen=True)
class Attendance:
    """One user's presence in one session: view time in 10-second periods, engaged periods among them."""

    person: Person
    user_type: str
    view_periods: int
    engaged_periods: int


# (name, instructor id, instructor name, assistant index or None, timetable)
_COURSES: tuple[tuple[str, str, str, int | None, str], ...] = (
    ("Intro to Statistics, Section 1", "prof.lee@example.edu", "Lee, Prof. Ann", 0, "* Mon 09:00 75; * Wed 09:00 75"),
    ("Calculus II", "m.okafor@example.edu", "Dr. Chidi Okafor", None, "* Tue 10:30 75; * Thu 10:30 75"),
    ('Office Hours with "Dr. Ray"', "ray@example.edu", "Raymond Ray", None, "* Fri 15:00 60; B Sat 11:00 60"),
    ("Économie politique", "c.durand@example.edu", "Céline Durand", 2, "A Mon 13:00 90; A Thu 13:00 90"),
    ("数据科学导论", "wang.li@example.edu", "王丽", 1, "* Tue 19:00 120"),
    ("Organic Chemistry, Lab A", "s.patel@example.edu", "Sunita Patel", 3, "B Wed 14:00 180"),
    ("Linear Algebra", "j.novak@example.edu", "", None, "* Mon 11:00 50; * Wed 11:00 50; * Fri 11:00 50"),
    ("Introduction to Psychology", "a.moreau@example.edu", "Anaïs Moreau", 0, "* Tue 13:00 75; * Thu 13:00 75"),
    (
        "Machine Learning, Theory & Practice",
        "k.tanaka@example.edu",
        "Kenji Tanaka",
        1,
        "A Wed 17:30 90; B Fri 17:30 90",
    ),
    ("World History: 1900–Present", "d.oconnor@example.edu", "Declan O'Connor", None, "* Mon 15:30 75; * Wed 15:30 75"),
    ("Creative Writing Workshop", "e.brooks@example.edu", 'Eleanor "Nell" Brooks', None, "B Thu 18:00 120"),
    ("Physics I — Mechanics", "h.schmidt@example.edu", "Hans Schmidt", 2, "* Tue 08:30 75; * Thu 08:30 75"),
    ("Microeconomics", "r.alvarez@example.edu", "Alvarez, Rosa", None, "* Mon 17:00 75; A Sun 16:00 60"),
    ("Deutsch für Anfänger", "m.mueller@example.edu", "Marta Müller", None, "* Tue 12:00 50; * Thu 12:00 50"),
    ("Data Structures & Algorithms", "p.singh@example.edu", "Priya Singh", 3, "* Mon 13:30 75; * Wed 13:30 75"),
    ('Thesis Seminar: "Methods, Ethics"', "g.rossi@example.edu", "Giulia Rossi", None, "A Fri 13:00 120"),
    ("Русская литература", "i.petrova@example.edu", "Ирина Петрова", None, "B Tue 16:00 90"),
    ("Weekend Review Session", "ta.kim@example.edu", "Min-jun Kim", None, "* Sat 10:00 90"),
)

_ASSISTANTS = (
    Person("ta.garcia@example.edu", "Garcia, Luis", "ta.garcia@example.edu"),
    Person("ta.chen@example.edu", "Chen Wei", "ta.chen@example.edu"),
    Person("ta.fournier@example.edu", "Léa Fournier", "ta.fournier@example.edu"),
    Person("ta.smith@example.edu", 'Jonathan "Jack" Smith', "ta.smith@example.edu"),
)

# rooms (by course index) that belong to a virtual event, so that virtual_event_ids has something to filter
_VIRTUAL_EVENTS = ((0, 3, 8, 14), (1, 6))

# the awkward names first, so that every sizeable session meets some of them
_SPECIAL_STUDENTS: tuple[tuple[str, str], ...] = (
    ("Garcia, Maria", "m.garcia@students.example.edu"),
    ('Robert "Bob" Smith', "bob.smith@students.example.edu"),
    ("Björn Ångström", "bjorn.angstrom@students.example.edu"),
    ("Zoë Mañana", "zoe.manana@students.example.edu"),
    ("José María García", "jm.garcia@students.example.edu"),
    ("Siobhán O'Brien", "s.obrien@students.example.edu"),
    ("O'Neil, Patrick", "p.oneil@students.example.edu"),
    ('Anna "Annie" Kowalski', "a.kowalski@students.example.edu"),
    ("李小龙", ""),
    ("Nguyễn Thị Minh Khai", "minhkhai.nguyen@students.example.edu"),
    ("Smith, John, Jr.", "john.smith.jr@students.example.edu"),
    ("Ünal Yılmaz", "unal.yilmaz@students.example.edu"),
    ("", ""),
    ("Ingrid Ødegård", "ingrid.odegard@students.example.edu"),
    ("Mohammed Al-Fulan", "m.alfulan@students.example.edu"),
    ("Chloé D'Arcy", "chloe.darcy@students.example.edu"),
)
_FIRST = (
    "Emma", "Liam", "Sofía", "Noah", "Aiko", "Mateo", "Chloé", "Kwame", "Priya", "Łukasz", "Amélie", "Tomás",
    "Yuki", "Olga", "Søren", "Fatima", "Ethan", "Isabella", "Oliver", "Hannah", "Daniel", "Mia", "Lucas", "Ava",
)  # fmt: skip
_LAST = (
    "Nakamura", "Okafor", "Kowalski", "Dubois", "Rossi", "Ivanova", "Johnson", "Lee", "Brown", "Martínez",
    "Nguyen", "Andersson", "Haddad", "Silva", "Chen", "Kim", "Fischer", "Novak", "Costa", "Müller", "O'Hara",
)  # fmt: skip
_POOL_PER_SCALE = 1500  # generic students per unit of scale
_ROSTER_PER_SCALE = 45  # students enrolled in a course per unit of scale (sessions draw 5-40 of them)


def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in folded if ch.isalnum())


@lru_cache(maxsize=262_144)
def student(index: int) -> Person:
    """Student number ``index`` of the (unbounded) student body."""
    if index < len(_SPECIAL_STUDENTS):
        name, email = _SPECIAL_STUDENTS[index]
        user_id = f"guest_{index:04d}" if not name else f"s{1_000_000 + index}"
        return Person(user_id, name, email)
    j = index - len(_SPECIAL_STUDENTS)
    first, last = _FIRST[j % len(_FIRST)], _LAST[(j // len(_FIRST)) % len(_LAST)]
    # some student systems export "Last, First"; the server turns that comma into a space
    name = f"{last}, {first}" if j % 9 == 4 else f"{first} {last}"
    email = "" if j % 13 == 7 else f"{_ascii_slug(first)}.{_ascii_slug(last)}{index}@students.example.edu"
    user_id = email if (j % 5 == 2 and email) else f"s{1_000_000 + index}"
    return Person(user_id, name, email)


def _parse_timetable(spec: str) -> tuple[Slot, ...]:
    slots = []
    for item in spec.split(";"):
        week, weekday, hhmm, minutes = item.split()
        hours, mins = hhmm.split(":")
        slots.append(
            Slot(
                week={"*": None, "A": 0, "B": 1}[week],
                weekday=_WEEKDAYS[weekday],
                start_minute=int(hours) * 60 + int(mins),
                minutes=int(minutes),
            )
        )
    return tuple(slots)


def _ratio(engaged: int, total: int) -> float:
    return engaged / total if total else 0.0


class University:
    """The synthetic data set of one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        events = [str(1_000_000 + int(hashed_id(seed, "event", n, length=6), 36) % 9_000_000) for n in range(2)]
        rooms = []
        for index, (name, host_id, host_name, assistant, timetable) in enumerate(_COURSES):
            event = next((events[n] for n, members in enumerate(_VIRTUAL_EVENTS) if index in members), "")
            rooms.append(
                Room(
                    index=index,
                    entry_id="1_" + hashed_id(seed, "room", index),
                    name=name,
                    instructor=Person(host_id, host_name, host_id),
                    assistant=None if assistant is None else _ASSISTANTS[assistant],
                    virtual_event_id=event,
                    breakout_entry_ids=tuple("1_brk" + hashed_id(seed, "brk", index, g, length=5) for g in range(4)),
                    slots=_parse_timetable(timetable),
                )
            )
        self.rooms: tuple[Room, ...] = tuple(rooms)
        self.virtual_events: dict[str, tuple[str, ...]] = {
            events[n]: tuple(self.rooms[i].entry_id for i in members) for n, members in enumerate(_VIRTUAL_EVENTS)
        }
        self._cache: dict[tuple[int, int], tuple[Session, ...]] = {}
        self._rosters: dict[tuple[int, int], tuple[int, ...]] = {}
        self._lock = threading.Lock()

    def roster(self, room: Room, scale: int = 1) -> tuple[int, ...]:
        """Student indexes enrolled in a course: a third of the awkward names, the rest from the generic pool."""
        key = (room.index, scale)
        with self._lock:
            cached = self._rosters.get(key)
        if cached is not None:
            return cached
        special = [i for i in range(len(_SPECIAL_STUDENTS)) if (i + room.index) % 3 == 0]
        size = _ROSTER_PER_SCALE * max(1, scale)
        pool = range(len(_SPECIAL_STUDENTS), len(_SPECIAL_STUDENTS) + _POOL_PER_SCALE * max(1, scale))
        generic = random.Random(f"{self.seed}|roster|{room.index}|{scale}").sample(pool, size - len(special))
        roster = tuple(special + generic)
        with self._lock:
            self._rosters[key] = roster
        return roster

    @staticmethod
    def local_days(from_s: int, to_s: int) -> Iterator[date]:
        """Local dates whose sessions may start in [from_s, to_s), clipped to the data's lifetime."""
        if to_s <= from_s:
            return
        lo = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=ZONE).timestamp()
        hi = datetime(LAST_DAY.year, LAST_DAY.month, LAST_DAY.day, 23, 59, 59, tzinfo=ZONE).timestamp()
        start, end = max(from_s, int(lo)), min(to_s - 1, int(hi))
        if end < start:
            return
        day = datetime.fromtimestamp(start, ZONE).date()
        last = datetime.fromtimestamp(end, ZONE).date()
        while day <= last:
            yield day
            day += timedelta(days=1)

    def sessions_on(self, day: date, scale: int = 1) -> tuple[Session, ...]:
        """Main-room sessions held on a local date, by start time."""
        key = (day.toordinal(), scale)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        sessions = self._generate_day(day, scale)
        with self._lock:
            if len(self._cache) > 8192:
                self._cache.clear()
            self._cache[key] = sessions
        return sessions

    def _generate_day(self, day: date, scale: int) -> tuple[Session, ...]:
        week = ((day.toordinal() - _WEEK_A_MONDAY) // 7) % 2
        sessions = []
        for room in self.rooms:
            for number, slot in enumerate(room.slots):
                if slot.weekday == day.weekday() and slot.week in (None, week):
                    session = self._session(room, number, slot, day, scale)
                    if session is not None:
                        sessions.append(session)
        sessions.sort(key=lambda s: (s.start, s.room.entry_id))
        return tuple(sessions)

    def _session(self, room: Room, number: int, slot: Slot, day: date, scale: int) -> Session | None:
        key = f"{self.seed}|{day.isoformat()}|{room.index}|{number}"
        rng = random.Random(key)
        if rng.random() < 0.06:  # cancelled
            return None
        hours, minutes = divmod(slot.start_minute, 60)
        scheduled = int(datetime(day.year, day.month, day.day, hours, minutes, tzinfo=ZONE).timestamp())
        start = scheduled + rng.randint(-120, 420)
        end = start + slot.minutes * 60 + rng.randint(-300, 600)
        host = room.instructor
        if room.assistant is not None and rng.random() < 0.1:
            host = room.assistant
        cohost = None
        if room.assistant is not None and host is room.instructor and rng.random() < 0.6:
            cohost = room.assistant
        attendees = rng.randint(5, 40) * scale
        total = rng.randint(200, 5000)
        engagement = _ratio(int(total * rng.uniform(0.35, 0.95)), total)
        breakouts: list[BreakoutSession] = []
        if slot.minutes >= 50 and rng.random() < 1 / 3:
            groups = rng.randint(2, 4)
            joined = max(groups, int(attendees * rng.uniform(0.7, 1.0)))
            offset = int((end - start) * rng.uniform(0.25, 0.5))
            length = rng.choice((600, 900, 1200, 1500, 1800)) + rng.randint(-60, 120)
            for group in range(groups):
                b_start = start + offset + rng.randint(0, 45)
                b_end = b_start + length + rng.randint(-30, 30)
                size = joined // groups + (1 if group < joined % groups else 0)
                b_total = rng.randint(50, 2000)
                breakouts.append(
                    BreakoutSession(
                        group=group,
                        entry_id=room.breakout_entry_ids[group],
                        cue_point_id="1_" + hashed_id(key, "brk", group),
                        start=b_start,
                        end=b_end,
                        participants=size,
                        engagement=_ratio(int(b_total * rng.uniform(0.4, 1.0)), b_total),
                    )
                )
        return Session(
            key=key,
            room=room,
            cue_point_id="1_" + hashed_id(key, "cue"),
            start=start,
            end=end,
            host=host,
            cohost=cohost,
            attendees=attendees,
            engagement=engagement,
            breakouts=tuple(breakouts),
        )

    def attendance(self, session: Session, scale: int = 1) -> tuple[list[Attendance], list[list[Attendance]]]:
        """Who was in the main room (host and co-host first) and in each breakout room of a session."""
        rng = random.Random(session.key + "|attendance")
        periods = max(1, (session.end - session.start) // 10)
        host_periods = max(1, periods - rng.randint(0, 3))
        main = [Attendance(session.host, "Host", host_periods, int(host_periods * rng.uniform(0.85, 1.0)))]
        if session.cohost is not None:
            v = max(1, int(periods * rng.uniform(0.6, 1.0)))
            main.append(Attendance(session.cohost, "Co-host", v, int(v * rng.uniform(0.5, 0.95))))
        chosen = rng.sample(self.roster(session.room, scale), session.attendees)
        low = max(1, periods // 20)
        for index in chosen:
            # one random() per draw: this loop is the hot path of scaled-up benchmark bodies
            v = low + int(rng.random() * (periods - low + 1))
            main.append(Attendance(student(index), "Attendee", v, int(v * rng.triangular(0.2, 1.0, 0.8))))
        rooms: list[list[Attendance]] = []
        rng.shuffle(chosen)
        taken = 0
        for breakout in session.breakouts:
            b_periods = max(1, (breakout.end - breakout.start) // 10)
            members = chosen[taken : taken + breakout.participants]
            taken += breakout.participants
            group = []
            b_low = max(1, b_periods // 4)
            for index in members:
                v = b_low + int(rng.random() * (b_periods - b_low + 1))
                group.append(Attendance(student(index), "Attendee", v, int(v * rng.triangular(0.3, 1.0, 0.75))))
            rooms.append(group)
        return main, rooms
