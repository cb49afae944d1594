import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from truce.cli import cli

DATA = Path(__file__).parent / "data"


def run(*args, env=None, input=None):
    r = CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)
    return r


def test_version():
    from truce import __version__
    assert run("--version").output.strip() == f"truce, version {__version__}"


def _commands(group, prefix=()):
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,)


@pytest.mark.parametrize("path", list(_commands(cli)))
def test_every_command_has_help_with_an_example(path):
    r = run(*path, "--help")
    assert r.exit_code == 0 and "Example:" in r.output, path


def test_extract_honours_the_contract(tmp_path):
    out = tmp_path / "claims.jsonl"
    r = run("extract", str(DATA / "reports.jsonl"), "--output", str(out))
    assert r.exit_code == 0, r.output
    texts = {json.loads(l)["id"]: json.loads(l)["text"] for l in (DATA / "reports.jsonl").read_text().splitlines()}
    claims = [json.loads(l) for l in out.read_text(encoding="utf-8").splitlines()]
    assert claims and {c["report_id"] for c in claims} <= set(texts)
    for c in claims:
        assert c["kind"] in ("strike", "interception", "negotiation", "accusation")
        for e in c["evidence"]:
            assert texts[c["report_id"]][e["start"]:e["end"]] == e["text"]
        assert c["extractor"].startswith("rules/")


def test_extract_skips_malformed_lines_with_line_numbers(tmp_path):
    r = CliRunner().invoke(cli, ["extract", str(DATA / "bad.jsonl"), "-o", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 1
    assert f"error: {DATA / 'bad.jsonl'}:2: malformed JSON" in r.output
    assert f"error: {DATA / 'bad.jsonl'}:3: missing required field 'id'" in r.output
    ids = {json.loads(l)["report_id"] for l in (tmp_path / "o.jsonl").read_text().splitlines()}
    assert ids == {"good-1", "good-2"}


def test_extract_reads_stdin_and_writes_stdout():
    line = json.dumps({"id": "x", "text": "Drones attacked the Ryazan refinery overnight, starting a fire.", "published": "2024-03-13"})
    r = CliRunner().invoke(cli, ["extract", "-", "-o", "-"], input=line + "\n")
    assert r.exit_code == 0
    first = json.loads(r.stdout.splitlines()[0])
    assert first["report_id"] == "x" and first["facility_id"] == "ru-ryazan-refinery"


def test_demo_end_to_end(demo, tmp_path):
    demo_db, out_dir, output = demo
    assert "incidents:" in output and "findings:  moratorium-2025-03:" in output
    verdicts = set()
    for line in output.splitlines():
        if line.startswith("findings:"):
            verdicts |= {part.strip().rsplit(" ", 1)[0] for part in line.split(":", 2)[2].split(",")}
    assert len(verdicts) >= 3, verdicts
    html = (out_dir / "out" / "report.html").read_text(encoding="utf-8")
    assert html.count("<img") >= 2 and "Findings" in html and "Status history" in html
    db = tmp_path / "demo.db"
    shutil.copy(demo_db, db)
    # the ledger is intact, and tampering is caught
    assert run("ledger", "verify", "--db", str(db)).exit_code == 0
    con = sqlite3.connect(db)
    con.execute("UPDATE ledger SET payload = replace(payload, 'alleged', 'not_covered') WHERE seq = (SELECT min(seq) FROM ledger WHERE payload LIKE '%alleged%')")
    con.commit()
    con.close()
    r = CliRunner().invoke(cli, ["ledger", "verify", "--db", str(db)])
    assert r.exit_code == 1 and r.output.startswith("ledger broken: entry ") and len(r.output.strip().splitlines()) == 1
    # a rerun on unchanged data is idempotent: nothing appended
    shutil.copy(demo_db, db)
    r = run("run", "--db", str(db))
    assert "(0 appended)" in r.output


def test_ingest_errors_are_one_line_and_keep_good_reports(tmp_path):
    db = str(tmp_path / "x.db")
    r = CliRunner().invoke(cli, ["ingest", str(DATA / "bad.jsonl"), "--db", db])
    assert r.exit_code == 1
    assert "ingested 2 new report(s), 0 already stored, from 1 file(s); 2 error(s)" in r.output
    r = CliRunner().invoke(cli, ["ingest", str(tmp_path / "nope.txt"), "--db", db])
    assert r.exit_code == 1 and f"error: {tmp_path / 'nope.txt'}: no such file" in r.output
    assert sqlite3.connect(db).execute("select count(*) from reports").fetchone()[0] == 2


def test_invalid_agreement_file_is_a_one_line_error_and_nothing_is_lost(tmp_path):
    db = str(tmp_path / "x.db")
    assert run("ingest", str(DATA / "reports.jsonl"), "--db", db).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\ntitle: Bad\nparties: [UA, XX]\nstatus_history: []\ncommitments: []\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["run", "--db", db], env={"TRUCE_AGREEMENTS": str(bad)})
    assert r.exit_code == 1
    assert r.output.strip() == f"Error: {bad}: parties[1]: 'XX' is not one of ['UA', 'RU']"
    assert sqlite3.connect(db).execute("select count(*) from reports").fetchone()[0] == 9


def test_incidents_and_findings_formats(tmp_path):
    db = str(tmp_path / "x.db")
    run("ingest", str(DATA / "reports.jsonl"), "--db", db)
    run("run", "--db", db)
    rows = json.loads(run("incidents", "--db", db, "--format", "json").output)
    trypillia = next(r for r in rows if r["facility_id"] == "ua-trypillia-tpp")
    assert {x["report_id"] for x in trypillia["reports"]} == {"t-ua-tpp", "t-en-tpp"}
    assert all({"report_id", "claim", "joined_because"} <= set(c) for c in trypillia["claims"])
    gj = json.loads(run("incidents", "--db", db, "--format", "geojson").output)
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == len(rows)
    csv_out = run("incidents", "--db", db, "--format", "csv").output.splitlines()
    assert csv_out[0].startswith("id,date,country") and len(csv_out) == len(rows) + 1
    fs = json.loads(run("findings", "--db", db, "--format", "json", "--agreement", "qatar-2024").output)
    assert fs and all(f["agreement_id"] == "qatar-2024" and f["trace"] for f in fs)
    assert "incident(s)" in run("incidents", "--db", db).output


def test_review_command(tmp_path):
    db = str(tmp_path / "x.db")
    run("ingest", str(DATA / "reports.jsonl"), "--db", db)
    run("run", "--db", db)
    f = json.loads(run("findings", "--db", db, "--format", "json").output)[0]
    r = run("review", f["incident_id"], "--agreement", f["agreement_id"], "--verdict", "indeterminate",
            "--note", "needs the operator's statement", "--author", "analyst-1", "--db", db)
    assert r.exit_code == 0 and "review recorded as ledger entry" in r.output
    f2 = next(x for x in json.loads(run("findings", "--db", db, "--format", "json").output)
              if x["incident_id"] == f["incident_id"] and x["agreement_id"] == f["agreement_id"])
    assert f2["review"]["author"] == "analyst-1" and f2["verdict"] == f["verdict"]
    assert run("ledger", "verify", "--db", db).exit_code == 0


def test_facilities_export_and_show(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = run("facilities", "export", "--format", "csv").output.splitlines()
    assert out[0].startswith("id,name,aliases,type,country,region_code,lat,lon,capacity,capacity_unit,operator,source")
    assert "Burshtyn" in run("facilities", "show", "ua-burshtyn-tpp").output
    r = CliRunner().invoke(cli, ["facilities", "show", "ua-nowhere-tpp"])
    assert r.exit_code == 2 and r.output.startswith("Error: unknown facility 'ua-nowhere-tpp'; closest: ")
    assert len(r.output.strip().splitlines()) == 1


def test_ledger_export_and_file_verify(tmp_path):
    db = str(tmp_path / "x.db")
    run("ingest", str(DATA / "reports.jsonl"), "--db", db)
    run("run", "--db", db)
    exp = tmp_path / "ledger.jsonl"
    assert run("ledger", "export", "--db", db, "-o", str(exp)).exit_code == 0
    assert run("ledger", "verify", "--file", str(exp)).exit_code == 0
