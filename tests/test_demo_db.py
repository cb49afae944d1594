"""One default database for every command, the demo's included; the demo rebuilds only a
database marked as a demo, on SQLite and on PostgreSQL, and never overwrites anything else."""

import os
import sqlite3
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from truce import demo as demo_module
from truce.cli import cli
from truce.db import Database
from truce.demo import DEMO_MARK, open_demo_database
from truce.errors import StorageError
from truce.records import Report

DATA = Path(__file__).parent / "data"
PG_URL = os.environ.get("TRUCE_TEST_POSTGRES_URL")


@pytest.fixture
def small_demo(monkeypatch):
    """The demo command over the nine test reports (the bundled hundred take seconds)."""
    monkeypatch.setattr(demo_module, "demo_paths", lambda: [DATA / "reports.jsonl"])


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


@pytest.mark.slow
def test_demo_and_every_command_share_the_default_database(tmp_path, monkeypatch, small_demo):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRUCE_DB", raising=False)
    r = invoke("demo", "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert "database:  truce.db " in r.output and (tmp_path / "truce.db").exists()
    assert not (tmp_path / "truce-demo.db").exists()
    assert invoke("incidents").exit_code == 0 and "incident(s)" in invoke("incidents").output
    assert invoke("ledger", "verify").exit_code == 0
    # run again: the demo database is rebuilt, not added to
    before = sqlite3.connect(tmp_path / "truce.db").execute("select count(*) from ledger").fetchone()[0]
    assert invoke("demo", "--out", tmp_path / "out").exit_code == 0
    assert sqlite3.connect(tmp_path / "truce.db").execute("select count(*) from ledger").fetchone()[0] == before
    # TRUCE_DB moves every command, the demo too
    r = invoke("demo", "--out", tmp_path / "out", env={"TRUCE_DB": str(tmp_path / "elsewhere.db")})
    assert r.exit_code == 0 and (tmp_path / "elsewhere.db").exists()


def test_the_demo_never_overwrites_an_analysts_database(tmp_path):
    mine = tmp_path / "truce.db"
    with Database(str(mine)) as db:
        db.add_reports([Report(id="r" * 64, text="my own report", external_id="mine-1")])
    with pytest.raises(StorageError) as e:
        open_demo_database(str(mine))
    assert str(e.value) == (f"{mine} holds 1 report(s) that are not the demo's; the demo will not overwrite it: "
                            "pass --db to build the demo elsewhere (e.g. --db truce-demo.db)")
    r = invoke("demo", "--db", mine, "--out", tmp_path / "out")
    assert r.exit_code == 1 and r.output.strip() == f"Error: {e.value}"
    assert sqlite3.connect(mine).execute("select count(*) from reports").fetchone()[0] == 1
    notes = tmp_path / "notes.db"
    notes.write_text("an analyst's notes, not a database " * 30, encoding="utf-8")
    with pytest.raises(StorageError, match="notes.db exists and is not a Truce database; the demo will not overwrite it"):
        open_demo_database(str(notes))
    assert notes.read_text(encoding="utf-8").startswith("an analyst's notes")


def test_an_empty_or_demo_database_is_rebuilt(tmp_path):
    path = tmp_path / "d.db"
    Database(str(path)).close()  # created by Truce, nothing in it
    with open_demo_database(str(path)) as db:
        assert db.get_meta(DEMO_MARK[0]) == DEMO_MARK[1]
        db.add_reports([Report(id="d" * 64, text="demo", external_id="d")])
    with open_demo_database(str(path)) as db:  # a demo database starts afresh
        assert db.report_count() == 0 and db.get_meta(DEMO_MARK[0]) == DEMO_MARK[1]


@pytest.fixture
def pg_schema():
    if not PG_URL:
        pytest.skip("TRUCE_TEST_POSTGRES_URL is not set (CI sets it)")
    import sqlalchemy as sa

    from truce.config import database_url

    schema = "t_" + uuid.uuid4().hex[:12]
    base = sa.create_engine(database_url(PG_URL))
    with base.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with base.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        base.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_demo_on_postgresql_rebuilds_by_emptying_its_tables(pg_schema, tmp_path, small_demo):
    r = invoke("demo", "--db", pg_schema, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    first = [line for line in r.output.splitlines() if line.startswith(("reports:", "incidents:", "ledger:"))]
    r = invoke("demo", "--db", pg_schema, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert [line for line in r.output.splitlines() if line.startswith(("reports:", "incidents:", "ledger:"))] == first
    assert invoke("ledger", "verify", "--db", pg_schema).exit_code == 0
    with Database(pg_schema) as db:  # an analyst's data in it: the demo refuses
        db.set_meta(DEMO_MARK[0], "an analyst")
    r = invoke("demo", "--db", pg_schema, "--out", tmp_path / "out")
    assert r.exit_code == 1 and "report(s) that are not the demo's; the demo will not overwrite it" in r.output
