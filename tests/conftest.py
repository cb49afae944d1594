"""Shared fixtures: one services context per session (also for the CLI, run in
process), one demo database per session, databases on SQLite and (when
TRUCE_TEST_POSTGRES_URL is set) PostgreSQL."""

from __future__ import annotations

import dataclasses
import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from truce import cli as cli_module
from truce.cli import common as cli_common
from truce.config import Settings, database_url
from truce.context import Context, load_context
from truce.db import Database

DATA = Path(__file__).parent / "data"
PG_URL = os.environ.get("TRUCE_TEST_POSTGRES_URL")


# settings that change the reference data a context holds; the rest (db, author,
# extractor) can vary between commands that share one context
_REFERENCE = ("sources", "registry", "agreements", "lexicon_dir", "use_geonames")


@pytest.fixture(scope="session")
def ctx() -> Context:
    return load_context(Settings())


@pytest.fixture(autouse=True)
def cli_shares_the_session_context(request, monkeypatch):
    """CLI commands invoked in process reuse the session's reference data (3-4 s to load)
    whenever their settings ask for the same data; anything else loads its own."""
    real = cli_common._context

    def shared(settings: Settings, database: Database | None = None) -> Context:
        base: Context = request.getfixturevalue("ctx")
        same = all(getattr(settings, k) == getattr(base.settings, k) for k in _REFERENCE)
        if not same or (database is not None and database.facilities()):
            return real(settings, database)
        return dataclasses.replace(base, settings=settings, _extractor=None)

    monkeypatch.setattr(cli_common, "_context", shared)


@pytest.fixture(scope="session")
def demo(tmp_path_factory, ctx):
    """The demo, built once through the CLI: (database path, output directory, printed summary)."""
    d = tmp_path_factory.mktemp("demo")
    db = d / "demo.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli_common, "_context", lambda settings, database=None: dataclasses.replace(
            ctx, settings=settings, _extractor=None))
        r = CliRunner().invoke(cli_module.cli, ["demo", "--db", str(db), "--out", str(d / "out")])
    assert r.exit_code == 0, r.output
    return db, d, r.output


@pytest.fixture(scope="session")
def services(ctx):
    return ctx.services


def _new_schema() -> str:
    """A PostgreSQL schema of its own for one test database."""
    schema = "t_" + uuid.uuid4().hex[:12]
    base = sa.create_engine(database_url(PG_URL or ""))
    with base.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    base.dispose()
    return schema


def _pg_database():
    schema = _new_schema()
    base = sa.create_engine(database_url(PG_URL))
    engine = sa.create_engine(database_url(PG_URL), connect_args={"options": f"-csearch_path={schema}"})
    return Database(engine=engine), base, schema


BACKENDS = ["sqlite"] + ([pytest.param("postgresql", marks=pytest.mark.postgres)] if PG_URL else [])


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path):
    """A fresh database on each backend; PostgreSQL gets its own schema, dropped afterwards."""
    if request.param == "sqlite":
        d = Database(str(tmp_path / "t.db"))
        yield d
        d.close()
        return
    import sqlalchemy as sa

    d, base, schema = _pg_database()
    try:
        yield d
    finally:
        d.close()
        with base.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        base.dispose()


@pytest.fixture
def sqlite_db(tmp_path):
    d = Database(str(tmp_path / "t.db"))
    yield d
    d.close()


def strip_at(x):
    """A stored record's JSON without its ``*_at`` stamps (the time it was written), for
    comparing the results of two runs."""
    if isinstance(x, dict):
        return {k: strip_at(v) for k, v in x.items() if not k.endswith("_at")}
    if isinstance(x, list):
        return [strip_at(v) for v in x]
    return x


class Stores:
    """Fresh databases on one backend, by URL (a SQLite file, or a PostgreSQL schema of their
    own, dropped at the end), and handles on them as other processes would open them."""

    def __init__(self, backend: str, tmp: Path):
        self.backend, self.tmp, self.schemas, self.opened = backend, tmp, [], []

    def url(self) -> str:
        if self.backend == "sqlite":
            return str(self.tmp / f"{uuid.uuid4().hex[:8]}.db")
        schema = _new_schema()
        self.schemas.append(schema)
        return f"{PG_URL}?options=-csearch_path%3D{schema}"

    def new(self) -> tuple[Database, str]:
        url = self.url()
        return self.open(url), url

    def open(self, url: str) -> Database:
        d = Database(url)
        self.opened.append(d)
        return d

    def close(self) -> None:
        for d in self.opened:
            d.close()
        if self.schemas:
            base = sa.create_engine(database_url(PG_URL or ""))
            with base.begin() as conn:
                for s in self.schemas:
                    conn.execute(sa.text(f'DROP SCHEMA "{s}" CASCADE'))
            base.dispose()


@pytest.fixture(params=BACKENDS)
def stores(request, tmp_path):
    s = Stores(request.param, tmp_path)
    yield s
    s.close()
