"""``truce watch``: follow folders and feeds, ingest what is new, run the stages, and log
one JSON line per report (report → claims → incidents → findings, with timings).

A cycle, every ``interval`` seconds:

1. **folders** — each regular file (hidden files, symbolic links and special files are
   left out, as by ``truce ingest``) whose size or modification time differs from what
   the database records for its path is hashed; new content is read once its size and
   time are the same at two scans in a row, or it was last modified ``settle`` seconds
   ago (a file still being written waits; writing to a hidden name and renaming is
   best). Its reports and the file's row (path, SHA-256, size, time) are stored in one
   transaction, so a restart resumes where the last one stopped and two watchers on one
   database store a file once (:mod:`truce.db_watch`).
2. **feeds** (only with a feeds file) — each feed that is due is fetched with a
   conditional request (:mod:`truce.ingest.feeds`); its entries are stored as reports
   (the same content once), its ETag / Last-Modified and next poll recorded; errors
   back off exponentially.
3. **stages** — when anything is new (or reports are waiting: another watcher's, or
   ``truce ingest``'s), :func:`truce.pipeline.run_pipeline` runs (one run per database
   at a time: a watcher that finds the run lock taken tries again next cycle), with a
   pool of extraction workers kept for the watcher's lifetime.

SIGTERM or SIGINT stops the watcher between files, feeds or extraction batches: what
is stored stays stored, a report read but not yet run through the stages is run on
restart (a watcher's first cycle always runs the stages). A second signal stops it at
once (transactions still leave nothing half-stored). Health — last poll, backlog,
errors — is kept in the database for ``truce health`` and, optionally, in a file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from truce import dedup
from truce.context import Context
from truce.db import Database, LockedError
from truce.errors import FetchError, IngestError, PipelineError
from truce.ingest import iter_files, read_path
from truce.ingest.feeds import FeedConfig, backoff, fetch_feed
from truce.ingest.files import (CSV_SUFFIXES, FEED_SUFFIXES, HTML_SUFFIXES, JSONL_SUFFIXES, TEXT_SUFFIXES, Limits,
                                read_bytes, read_feed_bytes)
from truce.ingest.firms import looks_like_firms, read_firms
from truce.parallel import Extracted, ExtractionPool
from truce.pipeline import RunSummary, findings_incomplete, run_pipeline, status_waiting
from truce.records import Report

Log = Callable[[dict[str, Any]], None]
SUFFIXES = JSONL_SUFFIXES | TEXT_SUFFIXES | HTML_SUFFIXES | FEED_SUFFIXES | CSV_SUFFIXES | {""}
BACKLOG_EVERY = 5.0  # seconds between checks for reports waiting (someone else's ingest)
FORGET_AFTER = 7 * 86400.0  # a watcher silent this long leaves `truce health`
PROVISIONAL_OVER = 5_000  # claims: a block larger than this takes new claims provisionally (pipeline.fuse_slice)
EXACT_AFTER = 30.0  # quiet seconds after which the provisional blocks are re-decided exactly


@dataclass
class WatchOptions:
    folders: tuple[Path, ...] = ()
    feeds: tuple[FeedConfig, ...] = ()
    interval: float = 1.0
    settle: float = 2.0
    once: bool = False  # one cycle, then stop (cron, tests)
    health_file: Path | None = None
    provisional_over: int | None = PROVISIONAL_OVER  # None: every block re-decided exactly at once
    exact_after: float = EXACT_AFTER


@dataclass
class _Seen:
    """What the watcher knows of a report it stored: where from, when first seen."""

    origin: str
    seen: float  # time.time() the file was first seen / the feed fetched
    ingest: float  # seconds spent reading and storing its file or feed


@dataclass
class Health:
    started: str
    state: str = "starting"
    polls: int = 0
    last_poll: str | None = None
    last_report: str | None = None
    reports: int = 0  # reports logged (run through the stages) by this watcher
    files: int = 0  # files ingested by this watcher
    feed_polls: int = 0
    backlog: int = 0  # reports stored and not yet read by the extractor
    unsettled: int = 0  # blocks fused provisionally (or waiting), to re-decide exactly when quiet
    error_count: int = 0
    errors: deque[dict[str, str]] = field(default_factory=lambda: deque(maxlen=10))


def _iso(t: float | None = None) -> str:
    return dt.datetime.fromtimestamp(time.time() if t is None else t, dt.timezone.utc).isoformat(timespec="milliseconds")


def json_line(stream: Any) -> Log:
    """A logger writing each record as one JSON line, whole, at once (a pipe sees it now).

    A line longer than a pipe's atomic size (4 KiB) is written by ``os.write`` on the
    stream's descriptor until all of it is out, under a lock: a signal arriving while
    the reader is slow cannot leave half a line for another writer to continue."""
    lock = threading.Lock()
    try:
        fd: int | None = stream.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stream (tests, notebooks)
        fd = None

    def log(rec: dict[str, Any]) -> None:
        line = json.dumps(rec, ensure_ascii=False, default=str) + "\n"
        with lock:
            if fd is None:
                stream.write(line)
                stream.flush()
                return
            stream.flush()  # whatever the text layer holds goes first
            data = memoryview(line.encode("utf-8"))
            while data:
                data = data[os.write(fd, data):]

    return log


class Watcher:
    """One watcher over one database. :meth:`run` loops until stopped; :meth:`cycle` is one
    round (folders, feeds, stages)."""

    def __init__(self, db: Database, ctx: Context, opts: WatchOptions, *, pool: ExtractionPool | None = None,
                 author: str | None = None, log: Log | None = None, events: Log | None = None):
        self.db, self.ctx, self.opts = db, ctx, opts
        self.pool = pool or ExtractionPool(ctx, 1)
        self.author = author or ctx.settings.who
        self.id = f"{self.author} (pid {os.getpid()} on {socket.gethostname()})"
        self.log: Log = log or (lambda rec: None)
        self.events: Log = events or (lambda rec: None)
        self.limits = Limits.of(ctx.settings)
        self.health = Health(started=_iso())
        self._stop = threading.Event()
        self._known = db.watched_files()  # path → (size, mtime_ns, sha256) ingested
        self._stat: dict[str, tuple[int, int]] = {}  # path → (size, mtime_ns) at the previous scan
        self._first_seen: dict[str, float] = {}
        self._seen: dict[str, _Seen] = {}  # report id → where from (until it is logged)
        self._must_run = True  # the first cycle runs the stages (resume after a stop)
        self._last_backlog_check = 0.0
        self._last_beat = 0.0
        self._last_new = time.monotonic()  # when a report last arrived (exact fusion waits for quiet)
        self._last_full_check = 0.0
        db.forget_watchers(FORGET_AFTER)

    # --- control ---------------------------------------------------------------------------

    def stop(self, *_: object) -> None:
        """Stop between files, feeds or extraction batches (a signal handler)."""
        if self._stop.is_set():  # a second signal: stop at once
            raise KeyboardInterrupt
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> Health:
        """Cycle until stopped (SIGTERM / SIGINT, :meth:`stop`, or ``once``)."""
        old = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                old[sig] = signal.signal(sig, self.stop)
        if not self.opts.once:
            dedup.preload()
            self.ctx.gazetteer.preload()
        self.events({"event": "start", "at": _iso(), "watcher": self.id, "folders": [str(f) for f in self.opts.folders],
                     "feeds": len(self.opts.feeds), "workers": self.pool.workers})
        try:
            while not self.stopping:
                t = time.monotonic()
                try:
                    self.cycle()
                except PipelineError as e:  # the database away, a disk full: said, and tried again
                    self._error(str(e))
                if self.opts.once:
                    break
                self._stop.wait(max(0.0, self.opts.interval - (time.monotonic() - t)))
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
            self.health.state = "stopped"
            self._beat()
            self.events({"event": "stop", "at": _iso(), "watcher": self.id, "reports": self.health.reports})
        return self.health

    # --- one cycle -------------------------------------------------------------------------

    def cycle(self) -> None:
        self.health.state = "running"
        ingested = 0
        for folder in self.opts.folders:
            ingested += self._scan(folder)
        for feed in self.opts.feeds:
            if self.stopping:
                break
            ingested += self._poll_feed(feed)
        now = time.monotonic()
        if ingested:
            self._last_new = now
        if not ingested and not self._must_run and now - self._last_backlog_check >= max(BACKLOG_EVERY, self.opts.interval):
            self._last_backlog_check = now
            self.health.backlog = len(self.db.reports_to_extract(self.ctx.extractor.id))
            self._must_run = self.health.backlog > 0
            if not self._must_run and now - self._last_new >= self.opts.exact_after:
                # quiet: a run with nothing new re-decides the provisional blocks exactly, and
                # fuses what other processes extracted (`truce extract`, a backfill's workers)
                self.health.unsettled = len(self.db.queued_blocks())
                self._must_run = self.health.unsettled > 0 or status_waiting(self.db)
                if not self._must_run and now - self._last_full_check >= self.opts.exact_after:
                    self._last_full_check = now
                    self._must_run = bool(self.db.fusion_changed_reports()) or findings_incomplete(self.db, self.ctx)
        if (ingested or self._must_run) and not self.stopping:
            self._run_stages()
        self.health.polls += 1
        self.health.last_poll = _iso()
        if ingested or time.monotonic() - self._last_beat >= 1.0:  # at most one heartbeat a second when idle
            self._beat()

    # --- folders ---------------------------------------------------------------------------

    def _scan(self, folder: Path) -> int:
        walk_errors: list[str] = []
        n = 0
        for path, _ in iter_files([folder], walk_errors):
            if self.stopping:
                break
            if path.suffix.lower() not in SUFFIXES:
                continue
            key = os.path.abspath(path)
            try:
                st = os.stat(path, follow_symlinks=False)
            except OSError:
                continue  # gone since the walk
            stat = (st.st_size, st.st_mtime_ns)
            known = self._known.get(key)
            if known is not None and known[:2] == stat:
                continue
            self._first_seen.setdefault(key, time.time())
            steady = self._stat.get(key) == stat or time.time() - st.st_mtime >= self.opts.settle
            self._stat[key] = stat
            if steady:
                n += self._ingest_file(path, key, stat)
        for msg in walk_errors:
            self._error(msg, quiet=True)
        return n

    def _ingest_file(self, path: Path, key: str, stat: tuple[int, int]) -> int:
        t = time.perf_counter()
        try:
            data = read_bytes(path, self.limits.max_file_bytes, follow=False)
        except IngestError as e:
            self._error(str(e))
            self._stat.pop(key, None)
            self._known[key] = (*stat, "")  # not retried until the file changes
            return 0
        sha = hashlib.sha256(data).hexdigest()
        seen = self._first_seen.pop(key, time.time())
        self._stat.pop(key, None)
        if len(key) > 1000:
            self._error(f"{key[:200]}…: path longer than 1,000 characters; not watched")
            self._known[key] = (*stat, sha)
            return 0
        if self.db.watched_file_known(key, sha):  # the same content, touched (or another watcher's)
            self.db.touch_watched_file(key, sha, *stat)
            self._known[key] = (*stat, sha)
            return 0
        errors: list[str] = []
        reports: list[Report] = []
        raw: dict[str, bytes] = {}
        detections: list[Any] = []
        firms = looks_like_firms(path)
        try:
            if firms:
                detections = list(read_firms(path, errors))
            else:
                for rep, blob in read_path(path, self.ctx.sources, errors, self.limits, follow=False):
                    if rep.language is None:
                        rep = replace(rep, language=self.ctx.detector.detect(((rep.title or "") + "\n" + rep.text)[:2000]))
                    reports.append(rep)
                    if blob is not None:
                        raw[rep.id] = blob
        except IngestError as e:
            errors.append(str(e))
        with self.db.atomic():
            if not self.db.claim_watched_file(key, sha, *stat, reports=len(reports), errors=len(errors), watcher=self.id):
                self._known[key] = (*stat, sha)
                return 0  # another watcher stored it first
            new, _ = self.db.add_fire_detections(detections) if firms else self.db.add_reports(reports, raw)
        self._known[key] = (*stat, sha)
        spent = time.perf_counter() - t
        for rep in reports:
            self._seen.setdefault(rep.id, _Seen(str(path), seen, spent))
        self.health.files += 1
        for msg in errors[:20]:
            self._error(msg)
        self.events({"event": "file", "at": _iso(), "path": str(path), "reports": len(reports), "new": new,
                     "errors": len(errors), "seconds": round(spent, 4), **({"fire_detections": new} if firms else {})})
        return new if not firms else 0

    # --- feeds -----------------------------------------------------------------------------

    def _poll_feed(self, feed: FeedConfig) -> int:
        state = self.db.claim_feed_poll(feed.url, self.id, lease=feed.timeout + 60)
        if state is None:
            return 0  # not due, or another watcher is polling it
        t, seen = time.perf_counter(), time.time()
        failures = int(state["failures"])
        self.health.feed_polls += 1
        try:
            got = fetch_feed(feed, state["etag"], state["last_modified"])
            if got.status == 304 or got.body is None:
                self.db.feed_polled(feed.url, next_poll=time.time() + feed.interval, failures=0,
                                    status="304 not modified", keep_validators=True)
                self.events({"event": "feed", "at": _iso(), "url": feed.url, "status": 304})
                return 0
            errors: list[str] = []
            reports = list(read_feed_bytes(got.body, feed.url, self.ctx.sources, errors, self.limits,
                                           source=feed.source))
            reports = [r if r.language else replace(r, language=self.ctx.detector.detect(
                ((r.title or "") + "\n" + r.text)[:2000])) for r in reports]
        except (FetchError, IngestError) as e:
            failures += 1
            wait = backoff(feed.interval, failures)
            self.db.feed_polled(feed.url, next_poll=time.time() + wait, failures=failures, status="error",
                                error=str(e), keep_validators=True)
            self._error(f"{e} (failure {failures}; next try in {wait:.0f} s)")
            return 0
        with self.db.atomic():
            new, _ = self.db.add_reports(reports)
            self.db.feed_polled(feed.url, next_poll=time.time() + feed.interval, failures=0, status=f"{got.status}",
                                etag=got.etag, last_modified=got.last_modified, entries=len(reports))
        spent = time.perf_counter() - t
        for rep in reports:
            self._seen.setdefault(rep.id, _Seen(feed.url, seen, spent))
        for msg in errors[:20]:
            self._error(msg)
        self.events({"event": "feed", "at": _iso(), "url": feed.url, "status": got.status, "entries": len(reports),
                     "new": new, "errors": len(errors), "seconds": round(spent, 4)})
        return new

    # --- stages ----------------------------------------------------------------------------

    def _run_stages(self) -> None:
        done: list[Extracted] = []
        try:
            s = run_pipeline(self.db, self.ctx, author=self.author, wait=min(1.0, self.opts.interval), pool=self.pool,
                             on_extracted=done.append, stop=self._stop.is_set,
                             defer_over=None if self.opts.once else self.opts.provisional_over, summary=False)
        except LockedError:
            self._must_run = True  # another run holds the database: next cycle
            return
        except PipelineError as e:
            self._must_run = True
            self._error(str(e))
            return
        self._must_run = s.stopped
        self.health.backlog = 0 if not s.stopped else self.health.backlog
        self.health.unsettled = s.unsettled
        if s.extracted:
            self._last_new = time.monotonic()
        for msg in s.errors:
            self._error(msg)
        # what the run's reports became, read in two queries for all of them
        claim_ids = [c.id for x in done for c in x.claims] if not s.stopped else []
        incident_of = self.db.incidents_of_claims(claim_ids) if claim_ids else {}
        verdicts: dict[str, list[dict[str, str]]] = {}
        for iid, aid, verdict in self.db.finding_verdicts(sorted(set(incident_of.values()))) if incident_of else []:
            verdicts.setdefault(iid, []).append({"incident": iid, "agreement": aid, "verdict": verdict})
        for x in done:
            self._report_line(x, s, incident_of, verdicts)

    def _report_line(self, x: Extracted, s: RunSummary, incident_of: dict[str, str],
                     verdicts: dict[str, list[dict[str, str]]]) -> None:
        rep = x.report
        incidents = sorted({incident_of[c.id] for c in x.claims if c.id in incident_of})
        findings = [f for iid in incidents for f in verdicts.get(iid, ())]
        seen = self._seen.pop(rep.id, None)
        now = time.time()
        seconds: dict[str, float] = {"extract": round(x.seconds, 4)}
        if seen is not None:
            seconds["ingest"] = round(seen.ingest, 4)
        for stage in ("dedup", "fuse", "physical", "evaluate", "ledger"):
            if stage in s.seconds:
                seconds[stage] = round(s.seconds[stage], 4)
        seconds["run"] = round(s.seconds.get("total", s.seconds.get("extract", 0.0)), 4)
        if seen is not None:
            seconds["latency"] = round(now - seen.seen, 4)
        self.log({"at": _iso(now), "report": rep.external_id, "report_id": rep.id,
                  "origin": seen.origin if seen else rep.origin, "source": rep.source,
                  "claims": [{"id": c.id, "kind": c.kind} for c in x.claims],
                  "incidents": incidents, "findings": findings,
                  **({"skipped": x.skipped} if x.skipped else {}),
                  **({"stopped": True} if s.stopped else {}),
                  "run_reports": s.extracted, "seconds": seconds})
        self.health.reports += 1
        self.health.last_report = _iso(now)

    # --- health ----------------------------------------------------------------------------

    def _error(self, message: str, quiet: bool = False) -> None:
        self.health.error_count += 1
        self.health.errors.append({"at": _iso(), "error": message[:500]})
        if not quiet:
            self.events({"event": "error", "at": _iso(), "error": message[:500]})

    def health_record(self) -> dict[str, Any]:
        h = self.health
        return {"watcher": self.id, "pid": os.getpid(), "host": socket.gethostname(), "state": h.state,
                "started": h.started, "last_poll": h.last_poll, "last_report": h.last_report, "polls": h.polls,
                "reports": h.reports, "files": h.files, "feed_polls": h.feed_polls, "backlog": h.backlog,
                "unsettled": h.unsettled, "error_count": h.error_count, "errors": list(h.errors), "interval": self.opts.interval,
                "folders": [str(f) for f in self.opts.folders], "feeds": [f.url for f in self.opts.feeds]}

    def _beat(self) -> None:
        self._last_beat = time.monotonic()
        rec = self.health_record()
        try:
            self.db.watcher_beat(self.id, rec)
        except PipelineError as e:  # the database is away: the health file still says so
            rec = {**rec, "database_error": str(e)}
        if self.opts.health_file is not None:
            from truce.safeio import write_atomic

            try:
                write_atomic(self.opts.health_file, json.dumps(rec, ensure_ascii=False, indent=1) + "\n")
            except OSError as e:
                self.events({"event": "error", "at": _iso(), "error": f"{self.opts.health_file}: {e.strerror}"})


def health_report(db: Database, *, stale_after: float | None = None) -> tuple[bool, dict[str, Any]]:
    """Every watcher's health and every feed's state; ok when at least one watcher is running
    and has polled within ``stale_after`` seconds (default: 5 intervals, at least 60 s)."""
    now = time.time()
    watchers = []
    ok = False
    for w in db.watcher_health():
        age = now - float(w["beat"])
        limit = stale_after if stale_after is not None else max(60.0, 5 * float(w.get("interval") or 1.0))
        alive = w.get("state") == "running" and age <= limit
        ok = ok or alive
        watchers.append({**{k: v for k, v in w.items() if k != "beat"}, "seconds_since_beat": round(age, 1),
                         "alive": alive})
    feeds = [{"url": f["url"], "last_poll": f["last_poll"], "last_status": f["last_status"],
              "last_error": f["last_error"], "failures": f["failures"], "entries": f["entries"],
              "next_poll": _iso(f["next_poll"]) if f["next_poll"] else None} for f in db.feed_states()]
    return ok, {"ok": ok, "watchers": watchers, "feeds": feeds}
