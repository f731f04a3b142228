"""The one place that decides how often, and for how long, a unit is tried (DESIGN.md's code → action table)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from .errors import KalturaError, OutOfTimeError

T = TypeVar("T")

#: attempts for transient faults (HTTP 5xx, connection errors, cut bodies, ACTION_BLOCKED, DRUID_QUERY_TIMED_OUT)
MAX_ATTEMPTS = 4
#: INTERNAL_SERVERL_ERROR is both "missing parameter" and a Druid failure: one retry, then fail
ONCE_CODES = frozenset({"INTERNAL_SERVERL_ERROR"})
MAX_DELAY = 60.0
#: seconds kept back from the invocation for the manifest, the run summary and the notification
RESERVE = 15.0


class Budget:
    """The time an invocation has left (Lambda's context), minus a reserve; unlimited without a clock."""

    def __init__(self, remaining: Callable[[], float] | None = None, *, reserve: float = RESERVE) -> None:
        self._remaining = remaining
        self._reserve = reserve

    def left(self) -> float | None:
        """Seconds available for work, or None when there is no limit."""
        if self._remaining is None:
            return None
        return self._remaining() - self._reserve

    def timeout(self, wanted: float) -> float:
        """A read timeout that ends before the budget does."""
        left = self.left()
        return wanted if left is None else max(0.5, min(wanted, left))

    def check(self, last: BaseException | None = None) -> None:
        left = self.left()
        if left is not None and left < 1:
            cause = f" (last error: {getattr(last, 'code', type(last).__name__)})" if last else ""
            raise OutOfTimeError(
                f"ran out of time: {max(left + self._reserve, 0):.0f} s of the invocation left, "
                f"not enough to export this unit safely{cause}; nothing was written"
            )


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, KalturaError) and exc.retryable


def _stop(state: RetryCallState) -> bool:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, KalturaError) and exc.code in ONCE_CODES:
        return state.attempt_number >= 2
    return stop_after_attempt(MAX_ATTEMPTS)(state)


class Attempts:
    """Runs a callable with backoff and jitter on transient faults, within a time budget, counting attempts."""

    def __init__(self, base_delay: float, budget: Budget | None = None, *, counter: Attempts | None = None) -> None:
        self._base_delay = base_delay
        self._budget = budget or Budget()
        self.count = 0
        #: another Attempts that also counts these (the unit of a split part)
        self._counter = counter
        self._lock = threading.Lock()

    def _count(self) -> None:
        with self._lock:
            self.count += 1
        if self._counter is not None:
            self._counter._count()

    def __call__(self, fn: Callable[[], T]) -> T:
        last: list[BaseException] = []

        def counted() -> T:
            self._budget.check(last[-1] if last else None)
            self._count()
            try:
                return fn()
            except BaseException as exc:
                last.append(exc)
                raise

        backoff = wait_random_exponential(multiplier=self._base_delay, max=MAX_DELAY)

        def wait(state: RetryCallState) -> float:
            delay = backoff(state) if self._base_delay else 0.0
            left = self._budget.left()
            # never sleep past the budget: the next attempt's check then ends the unit cleanly
            return delay if left is None else max(0.0, min(delay, left - 1))

        retrying = Retrying(retry=retry_if_exception(_retryable), stop=_stop, wait=wait, sleep=time.sleep, reraise=True)
        return retrying(counted)
