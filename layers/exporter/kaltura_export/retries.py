"""The one place that decides how often a unit is tried (DESIGN.md's code → action table)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from .errors import KalturaError

T = TypeVar("T")

#: attempts for transient faults (HTTP 5xx, connection errors, cut bodies, ACTION_BLOCKED, DRUID_QUERY_TIMED_OUT)
MAX_ATTEMPTS = 4
#: INTERNAL_SERVERL_ERROR is both "missing parameter" and a Druid failure: one retry, then fail
ONCE_CODES = frozenset({"INTERNAL_SERVERL_ERROR"})
MAX_DELAY = 60.0


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, KalturaError) and exc.retryable


def _stop(state: RetryCallState) -> bool:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, KalturaError) and exc.code in ONCE_CODES:
        return state.attempt_number >= 2
    return stop_after_attempt(MAX_ATTEMPTS)(state)


class Attempts:
    """Runs a callable with backoff and jitter on transient faults, counting the attempts made."""

    def __init__(self, base_delay: float) -> None:
        self._base_delay = base_delay
        self.count = 0

    def __call__(self, fn: Callable[[], T]) -> T:
        def counted() -> T:
            self.count += 1
            return fn()

        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=_stop,
            wait=wait_random_exponential(multiplier=self._base_delay, max=MAX_DELAY) if self._base_delay else _no_wait,
            reraise=True,
        )
        return retrying(counted)


def _no_wait(state: RetryCallState) -> float:
    return 0.0
