"""The web API in process: the command line's shapes and filters, cursor pagination, the one
error shape, roles, and the review workflow (propose, sign, publish) recorded in the ledger."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from truce.db import Database
from truce.ledger import verify
from truce.outputs.query import Filters
from truce.outputs.shapes import findings_json, incidents_json
from truce.web import create_app
from truce.reference.terms import load_agreements
from web_support import web_database

pytestmark = pytest.mark.slow  # over a copy of the demo database (tests/test_web_smoke.py is the quick one)


@pytest.fixture(scope="module")
def web(demo, tmp_path_factory):
    path, tokens = web_database(demo[0], tmp_path_factory.mktemp("web"))
    app = create_app(str(path))
    with TestClient(app) as client:
        yield client, tokens, path


def bearer(tokens, name):
    return {"Authorization": f"Bearer {tokens[name]}"}


def test_incidents_are_the_command_lines_shape(web):
    client, tokens, path = web
    with Database(str(path)) as db:
        cli_rows = incidents_json(db)
    r = client.get("/api/v1/incidents?limit=1000", headers=bearer(tokens, "olena"))
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["next_cursor"] is None
    assert r.json()["items"] == cli_rows
    one = client.get(f"/api/v1/incidents/{cli_rows[0]['id']}", headers=bearer(tokens, "olena")).json()
    assert one["incident"] == cli_rows[0]
    assert {f["agreement_id"] for f in one["findings"]} == set(cli_rows[0]["verdicts"])


def test_an_incident_list_reads_its_stamps_with_the_page(web, monkeypatch):
    client, tokens, path = web
    with Database(str(path)) as db:
        cli_rows = incidents_json(db)

    def refused(self, ids):
        raise AssertionError("incident_stamps read again")

    monkeypatch.setattr(Database, "incident_stamps", refused)
    r = client.get("/api/v1/incidents?limit=7", headers=bearer(tokens, "olena"))
    assert r.status_code == 200 and r.json()["items"] == cli_rows[:7]
    assert all(item["updated_at"] for item in r.json()["items"])


def test_filters_select_what_the_command_line_selects(web):
    client, tokens, path = web
    f = Filters(countries=("RU",), grades=("confirmed", "fair"))
    with Database(str(path)) as db:
        want = [r["id"] for r in incidents_json(db, f)]
        findings_want = [(r["incident_id"], r["agreement_id"]) for r in findings_json(
            db, filters=Filters(agreements=("moratorium-2025-03",), verdicts=("indeterminate", "contested")))]
    got = client.get("/api/v1/incidents?country=RU&grade=confirmed&grade=fair&limit=500", headers=bearer(tokens, "olena"))
    assert [r["id"] for r in got.json()["items"]] == want and want
    fr = client.get("/api/v1/findings?agreement=moratorium-2025-03&verdict=indeterminate&verdict=contested&limit=500",
                    headers=bearer(tokens, "olena")).json()
    assert [(r["incident_id"], r["agreement_id"]) for r in fr["items"]] == findings_want and findings_want
    with Database(str(path)) as db:
        by_place = [(r["incident_id"], r["agreement_id"]) for r in findings_json(
            db, filters=Filters(countries=("RU",), grades=("confirmed",), agreements=("moratorium-2025-03",)))]
    got_place = client.get("/api/v1/findings?country=RU&grade=confirmed&agreement=moratorium-2025-03&limit=500",
                           headers=bearer(tokens, "olena")).json()["items"]
    assert [(r["incident_id"], r["agreement_id"]) for r in got_place] == by_place and by_place
    named = client.get("/api/v1/incidents?region=Kyiv%20Oblast&from=01.03.2025&to=2025-04", headers=bearer(tokens, "olena"))
    assert named.status_code == 200
    assert all(r["region_code"] == "UA-32" and "2025-03-01" <= r["date"] <= "2025-04-30" for r in named.json()["items"])


def test_cursor_pages_walk_the_whole_list(web):
    client, tokens, _ = web
    full = [r["id"] for r in client.get("/api/v1/incidents?limit=1000", headers=bearer(tokens, "olena")).json()["items"]]
    for order, expect in (("asc", full), ("desc", None)):
        seen, cursor = [], None
        while True:
            q = f"/api/v1/incidents?limit=7&order={order}" + (f"&cursor={cursor}" if cursor else "")
            page = client.get(q, headers=bearer(tokens, "olena")).json()
            seen += [r["id"] for r in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert len(seen) == len(set(seen)) == len(full)
        if expect is not None:
            assert seen == expect
    fseen, cursor = [], None
    while True:
        page = client.get("/api/v1/findings?limit=40" + (f"&cursor={cursor}" if cursor else ""),
                          headers=bearer(tokens, "olena")).json()
        fseen += [(r["incident_id"], r["agreement_id"]) for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(fseen) == len(set(fseen)) == 3 * len(full)


@pytest.mark.parametrize("path, status, words", [
    ("/api/v1/incidents?cursor=not-a-cursor", 400, "not a cursor"),
    ("/api/v1/incidents?from=2025-02-30", 400, "February 2025 has 28 days"),
    ("/api/v1/incidents?agreement=nope", 400, "unknown agreement 'nope'"),
    ("/api/v1/incidents?region=Atlantis", 400, "unknown region 'Atlantis'"),
    ("/api/v1/incidents?limit=0", 422, "limit"),
    ("/api/v1/incidents?grade=excellent", 422, "grade"),
    ("/api/v1/incidents/inc-0000", 404, "no incident"),
    ("/api/v1/agreements/nope", 404, "no agreement"),
    ("/api/v1/agreements/nope/status", 404, "no agreement"),
    ("/api/v1/agreements/moratorium-2025-03/status?cursor=xyz", 400, "cursor"),
    ("/api/v1/nothing-here", 404, "Not Found"),
])
def test_one_error_shape(web, path, status, words):
    client, tokens, _ = web
    r = client.get(path, headers=bearer(tokens, "olena"))
    assert r.status_code == status
    body = r.json()
    assert set(body) == {"ok", "error", "status"} and body["ok"] is False and body["status"] == status
    assert words in body["error"]


def test_the_public_sees_only_what_a_lead_published(web):
    client, tokens, path = web
    assert client.get("/api/v1/incidents").json()["items"] == []
    assert client.get("/api/v1/incidents", headers=bearer(tokens, "vera")).json()["items"] == []
    assert client.get("/api/v1/findings").json()["items"] == []
    analyst = client.get("/api/v1/findings?verdict=consistent_with_violation", headers=bearer(tokens, "olena")).json()
    target = analyst["items"][0]
    iid, aid = target["incident_id"], target["agreement_id"]
    assert client.get(f"/api/v1/incidents/{iid}").status_code == 404
    assert client.get(f"/incidents/{iid}").status_code == 404

    # an analyst proposes, a lead other than the author signs, a lead publishes
    review = {"incident_id": iid, "agreement_id": aid, "verdict": "alleged", "note": "attribution rests on one side"}
    assert client.post("/api/v1/reviews", json=review).status_code == 401
    assert client.post("/api/v1/reviews", json=review, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/api/v1/reviews", json=review, headers=bearer(tokens, "vera")).status_code == 403
    r = client.post("/api/v1/reviews", json=review, headers=bearer(tokens, "olena"))
    assert r.status_code == 201, r.text
    seq = r.json()["entry"]["seq"]
    assert client.post(f"/api/v1/reviews/{seq}/signoff", headers=bearer(tokens, "olena")).status_code == 403
    own = client.post("/api/v1/reviews", json=review, headers=bearer(tokens, "lev")).json()["entry"]["seq"]
    assert client.post(f"/api/v1/reviews/{own}/signoff", headers=bearer(tokens, "lev")).status_code == 409
    s = client.post(f"/api/v1/reviews/{seq}/signoff", headers=bearer(tokens, "lev"))
    assert s.status_code == 201 and s.json()["entry"]["author"] == "lev"
    assert client.post(f"/api/v1/reviews/{seq}/signoff", headers=bearer(tokens, "lida")).status_code == 409
    pub = {"incident_id": iid, "agreement_id": aid}
    assert client.post("/api/v1/publications", json=pub, headers=bearer(tokens, "olena")).status_code == 403
    p = client.post("/api/v1/publications", json=pub, headers=bearer(tokens, "lev"))
    assert p.status_code == 201, p.text

    seen = client.get("/api/v1/incidents").json()["items"]
    assert [i["id"] for i in seen] == [iid] and set(seen[0]["verdicts"]) == {aid}
    assert [f["incident_id"] for f in client.get("/api/v1/findings").json()["items"]] == [iid]
    assert client.get(f"/incidents/{iid}").status_code == 200
    reviews = client.get(f"/api/v1/reviews?incident={iid}&agreement={aid}", headers=bearer(tokens, "olena")).json()["items"]
    mine = next(x for x in reviews if x["seq"] == seq)
    assert mine["author"] == "olena" and mine["signoff"]["by"] == "lev"
    with Database(str(path)) as db:
        assert verify(db).ok
        kinds = [(e.kind, e.author) for e in db.ledger_entries()[-4:]]
    assert kinds == [("review", "olena"), ("review", "lev"), ("signoff", "lev"), ("publish", "lev")]
    assert client.get("/api/v1/ledger/verify").json()["intact"] is True


def test_page_writes_need_a_session_and_its_csrf_token(web):
    client, tokens, _ = web
    with TestClient(client.app) as c:
        iid = c.get("/api/v1/incidents?limit=1", headers=bearer(tokens, "olena")).json()["items"][0]["id"]
        form = {"agreement": "moratorium-2025-03", "verdict": "alleged", "note": "n"}
        assert c.post(f"/incidents/{iid}/reviews", data=form, follow_redirects=False).status_code == 401
        page = c.get("/login").text
        token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        bad = c.post("/login", data={"name": "olena", "secret": "olena-password", "csrf": "forged"}, follow_redirects=False)
        assert bad.status_code == 403
        wrong = c.post("/login", data={"name": "olena", "secret": "nope", "csrf": token}, follow_redirects=False)
        assert wrong.status_code == 401
        ok = c.post("/login", data={"name": "olena", "secret": "olena-password", "csrf": token}, follow_redirects=False)
        assert ok.status_code == 303
        page = c.get(f"/incidents/{iid}").text
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        assert c.post(f"/incidents/{iid}/reviews", data=form, follow_redirects=False).status_code == 403
        assert c.post(f"/incidents/{iid}/reviews", data={**form, "csrf": "x" + csrf}, follow_redirects=False).status_code == 403
        done = c.post(f"/incidents/{iid}/reviews", data={**form, "csrf": csrf}, follow_redirects=False)
        assert done.status_code == 303
        assert "olena" in c.get(done.headers["location"]).text


def test_pages_render_in_three_languages(web):
    client, tokens, _ = web
    h = bearer(tokens, "olena")
    assert "Overview" in client.get("/", headers=h).text
    uk = client.get("/?lang=uk", headers=h)
    assert uk.headers["content-language"] == "uk" and "Огляд" in uk.text and "<html lang=\"uk\">" in uk.text
    client.cookies.clear()  # ?lang= is remembered in a cookie; without one, Accept-Language decides
    ru = client.get("/agreements/moratorium-2025-03", headers={**h, "Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    def plain(t):  # CLDR puts narrow no-break spaces in dates
        return t.replace("\u202f", " ").replace("\xa0", " ")

    assert ru.headers["content-language"] == "ru" and "Обзор" in ru.text and "18 мар. 2025 г." in plain(ru.text)
    assert "18 бер. 2025 р." in plain(client.get("/agreements/moratorium-2025-03?lang=uk", headers=h).text)
    for page in ("/search?what=findings&verdict=contested", "/ledger", "/login", "/facilities/ru-norsi-refinery"):
        assert client.get(page + ("&" if "?" in page else "?") + "lang=ru", headers=h).status_code == 200


def test_security_headers_keep_scripts_to_our_own(web):
    client, _, _ = web
    csp = client.get("/").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert client.get("/static/leaflet/leaflet.js").status_code == 200
    assert client.get("/static/markercluster/leaflet.markercluster.js").status_code == 200


def test_openapi_documents_every_route(web):
    client, _, _ = web
    doc = client.get("/openapi.json").json()
    paths = set(doc["paths"])
    for p in ("/api/v1/incidents", "/api/v1/incidents/{incident_id}", "/api/v1/findings", "/api/v1/agreements",
              "/api/v1/facilities", "/api/v1/reports/{report_id}", "/api/v1/ledger/head", "/api/v1/ledger/verify",
              "/api/v1/reviews", "/api/v1/reviews/{seq}/signoff", "/api/v1/publications", "/api/v1/updates",
              "/api/v1/agreements/{agreement_id}/status"):
        assert p in paths
    assert doc["paths"]["/api/v1/reviews"]["post"]["security"] == [{"bearer": []}]


def test_an_agreements_long_status_history_lists_the_record_and_the_latest(web, monkeypatch):
    from truce.web import views

    client, tokens, path = web
    h = bearer(tokens, "olena")
    whole = client.get("/agreements/moratorium-2025-03?lang=en", headers=h).text
    rows = whole.count("<blockquote>")
    assert "observations shown" not in whole
    monkeypatch.setattr(views, "HISTORY_SHOWN", 1)
    cut = client.get("/agreements/moratorium-2025-03?lang=en", headers=h).text
    with Database(str(path), create=False) as db:
        total = sum(len(p) for p in db.agreement_status_pages("moratorium-2025-03"))
    terms = len({a.id: a for a in load_agreements()}["moratorium-2025-03"].statuses())
    assert total > terms + 1 and cut.count("<blockquote>") == rows - (total - terms - 1)
    assert f"{terms + 1} of {total} observations shown" in cut
    uk = client.get("/agreements/moratorium-2025-03?lang=uk", headers=h).text
    assert f"Показано {terms + 1} із {total} спостережень" in uk


def test_the_api_lists_an_agreements_history_summarised_and_pages_through_all_of_it(web, monkeypatch):
    from truce.web import views

    client, tokens, path = web
    h = bearer(tokens, "olena")
    with Database(str(path), create=False) as db:
        every = [s.to_dict() for p in db.agreement_status_pages("moratorium-2025-03") for s in p]
    terms = len({a.id: a for a in load_agreements()}["moratorium-2025-03"].statuses())
    whole = client.get("/api/v1/agreements/moratorium-2025-03", headers=h).json()["agreement"]
    assert whole["status_observations"] == len(every) > terms + 1
    assert sorted(map(str, whole["status_history"])) == sorted(map(str, every))
    assert sum(c["count"] for c in whole["status_counts"]) == len(every)
    monkeypatch.setattr(views, "HISTORY_SHOWN", 1)
    cut = client.get("/api/v1/agreements/moratorium-2025-03", headers=h).json()["agreement"]
    assert len(cut["status_history"]) == terms + 1 and cut["status_observations"] == len(every)
    latest = max((s for s in every if s["origin"] != "terms"), key=lambda s: (s["date"] or "", s["claim_id"]))
    assert latest in cut["status_history"]
    for limit in (1, 2, 7, 1000):
        got, cursor = [], None
        while True:
            page = client.get("/api/v1/agreements/moratorium-2025-03/status", headers=h,
                              params={"limit": limit, **({"cursor": cursor} if cursor else {})}).json()
            assert len(page["items"]) <= limit
            got += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert got == every
