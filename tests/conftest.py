"""Shared fixtures: one services context per session, databases on SQLite and
(when TRUCE_TEST_POSTGRES_URL is set) PostgreSQL."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from truce.config import Settings
from truce.context import load_context
from truce.db import Database

DATA = Path(__file__).parent / "data"
PG_URL = os.environ.get("TRUCE_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def ctx():
    return load_context(Settings())


@pytest.fixture(scope="session")
def services(ctx):
    return ctx.services


def _pg_database():
    import sqlalchemy as sa

    from truce.config import database_url

    schema = "t_" + uuid.uuid4().hex[:12]
    base = sa.create_engine(database_url(PG_URL))
    with base.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(database_url(PG_URL), connect_args={"options": f"-csearch_path={schema}"})
    return Database(engine=engine), base, schema


BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


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
