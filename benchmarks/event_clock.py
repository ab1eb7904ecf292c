"""A ``Clock`` for many simulated processes in one Python process: discrete-event time.

Each simulated process runs the real code in a thread of its own, but only one thread runs at a
time, and always the one whose next step is earliest in simulated time: ``sleep`` (and so a
simulated latency) queues the thread's wake-up and hands the turn back to the loop. Ties run in
the order they were queued, so a run is deterministic however the operating system schedules the
threads. Real time spent in between (file I/O, the cache code itself) costs no simulated time.
"""

from __future__ import annotations

import _thread
import heapq
import threading
from collections.abc import Callable

#: Simulated processes are small; a smaller stack lets thousands of threads start cheaply.
THREAD_STACK_BYTES = 256 * 1024

Process = Callable[[], None]


class _Worker:
    """A thread that runs simulated processes one after another (threads are costly to start)."""

    def __init__(self, clock: EventClock) -> None:
        self.clock = clock
        self.job: Process | None = None
        self.go = _thread.allocate_lock()
        self.go.acquire()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            self.go.acquire()
            job, self.job = self.job, None
            try:
                if job is not None:
                    job()
            except BaseException as error:  # noqa: BLE001 - reported by the loop's caller
                self.clock.crashes.append(error)
            self.clock.idle.append(self)
            self.clock.turn.release()


class EventClock:
    """Simulated time for ``Clock`` users, and the loop that runs the simulated processes."""

    def __init__(self, now: float) -> None:
        self.now = now
        #: (when, sequence, a sleeping process's held lock or None, a process to start or None)
        self._queue: list[tuple[float, int, _thread.LockType | None, Process | None]] = []
        self._sequence = 0
        #: Held by the loop while a simulated process runs; released when it sleeps or ends.
        self.turn = _thread.allocate_lock()
        self.turn.acquire()
        self.idle: list[_Worker] = []
        #: Exceptions that escaped a simulated process (a bug in the model: reported, not hidden).
        self.crashes: list[BaseException] = []
        threading.stack_size(THREAD_STACK_BYTES)

    # -- the Clock protocol (called from simulated processes)

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        wake = _thread.allocate_lock()
        wake.acquire()
        self._sequence += 1
        heapq.heappush(self._queue, (self.now + max(0.0, seconds), self._sequence, wake, None))
        self.turn.release()  # the loop runs the next event
        wake.acquire()  # until the loop releases it

    # -- the loop (called from the main thread)

    def spawn(self, when: float, process: Process) -> None:
        """Start ``process`` (in a thread) at simulated time ``when``."""
        self._sequence += 1
        heapq.heappush(self._queue, (when, self._sequence, None, process))

    def run_until(self, limit: float) -> None:
        """Run every event before ``limit``, in order of time; then stop with ``now`` at
        ``limit`` at least (events queued for later stay queued)."""
        queue = self._queue
        while queue and queue[0][0] < limit:
            when, _, wake, start = heapq.heappop(queue)
            self.now = max(self.now, when)
            if start is not None:
                worker = self.idle.pop() if self.idle else _Worker(self)
                worker.job = start
                worker.go.release()
            elif wake is not None:
                wake.release()
            self.turn.acquire()  # until that process sleeps again or ends
        if limit != float("inf"):
            self.now = max(self.now, limit)
