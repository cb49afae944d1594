"""Long-lived data and Python's cycle collector.

The gazetteer's phrase indexes, read on first use, are a few million small
containers that live as long as the process. The cycle collector, triggered by
the allocations themselves, would walk the growing heap again and again while
they are built: four times the CPU of the building (reading the indexes 0.4
against 1.6-2.0 CPU-s). Nothing built there is garbage in a cycle, so
:func:`collector_paused` pauses the collector for the building. (Freezing the
result as well, ``gc.freeze``, was measured: full collections came six times as
often over a run and cost more in all.)

Base layer: imports nothing from truce.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator


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
