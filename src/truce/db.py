"""The one ``Database`` class: all SQL lives here (SQLAlchemy Core).

SQLite by default (zero setup), PostgreSQL for a team; the same schema and
the same tests on both. Migrations are ordered functions recorded in
``schema_migrations``. Writes are upserts keyed on stable ids inside
transactions, so a crash never leaves half a batch and re-running the
pipeline is idempotent.

Concurrency (docs/hardening.md): a write transaction takes the write lock
when it begins (``BEGIN IMMEDIATE`` on SQLite; on PostgreSQL row upserts plus
a transaction-scoped advisory lock for ledger appends, :meth:`Database.lock_ledger`),
so a read-then-write never races another writer. :meth:`Database.run_lock`
is the one-``truce run``-per-database lock (an advisory session lock on
PostgreSQL, an ``flock`` on ``DB.lock`` beside a SQLite file) and names its
holder to whoever finds it taken.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from truce.config import database_url
from truce.errors import StorageError
from truce.records import (Claim, DetectionMatch, FireCandidate, FireDetection, Finding, Incident, LedgerEntry, LedgerRow,
                           PhysicalEvidence, Report, StatusObservation, canonical_json)

metadata = sa.MetaData()

schema_migrations = sa.Table(
    "schema_migrations", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("applied_at", sa.String(40), nullable=False),
)
reports = sa.Table(
    "reports", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=True),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("source", sa.String(200)),
    sa.Column("source_kind", sa.String(40)),
    sa.Column("affiliation", sa.String(20)),
    sa.Column("url", sa.Text),
    sa.Column("title", sa.Text),
    sa.Column("published", sa.String(40)),
    sa.Column("language", sa.String(8)),
    sa.Column("ingested_at", sa.String(40), nullable=False),
)
report_inputs = sa.Table(
    "report_inputs", metadata,
    sa.Column("report_id", sa.String(64), sa.ForeignKey("reports.id"), primary_key=True),
    sa.Column("external_id", sa.String(500), primary_key=True),
    sa.Column("origin", sa.Text),
)
extractions = sa.Table(
    "extractions", metadata,
    sa.Column("report_id", sa.String(64), sa.ForeignKey("reports.id"), primary_key=True),
    sa.Column("extractor", sa.String(100), nullable=False),
    sa.Column("n_claims", sa.Integer, nullable=False),
    sa.Column("extracted_at", sa.String(40), nullable=False),
    sa.Column("skipped", sa.Text, nullable=True),  # why the report was not read (too large, over time, failed)
)
claims = sa.Table(
    "claims", metadata,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("report_id", sa.String(64), sa.ForeignKey("reports.id"), nullable=False, index=True),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("date", sa.String(10), index=True),
    sa.Column("country", sa.String(2)),
    sa.Column("region_code", sa.String(10)),
    sa.Column("facility_id", sa.String(100)),
    sa.Column("facility_type", sa.String(40)),
    sa.Column("extractor", sa.String(100), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)
incidents = sa.Table(
    "incidents", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("date", sa.String(10), index=True),
    sa.Column("country", sa.String(2)),
    sa.Column("region_code", sa.String(10)),
    sa.Column("facility_id", sa.String(100)),
    sa.Column("facility_type", sa.String(40)),
    sa.Column("grade", sa.String(20), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)
incident_claims = sa.Table(
    "incident_claims", metadata,
    sa.Column("incident_id", sa.String(40), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("claim_id", sa.String(80), primary_key=True),
    sa.Column("joined_because", sa.Text, nullable=False),
)
findings = sa.Table(
    "findings", metadata,
    sa.Column("incident_id", sa.String(40), primary_key=True),
    sa.Column("agreement_id", sa.String(100), primary_key=True),
    sa.Column("verdict", sa.String(40), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("evaluated_at", sa.String(40), nullable=False),
    # the ledger entry that recorded this finding's current content (``ledger verify`` checks it)
    sa.Column("ledger_seq", sa.Integer, nullable=True),
    sa.Column("ledger_hash", sa.String(64), nullable=True),
)
agreement_status = sa.Table(
    "agreement_status", metadata,
    sa.Column("agreement_id", sa.String(100), primary_key=True),
    sa.Column("claim_id", sa.String(80), primary_key=True),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("date", sa.String(10)),
    sa.Column("data", sa.Text, nullable=False),
)
ledger = sa.Table(
    "ledger", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False, index=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
)
ledger_head = sa.Table(
    "ledger_head", metadata,
    sa.Column("name", sa.String(20), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
locks = sa.Table(
    "locks", metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("holder", sa.String(300), nullable=False),
    sa.Column("acquired_at", sa.String(40), nullable=False),
)
facilities_extra = sa.Table(
    "facilities_extra", metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("origin", sa.String(200), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)


meta = sa.Table(
    "meta", metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
# accounts of the web app (truce.web): secrets are stored only as hashes (argon2 for passwords,
# SHA-256 for random 256-bit tokens)
users = sa.Table(
    "users", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
)
user_tokens = sa.Table(
    "user_tokens", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(100), sa.ForeignKey("users.name"), nullable=False, index=True),
    sa.Column("created_at", sa.String(40), nullable=False),
)
# findings a lead published (each publication is also a ledger entry: ``seq``)
published_findings = sa.Table(
    "published_findings", metadata,
    sa.Column("incident_id", sa.String(40), primary_key=True),
    sa.Column("agreement_id", sa.String(100), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("published_by", sa.String(200), nullable=False),
    sa.Column("published_at", sa.String(40), nullable=False),
)

# incidents sort by day, undated last: the key is an expression the index holds as written
# (a literal, not a bound parameter, so SQLite's and PostgreSQL's planners match it)
DAY_KEY = sa.func.coalesce(incidents.c.date, sa.literal_column("'9999'"))
WEB_INDEXES = (  # created by migration 010 (IF NOT EXISTS: expression indexes are not reflected)
    "CREATE INDEX IF NOT EXISTS ix_incidents_day_id ON incidents (coalesce(date, '9999'), id)",
    "CREATE INDEX IF NOT EXISTS ix_incidents_updated_at ON incidents (updated_at)",
    # (no index on findings' verdict: SQLite, without statistics, would prefer it to the key when
    # checking one incident's findings, and scan every finding of that verdict for each incident)
    "CREATE INDEX IF NOT EXISTS ix_report_inputs_external_id ON report_inputs (external_id)",
    "CREATE INDEX IF NOT EXISTS ix_incident_claims_claim_id ON incident_claims (claim_id)",
)


# satellite fire detections (NASA FIRMS), what they say about incidents, and candidate incidents
fire_detections = sa.Table(
    "fire_detections", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("acquired", sa.String(20), nullable=False),  # UTC, YYYY-MM-DDTHH:MMZ
    sa.Column("satellite", sa.String(10), nullable=False),
    sa.Column("instrument", sa.String(8), nullable=False),
    sa.Column("confidence", sa.String(10), nullable=False),
    sa.Column("confidence_pct", sa.Integer),
    sa.Column("brightness", sa.Float),
    sa.Column("frp", sa.Float),
    sa.Column("daynight", sa.String(1)),
    sa.Column("fire_type", sa.Integer),
    sa.Column("source", sa.String(300), nullable=False),
    sa.Column("line", sa.Integer, nullable=False),
)
physical_evidence = sa.Table(
    "physical_evidence", metadata,
    sa.Column("incident_id", sa.String(40), primary_key=True),
    sa.Column("verdict", sa.String(20), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)
fire_candidates = sa.Table(
    "fire_candidates", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("facility_id", sa.String(100), nullable=False),
    sa.Column("date", sa.String(10), nullable=False, index=True),
    sa.Column("data", sa.Text, nullable=False),
)


def _m001_initial(conn: Connection) -> None:
    metadata.create_all(conn, tables=[reports, report_inputs, extractions, claims, incidents,
                                      incident_claims, findings, agreement_status, ledger, ledger_head])


def _m002_facilities_extra(conn: Connection) -> None:
    metadata.create_all(conn, tables=[facilities_extra])


def _m003_meta(conn: Connection) -> None:
    metadata.create_all(conn, tables=[meta])


def _m010_web_accounts(conn: Connection) -> None:
    """Accounts and publications of the web app, and the indexes its lists page through."""
    metadata.create_all(conn, tables=[users, user_tokens, published_findings])
    for ddl in WEB_INDEXES:
        conn.execute(sa.text(ddl))


def _m020_fire_detections(conn: Connection) -> None:
    metadata.create_all(conn, tables=[fire_detections, physical_evidence, fire_candidates])


def _m030_hardening(conn: Connection) -> None:
    """Findings name their ledger entry; extractions record skipped reports; the run lock's holder."""
    cols = {t: {c["name"] for c in sa.inspect(conn).get_columns(t)} for t in ("findings", "extractions")}
    for table, col, typ in (("findings", "ledger_seq", "INTEGER"), ("findings", "ledger_hash", "VARCHAR(64)"),
                            ("extractions", "skipped", "TEXT")):
        if col not in cols[table]:
            conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {col} {typ}"))
    metadata.create_all(conn, tables=[locks])


MIGRATIONS: tuple[tuple[str, Callable[[Connection], None]], ...] = (
    ("001_initial", _m001_initial),
    ("002_facilities_extra", _m002_facilities_extra),
    ("003_meta", _m003_meta),
    ("010_web_accounts", _m010_web_accounts),
    ("020_fire_detections", _m020_fire_detections),
    ("030_hardening", _m030_hardening),
)

# Limits every backend enforces before the database sees a value (PostgreSQL rejects what
# SQLite would store silently: NUL characters, strings longer than their column).
LIMITS = {"external_id": 500, "source": 200, "origin": 2000, "url": 4000, "title": 2000, "published": 40,
          "language": 8, "content_type": 100}
# PostgreSQL advisory locks are per database, not per schema: each key is the hash of the
# schema truce's tables live in and the lock's name, so two truce stores in one database
# (schemas) never wait for each other.
_PG_KEY = "hashtextextended(current_schema() || :name, 0)"
_LEDGER_LOCK = "/truce-ledger-append"
_RUN_LOCK = "/truce-run"
_MIGRATE_LOCK = "/truce-migrate"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


class Database:
    """``Database("truce.db")``, ``Database("sqlite:///x.db")``, ``Database("postgresql://…")``,
    ``Database(memory=True)``. A context manager; ``atomic()`` opens a transaction.

    ``create=False`` opens only a database that exists and holds Truce's tables (for commands
    that read): a mistyped path is refused instead of becoming a new, empty database."""

    def __init__(self, url: str | None = None, *, memory: bool = False, engine: Engine | None = None,
                 tracer: Callable[[str, Any], None] | None = None, create: bool = True):
        if engine is not None:
            self.engine = engine
        else:
            target = "sqlite://" if memory else database_url(url or "truce.db")
            if not create and not memory:
                _check_file(target)
            kwargs: dict[str, Any] = {}
            if target.startswith("sqlite"):
                kwargs["connect_args"] = {"timeout": 30}
                if memory:
                    from sqlalchemy.pool import StaticPool

                    kwargs["poolclass"] = StaticPool
            try:
                self.engine = sa.create_engine(target, future=True, **kwargs)
            except (sa.exc.ArgumentError, ImportError, ValueError) as e:
                raise StorageError(f"cannot use database URL {redact_url(target)!r}: "
                                   f"{_one_line(e, _password(target))}") from e
        self.dialect = self.engine.dialect.name
        self._secret = self.engine.url.password if isinstance(self.engine.url.password, str) else None
        if tracer is not None:
            sa.event.listen(self.engine, "before_cursor_execute",
                            lambda conn, cursor, stmt, params, context, many: tracer(stmt, params))
        if self.dialect == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            sa.event.listen(self.engine, "begin", _sqlite_begin)
        self._local = threading.local()  # each thread its own transaction (a server shares one Database)
        self._conn = None
        self.url = self.engine.url.render_as_string(hide_password=True)
        if not self.is_truce() and not create:  # (also turns "not a database" into one line)
            self.engine.dispose()
            raise StorageError(f"{_shown(self.engine)} is not a Truce database (no Truce tables in it); check --db or TRUCE_DB")
        self.migrate()

    def is_truce(self) -> bool:
        """Does the database hold Truce's tables (it has been created by Truce)?"""
        try:
            with self.engine.connect() as conn:
                return sa.inspect(conn).has_table("schema_migrations")
        except sa.exc.DBAPIError as e:
            raise StorageError(f"cannot open {_shown(self.engine)}: {str(e.orig).strip().splitlines()[0]}") from e

    def get_meta(self, key: str) -> str | None:
        with self.atomic(write=False) as conn:
            return conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()

    def set_meta(self, key: str, value: str) -> None:
        with self.atomic() as conn:
            self._upsert(conn, meta, [dict(key=key, value=value)], ["key"])

    def reset(self) -> None:
        """Delete every row of every Truce table (the schema stays): a database that cannot be
        deleted as a file (PostgreSQL) starts afresh."""
        with self.atomic() as conn:
            for table in reversed(metadata.sorted_tables):  # children before parents
                if table is not schema_migrations:
                    conn.execute(table.delete())

    # --- lifecycle -------------------------------------------------------------------

    @property
    def _conn(self) -> Connection | None:
        """The connection of this thread's open transaction (None outside ``atomic()``)."""
        conn: Connection | None = getattr(self._local, "conn", None)
        return conn

    @_conn.setter
    def _conn(self, value: Connection | None) -> None:
        self._local.conn = value

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def atomic(self, write: bool = True) -> Iterator[Connection]:
        """One transaction; nested calls join the outer one. A write transaction takes
        SQLite's write lock when it begins (``BEGIN IMMEDIATE``), so reading then writing
        inside it never races another writer; ``write=False`` only reads, from one
        snapshot (SQLite's WAL snapshot, PostgreSQL's REPEATABLE READ)."""
        if self._conn is not None:
            yield self._conn
            return
        try:
            with self.engine.connect() as conn:
                conn.info["truce_begin"] = "BEGIN IMMEDIATE" if write else "BEGIN"
                if not write and self.dialect == "postgresql":
                    # several reads, one snapshot (``ledger verify`` beside a running ``truce run``)
                    conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    self._conn = conn
                    try:
                        yield conn
                    finally:
                        self._conn = None
        except sa.exc.DBAPIError as e:
            raise StorageError(f"database error: {_one_line(e.orig, self._secret)}") from e

    def lock_ledger(self) -> None:
        """Serialise ledger appends: call inside a write transaction before reading the tail.
        PostgreSQL: a transaction-scoped advisory lock; SQLite: the transaction already
        holds the write lock (``BEGIN IMMEDIATE``)."""
        if self._conn is None:
            raise StorageError("lock_ledger() needs an open transaction (use Database.atomic())")
        if self.dialect == "postgresql":
            self._conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_PG_KEY})"), {"name": _LEDGER_LOCK})

    @contextmanager
    def run_lock(self, holder: str, *, wait: float | None = None) -> Iterator[None]:
        """The one-writer lock of ``truce run`` (and, later, a watcher): held for the whole
        run. ``wait``: seconds to wait for it (None: do not wait; ``float('inf')``: forever).
        Raises :class:`LockedError` naming the holder when it cannot be had."""
        deadline = None if wait is None else time.monotonic() + wait
        me = f"{holder} (pid {os.getpid()} on {socket.gethostname()})"
        if self.dialect == "postgresql":
            with self.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                grace = time.monotonic() + 1  # a crashed holder's session ends a moment after it died
                while not conn.execute(sa.text(f"SELECT pg_try_advisory_lock({_PG_KEY})"),
                                       {"name": _RUN_LOCK}).scalar_one():
                    if time.monotonic() >= max(grace, deadline or 0):
                        raise LockedError(self._lock_holder(conn))
                    time.sleep(0.2)
                try:
                    self._upsert(conn, locks, [dict(name="run", holder=me[:300], acquired_at=now())], ["name"])
                    yield
                finally:
                    conn.execute(sa.text(f"SELECT pg_advisory_unlock({_PG_KEY})"), {"name": _RUN_LOCK})
            return
        path = self._lock_path()
        if path is None:  # an in-memory database belongs to one process
            yield
            return
        import fcntl

        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if deadline is None or time.monotonic() >= deadline:
                        raise LockedError(_read_holder(fd)) from None
                    time.sleep(0.2)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"holder": me, "since": now()}).encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _lock_path(self) -> str | None:
        if self.dialect != "sqlite":
            return None
        db = self.engine.url.database
        if not db or db == ":memory:" or db.startswith("file:"):
            return None
        return db + ".lock"

    def _lock_holder(self, conn: Connection) -> str:
        r = conn.execute(sa.select(locks.c.holder, locks.c.acquired_at).where(locks.c.name == "run")).first()
        return f"{r[0]} since {r[1]}" if r else "another process"

    def migrate(self) -> list[str]:
        """Apply pending migrations; returns their names."""
        applied: list[str] = []
        with self.atomic() as conn:
            if self.dialect == "postgresql":  # processes starting together on a new schema
                conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_PG_KEY})"), {"name": _MIGRATE_LOCK})
            schema_migrations.create(conn, checkfirst=True)
            done = {r[0] for r in conn.execute(sa.select(schema_migrations.c.name))}
            for name, fn in MIGRATIONS:
                if name not in done:
                    fn(conn)
                    conn.execute(schema_migrations.insert().values(name=name, applied_at=now()))
                    applied.append(name)
        return applied

    def migrations(self) -> list[str]:
        with self.atomic(write=False) as conn:
            return [r[0] for r in conn.execute(sa.select(schema_migrations.c.name).order_by(schema_migrations.c.name))]

    # --- generic upsert ------------------------------------------------------------------

    def _upsert(self, conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
                keys: Sequence[str], update: bool = True) -> None:
        if not rows:
            return
        _check_rows(table, rows)
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as ins
        else:
            from sqlalchemy.dialects.sqlite import insert as ins  # type: ignore[assignment]
        for chunk in _chunks(rows, 500):
            stmt = ins(table).values(list(chunk))
            cols = [c for c in chunk[0] if c not in keys]
            if update and cols:
                stmt = stmt.on_conflict_do_update(index_elements=list(keys),
                                                  set_={c: stmt.excluded[c] for c in cols})
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
            conn.execute(stmt)

    # --- reports ---------------------------------------------------------------------

    def add_reports(self, items: Iterable[Report], raw: dict[str, bytes] | None = None) -> tuple[int, int]:
        """Store reports (new content once; every external id recorded). Returns (new, seen)."""
        items = list(items)
        if not items:
            return 0, 0
        for r in items:
            check_report(r)
        with self.atomic() as conn:
            ids = [r.id for r in items]
            existing = set()
            for chunk in _chunks(ids, 500):
                existing |= {r[0] for r in conn.execute(sa.select(reports.c.id).where(reports.c.id.in_(chunk)))}
            stamp = now()
            new_rows = {}
            for r in items:
                if r.id in existing or r.id in new_rows:
                    continue
                new_rows[r.id] = dict(id=r.id, text=r.text, raw=(raw or {}).get(r.id), content_type=r.content_type,
                                      source=r.source, source_kind=r.source_kind, affiliation=r.affiliation,
                                      url=r.url, title=r.title, published=r.published, language=r.language,
                                      ingested_at=stamp)
            self._upsert(conn, reports, list(new_rows.values()), ["id"], update=False)
            self._upsert(conn, report_inputs,
                         [dict(report_id=r.id, external_id=r.external_id, origin=r.origin) for r in items],
                         ["report_id", "external_id"], update=False)
        return len(new_rows), len(items) - len(new_rows)

    def report_count(self) -> int:
        with self.atomic(write=False) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar_one())

    def reports(self, ids: Iterable[str] | None = None) -> list[Report]:
        """Reports with their canonical external id (the smallest one they were ingested with)."""
        with self.atomic(write=False) as conn:
            ext: dict[str, tuple[str, str | None]] = {}
            qi = sa.select(report_inputs.c.report_id, report_inputs.c.external_id, report_inputs.c.origin)
            q = sa.select(reports).order_by(reports.c.id)
            rows = []
            inputs = []
            if ids is None:
                rows = list(conn.execute(q).mappings())
                inputs = list(conn.execute(qi))
            else:
                for chunk in _chunks(list(ids), 500):
                    rows += list(conn.execute(q.where(reports.c.id.in_(chunk))).mappings())
                    inputs += list(conn.execute(qi.where(report_inputs.c.report_id.in_(chunk))))
            for rid, eid, origin in inputs:
                if rid not in ext or eid < ext[rid][0]:
                    ext[rid] = (eid, origin)
        out = []
        for r in rows:
            eid, origin = ext.get(r["id"], (r["id"], None))
            out.append(Report(id=r["id"], text=r["text"], external_id=eid, source=r["source"],
                              source_kind=r["source_kind"] or "unknown", affiliation=r["affiliation"],
                              url=r["url"], title=r["title"], published=r["published"], language=r["language"],
                              content_type=r["content_type"], origin=origin))
        return out

    def report_raw(self, report_id: str) -> bytes | None:
        with self.atomic(write=False) as conn:
            r = conn.execute(sa.select(reports.c.raw).where(reports.c.id == report_id)).first()
            return bytes(r[0]) if r and r[0] is not None else None

    def reports_to_extract(self, extractor: str) -> list[str]:
        with self.atomic(write=False) as conn:
            j = reports.outerjoin(extractions, reports.c.id == extractions.c.report_id)
            q = sa.select(reports.c.id).select_from(j).where(
                sa.or_(extractions.c.report_id.is_(None), extractions.c.extractor != extractor)).order_by(reports.c.id)
            return [r[0] for r in conn.execute(q)]

    # --- claims --------------------------------------------------------------------------

    def replace_claims(self, report_id: str, extractor: str, items: Sequence[Claim], skipped: str | None = None) -> None:
        """Make the report's stored claims exactly ``items`` (upserted by claim id, so two
        writers reading the same report never collide) and record the extraction;
        ``skipped``: why the report was not read (its claims are then none)."""
        with self.atomic() as conn:
            rows = [dict(id=c.id, report_id=c.report_id, idx=c.index, kind=c.kind, date=c.date, country=c.country,
                         region_code=c.region_code, facility_id=c.facility_id, facility_type=c.facility_type,
                         extractor=c.extractor or extractor, data=canonical_json(c.to_dict())) for c in items]
            conn.execute(claims.delete().where(sa.and_(claims.c.report_id == report_id,
                                                       sa.not_(claims.c.id.in_([r["id"] for r in rows] or [""])))))
            self._upsert(conn, claims, rows, ["id"])
            self._upsert(conn, extractions, [dict(report_id=report_id, extractor=extractor, n_claims=len(items),
                                                  extracted_at=now(), skipped=skipped)], ["report_id"])

    def skipped_reports(self) -> list[tuple[str, str, str]]:
        """(report id, extractor, reason) of reports the extractor skipped."""
        with self.atomic(write=False) as conn:
            q = sa.select(extractions.c.report_id, extractions.c.extractor, extractions.c.skipped).where(
                extractions.c.skipped.is_not(None)).order_by(extractions.c.report_id)
            return [(r[0], r[1], r[2]) for r in conn.execute(q)]

    def claims(self, kinds: Sequence[str] | None = None) -> list[Claim]:
        with self.atomic(write=False) as conn:
            q = sa.select(claims.c.data).order_by(claims.c.report_id, claims.c.idx)
            if kinds:
                q = q.where(claims.c.kind.in_(list(kinds)))
            return [Claim.from_dict(json.loads(r[0])) for r in conn.execute(q)]


    # --- incidents -------------------------------------------------------------------------

    def replace_incidents(self, items: Sequence[Incident]) -> tuple[list[str], list[str]]:
        """Make the stored incidents exactly ``items``; returns (ids added or changed, ids removed)."""
        with self.atomic() as conn:
            old = {r[0]: r[1] for r in conn.execute(sa.select(incidents.c.id, incidents.c.data))}
            new = {i.id: canonical_json(i.to_dict()) for i in items}
            removed = sorted(set(old) - set(new))
            changed = sorted(k for k, v in new.items() if old.get(k) != v)
            for chunk in _chunks(removed, 500):
                conn.execute(incident_claims.delete().where(incident_claims.c.incident_id.in_(chunk)))
                conn.execute(incidents.delete().where(incidents.c.id.in_(chunk)))
            stamp = now()
            by_id = {i.id: i for i in items}
            for chunk in _chunks(changed, 500):
                conn.execute(incident_claims.delete().where(incident_claims.c.incident_id.in_(chunk)))
            rows = []
            links = []
            for iid in changed:
                i = by_id[iid]
                rows.append(dict(id=i.id, date=i.date, country=i.country, region_code=i.region_code,
                                 facility_id=i.facility_id, facility_type=i.facility_type, grade=i.grade,
                                 data=new[iid], updated_at=stamp))
                links += [dict(incident_id=i.id, claim_id=c.claim_id, joined_because=c.joined_because) for c in i.claims]
            self._upsert(conn, incidents, rows, ["id"])
            self._upsert(conn, incident_claims, links, ["incident_id", "claim_id"])
        return changed, removed

    def incidents(self) -> list[Incident]:
        with self.atomic(write=False) as conn:
            q = sa.select(incidents.c.data, incidents.c.updated_at).order_by(
                sa.func.coalesce(incidents.c.date, "9999"), incidents.c.id)
            return [Incident.from_dict(json.loads(r[0])) for r in conn.execute(q)]

    def incident_updated_at(self) -> dict[str, str]:
        with self.atomic(write=False) as conn:
            return {r[0]: r[1] for r in conn.execute(sa.select(incidents.c.id, incidents.c.updated_at))}

    # --- findings ------------------------------------------------------------------------------

    def findings(self, agreement_id: str | None = None) -> list[tuple[Finding, str]]:
        with self.atomic(write=False) as conn:
            q = sa.select(findings.c.data, findings.c.evaluated_at).order_by(findings.c.agreement_id, findings.c.incident_id)
            if agreement_id:
                q = q.where(findings.c.agreement_id == agreement_id)
            return [(Finding.from_dict(json.loads(r[0])), r[1]) for r in conn.execute(q)]

    def finding_digests(self) -> dict[tuple[str, str], str]:
        with self.atomic(write=False) as conn:
            return {(r[0], r[1]): r[2] for r in conn.execute(sa.select(findings.c.incident_id, findings.c.agreement_id,
                                                                       findings.c.digest))}

    def replace_findings(self, items: Sequence[tuple[Finding, str]],
                         entries: dict[tuple[str, str], tuple[int, str]] | None = None) -> None:
        """Store findings (with their digests and, in ``entries``, the (seq, hash) of the ledger
        entry that recorded each); findings of incidents that no longer exist are removed."""
        entries = entries or {}
        with self.atomic() as conn:
            keep = {(f.incident_id, f.agreement_id) for f, _ in items}
            old = {(r[0], r[1]) for r in conn.execute(sa.select(findings.c.incident_id, findings.c.agreement_id))}
            for iid, aid in sorted(old - keep):
                conn.execute(findings.delete().where(sa.and_(findings.c.incident_id == iid, findings.c.agreement_id == aid)))
            stamp = now()
            rows = []
            for f, d in items:
                seq, h = entries.get((f.incident_id, f.agreement_id), (None, None))
                rows.append(dict(incident_id=f.incident_id, agreement_id=f.agreement_id, verdict=f.verdict, digest=d,
                                 data=canonical_json(f.to_dict()), evaluated_at=stamp, ledger_seq=seq, ledger_hash=h))
            self._upsert(conn, findings, rows, ["incident_id", "agreement_id"])

    def findings_raw(self) -> list[dict[str, Any]]:
        """Finding rows as stored (for ``ledger verify``)."""
        with self.atomic(write=False) as conn:
            q = sa.select(findings).order_by(findings.c.agreement_id, findings.c.incident_id)
            return [dict(r) for r in conn.execute(q).mappings()]

    def agreement_status_raw(self) -> list[dict[str, Any]]:
        with self.atomic(write=False) as conn:
            q = sa.select(agreement_status).order_by(agreement_status.c.agreement_id, agreement_status.c.claim_id)
            return [dict(r) for r in conn.execute(q).mappings()]

    # --- agreement status history --------------------------------------------------------------

    def replace_agreement_status(self, rows: Sequence[StatusObservation]) -> None:
        values = [dict(agreement_id=r.agreement_id, claim_id=r.claim_id, status=r.status, date=r.date,
                       data=canonical_json(r.to_dict())) for r in rows]
        _check_rows(agreement_status, values)
        with self.atomic() as conn:
            conn.execute(agreement_status.delete())
            if values:
                conn.execute(agreement_status.insert(), values)

    def agreement_status(self, agreement_id: str | None = None) -> list[StatusObservation]:
        with self.atomic(write=False) as conn:
            q = sa.select(agreement_status.c.data).order_by(agreement_status.c.date, agreement_status.c.claim_id)
            if agreement_id:
                q = q.where(agreement_status.c.agreement_id == agreement_id)
            return [StatusObservation.from_dict(json.loads(r[0])) for r in conn.execute(q)]

    # --- ledger ------------------------------------------------------------------------------------

    def ledger_entries(self) -> list[LedgerEntry]:
        return [r.decoded() for r in self.ledger_raw()]

    def ledger_raw(self) -> list[LedgerRow]:
        """Rows as stored (payload text untouched), for verification."""
        with self.atomic(write=False) as conn:
            return [LedgerRow(**dict(r)) for r in conn.execute(sa.select(ledger).order_by(ledger.c.seq)).mappings()]

    def ledger_count(self) -> int:
        with self.atomic(write=False) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(ledger)).scalar_one())

    def ledger_tail(self) -> tuple[int, str] | None:
        with self.atomic(write=False) as conn:
            r = conn.execute(sa.select(ledger.c.seq, ledger.c.hash).order_by(ledger.c.seq.desc()).limit(1)).first()
            return (r[0], r[1]) if r else None

    def ledger_head(self) -> tuple[int, str] | None:
        with self.atomic(write=False) as conn:
            r = conn.execute(sa.select(ledger_head.c.seq, ledger_head.c.hash).where(ledger_head.c.name == "head")).first()
            return (r[0], r[1]) if r else None

    def ledger_latest(self, kinds: Sequence[str]) -> dict[str, LedgerRow]:
        """subject → the latest entry of one of ``kinds`` about it."""
        with self.atomic(write=False) as conn:
            q = sa.select(ledger).where(ledger.c.kind.in_(list(kinds))).order_by(ledger.c.seq)
            return {r["subject"]: LedgerRow(**dict(r)) for r in conn.execute(q).mappings()}

    def ledger_append(self, rows: Sequence[LedgerRow]) -> None:
        """Insert prepared entries (seq, hash computed by :mod:`truce.ledger`) and move the head."""
        if not rows:
            return
        values = [r.to_dict() for r in rows]
        _check_rows(ledger, values)
        with self.atomic() as conn:
            conn.execute(ledger.insert(), values)
            last = rows[-1]
            self._upsert(conn, ledger_head, [dict(name="head", seq=last.seq, hash=last.hash)], ["name"])

    # --- satellite fire detections ----------------------------------------------------------

    def add_fire_detections(self, items: Iterable[FireDetection]) -> tuple[int, int]:
        """Store detections (the same pixel of the same overpass once). Returns (new, already stored).
        A million rows are one executemany per 20,000, straight to the driver (no statement compiling)."""
        cols = [c.name for c in fire_detections.columns]
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        sql = (f"INSERT INTO fire_detections ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))}) "
               "ON CONFLICT (id) DO NOTHING")
        total = 0
        with self.atomic() as conn:
            before = int(conn.execute(sa.select(sa.func.count()).select_from(fire_detections)).scalar_one())
            batch: list[tuple[Any, ...]] = []
            for d in items:
                batch.append(tuple(getattr(d, k) for k in cols))
                if len(batch) >= 20_000:
                    conn.exec_driver_sql(sql, sorted(batch))  # in key order: fewer pages touched
                    total += len(batch)
                    batch = []
            if batch:
                conn.exec_driver_sql(sql, sorted(batch))
                total += len(batch)
            after = int(conn.execute(sa.select(sa.func.count()).select_from(fire_detections)).scalar_one())
        return after - before, total - (after - before)

    def fire_detection_count(self) -> int:
        with self.atomic() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(fire_detections)).scalar_one())

    def fire_points(self) -> tuple[list[str], list[float], list[float], list[str]]:
        """Every detection as columns (id, lat, lon, acquired): what matching to sites needs."""
        ids: list[str] = []
        lats: list[float] = []
        lons: list[float] = []
        times: list[str] = []
        with self.atomic() as conn:
            q = sa.select(fire_detections.c.id, fire_detections.c.lat, fire_detections.c.lon, fire_detections.c.acquired)
            for rows in conn.execute(q.execution_options(yield_per=50_000)).partitions():
                for i, la, lo, t in rows:
                    ids.append(i)
                    lats.append(la)
                    lons.append(lo)
                    times.append(t)
        return ids, lats, lons, times

    def fire_detections(self, ids: Iterable[str] | None = None) -> list[FireDetection]:
        with self.atomic() as conn:
            q = sa.select(fire_detections).order_by(fire_detections.c.acquired, fire_detections.c.id)
            rows: list[Any] = []
            if ids is None:
                rows = list(conn.execute(q).mappings())
            else:
                for chunk in _chunks(sorted(set(ids)), 500):
                    rows += list(conn.execute(q.where(fire_detections.c.id.in_(chunk))).mappings())
        out = [FireDetection(**dict(r)) for r in rows]
        out.sort(key=lambda d: (d.acquired, d.id))
        return out

    def fire_days(self) -> list[str]:
        """The UTC days that have any detection stored (FIRMS files cover whole days of a region)."""
        with self.atomic() as conn:
            day = sa.func.substr(fire_detections.c.acquired, 1, 10)
            return [r[0] for r in conn.execute(sa.select(day).distinct().order_by(day))]

    def replace_physical(self, evidence: Sequence[PhysicalEvidence], candidates: Sequence[FireCandidate]) -> None:
        """Make the stored physical evidence and candidate incidents exactly these."""
        with self.atomic() as conn:
            conn.execute(physical_evidence.delete())
            conn.execute(fire_candidates.delete())
            if evidence:
                conn.execute(physical_evidence.insert(), [dict(incident_id=e.incident_id, verdict=e.verdict,
                                                               data=canonical_json(e.to_dict())) for e in evidence])
            if candidates:
                conn.execute(fire_candidates.insert(), [dict(id=c.id, facility_id=c.facility_id, date=c.date,
                                                             data=canonical_json(c.to_dict())) for c in candidates])

    def physical_evidence(self) -> dict[str, PhysicalEvidence]:
        with self.atomic() as conn:
            rows = conn.execute(sa.select(physical_evidence.c.data).order_by(physical_evidence.c.incident_id))
            return {e.incident_id: e for e in (_physical(json.loads(r[0])) for r in rows)}

    def fire_candidates(self) -> list[FireCandidate]:
        with self.atomic() as conn:
            rows = conn.execute(sa.select(fire_candidates.c.data).order_by(fire_candidates.c.date, fire_candidates.c.id))
            return [_candidate(json.loads(r[0])) for r in rows]

    # --- imported facilities -------------------------------------------------------------------

    def add_facilities(self, rows: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        with self.atomic() as conn:
            self._upsert(conn, facilities_extra, [dict(id=i, origin=o, data=canonical_json(d)) for i, o, d in rows], ["id"])

    def facilities(self) -> list[dict[str, Any]]:
        with self.atomic(write=False) as conn:
            return [json.loads(r[0]) for r in conn.execute(sa.select(facilities_extra.c.data).order_by(facilities_extra.c.id))]

    # --- lookups and pages for the web app (truce.web) -----------------------------------------
    # Lists are selected and paged in SQL (keyset pagination on the sort key), so a page costs
    # the same with 100 or 100,000 incidents. ``where`` is the keyword form of
    # ``truce.outputs.query.Filters.where()``.

    def _incident_where(self, where: dict[str, Any], published_only: bool = False) -> list[Any]:
        conds: list[Any] = []
        # the period bounds the sort key (day, undated last), so one index both selects the period
        # and orders it; a period leaves out the undated ones
        if where.get("start"):
            conds.append(DAY_KEY >= sa.literal(where["start"]))
        if where.get("end"):
            conds.append(DAY_KEY <= sa.literal(where["end"]))
        elif where.get("start"):
            conds.append(incidents.c.date.is_not(None))
        for key, col in (("countries", incidents.c.country), ("regions", incidents.c.region_code),
                         ("facilities", incidents.c.facility_id), ("types", incidents.c.facility_type),
                         ("grades", incidents.c.grade)):
            if where.get(key):
                conds.append(col.in_(list(where[key])))
        if where.get("verdicts"):
            sub = sa.select(findings.c.incident_id).where(findings.c.incident_id == incidents.c.id,
                                                          findings.c.verdict.in_(list(where["verdicts"])))
            if where.get("agreements"):
                sub = sub.where(findings.c.agreement_id.in_(list(where["agreements"])))
            if published_only:
                sub = sub.where(sa.exists().where(published_findings.c.incident_id == findings.c.incident_id,
                                                  published_findings.c.agreement_id == findings.c.agreement_id))
            conds.append(sa.exists(sub))
        if published_only:
            conds.append(sa.exists().where(published_findings.c.incident_id == incidents.c.id))
        return conds

    def incident_page(self, where: dict[str, Any], *, after: tuple[str, str] | None = None, limit: int = 50,
                      descending: bool = False, published_only: bool = False) -> list[Incident]:
        """One page of incidents in date order (undated last), then id; ``after`` is the sort key
        (date or "9999", id) of the last incident of the previous page."""
        return [Incident.from_dict(d) for d in self.incident_page_data(where, after=after, limit=limit,
                                                                       descending=descending, published_only=published_only)]

    def incident_page_data(self, where: dict[str, Any], *, after: tuple[str, str] | None = None, limit: int = 50,
                           descending: bool = False, published_only: bool = False) -> list[dict[str, Any]]:
        """:meth:`incident_page` as stored: each incident's ``to_dict()``, not decoded into records."""
        key = DAY_KEY
        q = sa.select(incidents.c.data).where(*self._incident_where(where, published_only))
        if after is not None:
            d, i = after
            q = q.where(sa.or_(key < d, sa.and_(key == d, incidents.c.id < i)) if descending else
                        sa.or_(key > d, sa.and_(key == d, incidents.c.id > i)))
        q = q.order_by(key.desc(), incidents.c.id.desc()) if descending else q.order_by(key, incidents.c.id)
        with self.atomic(write=False) as conn:
            return [json.loads(r[0]) for r in conn.execute(q.limit(limit))]

    def incident_count(self, where: dict[str, Any] | None = None, published_only: bool = False) -> int:
        q = sa.select(sa.func.count()).select_from(incidents).where(*self._incident_where(where or {}, published_only))
        with self.atomic(write=False) as conn:
            return int(conn.execute(q).scalar_one())

    def incident(self, incident_id: str) -> Incident | None:
        with self.atomic(write=False) as conn:
            r = conn.execute(sa.select(incidents.c.data).where(incidents.c.id == incident_id)).first()
            return Incident.from_dict(json.loads(r[0])) if r else None

    def incidents_updated_since(self, stamp: str, limit: int = 50) -> list[tuple[Incident, str]]:
        """Incidents added or changed after ``stamp`` (an ``updated_at``), oldest first: what a
        monitor page has not shown yet."""
        q = (sa.select(incidents.c.data, incidents.c.updated_at).where(incidents.c.updated_at > stamp)
             .order_by(incidents.c.updated_at, incidents.c.id).limit(limit))
        with self.atomic(write=False) as conn:
            return [(Incident.from_dict(json.loads(r[0])), r[1]) for r in conn.execute(q)]

    def incident_stamps(self, ids: Sequence[str]) -> dict[str, str]:
        """incident id → updated_at, for the given ids."""
        out: dict[str, str] = {}
        with self.atomic(write=False) as conn:
            for chunk in _chunks(list(ids), 500):
                out.update({r[0]: r[1] for r in conn.execute(
                    sa.select(incidents.c.id, incidents.c.updated_at).where(incidents.c.id.in_(chunk)))})
        return out

    def last_update(self) -> str | None:
        """The latest ``updated_at`` of any incident (None when there are none)."""
        with self.atomic(write=False) as conn:
            v = conn.execute(sa.select(sa.func.max(incidents.c.updated_at))).scalar_one_or_none()
            return str(v) if v is not None else None

    def grade_counts(self, published_only: bool = False) -> dict[str, int]:
        q = (sa.select(incidents.c.grade, sa.func.count()).where(*self._incident_where({}, published_only))
             .group_by(incidents.c.grade))
        with self.atomic(write=False) as conn:
            return {r[0]: int(r[1]) for r in conn.execute(q)}

    def _finding_where(self, where: dict[str, Any], published_only: bool, joined: bool = False) -> list[Any]:
        """Conditions on findings; ``joined``: the query joins each finding's incident already."""
        conds: list[Any] = []
        if where.get("agreements"):
            conds.append(findings.c.agreement_id.in_(list(where["agreements"])))
        if where.get("verdicts"):
            conds.append(findings.c.verdict.in_(list(where["verdicts"])))
        if published_only:
            conds.append(sa.exists().where(published_findings.c.incident_id == findings.c.incident_id,
                                           published_findings.c.agreement_id == findings.c.agreement_id))
        inc = {k: v for k, v in where.items() if k not in ("verdicts", "agreements")}
        inc_conds = self._incident_where(inc)
        if inc_conds and joined:
            conds += inc_conds
        elif inc_conds:
            conds.append(sa.exists(sa.select(incidents.c.id).where(incidents.c.id == findings.c.incident_id, *inc_conds)
                                   .correlate_except(incidents)))
        return conds

    def verdict_counts(self, where: dict[str, Any] | None = None, published_only: bool = False) -> dict[str, dict[str, int]]:
        """agreement id → {verdict: number of findings}."""
        q = (sa.select(findings.c.agreement_id, findings.c.verdict, sa.func.count())
             .where(*self._finding_where(where or {}, published_only))
             .group_by(findings.c.agreement_id, findings.c.verdict))
        out: dict[str, dict[str, int]] = {}
        with self.atomic(write=False) as conn:
            for aid, verdict, n in conn.execute(q):
                out.setdefault(aid, {})[verdict] = int(n)
        return out

    def finding_page(self, where: dict[str, Any], order: Sequence[str], *, after: tuple[int, str, str, str] | None = None,
                     limit: int = 50, published_only: bool = False) -> list[tuple[Finding, str, str | None]]:
        """One page of findings as a mediator reads them: by the rank of the verdict in ``order``,
        then the incident's date (undated last), incident and agreement; each with when it was
        evaluated and its incident's date. ``after`` is the sort key of the previous page's last."""
        rank = sa.case({v: i for i, v in enumerate(order)}, value=findings.c.verdict, else_=len(order))
        day = DAY_KEY
        q = (sa.select(findings.c.data, findings.c.evaluated_at, incidents.c.date)
             .select_from(findings.join(incidents, incidents.c.id == findings.c.incident_id))
             .where(*self._finding_where(where, published_only, joined=True)))
        if after is not None:
            r0, d0, i0, a0 = after
            q = q.where(sa.or_(rank > r0, sa.and_(rank == r0, day > d0),
                               sa.and_(rank == r0, day == d0, findings.c.incident_id > i0),
                               sa.and_(rank == r0, day == d0, findings.c.incident_id == i0, findings.c.agreement_id > a0)))
        q = q.order_by(rank, day, findings.c.incident_id, findings.c.agreement_id).limit(limit)
        with self.atomic(write=False) as conn:
            return [(Finding.from_dict(json.loads(r[0])), r[1], r[2]) for r in conn.execute(q)]

    def verdicts_of(self, incident_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """(incident id, agreement id, verdict) of the given incidents' findings."""
        out: list[tuple[str, str, str]] = []
        with self.atomic(write=False) as conn:
            for chunk in _chunks(list(incident_ids), 500):
                q = sa.select(findings.c.incident_id, findings.c.agreement_id, findings.c.verdict).where(
                    findings.c.incident_id.in_(chunk))
                out += [(r[0], r[1], r[2]) for r in conn.execute(q)]
        return out

    def findings_of(self, incident_ids: Sequence[str]) -> list[tuple[Finding, str]]:
        """Findings of the given incidents (every agreement), with when each was evaluated."""
        out: list[tuple[Finding, str]] = []
        with self.atomic(write=False) as conn:
            for chunk in _chunks(list(incident_ids), 500):
                q = (sa.select(findings.c.data, findings.c.evaluated_at).where(findings.c.incident_id.in_(chunk))
                     .order_by(findings.c.incident_id, findings.c.agreement_id))
                out += [(Finding.from_dict(json.loads(r[0])), r[1]) for r in conn.execute(q)]
        return out

    def reports_by_external(self, external_ids: Sequence[str]) -> dict[str, Report]:
        """external id → the report ingested with it (the Report carries that external id)."""
        pairs: list[tuple[str, str]] = []
        with self.atomic(write=False) as conn:
            for chunk in _chunks(list(dict.fromkeys(external_ids)), 500):
                pairs += [(r[0], r[1]) for r in conn.execute(
                    sa.select(report_inputs.c.external_id, report_inputs.c.report_id)
                    .where(report_inputs.c.external_id.in_(chunk)))]
        by_id = {r.id: r for r in self.reports([rid for _, rid in pairs])} if pairs else {}
        return {eid: dataclasses.replace(by_id[rid], external_id=eid) for eid, rid in pairs if rid in by_id}

    def claims_by_id(self, claim_ids: Sequence[str]) -> dict[str, Claim]:
        out: dict[str, Claim] = {}
        with self.atomic(write=False) as conn:
            for chunk in _chunks(list(dict.fromkeys(claim_ids)), 500):
                for r in conn.execute(sa.select(claims.c.id, claims.c.data).where(claims.c.id.in_(chunk))):
                    out[r[0]] = Claim.from_dict(json.loads(r[1]))
        return out

    def claims_of_report(self, report_id: str) -> list[Claim]:
        with self.atomic(write=False) as conn:
            q = sa.select(claims.c.data).where(claims.c.report_id == report_id).order_by(claims.c.idx)
            return [Claim.from_dict(json.loads(r[0])) for r in conn.execute(q)]

    def incidents_of_claims(self, claim_ids: Sequence[str]) -> dict[str, str]:
        """claim id → the incident it belongs to."""
        out: dict[str, str] = {}
        with self.atomic(write=False) as conn:
            for chunk in _chunks(list(claim_ids), 500):
                out.update({r[0]: r[1] for r in conn.execute(
                    sa.select(incident_claims.c.claim_id, incident_claims.c.incident_id)
                    .where(incident_claims.c.claim_id.in_(chunk)))})
        return out

    def report_page(self, *, after: str | None = None, limit: int = 50) -> list[Report]:
        with self.atomic(write=False) as conn:
            q = sa.select(reports.c.id).order_by(reports.c.id).limit(limit)
            if after:
                q = q.where(reports.c.id > after)
            ids = [r[0] for r in conn.execute(q)]
        return self.reports(ids) if ids else []

    def ledger_about(self, subjects: Sequence[str], kinds: Sequence[str] | None = None) -> list[LedgerEntry]:
        """Ledger entries about the given subjects ("agreement/incident"), in order."""
        rows: list[LedgerRow] = []
        with self.atomic(write=False) as conn:
            for chunk in _chunks(list(dict.fromkeys(subjects)), 500):
                q = sa.select(ledger).where(ledger.c.subject.in_(chunk))
                if kinds:
                    q = q.where(ledger.c.kind.in_(list(kinds)))
                rows += [LedgerRow(**dict(r)) for r in conn.execute(q).mappings()]
        return [r.decoded() for r in sorted(rows, key=lambda r: r.seq)]

    def ledger_recent(self, kinds: Sequence[str], *, before: int | None = None, limit: int = 50) -> list[LedgerEntry]:
        """The latest entries of the given kinds, newest first (``before``: a seq, for paging)."""
        q = sa.select(ledger).where(ledger.c.kind.in_(list(kinds)))
        if before is not None:
            q = q.where(ledger.c.seq < before)
        with self.atomic(write=False) as conn:
            return [LedgerRow(**dict(r)).decoded() for r in
                    conn.execute(q.order_by(ledger.c.seq.desc()).limit(limit)).mappings()]

    def ledger_entry(self, seq: int) -> LedgerEntry | None:
        with self.atomic(write=False) as conn:
            r = conn.execute(sa.select(ledger).where(ledger.c.seq == seq)).mappings().first()
            return LedgerRow(**dict(r)).decoded() if r else None

    # --- accounts and publications (truce.web) -------------------------------------------------

    def users(self) -> list[dict[str, Any]]:
        with self.atomic(write=False) as conn:
            q = sa.select(users.c.name, users.c.role, users.c.created_at,
                          users.c.password_hash.is_not(None).label("has_password")).order_by(users.c.name)
            return [dict(r) for r in conn.execute(q).mappings()]

    def user(self, name: str) -> dict[str, Any] | None:
        with self.atomic(write=False) as conn:
            r = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
            return dict(r) if r else None

    def save_user(self, name: str, role: str, password_hash: str | None = None) -> None:
        """Add a user or change its role (and password hash, when given)."""
        with self.atomic() as conn:
            old = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
            row = dict(name=name, role=role, password_hash=password_hash if password_hash is not None else
                       (old["password_hash"] if old else None), created_at=old["created_at"] if old else now())
            self._upsert(conn, users, [row], ["name"])

    def remove_user(self, name: str) -> bool:
        with self.atomic() as conn:
            conn.execute(user_tokens.delete().where(user_tokens.c.user_name == name))
            return bool(conn.execute(users.delete().where(users.c.name == name)).rowcount)

    def add_token(self, name: str, token_hash: str, *, replace: bool = False) -> None:
        with self.atomic() as conn:
            if replace:
                conn.execute(user_tokens.delete().where(user_tokens.c.user_name == name))
            conn.execute(user_tokens.insert().values(token_hash=token_hash, user_name=name, created_at=now()))

    def user_by_token(self, token_hash: str) -> dict[str, Any] | None:
        with self.atomic(write=False) as conn:
            r = conn.execute(sa.select(users.c.name, users.c.role).select_from(
                users.join(user_tokens, user_tokens.c.user_name == users.c.name))
                .where(user_tokens.c.token_hash == token_hash)).mappings().first()
            return dict(r) if r else None

    def publish(self, incident_id: str, agreement_id: str, seq: int, by: str) -> None:
        with self.atomic() as conn:
            self._upsert(conn, published_findings, [dict(incident_id=incident_id, agreement_id=agreement_id, seq=seq,
                                                         published_by=by, published_at=now())],
                         ["incident_id", "agreement_id"])

    def published(self, incident_ids: Sequence[str] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
        """(incident id, agreement id) → its publication (seq, by, at)."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        with self.atomic(write=False) as conn:
            q = sa.select(published_findings)
            chunks = [q] if incident_ids is None else [q.where(published_findings.c.incident_id.in_(c))
                                                       for c in _chunks(list(incident_ids), 500)]
            for qq in chunks:
                for r in conn.execute(qq).mappings():
                    out[(r["incident_id"], r["agreement_id"])] = {"seq": r["seq"], "by": r["published_by"],
                                                                  "at": r["published_at"]}
        return out


def _matches(items: Sequence[dict[str, Any]]) -> tuple[DetectionMatch, ...]:
    return tuple(DetectionMatch(detection=FireDetection(**m["detection"]), distance_km=m["distance_km"],
                                above_background=m["above_background"]) for m in items)


def _physical(d: dict[str, Any]) -> PhysicalEvidence:
    d = dict(d)
    d["detections"] = _matches(d.get("detections", ()))
    return PhysicalEvidence(**d)


def _candidate(d: dict[str, Any]) -> FireCandidate:
    d = dict(d)
    d["detections"] = _matches(d.get("detections", ()))
    return FireCandidate(**d)


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    u = sa.engine.make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return u.database


def _check_file(url: str) -> None:
    import os

    path = sqlite_path(url)
    if path is not None and not os.path.exists(path):
        raise StorageError(f"no database at {path} (nothing was stored there: check --db or TRUCE_DB, "
                           "or run `truce demo` or `truce ingest` first)")


def _shown(engine: Engine) -> str:
    path = sqlite_path(str(engine.url))
    return path if path is not None else engine.url.render_as_string(hide_password=True)


class LockedError(StorageError):
    """Another process holds the run lock."""

    def __init__(self, holder: str):
        self.holder = holder
        super().__init__(f"another `truce run` is working on this database: {holder}; "
                         "wait for it to finish or use --wait")


def _read_holder(fd: int) -> str:
    try:
        d = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace") or "{}")
        return f"{d['holder']} since {d['since']}"
    except (ValueError, KeyError, TypeError, OSError):
        return "another process"


def check_report(r: Report) -> None:
    """What both backends accept: no NUL characters, no string longer than its column."""
    for name in ("id", "text", "external_id", "source", "url", "title", "published", "language", "content_type", "origin"):
        v = getattr(r, name)
        if isinstance(v, str):
            if "\x00" in v:
                raise StorageError(f"report {r.external_id[:80]!r}: field {name!r} contains a NUL character")
            if name in LIMITS and len(v) > LIMITS[name]:
                raise StorageError(f"report {r.external_id[:80]!r}: field {name!r} is {len(v)} characters long "
                                   f"(at most {LIMITS[name]})")


def _check_rows(table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """The same limits on every backend: no NUL character in text (PostgreSQL refuses it),
    no string longer than its column (PostgreSQL refuses it, SQLite would store it)."""
    limits = {c.name: c.type.length for c in table.columns if isinstance(c.type, sa.String) and c.type.length}
    for row in rows:
        for k, v in row.items():
            if isinstance(v, str):
                if "\x00" in v:
                    raise StorageError(f"{table.name}.{k}: a NUL character cannot be stored")
                n = limits.get(k)
                if n is not None and len(v) > n:
                    raise StorageError(f"{table.name}.{k}: {v[:60]!r}… is {len(v)} characters long (at most {n})")


def _password(url: str) -> str | None:
    m = re.match(r"[^:/]+://[^:@/]*:([^@/]*)@", url)
    return m.group(1) if m else None


def redact_url(url: str) -> str:
    """A database URL with its password replaced by ``***`` (safe to print)."""
    return re.sub(r"^([^:/]+://[^:@/]*:)[^@/]*@", r"\1***@", url)


def _one_line(e: object, secret: str | None = None) -> str:
    msg = " ".join(str(e).split()) or type(e).__name__
    if secret:
        msg = msg.replace(secret, "***")
    return msg[:500]


def _sqlite_begin(conn: Connection) -> None:
    # pysqlite runs in autocommit mode (isolation_level None, set on connect): we emit BEGIN
    # ourselves, IMMEDIATE for write transactions, so a transaction's reads and writes see
    # one state and two writers never interleave (SQLAlchemy's documented recipe).
    conn.exec_driver_sql(conn.info.get("truce_begin", "BEGIN IMMEDIATE"))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _chunks(seq: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]
