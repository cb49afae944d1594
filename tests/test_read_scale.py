"""Read commands at scale (issue 12): incidents and exports written a page at a time give what the
whole list gives, byte for byte; the report lists the first --top findings with aggregates and says
how many it leaves out (--appendix: all); the ledger's chain is checked a page at a time, from the
last `truce ledger verify` when there is one."""

import csv
import datetime as dt
import io
import json
import re

import pytest
from click.testing import CliRunner

from truce import ledger
from truce.cli import cli
from truce.db import Database
from truce.outputs import export, stream
from truce.outputs.export import incidents_geojson
from truce.outputs.query import Filters
from truce.outputs.shapes import findings_json, incidents_json
from truce.schema import ledger as ledger_table


def _run(*args):
    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code == 0, r.output
    return r


@pytest.fixture(params=[1, 5, 7, 2000], ids=lambda n: f"page{n}")
def page(request, monkeypatch):
    """Pages of 1, 5 (95 demo incidents: 19 whole pages), 7 (a last page part full) and one page."""
    monkeypatch.setattr(stream, "PAGE", request.param)
    monkeypatch.setattr(export, "PAGE", request.param)  # the constant lives there (Parquet row groups)
    return request.param


FILTERS = {
    "all": ([], Filters()),
    "RU-since": (["--country", "RU", "--from", "2025-03-18"], Filters(countries=("RU",), date_from=dt.date(2025, 3, 18))),
    "verdict": (["--verdict", "contested", "--agreement", "moratorium-2025-03"],
                Filters(verdicts=("contested",), agreements=("moratorium-2025-03",))),
    "grades": (["--grade", "confirmed", "--grade", "fair"], Filters(grades=("confirmed", "fair"))),
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_paged_incidents_are_the_whole_list_byte_for_byte(demo, tmp_path, page, name):
    db = str(demo[0])
    args, filters = FILTERS[name]
    with Database(db, create=False) as database:
        want = incidents_json(database, filters)  # the whole list, shaped at once (what was written before paging)
    assert want
    out = tmp_path / "i.json"
    _run("incidents", "--db", db, "--format", "json", "-o", str(out), *args)
    ids = [r["id"] for r in json.loads(out.read_text(encoding="utf-8"))]
    assert len(ids) == len(set(ids))  # no incident twice
    assert ids == [r["id"] for r in want]  # none dropped, none added, same order
    assert out.read_text(encoding="utf-8") == json.dumps(want, ensure_ascii=False, indent=1) + "\n"
    geo = tmp_path / "i.geojson"
    _run("incidents", "--db", db, "--format", "geojson", "-o", str(geo), *args)
    assert geo.read_text(encoding="utf-8") == json.dumps(incidents_geojson(want), ensure_ascii=False, indent=1) + "\n"
    rows = list(csv.DictReader(io.StringIO(_run("incidents", "--db", db, "--format", "csv", *args).output)))
    assert [r["id"] for r in rows] == ids


@pytest.mark.parametrize("name", list(FILTERS))
def test_paged_findings_are_the_whole_list_byte_for_byte(demo, tmp_path, page, name):
    db = str(demo[0])
    args, filters = FILTERS[name]
    with Database(db, create=False) as database:
        want = findings_json(database, filters=filters)  # the whole list, sorted in Python (before paging)
        incidents = {i.id: i for i in database.incidents()}
    assert want
    out = tmp_path / "f.json"
    _run("findings", "--db", db, "--format", "json", "-o", str(out), *args)
    assert out.read_text(encoding="utf-8") == json.dumps(want, ensure_ascii=False, indent=1) + "\n"
    table = _run("findings", "--db", db, *args).output
    assert f"{len(want)} finding(s)" in table
    first = want[0]
    assert re.search(rf"{incidents[first['incident_id']].date or '-'} +{first['incident_id']}", table)


def test_a_page_read_with_its_stamps_needs_no_second_lookup(demo, monkeypatch):
    """A page of incidents brings each one's updated_at, the same as looking them up; the stream
    shapes a page without that lookup."""
    database = Database(str(demo[0]))
    try:
        stamps: dict[str, str] = {}
        data = database.incident_page_data({}, limit=7, stamps=stamps)
        assert len(data) == 7 and list(stamps) == [d["id"] for d in data]
        assert stamps == database.incident_stamps([d["id"] for d in data])
        whole = list(stream.iter_incidents(database))

        def refused(ids):
            raise AssertionError("incident_stamps read again")

        monkeypatch.setattr(database, "incident_stamps", refused)
        assert list(stream.iter_incidents(database, page=5)) == whole
    finally:
        database.close()


def test_an_empty_selection_is_an_empty_list(demo, tmp_path):
    db = str(demo[0])
    assert _run("incidents", "--db", db, "--format", "json", "--from", "1990-01-01", "--to", "1990-01-02").output == "[]\n"
    geo = json.loads(_run("incidents", "--db", db, "--format", "geojson", "--from", "1990-01-01",
                          "--to", "1990-01-02").output)
    assert geo == {"type": "FeatureCollection", "features": []}
    out = tmp_path / "e.parquet"
    _run("export", "--db", db, "--format", "parquet", "-o", str(out), "--from", "1990-01-01", "--to", "1990-01-02")
    import pyarrow.parquet as pq

    assert pq.read_table(out).num_rows == 0 and "verdict_moratorium-2025-03" in pq.read_table(out).column_names


def test_paged_exports_are_the_whole_list(demo, tmp_path, page, ctx):
    import pyarrow.parquet as pq

    from truce.outputs import export as ex

    db = str(demo[0])
    with Database(db, create=False) as database:
        rows = incidents_json(database)
        agreements = sorted({a.id for a in ctx.agreements} | set(database.agreement_ids()))
    want_csv = io.StringIO()
    ex.write_csv(rows, want_csv, agreements)
    got = tmp_path / "x.csv"
    _run("export", "--db", db, "--format", "csv", "-o", str(got))
    assert got.read_text(encoding="utf-8") == want_csv.getvalue()
    want_acled = io.StringIO()
    ex.write_acled(rows, want_acled, 0)
    got = tmp_path / "a.csv"
    _run("export", "--db", db, "--format", "acled-csv", "-o", str(got))
    strip = re.compile(r",\d+$", re.M)  # the timestamp column: when the export was made
    assert strip.sub("", got.read_text(encoding="utf-8")) == strip.sub("", want_acled.getvalue())
    whole = tmp_path / "whole.parquet"
    assert ex.write_parquet(rows, str(whole), agreements, page=10_000) == len(rows)
    paged = tmp_path / "p.parquet"
    _run("export", "--db", db, "--format", "parquet", "-o", str(paged))
    a, b = pq.read_table(whole), pq.read_table(paged)
    assert b.schema.equals(a.schema) and b.equals(a)
    assert pq.ParquetFile(paged).metadata.num_row_groups == -(-len(rows) // min(page, 2000))


# --- the report ----------------------------------------------------------------------------

def _listed(html):
    """(incident, agreement) of each finding listed, in order; and of each not-covered one."""
    found = re.findall(r"<tbody class='finding'><tr id='([^']+)'>.*?<td class='v-[^']+'>([^:<]+):", html)
    nc = re.findall(r"<tr><td>[^<]*</td><td>(inc-[0-9a-f]+)<br><span class='muted'>([^<]+)</span>", html)
    return found, nc


@pytest.fixture(scope="module")
def full_report(demo, ctx):
    from truce.outputs.report import build_report

    with Database(str(demo[0]), create=False) as database:
        return build_report(database, ctx)


def test_a_small_report_lists_everything_without_aggregates(full_report, demo, ctx):
    from truce.outputs.report import build_report

    found, nc = _listed(full_report)
    assert len(found) > 10 and len(nc) > 10
    assert "id='aggregates'" not in full_report and "not shown" not in full_report
    n = int(re.search(r"<h2 id='findings'>Findings \((\d+)\)", full_report).group(1))
    m = int(re.search(r"<h2 id='not-covered'>Not covered \((\d+)\)", full_report).group(1))
    assert (len(found), len(nc)) == (n, m)
    with Database(str(demo[0]), create=False) as database:
        assert _listed(build_report(database, ctx, top=5, appendix=True)) == (found, nc)


@pytest.mark.parametrize("size", [1, 4])
def test_findings_read_a_page_at_a_time_are_all_of_them_in_order(full_report, demo, ctx, monkeypatch, size):
    from truce.outputs import report_summary
    from truce.outputs.report import build_report

    monkeypatch.setattr(report_summary, "PAGE", size)
    found, nc = _listed(full_report)
    with Database(str(demo[0]), create=False) as database:
        assert _listed(build_report(database, ctx, appendix=True)) == (found, nc)  # none dropped or repeated
        got, got_nc = _listed(build_report(database, ctx, top=6))
    assert (got, got_nc) == (found[:6], nc[:6])


def test_over_top_the_report_summarises_and_says_what_it_leaves_out(full_report, demo, ctx):
    from truce.outputs.report import build_report

    found, nc = _listed(full_report)
    with Database(str(demo[0]), create=False) as database:
        html = build_report(database, ctx, top=5)
    got, got_nc = _listed(html)
    assert got == found[:5] and got_nc == nc[:5]  # the first five, in the mediator's order
    assert f"<b>{len(found) - 5} findings not shown</b>: the first 5 of {len(found)}" in html
    assert f"<b>{len(nc) - 5} not-covered findings not shown</b>" in html
    assert "<h2 id='aggregates'>Aggregates</h2>" in html and "<li><a href='#aggregates'>" in html
    # the aggregates count the whole selection, not the five listed
    months = re.search(r"<h3>Incidents by month and grade</h3>(.*?)</table>", html).group(1)
    assert sum(int(x) for x in re.findall(r"<tr><td>[^<]+</td><td>(\d+)</td>", months)) == \
        int(re.search(r"<b>(\d+)</b>incidents", html).group(1))


def _history_rows(html):
    """(agreement section, [(date, status) of each row]) of each status history table."""
    return [re.findall(r"<tr class='r-[^']+'><td>([^<]*)</td><td>([^<]+)</td>", t)
            for t in re.findall(r"<table class='status'>(.*?)</table>", html, re.S)]


def test_a_long_status_history_lists_the_record_and_the_latest_and_counts_the_rest(full_report, demo, ctx):
    from truce.outputs.report import build_report

    whole = _history_rows(full_report)
    with Database(str(demo[0]), create=False) as database:
        terms = {a.id: len(a.statuses()) for a in ctx.agreements}
        stored = {a.id: [r for rows in database.agreement_status_pages(a.id, page=3) for r in rows] for a in ctx.agreements}
        html = build_report(database, ctx, top=2)
        assert _history_rows(build_report(database, ctx, top=2, appendix=True)) == whole
    assert "status observations not shown" not in full_report
    assert sum(map(len, whole)) == sum(map(len, stored.values()))  # a short history: every row
    cut = _history_rows(html)
    long_ = [a for a in ctx.agreements if len(stored[a.id]) > terms[a.id] + 2]
    assert long_  # the demo has a history longer than its terms and two observations
    for rows in cut:
        assert len(rows) <= max(terms.values()) + 2
    for a in long_:
        latest = sorted((r for r in stored[a.id] if r.origin == "report"), key=lambda r: (r.date or "", r.claim_id))[-2:]
        assert all((r.date or "", r.status) in [(d, st) for rows in cut for d, st in rows] for r in latest)
        left = len(stored[a.id]) - terms[a.id] - 2
        assert f"<b>{left} status observations not shown</b>" in html
    counts = re.findall(r"<caption>Status observations by status and source standing</caption>.*?</table>", html, re.S)
    assert len(counts) == len(long_)
    assert sorted(sum(int(x) for x in re.findall(r"<td>(\d+)</td>", c)) for c in counts) == \
        sorted(len(stored[a.id]) for a in long_)  # every row counted, shown or not


def test_the_report_written_as_it_is_made_is_the_report(demo, ctx, tmp_path):
    from truce.outputs.report import build_report, write_report

    stamp = re.compile(r"Generated [0-9-]+ [0-9:]+ UTC")
    with Database(str(demo[0]), create=False) as database:
        for lang in ("en", "uk"):
            path = write_report(database, ctx, tmp_path / f"r-{lang}.html", lang=lang, top=7)
            built = build_report(database, ctx, lang=lang, top=7)
            assert stamp.sub("", path.read_text(encoding="utf-8")) == stamp.sub("", built)


def test_report_options_on_the_command_line(demo, tmp_path):
    out = tmp_path / "r.html"
    _run("report", "--db", str(demo[0]), "--top", "3", "-o", str(out))
    found, _ = _listed(out.read_text(encoding="utf-8"))
    assert len(found) == 3
    _run("report", "--db", str(demo[0]), "--top", "3", "--appendix", "-o", str(out))
    html = out.read_text(encoding="utf-8")
    assert len(_listed(html)[0]) > 3 and "not shown" not in html


# --- the ledger's chain, a page at a time ---------------------------------------------------------

@pytest.fixture
def filled(db):
    ledger.append(db, [("finding", f"a/inc-{i}", {"verdict": "alleged", "n": i}) for i in range(7)], "tester")
    return db


def _exec(db, stmt):
    with db.atomic() as conn:
        conn.execute(stmt)


TAMPER = {
    "payload": lambda: ledger_table.update().where(ledger_table.c.seq == 3).values(payload='{"n":3}'),
    "removed": lambda: ledger_table.delete().where(ledger_table.c.seq == 4),
    "tail": lambda: ledger_table.delete().where(ledger_table.c.seq == 7),
    "not json": lambda: ledger_table.update().where(ledger_table.c.seq == 6).values(payload="{"),
}


@pytest.mark.parametrize("page", [1, 2, 3, 100])
@pytest.mark.parametrize("how", [None, *TAMPER])
def test_the_paged_chain_check_agrees_with_verify(filled, page, how):
    if how:
        _exec(filled, TAMPER[how]())
    full, paged = ledger.verify_rows(filled.ledger_raw(), filled.ledger_head()), ledger.verify_chain(filled, page=page)
    assert (paged.ok, paged.first_bad, paged.reason, paged.head) == (full.ok, full.first_bad, full.reason, full.head)


def test_the_chain_is_checked_from_the_last_full_verify(filled):
    assert ledger.verified_mark(filled) is None
    v = ledger.verify(filled)
    ledger.record_verified(filled, v)
    mark = ledger.verified_mark(filled)
    assert (mark["seq"], mark["hash"]) == (7, v.head) and mark["at"]
    ledger.append(filled, [("finding", "a/inc-9", {"verdict": "alleged"})], "tester")
    ok = ledger.verify_chain(filled, page=2, start=(mark["seq"], mark["hash"]))
    assert ok.ok and ok.entries == 8
    _exec(filled, ledger_table.update().where(ledger_table.c.seq == 8).values(author="mallory"))
    assert not ledger.verify_chain(filled, start=(mark["seq"], mark["hash"])).ok  # a new entry altered
    _exec(filled, ledger_table.update().where(ledger_table.c.seq == 8).values(author="tester"))
    _exec(filled, ledger_table.update().where(ledger_table.c.seq == 7).values(hash="0" * 64))
    bad = ledger.verify_chain(filled, start=(mark["seq"], mark["hash"]))
    assert not bad.ok and bad.first_bad == 7 and "no longer has the hash" in bad.reason


def test_the_report_says_what_of_the_ledger_was_checked(demo, tmp_path):
    import shutil

    db = str(tmp_path / "d.db")
    shutil.copy(demo[0], db)
    out = tmp_path / "r.html"
    _run("report", "--db", db, "-o", str(out))
    line = re.search(r"Ledger: [^\n]*?</p>", out.read_text(encoding="utf-8")).group(0)
    assert re.search(r"Ledger: \d+ entries; its hash chain .* was checked in full as this report was generated: intact", line)
    _run("ledger", "verify", "--db", db)
    _run("report", "--db", db, "-o", str(out))
    line = re.search(r"Ledger: [^\n]*?</p>", out.read_text(encoding="utf-8")).group(0)
    n = re.search(r"Ledger: (\d+) entries", line).group(1)
    assert re.search(rf"<code>truce ledger verify</code> verified entries 1–{n} in full \(hash chain and stored findings\) "
                     r"at \d{4}-\d\d-\d\dT[0-9:]+\+00:00; as this report was generated, entry \d+ still had the hash it "
                     r"recorded and the head pointer still named it: intact", line), line


@pytest.mark.parametrize("aside", [True, False], ids=["other-process", "in-process"])
def test_the_chain_checked_beside_the_report_is_the_chain_checked_in_it(demo, ctx, tmp_path, monkeypatch, aside):
    import shutil

    import sqlalchemy as sa

    from truce.outputs.report import build_report

    monkeypatch.setattr(ledger, "ASIDE_OVER", 0 if aside else 10**9)
    db = str(tmp_path / "d.db")
    shutil.copy(demo[0], db)
    with Database(db, create=False) as database:
        chain = ledger.ChainAside(database)
        assert (chain._future is not None) == aside and chain.result().ok
        assert "was checked in full as this report was generated: intact" in build_report(database, ctx, top=3)
        with database.atomic() as conn:
            conn.execute(sa.update(ledger_table).where(ledger_table.c.seq == 7).values(author="someone else"))
        html = build_report(database, ctx, top=3)
    assert "BROKEN — entry 7: content does not match its hash (the entry was altered)" in html


def test_what_sqlite_reads_with_json_extract_is_what_decoding_reads(demo, ctx, monkeypatch):
    """SQLite reads a few fields out of the stored JSON in SQL; other databases decode it in Python:
    both give the same."""
    from truce.outputs.outlook import facility_ids
    from truce.outputs.report_summary import scan
    from truce.outputs.shapes import EVIDENCE_KINDS

    with Database(str(demo[0]), create=False) as database:
        keep = facility_ids(ctx.registry, "UA")
        by_sql, by_python = scan(database, keep, page=7), scan(database, keep, page=7, sql_json=False)
        assert by_sql[0] == by_python[0] and len(by_sql[0]) == len(database.incidents())
        assert [i.to_dict() for i in by_sql[1]] == [i.to_dict() for i in by_python[1]] and by_sql[1]
        ids = [link.claim_id for i in database.incidents() for link in i.claims]
        quotes = database.claim_quotes(ids, EVIDENCE_KINDS)
        monkeypatch.setattr(database, "dialect", "other")
        assert database.claim_quotes(ids, EVIDENCE_KINDS) == quotes and quotes


@pytest.mark.parametrize("value", [
    {"a": "ü \" \\ \n \u2028 \x00 Київ", "b": [1, 2.5, -0.0, 1e300, True, False, None], "c": {}, "d": [], "e": [[], {}, [{}]]},
    [{"nested": {"deeper": [1, {"x": None}]}}], "just a string", 3, None, [], {},
    {"nan": float("nan"), "inf": [float("inf"), float("-inf")]},
    {1: "a number key"},  # not a string key: the standard library's own encoding
])
def test_items_are_encoded_as_the_standard_library_does(value):
    for depth in (0, 1, 3):
        out = io.StringIO()
        stream.write_json_list(out, [value, value], depth)
        assert out.getvalue() == json.dumps([value, value], ensure_ascii=False, indent=1).replace("\n", "\n" + " " * depth)
