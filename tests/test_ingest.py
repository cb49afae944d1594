from pathlib import Path

import pytest

from truce.errors import IngestError
from truce.ingest import collect, ingest_paths, read_path, report_id

DATA = Path(__file__).parent / "data"
DEMO = Path(__file__).parents[1] / "src" / "truce" / "data" / "demo"


def test_report_id_is_content_hash_of_normalised_text_and_source():
    a = report_id("Drones hit  the refinery.\r\n", "Reuters")
    assert a == report_id("Drones hit the refinery.", "reuters")
    assert a != report_id("Drones hit the refinery.", "TASS")  # a syndicated copy is another report
    assert len(a) == 64


def test_jsonl_bad_lines_are_named_and_skipped(ctx):
    reports, _, res = collect([DATA / "bad.jsonl"], ctx.sources)
    assert [r.external_id for r in reports] == ["good-1", "good-2"]
    assert res.errors[0].startswith(f"{DATA / 'bad.jsonl'}:2: malformed JSON")
    assert res.errors[1] == f"{DATA / 'bad.jsonl'}:3: missing required field 'id'"


def test_sources_and_affiliations_are_matched(ctx):
    reports, _, _ = collect([DATA / "reports.jsonl"], ctx.sources)
    by = {r.external_id: r for r in reports}
    assert (by["t-ru-refinery"].source, by["t-ru-refinery"].affiliation, by["t-ru-refinery"].source_kind) == ("TASS", "RU", "wire")
    assert by["t-uk-mass"].source_kind == "operator"


def test_html_feed_and_directory(ctx):
    reports, raw, res = collect([DEMO], ctx.sources, detector=ctx.services.detector)
    assert not res.errors
    html = [r for r in reports if r.content_type == "text/html"]
    assert len(html) == 1 and html[0].id in raw and "Trypillia" in html[0].text
    assert "cookie" not in html[0].text.lower()
    feed = [r for r in reports if r.content_type == "application/rss+xml"]
    assert len(feed) == 4 and all(r.source == "Ukrinform" and r.published for r in feed)
    assert all(r.language in ("en", "uk", "ru") for r in reports)


def test_plain_text_with_header(tmp_path, ctx):
    p = tmp_path / "r.txt"
    p.write_text("Title: Strike on substation\nSource: Suspilne\nPublished: 2024-11-17\n\nВночі ворог атакував підстанцію.", encoding="utf-8")
    (r, _), = list(read_path(p, ctx.sources, []))
    # known by its file name, never by the path on the analyst's machine (the path stays in origin, unpublished)
    assert (r.title, r.source, r.published, r.external_id) == ("Strike on substation", "Suspilne", "2024-11-17", "r.txt")
    assert r.origin == str(p)
    assert r.text == "Вночі ворог атакував підстанцію."


def test_unreadable_and_unsupported_files_are_clear_errors(tmp_path, ctx):
    with pytest.raises(IngestError, match=r"no such file"):
        list(read_path(tmp_path / "missing.jsonl", ctx.sources, []))
    bad = tmp_path / "x.docx"
    bad.write_bytes(b"PK\x03\x04")
    with pytest.raises(IngestError, match=r"x\.docx: unsupported file type '\.docx'"):
        list(read_path(bad, ctx.sources, []))
    latin = tmp_path / "l.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(IngestError, match=r"l\.txt:1: not UTF-8 text \(byte 4\)"):
        list(read_path(latin, ctx.sources, []))


def test_ingesting_twice_stores_once_and_errors_lose_nothing(db, ctx):
    r1 = ingest_paths(db, [DATA / "reports.jsonl"], ctx)
    assert (r1.new, r1.seen) == (9, 0)
    r2 = ingest_paths(db, [DATA / "reports.jsonl", DATA / "bad.jsonl"], ctx)
    assert (r2.new, r2.seen) == (2, 9) and len(r2.errors) == 2
    assert db.report_count() == 11


def test_ingest_streams_in_batches_with_the_same_result(ctx, tmp_path):
    """Reports are stored as the input is read (a batch at a time); counts and errors are
    those of reading everything first."""
    import json

    from truce.db import Database

    lines = [json.dumps({"id": f"s-{k}", "text": f"Report number {k % 7} about the refinery.", "source": "Reuters"})
             for k in range(23)]
    lines[5] = "{not json"
    lines[17] = json.dumps({"text": "no id"})
    p = tmp_path / "many.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    whole = ingest_paths(Database(str(tmp_path / "whole.db")), [p], ctx)
    db = Database(str(tmp_path / "stream.db"))
    stored_while_reading = []
    res = ingest_paths(db, [p], ctx, batch=4, progress=lambda n: stored_while_reading.append((n, db.report_count())))
    assert (res.new, res.seen, res.files, res.errors) == (whole.new, whole.seen, whole.files, whole.errors)
    assert (res.new, res.seen) == (7, 14) and len(res.errors) == 2 and ":6: malformed JSON" in res.errors[0]
    assert db.report_count() == 7
    # the first batch was stored before the rest of the file was read
    assert any(n < 21 and count >= 4 for n, count in stored_while_reading)
