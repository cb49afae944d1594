import gc
import threading

from truce.memory import BATCH_THRESHOLDS, batch_collection, collector_paused, for_batch_work


def test_collector_paused_restores_the_state_it_found():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause holds
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # a caller's own pause is kept
    finally:
        gc.enable()


def test_batch_collection_raises_thresholds_until_the_last_block_ends_in_any_thread():
    before = gc.get_threshold()
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with batch_collection():
            entered.set()
            release.wait(10)

    t = threading.Thread(target=other)
    with batch_collection():
        assert gc.get_threshold() == BATCH_THRESHOLDS
        t.start()
        entered.wait(10)
    assert gc.get_threshold() == BATCH_THRESHOLDS  # the other thread's block still runs
    release.set()
    t.join()
    assert gc.get_threshold() == before
    gc.set_threshold(100_000, 5, 50)
    try:
        with batch_collection():  # never lowered, only raised
            assert gc.get_threshold() == (100_000, 20, 50)
        assert gc.get_threshold() == (100_000, 5, 50)
    finally:
        gc.set_threshold(*before)


def test_a_worker_raises_its_thresholds_for_good():
    before = gc.get_threshold()
    try:
        for_batch_work()
        assert gc.get_threshold() == BATCH_THRESHOLDS
    finally:
        gc.set_threshold(*before)
