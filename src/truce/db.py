"""The one ``Database`` class: all SQL lives here and in its read-queries mixin
(``truce.db_queries``), SQLAlchemy Core over the tables of ``truce.schema``.

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
from truce.db_fusion import FusionStore
from truce.db_queries import ReadQueries
from truce.db_syndication import SyndicationStore
from truce.db_watch import WatchState
from truce.schema import (
    MIGRATIONS, agreement_status, check_report, check_rows, in_chunks, claims, extract_queue, extractions,
    facilities_extra, findings, fire_candidates, fire_detections, incident_claims, incidents, ledger,
    ledger_head, locks, meta, metadata, now, physical_evidence, report_inputs, reports, schema_migrations,
)

# PostgreSQL advisory locks are per database, not per schema: each key is the hash of the
# schema truce's tables live in and the lock's name, so two truce stores in one database
# (schemas) never wait for each other.
_PG_KEY = "hashtextextended(current_schema() || :name, 0)"
_LEDGER_LOCK = "/truce-ledger-append"
_RUN_LOCK = "/truce-run"
_MIGRATE_LOCK = "/truce-migrate"


class Database(ReadQueries, SyndicationStore, WatchState, FusionStore):
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
        self._statements: dict[tuple[Any, ...], Any] = {}  # upserts, built once (``_upsert_stmt``)
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

    def refresh_statistics(self) -> list[str]:
        """PostgreSQL: ANALYZE Truce's tables that changed by more than a tenth since they were
        last analysed (autovacuum's rule). A server with autovacuum off, or one that has not come
        round yet after a bulk load, plans a lookup of a few keys as a scan of the whole table.
        Returns the tables analysed (SQLite: none)."""
        if self.dialect != "postgresql":
            return []
        with self.atomic() as conn:
            stale = [r[0] for r in conn.execute(sa.text(
                "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() "
                "AND n_mod_since_analyze > 50 + 0.1 * n_live_tup ORDER BY relname"))
                if r[0] in metadata.tables]
            quote = self.engine.dialect.identifier_preparer.quote
            for name in stale:
                conn.execute(sa.text(f"ANALYZE {quote(name)}"))
        return stale

    def migrations(self) -> list[str]:
        with self.atomic(write=False) as conn:
            return [r[0] for r in conn.execute(sa.select(schema_migrations.c.name).order_by(schema_migrations.c.name))]

    # --- generic upsert ------------------------------------------------------------------

    def _upsert(self, conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
                keys: Sequence[str], update: bool = True) -> None:
        self._upsert_many(conn, table, rows, keys, update)

    def _upsert_many(self, conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
                     keys: Sequence[str], update: bool = True) -> None:
        """Insert rows (all with the same columns), updating (or, ``update=False``, keeping) a row
        whose ``keys`` exist: one statement, built once per table and columns, executed for
        many rows at a time (the driver's executemany; no statement compiled per batch)."""
        if not rows:
            return
        check_rows(table, rows)
        cols = tuple(rows[0])
        stmt = self._upsert_stmt(table, tuple(keys), update, cols)
        for chunk in in_chunks(rows, 5000):
            conn.execute(stmt, list(chunk))

    def _upsert_stmt(self, table: sa.Table, keys: tuple[str, ...], update: bool, cols: tuple[str, ...]) -> Any:
        key = (table.name, keys, update, cols)
        stmt = self._statements.get(key)
        if stmt is None:
            if self.dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as ins
            else:
                from sqlalchemy.dialects.sqlite import insert as ins  # type: ignore[assignment]
            stmt = ins(table)
            rest = [c for c in cols if c not in keys]
            if update and rest:
                stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in rest})
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
            self._statements[key] = stmt
        return stmt

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
            for chunk in in_chunks(ids, 500):
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
            self._upsert(conn, extract_queue, [dict(report_id=rid) for rid in new_rows], ["report_id"], update=False)
            self._upsert(conn, report_inputs,
                         [dict(report_id=r.id, external_id=r.external_id, origin=r.origin) for r in items],
                         ["report_id", "external_id"], update=False)
        return len(new_rows), len(items) - len(new_rows)

    def report_count(self) -> int:
        with self.atomic(write=False) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar_one())

    def reports(self, ids: Iterable[str] | None = None, *, text: bool = True) -> list[Report]:
        """Reports with their canonical external id (the smallest one they were ingested with);
        ``text=False`` leaves their texts out (``text`` is then ``""``): what lists and counts read."""
        with self.atomic(write=False) as conn:
            ext: dict[str, tuple[str, str | None]] = {}
            qi = sa.select(report_inputs.c.report_id, report_inputs.c.external_id, report_inputs.c.origin)
            q = sa.select(*(c for c in reports.c if c.name != "raw" and (text or c.name != "text"))).order_by(reports.c.id)
            rows = []
            inputs = []
            if ids is None:
                rows = list(conn.execute(q).mappings())
                inputs = list(conn.execute(qi))
            else:
                for chunk in in_chunks(list(ids), 500):
                    rows += list(conn.execute(q.where(reports.c.id.in_(chunk))).mappings())
                    inputs += list(conn.execute(qi.where(report_inputs.c.report_id.in_(chunk))))
            for rid, eid, origin in inputs:
                if rid not in ext or eid < ext[rid][0]:
                    ext[rid] = (eid, origin)
        out = []
        for r in rows:
            eid, origin = ext.get(r["id"], (r["id"], None))
            out.append(Report(id=r["id"], text=r["text"] if text else "", external_id=eid, source=r["source"],
                              source_kind=r["source_kind"] or "unknown", affiliation=r["affiliation"],
                              url=r["url"], title=r["title"], published=r["published"], language=r["language"],
                              content_type=r["content_type"], origin=origin))
        return out

    def report_raw(self, report_id: str) -> bytes | None:
        with self.atomic(write=False) as conn:
            r = conn.execute(sa.select(reports.c.raw).where(reports.c.id == report_id)).first()
            return bytes(r[0]) if r and r[0] is not None else None

    def reports_to_extract(self, extractor: str) -> list[str]:
        """Ids of the reports ``extractor`` has not read, in order: those no extractor has read
        (queued when stored) and those another extractor read (two index ranges either side of
        its name); nothing else is read, whatever the database's size."""
        ex = extractions.c
        with self.atomic(write=False) as conn:
            out = {r[0] for r in conn.execute(sa.select(extract_queue.c.report_id))}
            out |= {r[0] for r in conn.execute(sa.select(ex.report_id).where(
                sa.or_(ex.extractor < extractor, ex.extractor > extractor)))}
        return sorted(out)

    def extracted_ids(self, extractor: str, ids: Iterable[str] | None = None) -> set[str]:
        """Ids of reports (of ``ids``, or all) the extractor ``extractor`` has read (or skipped)."""
        with self.atomic(write=False) as conn:
            q = sa.select(extractions.c.report_id).where(extractions.c.extractor == extractor)
            if ids is None:
                return {r[0] for r in conn.execute(q)}
            out: set[str] = set()
            for chunk in in_chunks(list(ids), 500):
                out |= {r[0] for r in conn.execute(q.where(extractions.c.report_id.in_(chunk)))}
            return out

    # --- claims --------------------------------------------------------------------------

    def replace_claims(self, report_id: str, extractor: str, items: Sequence[Claim], skipped: str | None = None) -> None:
        """Make the report's stored claims exactly ``items`` (upserted by claim id, so two
        writers reading the same report never collide) and record the extraction;
        ``skipped``: why the report was not read (its claims are then none)."""
        self.replace_claims_many([(report_id, items, skipped)], extractor)

    def replace_claims_many(self, batch: Sequence[tuple[str, Sequence[Claim], str | None]], extractor: str) -> None:
        """:meth:`replace_claims` for many reports (report id, claims, why skipped) in one
        transaction: one DELETE of the claims they no longer have, one executemany upsert of
        their claims and one of their extractions per 200 reports."""
        if not batch:
            return
        stamp = now()
        with self.atomic() as conn:
            for part in in_chunks(batch, 200):
                rows = [dict(id=c.id, report_id=c.report_id, idx=c.index, kind=c.kind, date=c.date, country=c.country,
                             region_code=c.region_code, facility_id=c.facility_id, facility_type=c.facility_type,
                             extractor=c.extractor or extractor, data=canonical_json(c.to_dict()))
                        for _, items, _ in part for c in items]
                conn.execute(claims.delete().where(sa.and_(
                    claims.c.report_id.in_([rid for rid, _, _ in part]),
                    sa.not_(claims.c.id.in_([r["id"] for r in rows] or [""])))))
                self._upsert_many(conn, claims, rows, ["id"])
                self._upsert_many(conn, extractions, [dict(report_id=rid, extractor=extractor, n_claims=len(items),
                                                           extracted_at=stamp, skipped=skipped)
                                                      for rid, items, skipped in part], ["report_id"])
                conn.execute(extract_queue.delete().where(extract_queue.c.report_id.in_([rid for rid, _, _ in part])))

    def claim_count(self) -> int:
        with self.atomic(write=False) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(claims)).scalar_one())

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
            for chunk in in_chunks(removed, 500):
                conn.execute(incident_claims.delete().where(incident_claims.c.incident_id.in_(chunk)))
                conn.execute(incidents.delete().where(incidents.c.id.in_(chunk)))
            stamp = now()
            by_id = {i.id: i for i in items}
            for chunk in in_chunks(changed, 500):
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
        with self.atomic() as conn:
            keep = {(f.incident_id, f.agreement_id) for f, _ in items}
            old = {(r[0], r[1]) for r in conn.execute(sa.select(findings.c.incident_id, findings.c.agreement_id))}
            self.write_findings(items, entries or {}, sorted(old - keep))

    def findings_raw(self) -> list[dict[str, Any]]:
        """Finding rows as stored (for ``ledger verify``)."""
        with self.atomic(write=False) as conn:
            q = sa.select(findings).order_by(findings.c.agreement_id, findings.c.incident_id)
            return [dict(r) for r in conn.execute(q).mappings()]

    def findings_raw_page(self, after: tuple[str, str] | None, limit: int) -> list[dict[str, Any]]:
        """Finding rows as stored, in key order (incident, agreement) after the key ``after``."""
        c = findings.c
        q = sa.select(findings).order_by(c.incident_id, c.agreement_id).limit(limit)
        if after is not None:
            q = q.where(sa.or_(c.incident_id > after[0], sa.and_(c.incident_id == after[0], c.agreement_id > after[1])))
        with self.atomic(write=False) as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def agreement_status_raw_page(self, after: tuple[str, str] | None, limit: int) -> list[dict[str, Any]]:
        """Status rows as stored, in key order (agreement, claim) after the key ``after``."""
        c = agreement_status.c
        q = sa.select(agreement_status).order_by(c.agreement_id, c.claim_id).limit(limit)
        if after is not None:
            q = q.where(sa.or_(c.agreement_id > after[0], sa.and_(c.agreement_id == after[0], c.claim_id > after[1])))
        with self.atomic(write=False) as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # --- agreement status history --------------------------------------------------------------

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
        check_rows(ledger, values)
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
                for chunk in in_chunks(sorted(set(ids)), 500):
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


