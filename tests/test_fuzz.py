"""Property tests: every parser and stage entry point is total on hostile input (issue #13).

Each reads or refuses with its own one-line error; nothing else escapes. A few dozen
inputs each here; benchmarks/fuzz.py runs >= 10,000 per parser (docs/hardening.md)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_targets import BYTE_TARGETS, PUBLISHED, Workspace, inputs, t_extract, texts


@pytest.fixture(scope="module")
def ws(ctx):
    return Workspace(ctx)


FAST = settings(max_examples=25, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


@pytest.mark.parametrize("kind", sorted(set(BYTE_TARGETS) - {"ledger"}))
def test_parsers_are_total(ws, kind):
    @FAST
    @given(data=inputs(kind))
    def prop(data):
        BYTE_TARGETS[kind](ws, data)

    prop()


def test_ledger_export_verification_is_total(ws):
    @FAST
    @given(data=inputs("ledger", ws.ledger_seeds()))
    def prop(data):
        BYTE_TARGETS["ledger"](ws, data)

    prop()
    assert BYTE_TARGETS["ledger"](ws, ws.ledger_seeds()[0]) == 1  # the unmutated export verifies


def test_the_extractor_is_total_on_arbitrary_text(ws):
    @settings(FAST, max_examples=40)
    @given(text=texts(), published=PUBLISHED, language=st.sampled_from([None, "en", "uk", "ru", "xx"]))
    def prop(text, published, language):
        t_extract(ws, text, published, language)

    prop()
