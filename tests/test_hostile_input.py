"""Issue #13, hostile input: every reader is total (a bad line, byte or field is named
with file and line and the rest is still read), both backends take what either
takes, and nothing on disk is followed or read that was not meant to be."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from truce.ingest import collect, ingest_paths, read_path

DATA = Path(__file__).parent / "data"


def _line(i, **kw):
    d = {"id": f"r{i}", "source": "Reuters", "published": "2025-03-20",
         "text": f"Report {i}: Russian drones struck a substation in Kharkiv overnight."}
    d.update(kw)
    return json.dumps(d, ensure_ascii=False).encode("utf-8")


def test_an_invalid_utf8_byte_loses_only_its_line(tmp_path, ctx):
    """Defect 5: one bad byte silently dropped the rest of the file (and, in a small file,
    the good lines before it), naming a wrong offset and no line."""
    p = tmp_path / "r.jsonl"
    bad = _line(2).replace(b"Report 2", b"Report \xff2")
    p.write_bytes(b"\n".join([_line(1), bad, _line(3), _line(4)]) + b"\n")
    reports, _, res = collect([p], ctx.sources)
    assert [r.external_id for r in reports] == ["r1", "r3", "r4"]
    assert res.errors == [f"{p}:2: not UTF-8 text (byte 78 of the line: b'\\xff')"]


@pytest.mark.parametrize("field", ["id", "text", "source", "url", "title", "published"])
def test_a_lone_surrogate_in_any_field_is_a_line_error(tmp_path, ctx, field):
    """Defect 5: "\\ud800" in a field crashed ingest and lost the batch."""
    p = tmp_path / "r.jsonl"
    obj = json.loads(_line(2))
    obj[field] = "x\ud800y"
    lines = [_line(1).decode(), json.dumps(obj, ensure_ascii=True), _line(3).decode()]
    assert "\\ud800" in lines[1]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    reports, _, res = collect([p], ctx.sources)
    assert [r.external_id for r in reports] == ["r1", "r3"]
    assert len(res.errors) == 1 and res.errors[0].startswith(f"{p}:2: field {field!r}")


def test_deep_nesting_and_huge_numbers_are_line_errors(tmp_path, ctx):
    p = tmp_path / "r.jsonl"
    p.write_bytes(b"\n".join([_line(1), b"[" * 100_000 + b"]" * 100_000, b'{"id": ' + b"9" * 5000 + b', "text": "x"}',
                              _line(3)]) + b"\n")
    reports, _, res = collect([p], ctx.sources)
    assert [r.external_id for r in reports] == ["r1", "r3"]
    assert res.errors[0] == f"{p}:2: malformed JSON: nested too deeply"
    assert res.errors[1].startswith(f"{p}:3: malformed JSON")


def test_invalid_utf8_on_stdin_is_a_line_error(ctx, monkeypatch):
    class Stdin:
        buffer = io.BytesIO(_line(1) + b"\n" + b'{"id": "x", "text": "\xed\xa0\x80"}\n' + _line(3) + b"\n")
    monkeypatch.setattr("sys.stdin", Stdin)
    errors: list[str] = []
    got = [r.external_id for r, _ in read_path(Path("-"), ctx.sources, errors)]
    assert got == ["r1", "r3"] and errors[0].startswith("<stdin>:2: not UTF-8 text")


def test_both_backends_take_the_same_reports(db, tmp_path, ctx):
    """Defect 6: PostgreSQL rejected a NUL, a 600-character id, a 300-character source
    (raw DataError, batch lost); SQLite stored them."""
    p = tmp_path / "r.jsonl"
    p.write_bytes(b"\n".join([_line(1, text="Drones hit\u0000 a refinery in Ryazan.", title="a\u0000b"),
                              _line(2, id="x" * 600), _line(3, source="s" * 300), _line(4)]) + b"\n")
    res = ingest_paths(db, [p], ctx)
    assert res.new == 2 and len(res.errors) == 2
    assert res.errors[0] == f"{p}:2: field 'id' is 600 characters long (at most 500)"
    assert res.errors[1] == f"{p}:3: field 'source' is 300 characters long (at most 200)"
    (r1,) = [r for r in db.reports() if r.external_id == "r1"]
    assert "\x00" not in r1.text and r1.title == "ab"


@pytest.mark.parametrize("published, ok", [
    ("2025-03-18", "2025-03-18"), ("2025-03", "2025-03"), ("2025-03-18T06:00:00Z", "2025-03-18T06:00:00Z"),
    ("18 March 2025", "2025-03-18"), (None, None), ("0000-00-00", False), ([2024, 1, 1], False), (20250318, False),
    ("9999-12-31", False), ("yesterday-ish nonsense §§", False), ({"y": 2024}, False), (True, False)])
def test_published_is_typed_and_validated(tmp_path, ctx, published, ok):
    """Defect 8: any string, list or number was accepted as `published` and broke `truce report`."""
    p = tmp_path / "r.jsonl"
    p.write_bytes(_line(1, published=published) + b"\n")
    reports, _, res = collect([p], ctx.sources)
    if ok is False:
        assert reports == [] and res.errors[0].startswith(f"{p}:1: field 'published'")
    else:
        assert reports[0].published == ok and not res.errors


def test_reports_and_files_over_the_size_limits_are_clear_errors(tmp_path, ctx):
    from truce.ingest import Limits

    small = Limits(max_report_chars=1000, max_file_mb=1)
    p = tmp_path / "r.jsonl"
    p.write_bytes(b"\n".join([_line(1), _line(2, text="x " * 600), _line(3, text="y" * 20_000)]) + b"\n")
    reports, _, res = collect([p], ctx.sources, limits=small)
    assert [r.external_id for r in reports] == ["r1"]
    assert res.errors[0] == f"{p}:2: report text is 1,200 characters; the limit is 1,000 (TRUCE_MAX_REPORT_CHARS)"
    assert res.errors[1] == f"{p}:3: report text is 20,000 characters; the limit is 1,000 (TRUCE_MAX_REPORT_CHARS)"
    big = tmp_path / "big.xml"
    big.write_bytes(b"<rss>" + b" " * (2 * 1024 * 1024) + b"</rss>")
    _, _, res = collect([big], ctx.sources, limits=small)
    assert res.errors == [f"{big}: file is 2.0 MiB; the limit for this kind of file is 1.0 MiB "
                          "(TRUCE_MAX_FILE_MB, TRUCE_MAX_REPORT_CHARS)"]


def test_a_feed_whose_content_is_a_path_does_not_read_that_path(tmp_path, ctx):
    """Defect 8: feedparser read the file a .rss file's content named (/dev/zero: unbounded)."""
    secret = tmp_path / "secret.xml"
    secret.write_text("<rss><channel><title>S</title><item><title>t</title><description>SECRET drones hit a refinery"
                      "</description></item></channel></rss>", encoding="utf-8")
    for target in (str(secret), "/dev/zero"):
        p = tmp_path / "feed.rss"
        p.write_text(target, encoding="utf-8")
        reports, _, res = collect([p], ctx.sources)
        assert reports == [] and len(res.errors) == 1 and "not a readable RSS/Atom feed" in res.errors[0]


def _acled_rows():
    return list(csv.reader(io.StringIO((DATA / "acled_sample.csv").read_text(encoding="utf-8"))))


def test_acled_oversized_fields_and_ragged_rows_are_line_errors(tmp_path, ctx):
    """Defect 8: a CSV field over 128 KiB and ragged ACLED rows raised tracebacks."""
    header, first, second, *_ = _acled_rows()
    huge = list(second)
    huge[header.index("notes")] = "n" * 200_000
    p = tmp_path / "a.csv"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerows([header, first, huge, first[:-3], first + ["extra", "more"], second])
    p.write_text(buf.getvalue(), encoding="utf-8")
    reports, _, res = collect([p], ctx.sources)
    assert [r.external_id for r in reports] == ["acled:UKR900001", "acled:UKR900002"]
    assert res.errors[0].startswith(f"{p}:3: unreadable CSV row: field larger than field limit")
    assert res.errors[1] == f"{p}:4: row has {len(header) - 3} fields; the header has {len(header)}"
    assert res.errors[2] == f"{p}:5: row has {len(header) + 2} fields; the header has {len(header)}"


def test_symlinks_and_special_files_in_a_directory_are_not_followed(tmp_path, ctx):
    """Defect 10: symlinks inside an ingested directory were followed (/etc/passwd stored
    as a report); a FIFO blocked for ever."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "ok.txt").write_text("Russian drones struck a substation in Kharkiv.", encoding="utf-8")
    outside = tmp_path / "outside.txt"
    outside.write_text("root:x:0:0:root:/root:/bin/bash", encoding="utf-8")
    (d / "passwd.txt").symlink_to(outside)
    (d / "dangling.txt").symlink_to(tmp_path / "nowhere")
    (d / "sub").symlink_to(tmp_path)
    os.mkfifo(d / "pipe.txt")
    reports, _, res = collect([d], ctx.sources)
    assert [Path(r.external_id).name for r in reports] == ["ok.txt"]
    assert sorted(e.split(": ", 1)[1] for e in res.errors) == [
        "is a symbolic link; not followed inside a directory"] * 3 + [
        "not a regular file (a FIFO, device or socket); not read"]
    # named on the command line: a FIFO or device is refused, not read
    for special in (d / "pipe.txt", Path("/dev/zero")):
        _, _, res = collect([special], ctx.sources)
        assert res.errors == [f"{special}: not a regular file (a FIFO, device or socket); not read"]


def test_every_table_has_the_same_limits_on_both_backends(db):
    """Defect 6, beyond reports: what PostgreSQL would refuse is refused on SQLite too,
    with one line naming table and column, before the database sees it."""
    from truce import ledger
    from truce.errors import StorageError

    with pytest.raises(StorageError, match=r"^ledger\.author: 'aaa.*is 300 characters long \(at most 200\)"):
        ledger.append(db, [("review", "a/inc-1", {"note": "x"})], "a" * 300)
    with pytest.raises(StorageError, match=r"^facilities_extra\.id: .* \(at most 100\)"):
        db.add_facilities([("x" * 150, "gppd:f.csv", {"id": "x"})])
    with pytest.raises(StorageError, match=r"^facilities_extra\.origin: a NUL character cannot be stored"):
        db.add_facilities([("ua-x", "a\x00b", {"id": "x"})])
    ledger.append(db, [("review", "a/inc-1", {"note": "nul \x00 in a payload is escaped JSON"})], "ana")
    assert ledger.verify(db).ok and db.ledger_count() == 1


def test_a_url_that_does_not_parse_is_kept_as_text_not_an_error(tmp_path, ctx):
    """Found by benchmarks/fuzz.py: an Atom <link href="https://[x.example/1"> (or such a
    JSONL url) raised ValueError (Invalid IPv6 URL) while matching the outlet by domain."""
    p = tmp_path / "r.jsonl"
    p.write_bytes(_line(1, url="https://[Ox.example/1", source=None) + b"\n")
    feed = tmp_path / "f.atom"
    feed.write_text('<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><entry><id>e1</id>'
                    '<title>t</title><link href="https://[Ox.example/1"/><updated>2025-03-18T06:00:00Z</updated>'
                    '<summary>Drones hit a refinery in Ryazan.</summary></entry></feed>', encoding="utf-8")
    reports, _, res = collect([p, feed], ctx.sources)
    assert res.errors == [] and len(reports) == 2
    assert all(r.url == "https://[Ox.example/1" and r.source_kind == "unknown" for r in reports)


def test_an_unknown_geometry_in_an_osm_file_is_no_place_not_a_traceback(tmp_path, ctx):
    """Found by benchmarks/fuzz.py: shapely's GeometryTypeError escaped `facilities import`."""
    from truce.ingest.facilities import read_osm

    p = tmp_path / "o.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"power": "plant"}, "geometry": {"type": "po\u0095lygon", "coordinates": []}},
        {"type": "Feature", "properties": {"power": "plant"}, "geometry": {"type": "Point", "coordinates": ["x", None]}}]}),
        encoding="utf-8")
    assert [f for _, f in read_osm(p, ctx.gazetteer.region_at)] == [None, None]


def test_control_characters_in_a_feed_entry_are_not_a_traceback(tmp_path, ctx):
    """Found by benchmarks/fuzz.py: a control character after a <br> in an entry's HTML made
    lxml raise ValueError while the entry's text was taken out of its markup."""
    feed = tmp_path / "f.rss"
    feed.write_text("<rss><channel><title>U</title><item><guid>g</guid><title>t</title><description>"
                    "&lt;p&gt;Drones hit a refinery in Ryazan.&lt;br&gt;\x0b more&lt;/p&gt;</description></item>"
                    "</channel></rss>", encoding="utf-8")
    reports, _, res = collect([feed], ctx.sources)
    assert res.errors == [] and len(reports) == 1 and "Ryazan" in reports[0].text
