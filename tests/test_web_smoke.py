"""The web app in a second, on SQLite and PostgreSQL: a few incidents stored directly, the
public and an analyst, the error shape, a page in each language. (The thorough tests run
over the demo: test_web_api.py, test_web_schema.py, test_web_browser.py, marked slow.)"""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from truce.records import ClaimLink, Finding, Incident, TraceStep
from truce.web import create_app
from truce.web.auth import add_user


def _store(db):
    incidents = [Incident(id=f"inc-{k}", kind="strike", date=f"2025-03-{10 + k:02d}", date_precision="day", country="RU",
                          region_code="RU-BEL", region="Belgorod Oblast", facility_id=None, facility_name=None,
                          facility_type="substation", attacker="UA", attacker_basis="stated", weapon="drone", outcome="hit",
                          grade="weak", lat=50.6, lon=36.6,
                          claims=(ClaimLink(claim_id=f"{'a' * 64}:{k}", report_id=f"r-{k}", joined_because="one report"),),
                          report_ids=(f"r-{k}",)) for k in range(3)]
    db.replace_incidents(incidents)
    db.replace_findings([(f, f.digest()) for f in (
        Finding(incident_id=i.id, agreement_id="moratorium-2025-03", verdict="alleged",
                trace=(TraceStep("c", "inside the window", i.date or "", "pass"),)) for i in incidents)])


@pytest.mark.postgres
def test_the_app_answers_on_each_backend(db):
    _store(db)
    token = add_user(db, "olena", "analyst")
    with TestClient(create_app(db)) as c:
        assert c.get("/api/v1/incidents").json() == {"ok": True, "items": [], "next_cursor": None}
        h = {"Authorization": f"Bearer {token}"}
        page = c.get("/api/v1/incidents?limit=2&grade=weak", headers=h).json()
        assert [i["id"] for i in page["items"]] == ["inc-0", "inc-1"] and page["next_cursor"]
        rest = c.get(f"/api/v1/incidents?limit=2&grade=weak&cursor={page['next_cursor']}", headers=h).json()
        assert [i["id"] for i in rest["items"]] == ["inc-2"] and rest["next_cursor"] is None
        assert c.get("/api/v1/incidents/inc-1", headers=h).json()["incident"]["verdicts"] == {"moratorium-2025-03": "alleged"}
        assert c.get("/api/v1/incidents/inc-1").json() == {"ok": False, "error": "no incident 'inc-1' (among published findings)",
                                                           "status": 404}
        assert c.post("/api/v1/reviews", json={}).status_code == 401
        for lang, word in (("en", "Overview"), ("uk", "Огляд"), ("ru", "Обзор")):
            r = c.get(f"/incidents/inc-1?lang={lang}", headers=h)
            assert r.status_code == 200 and word in r.text
