"""What one request may cost the others: a time budget, a lane, and a priority gate around the model.

Why: the embedding model runs one call at a time and the machine has few cores, so without rules a
1,000-query batch or a stream of expensive queries makes every other user wait (issue 11). The web
layer opens a `Budget` per request (interactive or batch lane); the engine calls `checkpoint()` between
steps and takes the model through a `PriorityGate`, where interactive work goes before batch work.
Offline callers (CLI, indexing, eval) open no budget: no deadline, normal priority.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from indexer.errors import SearchEngineError

INTERACTIVE, BATCH = "interactive", "batch"
HIGH, OPTIONAL, LOW = 0, 1, 2  # interactive work, optional steps of interactive requests, batch work


class BudgetExceeded(SearchEngineError):
    """The request used up its time budget (HTTP 504 with this reason)."""


class Overloaded(SearchEngineError):
    """No capacity for this request now (HTTP 503 with Retry-After)."""

    retry_after = 5


@dataclass
class Budget:
    """A deadline for one request and the lane it runs in."""

    seconds: float
    lane: str = INTERACTIVE
    started: float = field(default_factory=time.monotonic)
    low_priority: bool = False  # set for optional steps of an interactive request (see `optional_step`)
    yield_max_s: float = 1.0  # batch lane: longest wait for interactive requests at each checkpoint
    step_deadline: float | None = None  # an optional step's own, earlier deadline (see `optional_step`)

    @property
    def deadline(self) -> float:
        return self.started + self.seconds

    def remaining(self) -> float:
        end = self.deadline if self.step_deadline is None else min(self.deadline, self.step_deadline)
        return end - time.monotonic()

    def check(self, what: str = "the request") -> None:
        if self.remaining() <= 0:
            raise BudgetExceeded(
                f"{what} took longer than its {self.seconds:g} s budget "
                f"({'batch' if self.lane == BATCH else 'interactive'} lane); try again with less work, "
                f"or raise POLICY_SEARCH_{'BATCH' if self.lane == BATCH else 'REQUEST'}_BUDGET_S"
            )


_current: ContextVar[Budget | None] = ContextVar("policy_search_budget", default=None)


def current() -> Budget | None:
    return _current.get()


@contextlib.contextmanager
def budget(seconds: float, lane: str = INTERACTIVE, yield_max_s: float = 1.0) -> Iterator[Budget]:
    """Run the enclosed work under a budget (the web layer opens one per request)."""
    b = Budget(seconds=seconds, lane=lane, yield_max_s=yield_max_s)
    token = _current.set(b)
    if lane == INTERACTIVE:
        ACTIVITY.enter()
    try:
        yield b
    finally:
        if lane == INTERACTIVE:
            ACTIVITY.leave()
        _current.reset(token)


def priority() -> int:
    """LOW for the batch lane, OPTIONAL for optional steps of interactive requests, HIGH otherwise
    (also for offline callers: no budget)."""
    b = current()
    if b is None:
        return HIGH
    if b.lane == BATCH:
        return LOW
    return OPTIONAL if b.low_priority else HIGH


@contextlib.contextmanager
def optional_step(share: float = 0.1) -> Iterator[None]:
    """An extra a request can do without (e.g. sentences by meaning): low priority, at most `share` of the
    time left; when that runs out the step is abandoned (the block ends early) and the request goes on."""
    b = current()
    if b is None:
        yield
        return
    before = (b.low_priority, b.step_deadline)
    b.low_priority = True
    b.step_deadline = time.monotonic() + max(0.0, b.remaining()) * share
    try:
        yield
    except BudgetExceeded:
        b.low_priority, b.step_deadline = before
        b.check()  # the request's own budget: that one is not optional
    finally:
        b.low_priority, b.step_deadline = before


class Activity:
    """How many interactive requests are running: the batch lane steps aside while there are any."""

    def __init__(self) -> None:
        self._n = 0
        self._cond = threading.Condition()

    def enter(self) -> None:
        with self._cond:
            self._n += 1

    def leave(self) -> None:
        with self._cond:
            self._n -= 1
            if self._n <= 0:
                self._cond.notify_all()

    @property
    def active(self) -> int:
        return self._n

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._n <= 0, timeout=max(0.0, timeout))


ACTIVITY = Activity()


def checkpoint(what: str = "the request") -> None:
    """Between steps of a search: enforce the budget; batch work waits while interactive requests run.

    The wait is bounded (the budget's yield_max_s per step) so a steady stream of interactive traffic slows a
    batch down but never starves it.
    """
    b = current()
    if b is None:
        return
    b.check(what)
    if b.lane == BATCH and ACTIVITY.active > 0:
        ACTIVITY.wait_idle(min(b.yield_max_s, max(0.0, b.remaining())))
        b.check(what)


class PriorityGate:
    """At most `slots` holders at once; waiters go by priority, then in arrival order, and waits end with the
    request's budget.

    With `max_wait_s`, a lower-priority waiter that has waited that long goes as if it were interactive, so a
    steady stream of interactive requests slows batch work down but never starves it.
    """

    def __init__(self, slots: int = 1, max_wait_s: float | None = None) -> None:
        self._cond = threading.Condition()
        self._free = max(1, int(slots))
        self._max_wait_s = max_wait_s
        self._queue: list[list] = []  # [level, ticket, since] of each waiter
        self._tickets = itertools.count()

    @contextlib.contextmanager
    def hold(self, what: str = "the embedding model") -> Iterator[None]:
        self.acquire(what)
        try:
            yield
        finally:
            self.release()

    def acquire(self, what: str = "the embedding model") -> None:
        b = current()
        me = [priority(), next(self._tickets), time.monotonic()]
        with self._cond:
            self._queue.append(me)
            try:
                while not self._my_turn(me):
                    self._cond.wait(self._wait_timeout(b, what, me[0]))
                self._free -= 1
            finally:
                self._queue.remove(me)
                self._cond.notify_all()  # the next in line may go now

    def _my_turn(self, me: list) -> bool:
        """Age lower-priority waiters past `max_wait_s`, then: is `me` among the first `free` in line?"""
        now = time.monotonic()
        for w in self._queue:
            if w[0] and self._max_wait_s is not None and now - w[2] >= self._max_wait_s:
                w[0] = HIGH
        return self._free > 0 and me in sorted(self._queue)[: self._free]

    def _wait_timeout(self, b: Budget | None, what: str, level: int) -> float | None:
        timeout = None if b is None or b.seconds == float("inf") else b.remaining()
        if timeout is not None and timeout <= 0:
            b.check(f"waiting for {what}")
        if level and self._max_wait_s is not None:  # wake up in time to age
            timeout = self._max_wait_s if timeout is None else min(timeout, self._max_wait_s)
        return timeout

    def release(self) -> None:
        with self._cond:
            self._free += 1
            self._cond.notify_all()


class Slots:
    """At most `n` requests of a lane at once; a request that cannot start within `wait_s` gets a 503."""

    def __init__(self, n: int, wait_s: float, what: str) -> None:
        self._sem = threading.BoundedSemaphore(max(1, n))
        self.n, self.wait_s, self.what = max(1, n), wait_s, what

    @contextlib.contextmanager
    def take(self) -> Iterator[None]:
        if not self._sem.acquire(timeout=max(0.0, self.wait_s)):
            raise Overloaded(
                f"{self.what}: all {self.n} slot(s) busy for {self.wait_s:g} s; retry later "
                "(POLICY_SEARCH_BATCH_SLOTS, POLICY_SEARCH_BATCH_QUEUE_S)"
            )
        try:
            yield
        finally:
            self._sem.release()
