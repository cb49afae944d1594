"""What ``truce watch`` keeps in the database: a mixin of :class:`truce.db.Database`.

- ``watch_files``: a watched file's content (path + SHA-256) once ingested, with the
  size and modification time it had, so a restarted watcher skips what is done. A
  watcher *claims* a file by inserting its row in the same transaction that stores
  the file's reports: two watchers racing for one file insert one row (PostgreSQL makes
  the second insert wait for the first transaction, then finds the row; SQLite runs
  one write transaction at a time), so a file's reports are stored by one of them.
- ``watch_feeds``: each feed's ETag / Last-Modified, when it is next due, its failures
  (the backoff) and last status. A watcher claims a poll by moving ``next_poll`` forward
  only where it is due (a compare-and-set both backends run atomically).
- ``watchers``: each watcher's heartbeat and health, read by ``truce health``.
"""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from truce.schema import check_rows, now, watch_feeds, watch_files, watchers


class WatchState:
    """The watcher's bookkeeping; every method is one transaction (or joins the caller's)."""

    if TYPE_CHECKING:
        dialect: str

        def atomic(self, write: bool = True) -> AbstractContextManager[Connection]: ...
        def _upsert(self, conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
                    keys: Sequence[str], update: bool = True) -> None: ...

    def _insert_new(self, conn: Connection, table: sa.Table, row: dict[str, Any], keys: Sequence[str]) -> bool:
        """Insert ``row`` unless its key exists; True when this call inserted it."""
        check_rows(table, [row])
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as ins
        else:
            from sqlalchemy.dialects.sqlite import insert as ins  # type: ignore[assignment]
        stmt = ins(table).values(**row).on_conflict_do_nothing(index_elements=list(keys))
        return conn.execute(stmt.returning(table.c[keys[0]])).first() is not None

    # --- files ---------------------------------------------------------------------------

    def watched_files(self) -> dict[str, tuple[int, int, str]]:
        """path → (size, mtime_ns, sha256) of its last ingested content."""
        out: dict[str, tuple[str, int, int, str]] = {}
        with self.atomic(write=False) as conn:
            q = sa.select(watch_files.c.path, watch_files.c.size, watch_files.c.mtime_ns, watch_files.c.sha256,
                          watch_files.c.ingested_at)
            for path, size, mtime_ns, sha, at in conn.execute(q):
                if path not in out or at >= out[path][0]:
                    out[path] = (at, int(size), int(mtime_ns), sha)
        return {p: v[1:] for p, v in out.items()}

    def watched_file_known(self, path: str, sha256: str) -> bool:
        with self.atomic(write=False) as conn:
            q = sa.select(sa.func.count()).select_from(watch_files).where(
                watch_files.c.path == path, watch_files.c.sha256 == sha256)
            return bool(conn.execute(q).scalar_one())

    def claim_watched_file(self, path: str, sha256: str, size: int, mtime_ns: int, *, reports: int, errors: int,
                           watcher: str) -> bool:
        """Record this content of ``path`` as ingested by ``watcher``; False when it already is
        (another watcher, or before a restart). Call inside the transaction that stores the
        file's reports."""
        with self.atomic() as conn:
            return self._insert_new(conn, watch_files, dict(
                path=path, sha256=sha256, size=size, mtime_ns=mtime_ns, reports=reports, errors=errors,
                watcher=watcher[:300], ingested_at=now()), ["path", "sha256"])

    def touch_watched_file(self, path: str, sha256: str, size: int, mtime_ns: int) -> None:
        """The same content with a new modification time (touched, copied over itself)."""
        with self.atomic() as conn:
            conn.execute(watch_files.update().where(watch_files.c.path == path, watch_files.c.sha256 == sha256)
                         .values(size=size, mtime_ns=mtime_ns, ingested_at=now()))

    def watched_file_rows(self) -> list[dict[str, Any]]:
        with self.atomic(write=False) as conn:
            return [dict(r) for r in conn.execute(sa.select(watch_files).order_by(watch_files.c.path)).mappings()]

    # --- feeds ---------------------------------------------------------------------------

    def claim_feed_poll(self, url: str, watcher: str, lease: float) -> dict[str, Any] | None:
        """The feed's state if it is due and this watcher now holds its poll (for ``lease``
        seconds, after which another watcher may take it); None when it is not due or another
        watcher holds it."""
        t = time.time()
        with self.atomic() as conn:
            self._insert_new(conn, watch_feeds, dict(url=url, next_poll=0.0, failures=0, entries=0), ["url"])
            res = conn.execute(watch_feeds.update().where(watch_feeds.c.url == url, watch_feeds.c.next_poll <= t)
                               .values(next_poll=t + lease, polled_by=watcher[:300]))
            if res.rowcount != 1:
                return None
            row = conn.execute(sa.select(watch_feeds).where(watch_feeds.c.url == url)).mappings().one()
            return dict(row)

    def feed_polled(self, url: str, *, next_poll: float, failures: int, status: str, error: str | None = None,
                    etag: str | None = None, last_modified: str | None = None, entries: int = 0,
                    keep_validators: bool = False) -> None:
        """Record a poll's outcome (``keep_validators``: a failure or 304 keeps the stored
        ETag / Last-Modified)."""
        values: dict[str, Any] = dict(next_poll=next_poll, failures=failures, last_status=status[:300],
                                      last_error=error, last_poll=now())
        if not keep_validators:
            values.update(etag=(etag or None) and etag[:1000], last_modified=(last_modified or None) and last_modified[:100])
        if entries:
            values["entries"] = watch_feeds.c.entries + entries
        with self.atomic() as conn:
            conn.execute(watch_feeds.update().where(watch_feeds.c.url == url).values(**values))

    def feed_states(self) -> list[dict[str, Any]]:
        with self.atomic(write=False) as conn:
            return [dict(r) for r in conn.execute(sa.select(watch_feeds).order_by(watch_feeds.c.url)).mappings()]

    # --- health --------------------------------------------------------------------------

    def watcher_beat(self, watcher: str, data: dict[str, Any]) -> None:
        with self.atomic() as conn:
            self._upsert(conn, watchers, [dict(id=watcher[:300], beat=time.time(),
                                                data=json.dumps(data, ensure_ascii=False, sort_keys=True))], ["id"])

    def forget_watchers(self, older_than: float) -> int:
        """Delete the health rows of watchers silent for ``older_than`` seconds (stopped or gone)."""
        with self.atomic() as conn:
            return int(conn.execute(watchers.delete().where(watchers.c.beat < time.time() - older_than)).rowcount or 0)

    def watcher_health(self) -> list[dict[str, Any]]:
        """Every watcher's last heartbeat (``beat``, seconds since the epoch) and health."""
        with self.atomic(write=False) as conn:
            rows = conn.execute(sa.select(watchers).order_by(watchers.c.id)).mappings()
            return [{"id": r["id"], "beat": r["beat"], **json.loads(r["data"])} for r in rows]
