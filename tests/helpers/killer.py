"""Run the truce CLI and SIGKILL the process just before its Nth write commit
(``TRUCE_TEST_KILL_AT``); write the number of write commits seen to
``TRUCE_TEST_COMMITS`` at exit. Used by tests/test_stress.py only."""

import atexit
import os
import signal
import sys

import sqlalchemy as sa
from sqlalchemy.engine import Engine

import truce.pipeline
from truce.cli import main

KILL_AT = int(os.environ.get("TRUCE_TEST_KILL_AT", "0"))
COUNT = os.environ.get("TRUCE_TEST_COMMITS")
if os.environ.get("TRUCE_TEST_BATCH"):
    truce.pipeline.EXTRACT_BATCH = int(os.environ["TRUCE_TEST_BATCH"])
seen = {"n": 0}


@sa.event.listens_for(Engine, "commit")
def _commit(conn):
    if conn.info.get("truce_begin") != "BEGIN IMMEDIATE":
        return  # a read-only transaction: killing before it equals killing after the last write
    seen["n"] += 1
    if seen["n"] == KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)


if COUNT:
    atexit.register(lambda: open(COUNT, "w").write(str(seen["n"])))

sys.argv[0] = "truce"
main()
