"""Issue #13, defects 8 (terms, ledger files), 9 and 10: outputs are inert and private,
configuration files and exports cannot hang or crash the tools that read them."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from truce import cli as cli_module
from truce.db import Database
from truce.errors import ExtractionError, StorageError, TermsError
from truce.ingest import ingest_paths, make_report
from truce.pipeline import run_pipeline

DEMO = Path(__file__).parents[1] / "src" / "truce" / "data" / "demo" / "reports.jsonl"


def run(*args, **kw):
    return CliRunner().invoke(cli_module.cli, list(args), **kw)


# --- 9: stored XSS and CSV formulas -----------------------------------------------------

HOSTILE_URLS = ["javascript:alert(document.domain)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
                "data:text/html,<script>alert(1)</script>", "java\tscript:alert(1)", "vbscript:x", "//evil.example/x",
                "file:///etc/passwd"]


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory, ctx):
    d = tmp_path_factory.mktemp("xss")
    # one covered incident (the moratorium's window), told by many sources with hostile links,
    # so that its evidence, sources and links are rendered in the findings table
    kherson = ("Вночі {n} російські дрони влучили в підстанцію в Херсоні, частина міста знеструмлена.",
               "A Russian drone attack on the night of 7 to 8 April damaged a substation in Kherson, the UN monitoring mission said. ({n})")
    sources = ["Kherson Oblast Military Administration", "UN HRMMU", "Reuters", "Suspilne", "Ukrainska Pravda",
               "Ukrenergo", "Associated Press", "Kyiv Independent", "=cmd|' /C calc'!A0", "BBC"]
    lines = []
    for i, src in enumerate(sources):
        url = HOSTILE_URLS[i % len(HOSTILE_URLS)] if i % 2 == 0 else f"https://example.org/r{i}?a=1&b='2'"
        lines.append({"id": f"k{i}", "source": src, "published": "2025-04-08", "url": url,
                      "text": kherson[i % 2].format(n=i)})
    lines += [json.loads(x) for x in DEMO.read_text(encoding="utf-8").splitlines()[:6]]
    p = d / "r.jsonl"
    p.write_text("\n".join(json.dumps(o, ensure_ascii=False) for o in lines) + "\n", encoding="utf-8")
    feed = d / "f.rss"
    feed.write_text("<rss><channel><title>@SUM(1+1)*cmd|' /C calc'!A0</title><item><title>t</title>"
                    "<link>javascript:alert('rss')</link><guid>g1</guid><pubDate>Tue, 08 Apr 2025 06:00:00 GMT</pubDate>"
                    "<description>Russian drones damaged a substation in Kherson overnight on 8 April, the governor said."
                    "</description></item></channel></rss>", encoding="utf-8")
    db = Database(str(d / "x.db"))
    assert ingest_paths(db, [p, feed], ctx).ok
    run_pipeline(db, ctx, author="test")
    db.close()
    return d / "x.db"


def test_only_http_links_are_rendered_in_the_report(hostile_db, tmp_path):
    """Defect 9: a report's url (javascript:, data:, also from an RSS <link>) became a
    clickable link in the situation report."""
    out = tmp_path / "r.html"
    r = run("report", "--db", str(hostile_db), "-o", str(out))
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    assert "example.org/r1?" in html
    hrefs = [h.split("'", 1)[0] for h in html.split("href='")[1:]]
    external = [h for h in hrefs if not h.startswith("#")]  # the contents' own anchors
    assert external and all(h.startswith(("https://", "http://")) for h in external), external
    assert "href=\"" not in html
    low = html.lower()
    assert "javascript:" not in low and "data:text/html" not in low and "vbscript:" not in low
    assert "<script" not in low


def test_csv_exports_neutralise_formula_cells(hostile_db, tmp_path):
    """Defect 9: CSV exports wrote =cmd|… and @SUM(…) cells as they were."""
    for args in (["export", "--format", "csv"], ["export", "--format", "acled-csv"], ["incidents", "--format", "csv"]):
        out = tmp_path / "x.csv"
        r = run(*args, "--db", str(hostile_db), "-o", str(out))
        assert r.exit_code == 0, r.output
        cells = [c for row in csv.reader(io.StringIO(out.read_text(encoding="utf-8"))) for c in row]
        assert cells
        bad = [c for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and not c[1:2].isdigit())]
        assert bad == [], (args, bad)
    from truce.safeio import csv_cell
    assert [csv_cell(v) for v in ("=1+1", "@SUM(A1)", "+cmd", "-2+3", "-12.5", "ok", 5, None)] == \
        ["'=1+1", "'@SUM(A1)", "'+cmd", "'-2+3", "-12.5", "ok", 5, None]


# --- 10: credentials, key files, symlinks, caches ----------------------------------------

class Redirector(BaseHTTPRequestHandler):
    target = ""
    seen: list = []

    def do_POST(self):  # noqa: N802
        Redirector.seen.append((self.server.server_address[1], self.path, self.headers.get("Authorization")))
        if self.path.startswith("/v1/") and Redirector.target:
            self.send_response(302)
            self.send_header("Location", Redirector.target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        out = json.dumps({"choices": [{"message": {"content": '{"claims": []}'}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST

    def log_message(self, *a):
        pass


@pytest.fixture
def two_servers():
    servers = [HTTPServer(("127.0.0.1", 0), Redirector) for _ in range(2)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    Redirector.seen = []
    yield [s.server_address[1] for s in servers]
    for s in servers:
        s.shutdown()


def test_the_model_api_key_never_follows_a_redirect_to_another_origin(two_servers, ctx):
    """Defect 10: the model backend forwarded its API key across a redirect to another host."""
    from truce.extract.llm import LLMExtractor

    a, b = two_servers
    rep = make_report(text="Drones hit a refinery.", external_id="r", sources=ctx.sources)
    Redirector.target = f"http://127.0.0.1:{b}/elsewhere"
    LLMExtractor(ctx.services, f"http://127.0.0.1:{a}/v1", api_key="SECRET-KEY").extract(rep)
    assert Redirector.seen[0] == (a, "/v1/chat/completions", "Bearer SECRET-KEY")
    assert Redirector.seen[1] == (b, "/elsewhere", None)  # followed, without the key
    Redirector.seen = []
    Redirector.target = f"http://127.0.0.1:{a}/same-origin"
    LLMExtractor(ctx.services, f"http://127.0.0.1:{a}/v1", api_key="SECRET-KEY").extract(rep)
    assert Redirector.seen[1] == (a, "/same-origin", "Bearer SECRET-KEY")
    Redirector.target = "file:///etc/passwd"
    with pytest.raises(ExtractionError, match="HTTP 302"):
        LLMExtractor(ctx.services, f"http://127.0.0.1:{a}/v1", api_key="SECRET-KEY").extract(rep)
    Redirector.target = ""


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://x", "127.0.0.1:8080/v1",
                                 "http://user:pw@127.0.0.1/v1"])
def test_the_model_url_must_be_http(ctx, url):
    from truce.extract.llm import LLMExtractor

    with pytest.raises(ExtractionError):
        LLMExtractor(ctx.services, url)


@pytest.mark.parametrize("url", ["postgresql+nosuchdriver://alice:hunter2@db/x", "postgres://alice:hunter2@/x?sslmode=bogus",
                                 "mysql://alice:hunter2@127.0.0.1:1/x"])
def test_a_misspelled_database_url_never_echoes_the_password(url):
    """Defect 10: a misspelled database URL echoed the password in the error."""
    with pytest.raises(StorageError) as e:
        Database(url)
    assert "hunter2" not in str(e.value)
    if "nosuchdriver" in url or "mysql" in url:
        assert "alice:***@" in str(e.value)
    r = run("incidents", "--db", url)
    assert r.exit_code == 1 and "hunter2" not in r.output


def test_keygen_creates_the_key_0600_and_never_through_a_link(tmp_path):
    """Defect 10: `ledger keygen` created the key world-readable before tightening it, and
    wrote through a dangling symlink."""
    old = os.umask(0o022)
    try:
        key = tmp_path / "k.pem"
        r = run("ledger", "keygen", "--out", str(key))
        assert r.exit_code == 0, r.output
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        target = tmp_path / "planted.pem"
        link = tmp_path / "link.pem"
        link.symlink_to(target)  # dangling
        r = run("ledger", "keygen", "--out", str(link))
        assert r.exit_code == 1 and "exists" in r.output and not target.exists()
        from truce.ledger import generate_key
        with pytest.raises(FileExistsError):
            generate_key(link)
        assert not target.exists()
    finally:
        os.umask(old)


def test_outputs_are_written_atomically_and_replace_a_symlink_instead_of_following_it(hostile_db, tmp_path):
    """Defect 10: outputs followed symlinks and were not written atomically."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    for args in (["incidents", "--format", "json"], ["export", "--format", "csv"], ["ledger", "export"],
                 ["export", "--format", "parquet"]):
        out = tmp_path / "out.file"
        if out.exists() or out.is_symlink():
            out.unlink()
        out.symlink_to(victim)
        r = run(*args, "--db", str(hostile_db), "-o", str(out))
        assert r.exit_code == 0, (args, r.output)
        assert victim.read_text(encoding="utf-8") == "precious", args
        assert not out.is_symlink() and out.stat().st_size > 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]  # no temporary file left


def test_caches_cannot_run_code(tmp_path, monkeypatch, ctx):
    """Defect 10: the gazetteer caches were pickles (a planted file ran code)."""
    from truce.outputs import maps
    from truce.reference import gazetteer as gz
    monkeypatch.setenv("TRUCE_CACHE_DIR", str(tmp_path))
    gz._geonames_places(gz.read_regions(), cache=True)  # writes the settlements' cache
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files and all(f.endswith(".json") for f in files)
    # a planted or damaged cache file is data at worst: refused (then rebuilt), never executed
    planted = b"cos\nsystem\n(S'touch " + str(tmp_path / "pwned").encode() + b"'\ntR."
    for p in list(tmp_path.iterdir()) + [tmp_path / "index.json"]:
        p.write_bytes(planted)
    assert gz._load_places(tmp_path / files[0]) is None and gz._load_index(tmp_path / "index.json") is None
    (tmp_path / "index.json").write_text('{"format": "truce-gazetteer-index/1", "entries": [[1]]}', encoding="utf-8")
    assert gz._load_index(tmp_path / "index.json") is None
    assert gz._geonames_places(gz.read_regions(), cache=True)  # rebuilt
    assert not (tmp_path / "pwned").exists()
    assert not maps._well_formed({"features": [{"geometry": "x"}]})
    for mod in (gz, maps):
        assert "pickle" not in Path(mod.__file__).read_text(encoding="utf-8")


# --- 8: terms files and ledger exports ---------------------------------------------------

def _terms(tmp_path, text):
    p = tmp_path / "t.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_an_impossible_date_in_terms_is_a_one_line_error(tmp_path):
    """Defect 8: an unquoted impossible date in a terms YAML raised a traceback."""
    from truce.reference.terms import load_agreement

    p = _terms(tmp_path, "id: x\ntitle: Some pause\nparties: [UA, RU]\nstatus_history:\n"
                         "  - {status: in_force, date: 2025-02-30}\ncommitments: []\n")
    with pytest.raises(TermsError, match=r"t\.yaml:5: invalid YAML: impossible date '2025-02-30'"):
        load_agreement(p)
    shipped = (Path(__file__).parents[1] / "src" / "truce" / "data" / "agreements" / "qatar-2024.yaml").read_text(encoding="utf-8")
    q = _terms(tmp_path, shipped.replace("date: 2024-08-17", "date: '2024-08-32'"))  # quoted: past the YAML reader
    with pytest.raises(TermsError, match=r"t\.yaml: status_history\[1\]\.date: impossible date '2024-08-32'"):
        load_agreement(q)


def test_a_yaml_alias_bomb_in_terms_is_refused_at_once(tmp_path):
    """Defect 8: a 2 KB YAML alias bomb in a terms file ran without end."""
    from truce.reference.terms import load_agreement

    rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, (x, y) in enumerate(zip("abcdefghi", "bcdefghij")):
        rows.append(f"{y}: &{y} [" + ",".join([f"*{x}"] * 9) + "]")
    p = _terms(tmp_path, "\n".join(rows) + "\nid: x\n")
    assert p.stat().st_size < 2500
    import time
    t = time.perf_counter()
    with pytest.raises(TermsError, match=r"t\.yaml:2: invalid YAML: aliases \(\*name\) are not allowed"):
        load_agreement(p)
    assert time.perf_counter() - t < 1


@pytest.mark.parametrize("content", [
    b"", b"\xff\xfe garbage", b"[1, 2, 3]\n", b'{"head": [], "signed": 1}\n', b'"just a string"\n',
    b'{"head": {"head_seq": "7"}, "signed": "{\\"head_seq\\":\\"7\\"}"}\n',
    b'{"head": {}, "signed": "{}"}\n[]\n', b'{"head": {}, "signed": "{}"}\n{"seq": "1"}\n',
    b'{"head": {}, "signed": "{}"}\n' + b"[" * 100_000 + b"\n",
    b'{"head": {}, "signed": "{}"}\n\xff\n',
    b'{"head": {}, "signed": "{}"}\n{"seq": 1, "kind": "x", "subject": "s", "payload": "\\ud800", "author": "a",'
    b' "created_at": "t", "prev_hash": "' + b"0" * 64 + b'", "hash": "h"}\n',
    b'{"head": {}, "signed": "{}", "signature": 5}\n',
    b'{"head": {}, "signed": "{}", "signature": "!!", "public_key": ["x"]}\n'])
def test_malformed_ledger_exports_fail_verification_without_a_traceback(tmp_path, content):
    """Defect 8: malformed ledger export files crashed `ledger verify --file`."""
    p = tmp_path / "ledger.jsonl"
    p.write_bytes(content)
    r = run("ledger", "verify", "--file", str(p))
    assert r.exit_code == 1 and r.exception is None or isinstance(r.exception, SystemExit), r.output
    assert "ledger broken:" in r.output and "Traceback" not in r.output


def test_terms_with_a_surrogate_or_deep_nesting_are_one_line_errors_at_once(tmp_path):
    """Found by benchmarks/fuzz.py: "\\ud800" in a double-quoted YAML string crashed the
    terms digest; 3,000 nested "{" took seconds of recursion before failing."""
    import time

    from truce.reference.terms import load_agreement

    shipped = (Path(__file__).parents[1] / "src" / "truce" / "data" / "agreements" / "qatar-2024.yaml").read_text(encoding="utf-8")
    p = _terms(tmp_path, shipped.replace("title: ", 'title: "\\ud800" # ', 1))
    with pytest.raises(TermsError) as e:
        load_agreement(p)
    str(e.value).encode("utf-8")  # printable
    p = _terms(tmp_path, "{" * 6000)
    t = time.perf_counter()
    with pytest.raises(TermsError, match="nested too deeply"):
        load_agreement(p)
    assert time.perf_counter() - t < 0.5


def test_an_error_about_a_file_whose_name_is_not_utf8_prints(tmp_path, ctx):
    name = os.fsdecode(b"r\xff.txt")  # a surrogate escape in the str
    (tmp_path / name).write_bytes(b"\xff\xfe not text")
    r = run("ingest", str(tmp_path / name), "--db", str(tmp_path / "x.db"))
    assert r.exit_code == 1 and "not UTF-8" in r.output and r.exception is None or isinstance(r.exception, SystemExit)


def test_a_number_of_thousands_of_digits_in_terms_is_a_one_line_error(tmp_path):
    """Found by benchmarks/fuzz.py: PyYAML's int() on 5,000 digits raised ValueError."""
    from truce.reference.terms import load_agreement

    with pytest.raises(TermsError, match=r"t\.yaml:1: invalid YAML: number too long \(5000 digits\)"):
        load_agreement(_terms(tmp_path, "id: " + "9" * 5000 + "\n"))
