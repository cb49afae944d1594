"""Stage 1 run over many reports: one report at a time under its time budget, in
batches, in worker processes (``--workers N``).

:func:`extract_one` reads one report the way every command does (length limit, time
budget, a failing extractor recorded as a skip). :class:`ExtractionPool` runs it over
a stream of reports and yields the results **in input order**, whatever the number of
workers, so ``--workers 2`` writes exactly what ``--workers 1`` writes:

- ``workers == 1``: in this process, with the caller's :class:`Context`;
- ``workers > 1``: a :class:`concurrent.futures.ProcessPoolExecutor` (``forkserver``
  start: workers never inherit the parent's database connections or threads). Each
  worker builds its own Context once (the initializer: the same settings and the
  same facilities imported into the database as the parent's), then reads *batches*
  of reports (``batch`` per task, never one task per report); the per-report budget
  (SIGALRM) runs inside the worker, whose tasks run in its main thread. Workers
  ignore SIGINT: Ctrl-C reaches the parent, which stops handing out batches.

Starting the workers costs about what one process extracts in that time (each loads
the reference data, ~3 s on the benchmark machine), so a pool that has not started
yet extracts fewer than ``min_parallel`` reports in process; a started pool (``truce
watch`` keeps one) is used from two batches per worker up.
"""

from __future__ import annotations

import json
import multiprocessing
import signal
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, islice
from typing import Callable, Generator, Iterable, Iterator, Sequence

from truce.config import Settings
from truce.context import Context, load_context
from truce.errors import ExtractionError, PipelineError
from truce.extract import finalize
from truce.extract.acled import AcledExtractor
from truce.memory import batch_collection, for_batch_work
from truce.records import ACLED_CONTENT_TYPE, Claim, Facility, Report

Progress = Callable[[str, int, int], None]
TASK_BATCH = 50  # reports per task sent to a worker
PARALLEL_MIN = 1000  # reports below which a pool that has not started extracts in process


def extract_reports(reports: Iterable[Report], ctx: Context, raw: dict[str, bytes] | None = None) -> dict[str, list[Claim]]:
    """Stage 1 as a pure function: report id → its claims (ACLED rows use their own extractor)."""
    out: dict[str, list[Claim]] = {}
    extractor = ctx.extractor
    acled_ex = None
    for r in reports:
        if r.content_type == ACLED_CONTENT_TYPE and raw and r.id in raw:
            acled_ex = acled_ex or AcledExtractor(ctx.services, extractor)
            claims = acled_ex.extract_row(r, json.loads(raw[r.id]))
        else:
            claims = extractor.extract(r)
        out[r.id] = finalize(claims, r, ctx.services)
    return out


class BudgetExceeded(BaseException):
    """The per-report time budget ran out (a BaseException: no ``except Exception`` in a
    stage may swallow it)."""


@contextmanager
def time_budget(seconds: float | None) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (SIGALRM; in the main thread of a POSIX process
    only, elsewhere the block runs unbounded)."""
    if (not seconds or seconds == float("inf") or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def _expired(_signum: int, _frame: object) -> None:
        raise BudgetExceeded

    old = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def extract_one(rep: Report, ctx: Context, raw: dict[str, bytes] | None = None) -> tuple[list[Claim], str | None]:
    """One report's claims, or ([], why it was skipped): longer than ``max_report_chars``,
    over the ``extract_budget`` or failed inside the extractor. An :class:`ExtractionError`
    (a model endpoint down) is raised: that report is worth trying again."""
    limit = ctx.settings.max_report_chars
    if len(rep.text) > limit:
        return [], f"report text is {len(rep.text):,} characters; the limit is {limit:,} (TRUCE_MAX_REPORT_CHARS)"
    budget = ctx.settings.extract_budget
    try:
        with time_budget(budget):
            return extract_reports([rep], ctx, raw)[rep.id], None
    except BudgetExceeded:
        return [], f"extraction took longer than {budget:g} s (TRUCE_EXTRACT_BUDGET)"
    except ExtractionError:
        raise
    except Exception as e:  # noqa: BLE001 - one bad report must not stop the others
        return [], f"extractor failed: {type(e).__name__}: {' '.join(str(e).split())[:200]}"


@dataclass(frozen=True)
class Extracted:
    """One report read: its claims, or why it was skipped (stored as such), or an
    ``error`` (an :class:`ExtractionError`: nothing is stored, the next run tries again);
    ``seconds`` is the wall time the extractor spent on it."""

    report: Report
    claims: tuple[Claim, ...]
    skipped: str | None = None
    error: str | None = None
    seconds: float = 0.0


Item = tuple[Report, "bytes | None"]  # a report and, for an ACLED row, its raw JSON


def extract_batch(items: Sequence[Item], ctx: Context) -> list[Extracted]:
    """Read a batch of reports one after another (the work of one task)."""
    out = []
    for rep, raw in items:
        t = time.perf_counter()
        try:
            claims, skipped = extract_one(rep, ctx, {rep.id: raw} if raw is not None else None)
        except ExtractionError as e:
            out.append(Extracted(rep, (), error=str(e), seconds=time.perf_counter() - t))
            continue
        out.append(Extracted(rep, tuple(claims), skipped, seconds=time.perf_counter() - t))
    return out


# --- the worker side -----------------------------------------------------------------------

_worker_ctx: Context | None = None


def _init_worker(settings: Settings, facilities: tuple[Facility, ...]) -> None:
    """Once per worker process: its own Context (the parent's settings and facilities)."""
    global _worker_ctx
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _keep_off_stdout()
    for_batch_work()
    _worker_ctx = load_context(settings, facilities=list(facilities))
    _ = _worker_ctx.extractor  # built now, not in the first task
    _worker_ctx.gazetteer.preload()


def _keep_off_stdout() -> None:
    """Point a worker's stdout at its stderr: the parent's stdout may be a machine-read
    stream (``truce watch`` logs JSON lines there) that a library's print must not split."""
    import os
    import sys

    try:
        sys.stdout.flush()
        os.dup2(2, 1)
    except (OSError, ValueError, AttributeError):  # no descriptors (embedded interpreters)
        return
    sys.stdout = sys.stderr


def _work(items: Sequence[Item]) -> list[Extracted]:
    if _worker_ctx is None:  # pragma: no cover - the initializer always ran
        raise PipelineError("extraction worker started without its context")
    return extract_batch(items, _worker_ctx)


def default_workers() -> int:
    """The cores this process may run on."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# --- the parent side -----------------------------------------------------------------------

class ExtractionPool:
    """``workers`` processes reading reports in batches; :meth:`map` yields results in
    input order. A context manager; worker processes start on first need and stay until
    :meth:`close` (``truce watch`` keeps one pool for its lifetime).

    ``ctx`` is the Context of this process, or a function that loads it when first
    needed (``truce extract`` with workers never loads one in the parent); the workers
    build theirs from ``settings`` and ``facilities`` (by default the context's)."""

    def __init__(self, ctx: Context | Callable[[], Context], workers: int = 1, *, batch: int | None = None,
                 min_parallel: int | None = None, settings: Settings | None = None,
                 facilities: Sequence[Facility] | None = None):
        if workers < 1:
            raise PipelineError(f"--workers must be at least 1 (got {workers})")
        if isinstance(ctx, Context):
            self._ctx: Context | None = ctx
            self._load: Callable[[], Context] | None = None
            settings = settings or ctx.settings
            facilities = ctx.extra_facilities if facilities is None else facilities
        else:
            if settings is None:
                raise PipelineError("ExtractionPool needs the settings when given no context")
            self._ctx, self._load = None, ctx
        self.settings: Settings = settings
        self.facilities = tuple(facilities or ())
        self.workers = workers
        self.batch = max(1, TASK_BATCH if batch is None else batch)
        self.min_parallel = max(0, PARALLEL_MIN if min_parallel is None else min_parallel)
        self._executor: ProcessPoolExecutor | None = None

    @property
    def ctx(self) -> Context:
        """This process's context (loaded on first use when given as a function)."""
        if self._ctx is None:
            assert self._load is not None
            self._ctx = self._load()
        return self._ctx

    @property
    def started(self) -> bool:
        return self._executor is not None

    def __enter__(self) -> "ExtractionPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def start(self) -> None:
        """Start the worker processes now (they load their context in the background)."""
        if self._executor is None and self.workers > 1:
            mp = multiprocessing.get_context("forkserver")
            mp.set_forkserver_preload(["truce.parallel"])
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=mp, initializer=_init_worker,
                initargs=(self.settings, self.facilities))

    def map(self, items: Iterable[Item], *, total: int | None = None,
            progress: Progress | None = None) -> Generator[Extracted, None, None]:
        """Every item's :class:`Extracted`, in the order of ``items`` (read lazily: at most
        a few batches per worker ahead of what the caller has taken)."""
        it = iter(items)
        done = 0

        def tick(x: Extracted) -> Extracted:
            nonlocal done
            done += 1
            if progress is not None:
                progress("extract", done, total if total is not None else done)
            return x

        if self.workers <= 1:
            with batch_collection():  # reading here: this process does the batch work
                for item in it:
                    yield from (tick(x) for x in extract_batch([item], self.ctx))
            return
        threshold = max(1, 2 * self.batch * self.workers if self.started else self.min_parallel)
        head = list(islice(it, threshold))
        if len(head) < threshold:
            with batch_collection():
                for item in head:
                    yield from (tick(x) for x in extract_batch([item], self.ctx))
            return
        self.start()
        assert self._executor is not None
        window: deque[Future[list[Extracted]]] = deque()
        chunks = _batched(chain(head, it), self.batch)
        try:
            for chunk in chunks:
                window.append(self._executor.submit(_work, chunk))
                while len(window) > 2 * self.workers:
                    yield from (tick(x) for x in self._result(window.popleft()))
            while window:
                yield from (tick(x) for x in self._result(window.popleft()))
        finally:
            for f in window:  # the caller stopped early (an error, Ctrl-C): no more batches
                f.cancel()

    def _result(self, f: Future[list[Extracted]]) -> list[Extracted]:
        try:
            return f.result()
        except BrokenProcessPool as e:
            self._executor = None
            raise PipelineError("an extraction worker process died (out of memory or killed); "
                                "nothing of its batch was stored: run again") from e


def _batched(it: Iterable[Item], n: int) -> Iterator[list[Item]]:
    it = iter(it)
    while chunk := list(islice(it, n)):
        yield chunk
