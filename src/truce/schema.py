"""The storage schema: every table, the ordered migrations that create and
change them, and the limits both backends enforce before a value is stored.
Migrations are append-only: a new one is a new function added at the end of
``MIGRATIONS``, never an edit of an applied one."""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from truce.errors import StorageError
from truce.records import Report


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
    # one kind's claims in date order (the status stage pages through negotiation claims by day;
    # by the date index alone each page read every later claim of every kind)
    sa.Index("ix_claims_kind_date", "kind", "date", "id"),
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

# syndication (truce.dedup): each report's group once it is deduped, and the LSH band keys of its
# MinHash signature, looked up by key when a new report is deduped
syndication = sa.Table(
    "syndication", metadata,
    sa.Column("report_id", sa.String(64), sa.ForeignKey("reports.id"), primary_key=True),
    sa.Column("group_id", sa.String(64), nullable=False, index=True),  # the smallest report id of the group
    sa.Column("canonical", sa.String(64), nullable=False),  # its earliest report (published, then id)
)
dedup_bands = sa.Table(
    "dedup_bands", metadata,
    sa.Column("band_key", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("report_id", sa.String(64), sa.ForeignKey("reports.id"), primary_key=True),
)


# truce watch: files of watched folders already ingested (a path's content once), feeds'
# conditional-request state and schedule, and each watcher's health
watch_files = sa.Table(
    "watch_files", metadata,
    sa.Column("path", sa.String(1000), primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime_ns", sa.BigInteger, nullable=False),
    sa.Column("reports", sa.Integer, nullable=False),
    sa.Column("errors", sa.Integer, nullable=False),
    sa.Column("watcher", sa.String(300), nullable=False),
    sa.Column("ingested_at", sa.String(40), nullable=False),
)
watch_feeds = sa.Table(
    "watch_feeds", metadata,
    sa.Column("url", sa.String(2000), primary_key=True),
    sa.Column("etag", sa.String(1000)),
    sa.Column("last_modified", sa.String(100)),
    sa.Column("next_poll", sa.Float, nullable=False),  # seconds since the epoch
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_poll", sa.String(40)),
    sa.Column("last_status", sa.String(300)),
    sa.Column("last_error", sa.Text),
    sa.Column("entries", sa.Integer, nullable=False),
    sa.Column("polled_by", sa.String(300)),
)
watchers = sa.Table(
    "watchers", metadata,
    sa.Column("id", sa.String(300), primary_key=True),
    sa.Column("beat", sa.Float, nullable=False),  # seconds since the epoch
    sa.Column("data", sa.Text, nullable=False),
)


# incremental fusion (truce.db_fusion): claims and incidents by block, what fusion last saw of each
# report, and the queue of blocks to re-decide
claim_blocks = sa.Table(
    "claim_blocks", metadata,
    sa.Column("claim_id", sa.String(80), primary_key=True),
    sa.Column("report_id", sa.String(64), nullable=False, index=True),
    sa.Column("block", sa.String(120), nullable=False, index=True),
)
incident_blocks = sa.Table(
    "incident_blocks", metadata,
    sa.Column("incident_id", sa.String(40), primary_key=True),
    sa.Column("block", sa.String(120), nullable=False, index=True),
)
fused_reports = sa.Table(
    "fused_reports", metadata,
    sa.Column("report_id", sa.String(64), primary_key=True),
    sa.Column("extractor", sa.String(100), nullable=False),
    sa.Column("extracted_at", sa.String(40), nullable=False),
    sa.Column("n_claims", sa.Integer, nullable=False),
    sa.Column("external_id", sa.String(500), nullable=False),
    sa.Column("canonical", sa.String(64), nullable=False),
    sa.Column("negotiation", sa.Integer, nullable=False),
)
dirty_blocks = sa.Table(
    "dirty_blocks", metadata,
    sa.Column("block", sa.String(120), primary_key=True),
    # 1: evaluate every incident of the block (terms, registry or gazetteer changed), not only those that changed
    sa.Column("everything", sa.Integer, nullable=False, server_default="0"),
)

# reports stored and not yet read by any extractor: the work list of extraction, read by key (a
# watcher's every run asks what is new; an anti-join of reports and extractions reads them all)
extract_queue = sa.Table(
    "extract_queue", metadata,
    sa.Column("report_id", sa.String(64), sa.ForeignKey("reports.id"), primary_key=True),
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


def _m040_syndication(conn: Connection) -> None:
    """Stored syndication groups and LSH band keys (incremental dedup); the ledger's entries by
    kind (the latest reviews are read without reading every entry)."""
    metadata.create_all(conn, tables=[syndication, dedup_bands])
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_ledger_kind_seq ON ledger (kind, seq)"))


def _m050_watch(conn: Connection) -> None:
    """truce watch: ingested files, feeds' state, watchers' health."""
    metadata.create_all(conn, tables=[watch_files, watch_feeds, watchers])


def _m060_fusion_blocks(conn: Connection) -> None:
    """Incremental fusion (truce.db_fusion): claims and incidents by block, what fusion last saw
    of each report, the queue of blocks to re-decide. Stored incidents are filed into their blocks."""
    metadata.create_all(conn, tables=[claim_blocks, incident_blocks, fused_reports, dirty_blocks])
    conn.execute(sa.text(
        "INSERT INTO incident_blocks (incident_id, block) SELECT id, CASE WHEN region_code IS NOT NULL AND "
        "region_code <> '' THEN 'region:' || region_code ELSE 'country:' || coalesce(country, '') END FROM incidents"))


def _m070_extract_queue(conn: Connection) -> None:
    """The reports no extractor has read, queued by key; extractions by extractor (the reports
    an older extractor read are found by an index range, not by reading every extraction)."""
    metadata.create_all(conn, tables=[extract_queue])
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_extractions_extractor ON extractions (extractor)"))
    conn.execute(sa.text("INSERT INTO extract_queue (report_id) SELECT r.id FROM reports r LEFT OUTER JOIN "
                         "extractions e ON e.report_id = r.id WHERE e.report_id IS NULL"))


def _m080_claims_by_kind(conn: Connection) -> None:
    """Claims of one kind in date order: the status stage's pages of negotiation claims."""
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_claims_kind_date ON claims (kind, date, id)"))


MIGRATIONS: tuple[tuple[str, Callable[[Connection], None]], ...] = (
    ("001_initial", _m001_initial),
    ("002_facilities_extra", _m002_facilities_extra),
    ("003_meta", _m003_meta),
    ("010_web_accounts", _m010_web_accounts),
    ("020_fire_detections", _m020_fire_detections),
    ("030_hardening", _m030_hardening),
    ("040_syndication", _m040_syndication),
    ("050_watch", _m050_watch),
    ("060_fusion_blocks", _m060_fusion_blocks),
    ("070_extract_queue", _m070_extract_queue),
    ("080_claims_by_kind", _m080_claims_by_kind),
)

# Limits every backend enforces before the database sees a value (PostgreSQL rejects what
# SQLite would store silently: NUL characters, strings longer than their column).
LIMITS = {"external_id": 500, "source": 200, "origin": 2000, "url": 4000, "title": 2000, "published": 40,
          "language": 8, "content_type": 100}


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


def check_rows(table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
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


def in_chunks(seq: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
