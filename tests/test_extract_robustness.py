"""Issue #13, defect 7: no report crashes or stalls extraction; one that cannot be read
is recorded as skipped with its reason (and not retried), and the stream goes on."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from click.testing import CliRunner

from truce import cli as cli_module
from truce.db import Database
from truce.extract.dates import parse_published
from truce.ingest import ingest_paths
from truce.pipeline import run_pipeline
from truce.records import Report


def _rep(text, published="2025-03-18", i=0):
    return Report(id=f"{i:064d}", text=text, external_id=f"r{i}", published=published)


@pytest.mark.parametrize("published", ["0001-01-01", "9999-12-31", "0001-01-01T00:00:00+14:00", "1e9", "-5"])
def test_far_publication_dates_do_not_overflow(ctx, published):
    """OverflowError/ValueError in extract/dates.py on far dates and large numbers."""
    assert parse_published(published).date is None or 1900 <= parse_published(published).date.year <= 2100
    text = ("Drones hit a refinery in Ryazan 3 days ago, last Tuesday, on 31 December, overnight on Monday; "
            "ночь -1 марта Рязанском тому; 99999999999999999999 днів тому.")
    ctx.extractor.extract(_rep(text, published))


def test_a_long_repeated_word_does_not_recurse_in_the_morphology(ctx):
    """RecursionError in the morphology dictionary on "не"*500."""
    for text in ("не" * 500, "Удар по " + "ні" * 2000 + " ТЕС.", "ТЕС " + "а" * 10_000):
        ctx.extractor.extract(_rep(text, None))


def test_extraction_is_linear_in_sentence_length(ctx):
    """800 repeated place names in one sentence took 11 s (quadratic in the sentence)."""
    ex = ctx.extractor
    ex.extract(_rep("Дрони атакували підстанцію в Харкові."))
    def timed(n: int) -> float:
        text = "Російські дрони атакували " + " та ".join(["підстанцію в Харкові"] * n) + "."
        t = time.perf_counter()
        assert ex.extract(_rep(text))
        return time.perf_counter() - t

    small = min(timed(400) for _ in range(3))
    big = timed(3200)
    # 8 times the text: about 8 times the time when linear, 64 when quadratic (3,200 names
    # took 9.9 s before, 0.5 s now)
    assert big / small < 25, (small, big)


def _ingest(db, tmp_path, ctx, texts):
    p = tmp_path / "r.jsonl"
    p.write_text("\n".join(json.dumps({"id": f"r{i}", "text": t, "published": "2025-03-18"}, ensure_ascii=False)
                           for i, t in enumerate(texts)) + "\n", encoding="utf-8")
    assert ingest_paths(db, [p], ctx).ok


GOOD = ["Russian drones struck a substation in Kharkiv overnight, the governor said.",
        "Ukrainian drones hit the Ryazan oil refinery, the governor said."]


def test_a_report_the_extractor_fails_on_is_skipped_with_its_reason_and_not_retried(tmp_path, ctx, monkeypatch):
    """`truce run` warned, exited 0 and retried the report for ever."""
    db = Database(str(tmp_path / "x.db"))
    _ingest(db, tmp_path, ctx, GOOD + ["BOOM: the extractor breaks on this one."])
    real = type(ctx.extractor).extract
    calls = []

    def flaky(self, report):
        calls.append(report.external_id)
        if report.text.startswith("BOOM"):
            raise OverflowError("date value out of range")
        return real(self, report)

    monkeypatch.setattr(type(ctx.extractor), "extract", flaky)
    s = run_pipeline(db, ctx, author="test")
    assert s.skipped == ["r2: skipped: extractor failed: OverflowError: date value out of range"]
    assert s.claims >= 2
    (skipped,) = db.skipped_reports()
    assert skipped[2] == "extractor failed: OverflowError: date value out of range"
    calls.clear()
    s2 = run_pipeline(db, ctx, author="test")
    assert calls == [] and s2.skipped == []  # not retried by the same extractor
    db.close()


def test_reports_over_the_time_budget_or_the_size_limit_are_skipped(tmp_path, ctx, monkeypatch):
    db = Database(str(tmp_path / "x.db"))
    _ingest(db, tmp_path, ctx, GOOD + ["SLOW report.", "x " * 3000])
    real = type(ctx.extractor).extract

    def slow(self, report):
        if report.text.startswith("SLOW"):
            while True:  # a catastrophic case: only the budget stops it
                pass
        return real(self, report)

    monkeypatch.setattr(type(ctx.extractor), "extract", slow)
    small = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, extract_budget=0.3, max_report_chars=5000))
    t = time.perf_counter()
    s = run_pipeline(db, small, author="test")
    assert time.perf_counter() - t < 10
    assert sorted(s.skipped) == ["r2: skipped: extraction took longer than 0.3 s (TRUCE_EXTRACT_BUDGET)",
                                 "r3: skipped: report text is 6,000 characters; the limit is 5,000 (TRUCE_MAX_REPORT_CHARS)"]
    db.close()


def test_truce_extract_goes_on_after_a_report_it_cannot_read(tmp_path, monkeypatch, ctx):
    """`truce extract` caught only its own errors: one bad report aborted the stream."""
    p = tmp_path / "in.jsonl"
    p.write_text("\n".join(json.dumps({"id": f"r{i}", "text": t, "published": "2025-03-18"})
                           for i, t in enumerate([GOOD[0], "BOOM", GOOD[1]])) + "\n", encoding="utf-8")
    real = type(ctx.extractor).extract

    def flaky(self, report):
        if report.text == "BOOM":
            raise ValueError("bad")
        return real(self, report)

    monkeypatch.setattr(type(ctx.extractor), "extract", flaky)
    out = tmp_path / "out.jsonl"
    r = CliRunner().invoke(cli_module.cli, ["extract", str(p), "-o", str(out)])
    assert r.exit_code == 1
    assert f"error: {p}: report 'r1' ({p}:2): skipped: extractor failed: ValueError: bad" in r.output
    got = {json.loads(line)["report_id"] for line in out.read_text(encoding="utf-8").splitlines()}
    assert got == {"r0", "r2"}
