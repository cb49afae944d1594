"""Python's cycle collector: paused while long-lived data is built, relaxed for batch work.

The gazetteer's phrase indexes, read on first use, are a few million small
containers that live as long as the process. The cycle collector, triggered by
the allocations themselves, would walk the growing heap again and again while
they are built: four times the CPU of the building (reading the indexes 0.4
against 1.6-2.0 CPU-s). Nothing built there is garbage in a cycle, so
:func:`collector_paused` pauses the collector for the building. (Freezing the
result as well, ``gc.freeze``, was measured: full collections came six times as
often over a run and cost more in all.)

Batch work (a run's stages, an extraction worker's batches) allocates millions of
short-lived objects beside that large long-lived heap. With the collector's
default thresholds (the youngest generation every 700 allocations) a first run
of 10,000 reports spent 4.1-5.6 CPU-s in collections, most in 12-22 full ones,
each walking the whole heap. :func:`batch_collection` collects the youngest
generation every 50,000 allocations for the block: the same run spends about 1
CPU-s in them (docs/benchmarks.md); cycles are still collected, later.

Base layer: imports nothing from truce.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from typing import Iterator

BATCH_THRESHOLDS = (50_000, 20, 10)  # gc.set_threshold for batch work (the defaults: 700, 10, 10)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cycle collector off (as it was after: a caller may have paused it)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] = (700, 10, 10)


@contextlib.contextmanager
def batch_collection() -> Iterator[None]:
    """Run the block with the collector's thresholds raised to :data:`BATCH_THRESHOLDS`
    (never lowered), restored when the last block that raised them (in any thread) ends."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            _raise(_saved)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.set_threshold(*_saved)


def for_batch_work() -> None:
    """A process that only does batch work (an extraction worker): its thresholds raised for good."""
    _raise(gc.get_threshold())


def _raise(current: tuple[int, int, int]) -> None:
    """Thresholds at least :data:`BATCH_THRESHOLDS`: a caller's higher ones are kept."""
    gc.set_threshold(*(max(a, b) for a, b in zip(current, BATCH_THRESHOLDS)))
