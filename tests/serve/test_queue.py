"""The reload threads, of one policy or of a folder of schools: a burst of changes to a
school is one reload, a signal runs one at once, never two reloads of one school at once,
several schools side by side."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from alertpolicy.engine.serve.queue import ONE_POLICY, ReloadQueue
from tests.serve.support import wait_until


class Recorder:
    """A reload that records each call and how many ran at once, per school."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.calls: list[tuple[str, bool]] = []
        self.running: dict[str, int] = {}
        self.overlap = 0
        self.most_at_once = 0
        self.started = threading.Event()
        """Set when a reload has begun."""
        self._lock = threading.Lock()

    def __call__(self, school: str, force: bool) -> None:
        with self._lock:
            self.calls.append((school, force))
            self.running[school] = self.running.get(school, 0) + 1
            self.overlap = max(self.overlap, self.running[school])
            self.most_at_once = max(self.most_at_once, sum(self.running.values()))
        self.started.set()
        time.sleep(self.seconds)
        with self._lock:
            self.running[school] -= 1


@pytest.fixture
def queue_of() -> Iterator[list[ReloadQueue]]:
    queues: list[ReloadQueue] = []
    yield queues
    for queue in queues:
        queue.stop()


def test_a_burst_of_changes_is_one_reload_after_the_quiet_period(
    queue_of: list[ReloadQueue],
) -> None:
    recorder = Recorder()
    queue = ReloadQueue(recorder, debounce=0.3)
    queue_of.append(queue)
    queue.start()
    started = time.monotonic()
    for _ in range(5):
        queue.request(["oakfield"])
        time.sleep(0.05)
    assert wait_until(lambda: recorder.calls == [("oakfield", False)], seconds=5)
    assert time.monotonic() - started >= 0.5
    time.sleep(0.4)
    assert recorder.calls == [("oakfield", False)]


def test_a_school_never_reloads_twice_at_once_and_schools_do_side_by_side(
    queue_of: list[ReloadQueue],
) -> None:
    recorder = Recorder(seconds=0.3)
    queue = ReloadQueue(recorder, debounce=0.0, threads=2)
    queue_of.append(queue)
    queue.start()
    queue.request(["oakfield", "riverside"], immediate=True)
    assert recorder.started.wait(5)
    queue.request(["oakfield"], immediate=True, force=True)  # while it reloads: kept for after
    assert wait_until(lambda: len(recorder.calls) == 3 and queue.pending() == 0, seconds=5)
    assert recorder.overlap == 1
    assert recorder.most_at_once == 2
    assert recorder.calls[-1] == ("oakfield", True)


def test_a_failing_reload_does_not_stop_the_threads(queue_of: list[ReloadQueue]) -> None:
    done: list[str] = []

    def reload(school: str, force: bool) -> None:
        done.append(school)
        if school == "broken":
            raise RuntimeError("a bug")

    queue = ReloadQueue(reload, debounce=0.0, threads=1)
    queue_of.append(queue)
    queue.start()
    queue.request(["broken"], immediate=True)
    assert wait_until(lambda: done == ["broken"], seconds=5)
    queue.request(["oakfield"], immediate=True)
    assert wait_until(lambda: done == ["broken", "oakfield"], seconds=5)


def test_a_forced_request_stays_forced_when_coalesced_and_runs_at_once(
    queue_of: list[ReloadQueue],
) -> None:
    recorder = Recorder(seconds=0.3)
    queue = ReloadQueue(recorder, debounce=3600, threads=1, name="policy-reload")
    queue_of.append(queue)
    queue.start()
    queue.request([ONE_POLICY], immediate=True)
    assert recorder.started.wait(5)  # the first reload is running
    queue.request([ONE_POLICY])
    queue.request([ONE_POLICY], immediate=True, force=True)
    assert wait_until(lambda: len(recorder.calls) == 2, seconds=5)
    assert recorder.calls == [(ONE_POLICY, False), (ONE_POLICY, True)]


def test_a_change_after_a_signal_does_not_delay_its_reload(queue_of: list[ReloadQueue]) -> None:
    recorder = Recorder(seconds=0.3)
    queue = ReloadQueue(recorder, debounce=3600, threads=1)
    queue_of.append(queue)
    queue.start()
    queue.request(["oakfield"], immediate=True)
    assert recorder.started.wait(5)  # the first reload is running
    queue.request(["oakfield"], immediate=True, force=True)  # SIGHUP
    queue.request(["oakfield"])  # then an editor saves a file
    assert wait_until(lambda: len(recorder.calls) == 2, seconds=5)
    assert recorder.calls == [("oakfield", False), ("oakfield", True)]
