"""truce watch (issue 12): folders and feeds followed, what is new ingested once and run
through the stages, one JSON line per report; restart resumes; SIGTERM stops cleanly;
two watchers on one database store and log each report once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import truce
from conftest import BACKENDS
from truce.ingest.feeds import FeedConfig, backoff, load_feeds
from truce.errors import IngestError
from truce.watch import WatchOptions, Watcher, health_report

ROOT = Path(__file__).parents[1]
DEMO = ROOT / "src" / "truce" / "data" / "demo" / "reports.jsonl"
LINES = DEMO.read_text(encoding="utf-8").splitlines()
FEED = ROOT / "src" / "truce" / "data" / "demo" / "ukrinform-feed.xml"


def _drop(path: Path, lines: list[str]) -> Path:
    """Write a file and date it a minute ago (read at once, without waiting for it to settle)."""
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    t = time.time() - 60
    os.utime(path, (t, t))
    return path


def _watcher(db, ctx, folder: Path | None = None, **kw):
    lines: list[dict] = []
    events: list[dict] = []
    opts = WatchOptions(folders=(folder,) if folder else (), once=True, **kw)
    return Watcher(db, ctx, opts, author="test", log=lines.append, events=events.append), lines, events


def test_a_new_file_in_a_watched_folder_becomes_findings(db, ctx, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    w, lines, events = _watcher(db, ctx, folder)
    w.cycle()  # nothing yet
    assert lines == [] and db.report_count() == 0
    _drop(folder / "a.jsonl", [LINES[1]])  # Reuters: a refinery on fire
    (folder / ".partial.jsonl").write_text(LINES[2] + "\n", encoding="utf-8")  # hidden: being written
    (folder / "notes.docx").write_text("not a report", encoding="utf-8")  # not a report format
    w.cycle()
    assert len(lines) == 1, events
    (line,) = lines
    assert line["report"] == "demo-002" and line["origin"].endswith("a.jsonl")
    assert line["claims"] and line["incidents"] and line["findings"]
    assert {f["agreement"] for f in line["findings"]} >= {"moratorium-2025-03"}
    stored = {(f.incident_id, f.agreement_id, f.verdict) for f, _ in db.findings_of(line["incidents"])}
    assert stored == {(f["incident"], f["agreement"], f["verdict"]) for f in line["findings"]}
    assert {"extract", "ingest", "run", "latency"} <= set(line["seconds"])
    assert [e["path"] for e in events if e["event"] == "file"] == [str(folder / "a.jsonl")]
    ok, rep = health_report(db)
    assert rep["watchers"][0]["files"] == 1 and rep["watchers"][0]["reports"] == 1


def test_a_quiet_watcher_restores_a_lost_finding(db, ctx, tmp_path):
    """A run that reads new reports does not count every finding; the quiet runs do."""
    import sqlalchemy as sa
    from truce.schema import findings

    folder = tmp_path / "in"
    folder.mkdir()
    _drop(folder / "a.jsonl", [LINES[1]])
    w, lines, _ = _watcher(db, ctx, folder, exact_after=0)
    w.cycle()
    (line,) = lines
    f = line["findings"][0]
    key = sa.and_(findings.c.incident_id == f["incident"], findings.c.agreement_id == f["agreement"])
    with db.atomic() as conn:
        conn.execute(findings.delete().where(key))
    w.cycle()  # nothing new: a quiet run looks, and re-decides the incident's block
    assert [(x.incident_id, x.agreement_id, x.verdict) for x, _ in db.findings_of([f["incident"]])
            if x.agreement_id == f["agreement"]] == [(f["incident"], f["agreement"], f["verdict"])]


def test_a_restart_resumes_without_reingesting_and_reads_a_changed_file(db, ctx, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    p = _drop(folder / "a.jsonl", LINES[:3])
    w1, lines1, _ = _watcher(db, ctx, folder)
    w1.run()
    assert len(lines1) == 3
    w2, lines2, events2 = _watcher(db, ctx, folder)  # a restart: a new watcher, the same database
    w2.run()
    assert lines2 == [] and not [e for e in events2 if e["event"] == "file"]
    _drop(p, LINES[:4])  # one report appended
    w2.cycle()
    assert [x["report"] for x in lines2] == ["demo-004"]
    assert db.report_count() == 4 and len(db.watched_file_rows()) == 2  # the path's two contents


def test_a_file_still_changing_waits_until_it_is_the_same_at_two_scans(db, ctx, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    w, lines, _ = _watcher(db, ctx, folder, settle=3600)
    (folder / "a.jsonl").write_text(LINES[1] + "\n", encoding="utf-8")
    w.cycle()
    assert lines == [] and db.report_count() == 0  # just written: wait a scan
    w.cycle()
    assert [x["report"] for x in lines] == ["demo-002"]


# --- feeds -----------------------------------------------------------------------------------

class _FeedServer:
    """A local HTTP server for one Atom/RSS document, honouring If-None-Match (304)."""

    def __init__(self, body: bytes, etag: str = '"v1"'):
        self.body, self.etag, self.status = body, etag, 200
        self.requests: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests.append(dict(self.headers))
                if outer.status != 200:
                    self.send_response(outer.status)
                    self.end_headers()
                    return
                if self.headers.get("If-None-Match") == outer.etag:
                    self.send_response(304)
                    self.send_header("ETag", outer.etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("ETag", outer.etag)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/feed.xml"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _due(db, url):
    from truce.schema import watch_feeds

    with db.atomic() as conn:
        conn.execute(watch_feeds.update().where(watch_feeds.c.url == url).values(next_poll=0.0))


def test_a_feed_is_polled_with_conditional_requests_and_backs_off_on_errors(db, ctx):
    srv = _FeedServer(FEED.read_bytes())
    try:
        feed = FeedConfig(url=srv.url, interval=600)
        w, lines, events = _watcher(db, ctx, feeds=(feed,))
        w.cycle()
        n = db.report_count()
        assert n >= 3 and len(lines) == n
        assert all(x["origin"] == srv.url for x in lines)
        (state,) = db.feed_states()
        assert state["etag"] == '"v1"' and state["next_poll"] > time.time() + 500
        w.cycle()  # not due yet: no request
        assert len(srv.requests) == 1
        _due(db, srv.url)
        w.cycle()
        assert len(srv.requests) == 2 and srv.requests[1].get("If-None-Match") == '"v1"'
        (state,) = db.feed_states()
        assert state["last_status"] == "304 not modified" and state["etag"] == '"v1"'
        assert db.report_count() == n and len(lines) == n  # nothing new, nothing re-read
        srv.status = 503
        _due(db, srv.url)
        w.cycle()
        (state,) = db.feed_states()
        assert state["failures"] == 1 and "HTTP 503" in state["last_error"]
        assert state["next_poll"] > time.time() + 1100  # twice the interval
        assert state["etag"] == '"v1"'  # kept for the next conditional request
        assert any(e["event"] == "error" and "503" in e["error"] for e in events)
    finally:
        srv.close()


def test_backoff_doubles_and_is_capped():
    assert backoff(60, 0) == 60 and backoff(60, 1) == 120 and backoff(60, 3) == 480
    assert backoff(60, 50) == 6 * 3600


def test_the_feeds_file_lists_http_urls_only(tmp_path):
    ok = tmp_path / "feeds.yaml"
    ok.write_text("defaults:\n  interval: 300\nfeeds:\n  - https://example.org/a.atom\n"
                  "  - url: http://example.net/rss\n    interval: 60\n    source: Example\n", encoding="utf-8")
    a, b = load_feeds(ok)
    assert (a.url, a.interval, b.interval, b.source) == ("https://example.org/a.atom", 300, 60, "Example")
    for text, message in (("feeds:\n  - file:///etc/passwd\n", r"not an http\(s\) URL"),
                          ("feeds:\n  - url: https://x.org/\n    intervall: 5\n", "unknown key 'intervall'"),
                          ("feeds:\n  - url: https://x.org/\n    interval: -1\n", "'interval' must be a number"),
                          ("feeds: [https://x.org/, https://x.org/]\n", "listed twice"),
                          ("feeds:\n  - [unclosed\n", "invalid YAML")):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(IngestError, match=message) as e:
            load_feeds(bad)
        assert str(e.value).startswith(str(bad)) and "\n" not in str(e.value)


# --- processes ---------------------------------------------------------------------------------

def _env() -> dict[str, str]:
    src = str(Path(truce.__file__).parents[1])
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _watch_proc(folder: Path, url: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "truce.cli", "watch", str(folder), "--db", url, "--interval", "0.2",
                             "--workers", "1", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env())


def _lines(text: str) -> list[dict]:
    return [json.loads(x) for x in text.splitlines() if x.strip()]


def _wait_for(cond, timeout: float = 120.0) -> None:
    t = time.time() + timeout
    while not cond():
        if time.time() > t:
            raise AssertionError("timed out")
        time.sleep(0.2)


@pytest.mark.slow
def test_sigterm_stops_between_batches_and_a_restart_finishes_the_work(tmp_path, ctx, monkeypatch):
    from truce.db import Database
    from truce.ingest import ingest_paths
    from truce.pipeline import run_pipeline

    folder = tmp_path / "in"
    folder.mkdir()
    url = str(tmp_path / "w.db")
    lines = []  # 420 reports: the demo's, four times, each copy its own report
    for k in range(4):
        for line in LINES:
            d = json.loads(line)
            lines.append(json.dumps({**d, "id": f"{d['id']}-{k}", "text": d["text"] + f"\n\n(Copy {k}.)"}))
    proc = _watch_proc(folder, url)
    try:
        time.sleep(1)
        _drop(folder / "all.jsonl", lines)
        db = Database(url)
        # ingested, and extraction under way (a signal before the run starts would stop it before any report)
        _wait_for(lambda: db.report_count() == len(lines)
                  and len(db.reports_to_extract(ctx.extractor.id)) < len(lines), timeout=240)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert _lines(err)[-1]["event"] == "stop"
    first = _lines(out)
    assert 0 < len(first) < len(lines) and all(x.get("stopped") for x in first)  # stopped part-way
    stored = {c.report_id for c in db.claims()}
    assert {x["report_id"] for x in first if x["claims"]} <= stored  # what was logged was stored
    assert db.report_count() == len(lines)
    restart = subprocess.run([sys.executable, "-m", "truce.cli", "watch", str(folder), "--db", url, "--once",
                              "--workers", "1"], capture_output=True, text=True, env=_env(), timeout=300)
    assert restart.returncode == 0, restart.stderr[-2000:]
    second = _lines(restart.stdout)
    ids = [x["report_id"] for x in first + second]
    assert len(ids) == len(set(ids)) == len(lines)  # each report run once, none lost
    assert not [e for e in _lines(restart.stderr) if e["event"] == "file"]  # the file is not read again
    ref = Database(str(tmp_path / "ref.db"))
    ingest_paths(ref, [folder / "all.jsonl"], ctx)
    run_pipeline(ref, ctx, author="test")
    assert sorted(c.id for c in db.claims()) == sorted(c.id for c in ref.claims())
    assert sorted(i.id for i in db.incidents()) == sorted(i.id for i in ref.incidents())


class _Store:
    """A database by URL, for processes (PostgreSQL: a schema of its own)."""

    def __init__(self, backend: str, tmp: Path):
        self.backend, self.tmp, self.schema = backend, tmp, None

    def url(self) -> str:
        if self.backend == "sqlite":
            return str(self.tmp / "shared.db")
        import uuid

        import sqlalchemy as sa

        from conftest import PG_URL
        from truce.config import database_url

        self.schema = "t_" + uuid.uuid4().hex[:12]
        base = sa.create_engine(database_url(PG_URL or ""))
        with base.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
        base.dispose()
        return f"{PG_URL}?options=-csearch_path%3D{self.schema}"

    def close(self) -> None:
        if self.schema:
            import sqlalchemy as sa

            from conftest import PG_URL
            from truce.config import database_url

            base = sa.create_engine(database_url(PG_URL or ""))
            with base.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            base.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_two_watchers_on_one_database_store_and_run_each_report_once(backend, tmp_path, ctx):
    from truce.db import Database
    from truce.ingest import ingest_paths
    from truce.pipeline import run_pipeline

    store = _Store(backend, tmp_path)
    url = store.url()
    try:
        Database(url).close()  # the schema, before two processes race to create it
        folder = tmp_path / "in"
        folder.mkdir()
        procs = [_watch_proc(folder, url, "--author", f"w{i}") for i in range(2)]
        try:
            db = Database(url)
            _wait_for(lambda: len(db.watcher_health()) == 2)  # both polling
            chunks = [LINES[i:i + 7] for i in range(0, 63, 7)]
            for k, chunk in enumerate(chunks):  # files arrive while both watch
                _drop(folder / f".f{k}.tmp", chunk).rename(folder / f"f{k}.jsonl")
                time.sleep(0.1)
            _wait_for(lambda: len(db.watched_file_rows()) == len(chunks) and db.report_count() == 63
                      and not db.reports_to_extract(ctx.extractor.id))
            time.sleep(1.5)  # the last run's log lines
            outs = []
            for p in procs:
                p.send_signal(signal.SIGTERM)
                out, err = p.communicate(timeout=120)
                assert p.returncode == 0, err[-2000:]
                outs.append(_lines(out))
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        rows = db.watched_file_rows()
        assert len(rows) == len(chunks) and len({r["path"] for r in rows}) == len(chunks)  # each file once
        logged = [x["report_id"] for out in outs for x in out]
        assert len(logged) == len(set(logged)) == 63  # each report run and logged once, by one watcher
        ref = Database(str(tmp_path / "ref.db"))
        p = tmp_path / "ref.jsonl"
        p.write_text("\n".join(LINES[:63]) + "\n", encoding="utf-8")
        ingest_paths(ref, [p], ctx)
        run_pipeline(ref, ctx, author="test")
        assert db.report_count() == ref.report_count() == 63
        assert sorted(c.id for c in db.claims()) == sorted(c.id for c in ref.claims())
        assert sorted(i.id for i in db.incidents()) == sorted(i.id for i in ref.incidents())
        from truce.ledger import verify

        assert verify(db).ok
        db.close()
        ref.close()
    finally:
        store.close()


def test_truce_health_exits_0_only_while_a_watcher_runs(ctx, tmp_path):
    from click.testing import CliRunner

    from truce.cli import cli
    from truce.db import Database

    url = str(tmp_path / "h.db")
    db = Database(url)
    r = CliRunner().invoke(cli, ["health", "--db", url])
    assert r.exit_code == 1 and "no watcher" in r.output
    folder = tmp_path / "in"
    folder.mkdir()
    w, _, _ = _watcher(db, ctx, folder)
    w.cycle()  # running: a heartbeat
    r = CliRunner().invoke(cli, ["health", "--db", url, "--format", "json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["ok"] and rep["watchers"][0]["alive"] and rep["watchers"][0]["last_poll"]
    w.run()  # once: then stopped
    r = CliRunner().invoke(cli, ["health", "--db", url])
    assert r.exit_code == 1 and "stopped" in r.output
    r = CliRunner().invoke(cli, ["watch", "--db", url])
    assert r.exit_code == 2 and "nothing to watch" in r.output


def test_a_fetch_keeps_to_its_size_limit_and_to_http_redirects():
    from truce.errors import FetchError
    from truce.ingest.feeds import fetch_feed

    srv = _FeedServer(FEED.read_bytes())
    try:
        got = fetch_feed(FeedConfig(url=srv.url))
        assert got.status == 200 and got.body == FEED.read_bytes() and got.etag == '"v1"'
        with pytest.raises(FetchError, match="limit"):
            fetch_feed(FeedConfig(url=srv.url, max_bytes=100))
    finally:
        srv.close()

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(FetchError, match="(?i)redirect"):
            fetch_feed(FeedConfig(url=f"http://127.0.0.1:{server.server_address[1]}/x"))
    finally:
        server.shutdown()
        server.server_close()


def test_one_watcher_at_a_time_holds_a_feed_poll(db):
    url = "https://example.org/feed.atom"
    first = db.claim_feed_poll(url, "watcher a", lease=60)
    assert first is not None and first["failures"] == 0 and first["etag"] is None
    assert db.claim_feed_poll(url, "watcher b", lease=60) is None  # a holds it
    db.feed_polled(url, next_poll=time.time() - 1, failures=0, status="200", etag='"x"', entries=3)
    again = db.claim_feed_poll(url, "watcher b", lease=60)  # due again: b may take it
    assert again is not None and again["etag"] == '"x"' and again["entries"] == 3
    assert db.claim_watched_file("/in/a.jsonl", "ab" * 32, 10, 1, reports=1, errors=0, watcher="a")
    assert not db.claim_watched_file("/in/a.jsonl", "ab" * 32, 10, 1, reports=1, errors=0, watcher="b")


def test_json_lines_stay_whole_through_a_full_pipe_and_signals(tmp_path):
    """A line far longer than a pipe's atomic size, written while the reader lags and
    signals arrive, reaches the reader whole (the watcher's log, cut once in CI)."""
    script = tmp_path / "writer.py"
    script.write_text(
        "import signal, sys\n"
        "from truce.watch import json_line\n"
        "signal.signal(signal.SIGUSR1, lambda *a: None)\n"
        "log = json_line(sys.stdout)\n"
        "print('ready', file=sys.stderr, flush=True)\n"
        "for i in range(40):\n"
        "    log({'i': i, 'pad': 'ж' * (20000 + 997 * i)})\n"
        "signal.signal(signal.SIGUSR1, signal.SIG_IGN)\n"
        "log({'end': True})\n", encoding="utf-8")
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    try:
        assert p.stderr is not None and p.stdout is not None
        assert p.stderr.readline().strip() == b"ready"
        chunks: list[bytes] = []
        while True:
            for _ in range(3):  # the pipe stays full: the writer blocks mid-line and is interrupted
                if not chunks or b'{"end": true}' not in chunks[-1]:
                    p.send_signal(signal.SIGUSR1)
                time.sleep(0.002)
            chunk = p.stdout.read1(3000)
            if not chunk:
                break
            chunks.append(chunk)
        assert p.wait(timeout=60) == 0
    finally:
        if p.poll() is None:
            p.kill()
    recs = _lines(b"".join(chunks).decode("utf-8"))
    assert recs.pop() == {"end": True}
    assert [r["i"] for r in recs] == list(range(40))
    assert all(len(r["pad"]) == 20000 + 997 * r["i"] for r in recs)
