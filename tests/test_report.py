"""The situation report renders in headless Chromium with its map, timeline and tables."""

import os
import shutil
import struct
import subprocess

import pytest
from click.testing import CliRunner

from truce.cli import cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def report(demo, tmp_path_factory):
    db = str(demo[0])
    out = tmp_path_factory.mktemp("sitrep") / "sitrep.html"
    r = CliRunner().invoke(cli, ["report", "--db", db, "--agreement", "moratorium-2025-03",
                                 "--from", "2025-03-01", "--to", "2025-05-31", "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_report_is_self_contained(report):
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html and "<link" not in html  # no external resources
    assert html.count("data:image/png;base64,") == 3  # map, timeline, grid outlook
    for heading in ("Status history and evidence", "Map", "Timeline", "Findings", "Impact", "Coverage"):
        assert heading in html
    assert "consistent with violation" in html and "hinges on" in html


def _chromium():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("headless Chromium is required in CI (apt-get install chromium)")
        pytest.skip("headless Chromium is not installed (apt-get install chromium); CI runs this test")
    return CHROMIUM


@pytest.mark.browser
def test_report_renders_in_headless_chromium(report, tmp_path):
    exe = _chromium()
    profile = tmp_path / "profile"
    dom = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", report.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-500:]
    assert dom.stdout.count("<img") == 3 and "Situation report" in dom.stdout  # map, timeline, grid outlook
    assert dom.stdout.count("<tr") > 20
    shot = tmp_path / "shot.png"
    r = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1200,3000",
                        report.as_uri()], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and shot.exists(), r.stderr[-500:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 3000) and len(data) > 50_000  # a blank page compresses to a few KB


def _weasyprint():
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as e:
        if os.environ.get("CI"):
            pytest.fail(f"WeasyPrint is required in CI: {e}")
        pytest.skip(f"WeasyPrint or its system libraries are not installed: {e}")


A4 = (595.28, 841.89)  # points


@pytest.mark.slow
def test_pdf_fits_a4_with_page_numbers_and_contents(report, tmp_path):
    """Rendered with pypdfium2: every page is A4 and everything drawn on it (text, images, rules)
    lies inside the page; pages are numbered; the contents list gives the findings' page."""
    _weasyprint()
    import re

    import pypdfium2 as pdfium

    from truce.outputs.report import write_pdf

    path = write_pdf(report, tmp_path / "r.pdf")
    pdf = pdfium.PdfDocument(str(path))
    n = len(pdf)
    assert 3 <= n <= 25, n  # was 49 pages of clipped tables
    texts = []
    for k in range(n):
        page = pdf[k]
        w, h = page.get_size()
        assert (round(w, 1), round(h, 1)) == (round(A4[0], 1), round(A4[1], 1)), (k, w, h)
        boxes = [obj.get_bounds() for obj in page.get_objects(max_depth=8)]
        tp = page.get_textpage()
        boxes += [tp.get_rect(i) for i in range(tp.count_rects())]
        for left, bottom, right, top in boxes:
            assert -0.5 <= left and right <= w + 0.5 and -0.5 <= bottom and top <= h + 0.5, (k + 1, (left, bottom, right, top))
        text = tp.get_text_range()
        texts.append(text)
        assert f"Page {k + 1} of {n}" in text, k + 1
    first = texts[0]
    assert "Contents" in first
    m = re.search(r"Findings \((\d+)\)[ .]*(\d+)", first)
    assert m, first[:800]
    findings_page = int(m.group(2))
    assert "Findings (" in texts[findings_page - 1] and "consistent with violation" in texts[findings_page - 1]


def test_findings_come_first_and_every_source_has_its_role(report):
    html = report.read_text(encoding="utf-8")
    assert html.index("<h2 id='findings'>") < html.index("<h2 id='not-covered'>")
    table = html[html.index("<h2 id='findings'>"):html.index("<h2 id='not-covered'>")]
    verdicts = [v for v in ("consistent with violation", "contested", "alleged", "indeterminate") if f": {v}<" in table]
    positions = [table.index(f": {v}<") for v in verdicts]
    assert verdicts[0] == "consistent with violation" and positions == sorted(positions)
    assert "not covered<" not in table  # the not-covered findings have their own compact table
    assert "class='role role-claim'>claim<" in table and "class='role role-corroboration'>corroboration<" in table
    assert "<nav class='toc'>" in html and "@page" in html and "counter(page)" in html


def test_a_file_path_is_never_published(sqlite_db, ctx, tmp_path):
    """A report read from a file on the analyst's machine is shown by its file name only."""
    from truce.ingest import ingest_paths
    from truce.outputs.report import build_report
    from truce.outputs.shapes import incidents_json
    from truce.pipeline import run_pipeline

    folder = tmp_path / "home" / "analyst" / "private notes"
    folder.mkdir(parents=True)
    (folder / "burshtyn-2025-03-27.txt").write_text(
        "Published: 2025-03-27\n\nRussian missiles struck the Burshtyn thermal power plant in Ivano-Frankivsk region "
        "overnight, the regional governor said; the plant was seriously damaged.", encoding="utf-8")
    ingest_paths(sqlite_db, [folder], ctx)
    run_pipeline(sqlite_db, ctx)
    rows = incidents_json(sqlite_db)
    assert [x["report_id"] for r in rows for x in r["reports"]] == ["burshtyn-2025-03-27.txt"]
    html = build_report(sqlite_db, ctx)
    assert "burshtyn-2025-03-27.txt" in html
    assert str(tmp_path) not in html and "private notes" not in html and "analyst" not in html.replace("analysts", "")


def test_the_status_table_reads_each_day_and_shows_disagreements(report):
    html = report.read_text(encoding="utf-8")
    table = html[html.index("Status history and evidence"):html.index("<h2 id='map'>")]
    assert "reading of the day" in table
    assert "<b>holds</b>" in table and "<b>yields</b>" in table and "<b>disagreement</b>" in table
    assert "party to the agreement" in table and "the agreement&#x27;s recorded history" in table
