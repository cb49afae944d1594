"""Every bad input of issue #11 ("Silent wrong answers seen") is refused with one line and a
non-zero exit, and every form the issue tried is read as what it says (with a note on stderr
when it was not ISO 8601)."""

import csv
import datetime as dt
import io
import json

import pytest
from click.testing import CliRunner

from truce.cli import cli
from truce.outputs.query import QueryError, parse_day

READERS = ("incidents", "findings", "stats")  # commands that only read and print


def invoke(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


def one_line_error(r, code=2):
    assert r.exit_code == code, (r.exit_code, r.output)
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    assert "Traceback" not in r.output
    return lines[0]


@pytest.fixture(scope="module")
def db(demo):
    return str(demo[0])


# --- dates --------------------------------------------------------------------------------

def test_every_date_form_the_issue_tried_is_read_as_written(db):
    iso = json.loads(invoke("incidents", "--db", db, "--from", "2025-03-01", "--to", "2025-03-31", "--format", "json").stdout)
    assert iso and all("2025-03-01" <= i["date"] <= "2025-03-31" for i in iso)
    for form, how in (("01.03.2025", "day.month.year"), ("2025/03/01", "year/month/day"), ("1 March 2025", "a written-out date")):
        r = invoke("incidents", "--db", db, "--from", form, "--to", "2025-03-31", "--format", "json")
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout) == iso, form
        assert r.stderr.strip() == f"note: --from {form} read as 2025-03-01 ({how})"
    r = invoke("incidents", "--db", db, "--to", "2025-03", "--from", "2025-03-01", "--format", "json")
    assert json.loads(r.stdout) == iso and "note: --to 2025-03 read as 2025-03-31 (the last day of March 2025)" in r.stderr
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    r = invoke("incidents", "--db", db, "--from", "yesterday", "--format", "json")
    assert r.exit_code == 0 and f"note: --from yesterday read as {yesterday} (relative to today, " in r.stderr


@pytest.mark.parametrize("command", ["incidents", "findings", "export", "report", "stats"])
def test_an_impossible_date_is_one_line_and_exit_2_everywhere(db, command, tmp_path):
    extra = {"export": ["--format", "csv", "-o", tmp_path / "x.csv"], "report": ["-o", tmp_path / "r.html"]}.get(command, [])
    line = one_line_error(invoke(command, "--db", db, "--from", "2025-02-30", *extra))
    assert line == (f"Error: Invalid value for '--from': '2025-02-30' is not a date: February 2025 has 28 days "
                    f"(see 'truce {command} --help')")
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("value, message", [
    ("01/03/2025", "'01/03/2025' is ambiguous: 1 March or 3 January? Write 2025-03-01 or 2025-01-03"),
    ("2025-13-01", "'2025-13-01' is not a date: there is no month 13"),
    ("31.04.2025", "'31.04.2025' is not a date: April 2025 has 30 days"),
    ("last tuesday-ish", "'last tuesday-ish' is not a date (use YYYY-MM-DD)"),
    ("20250301", "'20250301' is not a date (use YYYY-MM-DD)"),
])
def test_other_bad_dates(db, value, message):
    assert message in one_line_error(invoke("findings", "--db", db, "--to", value))


def test_a_period_that_ends_before_it_starts(db):
    line = one_line_error(invoke("incidents", "--db", db, "--from", "2025-04-01", "--to", "2025-03-01"))
    assert "the period ends before it starts: from 2025-04-01 to 2025-03-01" in line


def test_parse_day_is_the_one_reader():
    today = dt.date(2025, 4, 10)
    assert parse_day("2025-03-01") == (dt.date(2025, 3, 1), None)
    assert parse_day("25/03/2025") == (dt.date(2025, 3, 25), "day/month/year")
    assert parse_day("03/25/2025") == (dt.date(2025, 3, 25), "month/day/year")
    assert parse_day("2024", end=True) == (dt.date(2024, 12, 31), "the last day of 2024")
    assert parse_day("2024-02", end=True)[0] == dt.date(2024, 2, 29)
    assert parse_day("вчора", today=today) == (dt.date(2025, 4, 9), "relative to today, 2025-04-10")
    assert parse_day("1 березня 2025", today=today) == (dt.date(2025, 3, 1), "a written-out date")
    assert parse_day("3 days ago", today=today)[0] == dt.date(2025, 4, 7)
    with pytest.raises(QueryError, match="February 2025 has 28 days"):
        parse_day("29.02.2025")


# --- filters ------------------------------------------------------------------------------

def test_incidents_and_findings_take_every_filter(db):
    every = json.loads(invoke("incidents", "--db", db, "--format", "json").stdout)
    cases = {
        ("--country", "ru"): lambda i: i["country"] == "RU",
        ("--region", "Kyiv Oblast"): lambda i: i["region_code"] == "UA-32",
        ("--region", "UA-32"): lambda i: i["region_code"] == "UA-32",
        ("--facility", "ua-trypillia-tpp"): lambda i: i["facility_id"] == "ua-trypillia-tpp",
        ("--type", "refinery"): lambda i: i["facility_type"] == "refinery",
        ("--grade", "contested"): lambda i: i["grade"] == "contested",
        ("--verdict", "consistent_with_violation"): lambda i: "consistent_with_violation" in i["verdicts"].values(),
    }
    for args, keep in cases.items():
        got = json.loads(invoke("incidents", "--db", db, *args, "--format", "json").stdout)
        assert got and [i["id"] for i in got] == [i["id"] for i in every if keep(i)], args
    both = json.loads(invoke("incidents", "--db", db, "--type", "refinery", "--type", "oil_depot", "--country", "RU",
                             "--format", "json").stdout)
    assert {i["facility_type"] for i in both} == {"refinery", "oil_depot"} and {i["country"] for i in both} == {"RU"}
    fs = json.loads(invoke("findings", "--db", db, "--agreement", "moratorium-2025-03", "--verdict", "contested",
                           "--verdict", "consistent_with_violation", "--format", "json").stdout)
    assert fs and {f["agreement_id"] for f in fs} == {"moratorium-2025-03"}
    assert {f["verdict"] for f in fs} == {"contested", "consistent_with_violation"}
    fs = json.loads(invoke("findings", "--db", db, "--country", "RU", "--from", "2025-03-18", "--to", "2025-04-16",
                           "--format", "json").stdout)
    ids = {i["id"] for i in json.loads(invoke("incidents", "--db", db, "--country", "RU", "--from", "2025-03-18",
                                              "--to", "2025-04-16", "--format", "json").stdout)}
    assert fs and {f["incident_id"] for f in fs} == ids


def test_findings_come_violations_and_contested_first_then_by_date(db):
    from truce.outputs.query import VERDICT_ORDER

    fs = json.loads(invoke("findings", "--db", db, "--format", "json").stdout)
    dates = {i["id"]: i["date"] or "9999" for i in json.loads(invoke("incidents", "--db", db, "--format", "json").stdout)}
    keys = [(VERDICT_ORDER.index(f["verdict"]), dates[f["incident_id"]]) for f in fs]
    assert keys == sorted(keys) and fs[0]["verdict"] == "consistent_with_violation"
    table = invoke("findings", "--db", db, "--agreement", "moratorium-2025-03").stdout.splitlines()
    assert "consistent_with_violation" in table[1] and "not_covered" in table[-2]


# --- databases and ids --------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("incidents",), ("findings",), ("stats",), ("export", "--format", "csv", "-o", "-"), ("report", "-o", "{tmp}/r.html"),
    ("run",), ("ledger", "verify"), ("ledger", "export", "-o", "-"), ("facilities", "show", "ua-burshtyn-tpp"),
    ("review", "inc-x", "--agreement", "qatar-2024", "--verdict", "alleged", "--note", "n"),
])
def test_a_mistyped_database_is_refused_and_not_created(tmp_path, args):
    missing = tmp_path / "truce.bd"
    line = one_line_error(invoke(*[a.replace("{tmp}", str(tmp_path)) for a in args], "--db", missing), code=1)
    assert line == (f"Error: no database at {missing} (nothing was stored there: check --db or TRUCE_DB, "
                    "or run `truce demo` or `truce ingest` first)")
    assert not missing.exists()


def test_a_file_that_is_not_a_truce_database_is_refused(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("not a database at all " * 40, encoding="utf-8")
    assert one_line_error(invoke("incidents", "--db", other), code=1) == f"Error: cannot open {other}: file is not a database"
    assert other.read_text(encoding="utf-8").startswith("not a database")


@pytest.mark.parametrize("command", ["incidents", "findings", "stats", "export", "report"])
def test_an_unknown_agreement_lists_the_known_ones(db, command, tmp_path):
    extra = {"export": ["--format", "csv", "-o", tmp_path / "x.csv"], "report": ["-o", tmp_path / "r.html"]}.get(command, [])
    line = one_line_error(invoke(command, "--db", db, "--agreement", "moratorium-2025", *extra))
    assert line.startswith("Error: unknown agreement 'moratorium-2025'; known: energy-pause-2026-01, "
                           "moratorium-2025-03, qatar-2024")


def test_unknown_ids_name_the_closest(db):
    line = one_line_error(invoke("incidents", "--db", db, "--facility", "ua-trypilia-tpp"))
    assert line.startswith("Error: unknown facility 'ua-trypilia-tpp'; closest: ua-trypillia-tpp")
    line = one_line_error(invoke("findings", "--db", db, "--region", "Kyivska"))
    assert line.startswith("Error: unknown region 'Kyivska'; closest: Kyiv (UA-30), Kyiv Oblast (UA-32)")
    line = one_line_error(invoke("incidents", "--db", db, "--country", "PL"))
    assert "'PL' is not one of" in line
    incident = json.loads(invoke("incidents", "--db", db, "--format", "json").stdout)[0]["id"]
    line = one_line_error(invoke("review", incident[:-1], "--agreement", "qatar-2024", "--verdict", "alleged",
                                 "--note", "x", "--db", db))
    assert line.startswith(f"Error: unknown incident '{incident[:-1]}'; closest: ")
    line = one_line_error(invoke("review", incident, "--agreement", "qatar", "--verdict", "alleged", "--note", "x", "--db", db))
    assert line.startswith("Error: unknown agreement 'qatar'; known: ")


def test_usage_errors_of_click_are_one_line_too(db):
    assert one_line_error(invoke("export", "--db", db, "-o", "-")).startswith("Error: Missing option '--format'")
    line = one_line_error(invoke("incidents", "--db", db, "--frm", "2025-01-01"))
    assert "No such option" in line and "--frm" in line
    assert one_line_error(invoke("incidentz")).startswith("Error: No such command 'incidentz'")


# --- exports ------------------------------------------------------------------------------

def test_acled_export_counts_what_it_leaves_out(db):
    r = invoke("export", "--db", db, "--format", "acled-csv", "-o", "-")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    every = json.loads(invoke("incidents", "--db", db, "--format", "json").stdout)
    undated = sum(1 for i in every if not i["date"])
    unplaced = sum(1 for i in every if i["date"] and i["lat"] is None)
    assert undated and unplaced  # the demo has both
    assert f"left out {undated} incident(s): undated: an ACLED row needs an event date" in r.stderr
    assert f"left out {unplaced} incident(s): no coordinates: an ACLED row needs a latitude and longitude" in r.stderr
    assert len(rows) == len(every) - undated - unplaced and f"exported {len(rows)} incident(s)" in r.stderr
    assert all(x["latitude"] and x["longitude"] and x["event_date"] for x in rows)


def test_tables_are_drawn_by_rich_on_a_terminal_and_plain_when_piped(monkeypatch):
    import sys

    from truce.cli import common as cli_common

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    rows = [["2025-03-28", "inc-1", "Novobryanskaya 750 kV Substation"]]
    piped = io.StringIO()
    cli_common._table(piped, ["date", "id", "target"], rows, "1 incident(s)")
    assert piped.getvalue().splitlines() == ["date        id     target", "2025-03-28  inc-1  Novobryanskaya 750 kV Substation",
                                             "1 incident(s)"]
    term = Terminal()
    monkeypatch.setattr(sys, "stdout", term)
    cli_common._table(sys.stdout, ["date", "id", "target"], rows, "1 incident(s)")
    drawn = term.getvalue()
    assert ("┃" in drawn or "│" in drawn) and "Novobryanskaya 750 kV Substation" in drawn
