"""An agreement's status history resolves same-day conflicts by the source's standing (party to
the agreement, mediator, official body, media) and shows disagreements as disagreements (issue #11)."""

from collections import Counter
from pathlib import Path

import pytest

from truce.evaluate import status_history
from truce.records import Claim, Evidence
from truce.reference.terms import load_agreements

DEMO = Path(__file__).parents[1] / "src" / "truce" / "data" / "demo" / "reports.jsonl"
M = {a.id: a for a in load_agreements()}["moratorium-2025-03"]
SOURCES = {  # report id → (source, kind, affiliation)
    "kremlin": ("Kremlin", "party_official", "RU"),
    "zelensky": ("President of Ukraine", "party_official", "UA"),
    "wh": ("The White House", "mediator", "international"),
    "dtek": ("DTEK", "operator", "UA"),
    "tass": ("TASS", "wire", "RU"),
    "reu": ("Reuters", "wire", "neutral"),
}


def said(rid: str, status: str, date: str, i: int = 0) -> Claim:
    return Claim(report_id=rid, index=i, kind="negotiation", date=date, date_precision="day", status=status,
                 agreement_id=M.id, parties=("RU", "UA"), evidence=(Evidence(0, 5, "words"),))


def history(*claims: Claim):
    rids = {c.report_id for c in claims}
    rows = status_history(M, claims, {r: (r, SOURCES[r][0]) for r in rids}, {r: SOURCES[r][1:] for r in rids})
    return {(r.claim_id, r.status): r for r in rows if r.origin == "report" or r.date == claims[0].date}


def test_agreed_and_expired_on_one_day_resolved_by_standing():
    rows = history(said("dtek", "agreed", "2025-04-10"), said("kremlin", "expired", "2025-04-10"))
    kremlin, dtek = rows[("kremlin:0", "expired")], rows[("dtek:0", "agreed")]
    assert (kremlin.standing, kremlin.reading) == ("party", "holds")
    assert (dtek.standing, dtek.reading) == ("official", "yields")
    assert dtek.reading_note == "yields to expired per Kremlin (party to the agreement) on 2025-04-10"
    assert kremlin.reading_note == "holds on 2025-04-10 over agreed per DTEK (official body)"


def test_the_parties_disagreeing_is_shown_as_a_disagreement():
    rows = history(said("zelensky", "in_force", "2025-04-10"), said("kremlin", "suspended", "2025-04-10"),
                   said("reu", "expired", "2025-04-10"))
    assert rows[("zelensky:0", "in_force")].reading == "disagreement"
    assert rows[("kremlin:0", "suspended")].reading == "disagreement"
    assert rows[("zelensky:0", "in_force")].reading_note == (
        "sources of equal standing disagree on 2025-04-10: in_force per President of Ukraine (party to the agreement) "
        "against suspended per Kremlin (party to the agreement)")
    reu = rows[("reu:0", "expired")]
    assert reu.reading == "yields" and reu.reading_note.startswith("yields to sources of higher standing, who disagree")


def test_one_report_read_as_suspended_and_violated_is_a_disagreement_not_a_status():
    rows = history(said("tass", "suspended", "2025-04-09"), said("tass", "violated_alleged", "2025-04-09", 1))
    assert {r.reading for r in rows.values()} == {"disagreement"}


def test_the_recorded_history_outranks_a_report_and_compatible_statuses_are_no_conflict():
    rows = status_history(M, [said("wh", "proposed", "2025-03-18"), said("reu", "in_force", "2025-03-20")],
                          {"wh": ("wh", "The White House"), "reu": ("reu", "Reuters")},
                          {"wh": ("mediator", "international"), "reu": ("wire", "neutral")})
    day = [r for r in rows if r.date == "2025-03-18"]
    terms = [r for r in day if r.origin == "terms"]
    assert [(r.status, r.reading) for r in terms] == [("agreed", "holds"), ("in_force", "holds")]
    (wh,) = [r for r in day if r.origin == "report"]
    assert wh.reading == "yields" and "the agreement's recorded history" in wh.reading_note
    assert all(r.reading is None for r in rows if r.date != "2025-03-18")  # one status a day: nothing to resolve


# --- the status stage reads a page of whole days at a time ----------------------------------------

def _reference(db, ctx):
    """The histories computed at once from every negotiation claim (what the stage must store)."""
    import dataclasses

    from truce import evaluate
    from truce.pipeline import report_meta

    claims = db.claims(kinds=["negotiation"])
    meta = report_meta(db, {c.report_id for c in claims})
    ext = {rid: (m.external_id, m.source) for rid, m in meta.items()}
    kinds = {rid: (m.source_kind, m.affiliation) for rid, m in meta.items()}
    rows = [r for a in ctx.agreements for r in evaluate.status_history(a, claims, ext, kinds)]
    return sorted((dataclasses.asdict(r) for r in rows), key=lambda d: (d["agreement_id"], d["claim_id"]))


def _stored(db):
    import dataclasses

    return sorted((dataclasses.asdict(r) for r in db.agreement_status()), key=lambda d: (d["agreement_id"], d["claim_id"]))


@pytest.mark.parametrize("page", [1, 2, 7, 2_000])
def test_status_read_a_page_of_days_at_a_time_is_the_history_read_at_once(db, ctx, monkeypatch, page):
    from truce import ledger, pipeline
    from truce.ingest import ingest_paths

    ingest_paths(db, [str(DEMO)], ctx)
    monkeypatch.setattr(pipeline, "STATUS_PAGE", page)
    pipeline.run_pipeline(db, ctx, author="t")
    negotiation = db.claims(kinds=["negotiation"])
    days = Counter(c.date for c in negotiation if c.agreement_id)
    assert len(negotiation) > 10 and max(days.values()) > 2  # pages end inside days with several claims
    assert _stored(db) == _reference(db, ctx)
    status_entries = [e for e in db.ledger_entries() if e.kind == "status"]
    assert len(status_entries) == len(_stored(db))  # each logged once

    # a run that recomputes with nothing changed logs and rewrites nothing
    s = pipeline.RunSummary()
    pipeline.record_status(db, ctx, s, "t")
    assert s.ledger_appended == 0

    # reports' negotiation claims withdrawn, then restored: a run recomputes only the days they
    # speak of (the full pass is not taken), and each time stores the history read at once
    original = _stored(db)
    monkeypatch.setattr(pipeline, "_status_batches", lambda *a: pytest.fail("the full status pass ran"))
    gone = sorted({c.report_id for c in negotiation if days[c.date] > 1 and c.agreement_id})[:3]
    held = {rid: [c for c in db.claims() if c.report_id == rid] for rid in gone}
    db.replace_claims_many([(rid, [c for c in cs if c.kind != "negotiation"], None) for rid, cs in held.items()],
                           ctx.extractor.id)
    s = pipeline.run_pipeline(db, ctx, author="t")
    assert "status" in s.seconds and db.get_meta("fusion.status") == "done"
    assert _stored(db) == _reference(db, ctx)
    assert not any(r["claim_id"].split(":")[0] in gone for r in _stored(db))
    db.replace_claims_many([(rid, cs, None) for rid, cs in held.items()], ctx.extractor.id)
    pipeline.run_pipeline(db, ctx, author="t")
    assert _stored(db) == _reference(db, ctx) == original
    assert ledger.verify(db).ok
