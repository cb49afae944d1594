"""Agreements are data: a new agreement written only as YAML (following
docs/agreements.md) gets negotiation claims, a status history and findings
from reports that name it, with no code change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from truce.config import Settings
from truce.context import load_context
from truce.db import Database
from truce.ingest import ingest_paths
from truce.pipeline import run_pipeline

EASTER = """\
id: easter-truce-2027
title: Easter truce on strikes on energy infrastructure (April 2027)
parties: [RU, UA]
mediators: [VA]
names:
  en: [Easter truce, Easter ceasefire]
  uk: [великоднє перемир'я]
  ru: [пасхальное перемирие]
status_history:
  - {status: proposed, date: 2027-04-12, source: "mediator's proposal"}
  - {status: in_force, date: 2027-04-17, source: "both parties' statements"}
  - {status: expired, date: 2027-04-20, source: "end of the window"}
commitments:
  - id: no-energy-strikes-over-easter
    bound: [RU, UA]
    prohibited: strike
    territory: [UA, RU]
    assets: [refinery, oil_depot, thermal_plant, chp, substation, hydro_plant]
    window: {start: 2027-04-17, end: 2027-04-19}
"""

REPORTS = [
    {"id": "e1", "published": "2027-04-16", "source": "Reuters", "language": "en",
     "text": "Kyiv and Moscow said on Friday they would observe an Easter truce on strikes on energy facilities "
             "from Saturday, after mediation by the Holy See. The Easter ceasefire enters into force on 17 April."},
    {"id": "e2", "published": "2027-04-18", "source": "Ukrenergo", "language": "uk",
     "text": "У ніч на 18 квітня російські дрони атакували Бурштинську ТЕС на Івано-Франківщині, виникла пожежа. "
             "Росія порушила великоднє перемир'я, заявили в Міністерстві енергетики."},
    {"id": "e3", "published": "2027-04-18", "source": "Associated Press", "language": "en",
     "text": "Russian drones struck the Burshtyn thermal power plant in western Ukraine overnight, starting a fire, "
             "Ukrainian officials said, accusing Moscow of violating the Easter truce."},
    # months later, outside any reporting period: linked by the name alone
    {"id": "e4", "published": "2027-11-02", "source": "Kyiv Independent", "language": "en",
     "text": "Ukraine proposed to revive the Easter truce on strikes on energy infrastructure for the winter, "
             "the foreign minister said, calling on the mediators to arrange talks."},
]


@pytest.mark.slow
def test_an_agreement_written_only_as_yaml_is_tracked(tmp_path: Path) -> None:
    terms = tmp_path / "easter.yaml"
    terms.write_text(EASTER, encoding="utf-8")
    reports = tmp_path / "reports.jsonl"
    reports.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in REPORTS), encoding="utf-8")
    ctx = load_context(Settings(agreements=(str(terms),)))
    assert "easter-truce-2027" in {a.id for a in ctx.agreements}
    with Database(memory=True) as db:
        ingest_paths(db, [reports], ctx)
        run_pipeline(db, ctx, author="test")
        claims = db.claims()
        about = [c for c in claims if c.kind == "negotiation" and c.agreement_id == "easter-truce-2027"]
        assert about, [(c.kind, c.agreement_id) for c in claims]
        assert all(c.mediator == "VA" for c in about)  # the agreement's principal mediator, from the YAML
        ext = {r.id: r.external_id for r in db.reports()}
        assert "e4" in {ext[c.report_id] for c in about}
        history = db.agreement_status("easter-truce-2027")
        assert [h.status for h in history if h.origin == "terms"] == ["proposed", "in_force", "expired"]
        assert any(h.origin == "report" for h in history)
        findings = {f.incident_id: f for f, _ in db.findings("easter-truce-2027")}
        (burshtyn,) = [i for i in db.incidents() if i.facility_id == "ua-burshtyn-tpp"]
        f = findings[burshtyn.id]
        assert f.verdict in ("consistent_with_violation", "alleged"), (f.verdict, f.trace)
        assert any(t.clause.startswith("easter-truce-2027/") for t in f.trace)
        accusations = [c for c in claims if c.kind == "accusation"]
        assert any(c.accuser == "UA" and c.accused == "RU" for c in accusations)
