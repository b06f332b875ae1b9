"""Run the applier's writes concurrently: a pool of threads over tiles.

torch kernels release the GIL, so Python threads fill tiles in parallel. Every task
writes elements no other task writes (the applier guarantees it), and a tile's values do
not depend on who draws it or when, so the order of completion cannot change a value.
torch's own intra-op pool is pinned to one thread while the pool runs: parallelism is
over tiles, and an intra-op team per small op would oversubscribe the cores.

>>> import torch

from ..errors import UsageError
>>> out = torch.zeros(4)
>>> with TaskPool(2) as pool:
...     pool.add([Task(lambda k=k: out[k].fill_(k)) for k in range(4)])
>>> out.tolist()
[0.0, 1.0, 2.0, 3.0]
"""

from __future__ import annotations

import gc
import itertools
import operator
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import UsageError


@dataclass
class Task:
    """One unit of work; ``drawn`` counts the random values it draws (a tile overlapping
    a shard's edge draws more than it writes)."""

    run: Callable[[], Any]
    drawn: int = 0


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op pool at ``n`` threads for the block (process-wide), then back."""
    old = torch.get_num_threads()
    if old != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection for the block: the thousands of small objects an
    apply creates (tasks, closures) would trigger full collections over the heap of
    torch and transformers (a quarter of a second for GPT-2 small)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def default_threads() -> int:
    """Threads to draw with: torch's intra-op setting, which says how many cores this
    process may use (torchrun sets it to 1 per rank unless told otherwise)."""
    return max(1, torch.get_num_threads())


#: Most drawing threads one apply may ask for (each is a real thread with a stack).
MAX_THREADS = 1024


def check_threads(threads: object) -> int | None:
    """``threads`` as given to apply: None (torch's setting) or a whole number in
    ``[1, MAX_THREADS]``; UsageError otherwise (``0``, ``-1``, ``"2"``, ``3.7``, ``True``).

    >>> check_threads(4), check_threads(None)
    (4, None)
    """
    if threads is None:
        return None
    wrong = UsageError(f"threads must be a whole number from 1 to {MAX_THREADS}, not {threads!r}")
    if isinstance(threads, bool):
        raise wrong
    try:
        n = operator.index(threads)  # type: ignore[arg-type]
    except TypeError:
        raise wrong from None
    if not 1 <= n <= MAX_THREADS:
        raise wrong
    return n


class TaskPool:
    """``threads`` worker threads that run tasks as they are added, so creating the tasks
    of later tensors overlaps drawing the first ones. With one thread the tasks run at
    once in the caller's thread. Leaving the ``with`` block waits for every task and
    re-raises the first error (the remaining tasks are dropped)."""

    def __init__(self, threads: int | None = None):
        self.threads = default_threads() if threads is None else max(1, int(threads))
        self.tasks: list[Task] = []
        self.errors: list[BaseException] = []
        self.drawn = 0
        self._next = itertools.count()
        self._closed = False
        self._cv = threading.Condition()
        self._workers: list[threading.Thread] = []
        self._pin = torch_threads(1)

    def __enter__(self) -> TaskPool:
        self._pin.__enter__()
        if self.threads > 1:
            self._workers = [
                threading.Thread(target=self._work, daemon=True) for _ in range(self.threads)
            ]
            for w in self._workers:
                w.start()
        return self

    def add(self, tasks: Sequence[Task]) -> None:
        if self.errors:  # stop making work once a task failed
            raise self.errors[0]
        self.drawn += sum(t.drawn for t in tasks)
        if not self._workers:
            for t in tasks:
                t.run()
            return
        with self._cv:
            self.tasks.extend(tasks)
            self._cv.notify_all()

    def _work(self) -> None:
        # MKL's and OpenMP's thread counts are per thread: set this one's, or LAPACK (the
        # QR of orthogonal) may run with the process's default and give other last bits
        torch.set_num_threads(1)
        with torch.no_grad():
            while True:
                n = next(self._next)
                with self._cv:
                    while n >= len(self.tasks) and not self._closed:
                        self._cv.wait()
                    if n >= len(self.tasks):
                        return
                    task = self.tasks[n]
                if self.errors:
                    continue
                try:
                    task.run()
                except BaseException as e:  # re-raised by __exit__
                    self.errors.append(e)

    def __exit__(self, *exc: Any) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        for w in self._workers:
            w.join()
        self._pin.__exit__(None, None, None)
        if self.errors and exc[0] is None:
            raise self.errors[0]
