"""indexer.limits: the priority gate at the model, budgets and the batch lane's manners (issue 11, finding 3)."""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext

import pytest

from indexer import limits


def _hold_then_release(gate: limits.PriorityGate, started: threading.Event, release: threading.Event) -> None:
    with gate.hold():
        started.set()
        release.wait(5)


def test_interactive_work_goes_before_batch_work_at_the_gate():
    gate, started, release, order = limits.PriorityGate(), threading.Event(), threading.Event(), []
    holder = threading.Thread(target=_hold_then_release, args=(gate, started, release))
    holder.start()
    assert started.wait(5)

    def waiter(lane: str, name: str, optional: bool = False) -> None:
        with limits.budget(10, lane), limits.optional_step(share=1.0) if optional else nullcontext(), gate.hold():
            order.append(name)
            time.sleep(0.05)

    batch = threading.Thread(target=waiter, args=(limits.BATCH, "batch"))
    batch.start()
    time.sleep(0.1)  # the batch slice waits first ...
    sentences = threading.Thread(target=waiter, args=(limits.INTERACTIVE, "sentences", True))
    sentences.start()
    time.sleep(0.1)
    query = threading.Thread(target=waiter, args=(limits.INTERACTIVE, "query"))
    query.start()
    time.sleep(0.1)
    release.set()
    for t in (holder, batch, sentences, query):
        t.join(5)
    assert order == ["query", "sentences", "batch"]  # ... but the query goes first, then the optional step


def test_a_wait_at_the_gate_ends_with_the_budget():
    gate, started, release = limits.PriorityGate(), threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_then_release, args=(gate, started, release))
    holder.start()
    assert started.wait(5)
    try:
        t0 = time.perf_counter()
        with pytest.raises(limits.BudgetExceeded, match="0.2 s budget"):
            with limits.budget(0.2, limits.INTERACTIVE):
                gate.acquire()
        assert time.perf_counter() - t0 < 2
    finally:
        release.set()
        holder.join(5)


def test_optional_steps_of_an_interactive_request_run_at_low_priority():
    with limits.budget(5, limits.INTERACTIVE):
        assert limits.priority() == limits.HIGH
        with limits.optional_step():
            assert limits.priority() == limits.OPTIONAL
        assert limits.priority() == limits.HIGH
    assert limits.priority() == limits.HIGH  # offline callers: no budget, normal priority


def test_batch_checkpoints_give_way_to_interactive_requests_but_never_starve():
    done = threading.Event()

    def interactive() -> None:
        with limits.budget(5, limits.INTERACTIVE):
            done.wait(5)

    t = threading.Thread(target=interactive)
    t.start()
    time.sleep(0.05)
    try:
        with limits.budget(5, limits.BATCH, yield_max_s=0.3):
            t0 = time.perf_counter()
            limits.checkpoint()
            waited = time.perf_counter() - t0
        assert 0.25 <= waited < 1.5  # waited for the interactive request, then went on
    finally:
        done.set()
        t.join(5)
    with limits.budget(5, limits.BATCH):
        t0 = time.perf_counter()
        limits.checkpoint()
        assert time.perf_counter() - t0 < 0.1  # nobody interactive: no wait


def test_a_checkpoint_past_the_budget_raises():
    with limits.budget(0.01, limits.INTERACTIVE):
        time.sleep(0.03)
        with pytest.raises(limits.BudgetExceeded, match="POLICY_SEARCH_REQUEST_BUDGET_S"):
            limits.checkpoint()


def test_an_optional_step_gives_up_at_its_share_of_the_budget_and_the_request_goes_on():
    gate, started, release = limits.PriorityGate(), threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_then_release, args=(gate, started, release))
    holder.start()
    assert started.wait(5)
    ran = []
    try:
        with limits.budget(2.0, limits.INTERACTIVE) as b:
            t0 = time.perf_counter()
            with limits.optional_step(share=0.25):
                gate.acquire()  # the model stays busy: the step is abandoned here
                ran.append("step")
            waited = time.perf_counter() - t0
            limits.checkpoint()  # the request itself still has time
            assert b.remaining() > 1.0
        assert not ran and 0.3 < waited < 1.2
    finally:
        release.set()
        holder.join(5)


def test_the_gate_lets_slots_holders_in_and_queues_the_rest_in_arrival_order():
    gate, order = limits.PriorityGate(slots=2), []
    inside = threading.Semaphore(0)
    release = {name: threading.Event() for name in "abcde"}

    def worker(name: str) -> None:
        with gate.hold():
            order.append(name)
            inside.release()
            release[name].wait(5)

    def queued(n: int) -> bool:  # n threads wait at the gate (polled: arrival order must be certain)
        end = time.monotonic() + 5
        while len(gate._queue) != n and time.monotonic() < end:
            time.sleep(0.005)
        return len(gate._queue) == n

    threads = {name: threading.Thread(target=worker, args=(name,)) for name in "abcde"}
    for name in "ab":
        threads[name].start()
        assert inside.acquire(timeout=5)
    for n, name in enumerate("cde", start=1):
        threads[name].start()
        assert queued(n)
    assert order == ["a", "b"]  # two slots: c, d and e wait
    for freed, expected in (("a", "abc"), ("b", "abcd"), ("c", "abcde")):
        release[freed].set()  # one slot frees: the longest waiter goes
        assert inside.acquire(timeout=5)
        assert "".join(order) == expected
    for name in "de":
        release[name].set()
    for t in threads.values():
        t.join(5)


def test_batch_work_waiting_past_max_wait_goes_even_while_interactive_work_keeps_coming():
    gate, stop, got_in = limits.PriorityGate(slots=1, max_wait_s=0.3), threading.Event(), []

    def interactive_stream() -> None:  # always one interactive request waiting or holding
        with limits.budget(10, limits.INTERACTIVE):
            while not stop.is_set():
                with gate.hold():
                    time.sleep(0.02)

    streams = [threading.Thread(target=interactive_stream) for _ in range(2)]
    for t in streams:
        t.start()
    time.sleep(0.1)
    t0 = time.perf_counter()
    with limits.budget(10, limits.BATCH), gate.hold():
        got_in.append(time.perf_counter() - t0)
    stop.set()
    for t in streams:
        t.join(5)
    assert 0.25 <= got_in[0] < 2.0  # waited for its turn, then aged into line instead of starving
