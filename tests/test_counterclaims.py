"""Claim, counter-claim and corroboration kept apart (issue #11, "Wrong findings seen").

The claims are built by hand, modelled on the March 2025 dispute over the
Novobryanskaya 750 kV substation: Russia's defence ministry and the Bryansk
governor say Ukrainian drones struck it; Ukraine's foreign ministry denies it.
A denial never counts as a source, never makes an incident of its own, and a
contested or attribution-disputed incident never yields
``consistent_with_violation``.
"""

import random


from hypothesis import given, settings
from hypothesis import strategies as st

from truce.evaluate import evaluate
from truce.fuse import Unattached, fuse
from truce.grade import ReportMeta
from truce.records import Claim, Effects
from truce.reference.terms import load_agreements

M = {a.id: a for a in load_agreements()}["moratorium-2025-03"]
SOURCES = {  # report id prefix → (source, affiliation, kind)
    "mod": ("Ministry of Defence of Russia", "RU", "party_official"),
    "gov": ("Bryansk Oblast Governor", "RU", "regional_authority"),
    "mfa": ("Ministry of Foreign Affairs of Ukraine", "UA", "party_official"),
    "reu": ("Reuters", "neutral", "wire"),
    "ukr": ("Ukrinform", "UA", "wire"),
    "tass": ("TASS", "RU", "wire"),
}
NOVO = "ru-novobryanskaya-ss"


def meta(rid: str, published: str = "2025-03-28T12:00:00+00:00") -> ReportMeta:
    name, aff, kind = SOURCES[rid.split("-")[0]]
    return ReportMeta(rid, "ext-" + rid, name, kind, aff, None, published, rid)


def strike(rid: str, i: int = 0, **kw) -> Claim:
    base = dict(report_id=rid, index=i, kind="strike", date="2025-03-28", date_precision="day", country="RU",
                region_code="RU-BRY", facility_id=NOVO, facility_type="substation", attacker="UA",
                attacker_basis="stated", outcome="hit")
    base.update(kw)
    return Claim(**base)


def denial(rid: str, i: int = 0, denied: str = "strike", **kw) -> Claim:
    # the foreign ministry's sentence names the region and Kyiv as the accused: a region-level claim
    base = dict(facility_id=None, facility_type="other_energy", stance="denies", denied=denied)
    base.update(kw)
    return strike(rid, i, **base)


def fused(services, claims, published=None):
    m = {c.report_id: meta(c.report_id, (published or {}).get(c.report_id, "2025-03-28T12:00:00+00:00"))
         for c in claims}
    unattached: list[Unattached] = []
    incs = fuse(claims, m, services.registry, unattached=unattached)
    return incs, unattached


def finding(incident, claims):
    aff = {c.report_id: SOURCES[c.report_id.split("-")[0]][1] for c in claims}
    linked = {link.claim_id for link in incident.claims}
    return evaluate(incident, M, [c for c in claims if c.id in linked], aff)


# --- the wrong finding of the issue, and what it is now ----------------------------------------

def test_a_denial_read_as_an_assertion_made_a_fair_violation(services):
    """The bug as it was: the foreign ministry's sentence counted as a third source (and as Kyiv's
    own attribution), so the incident was 'fair' and the finding consistent with violation."""
    claims = [strike("mod-1"), strike("gov-1"), denial("mfa-1", stance="asserts", denied=None)]
    (inc,), _ = fused(services, claims)
    assert inc.grade == "fair" and inc.grade_reasons[0].startswith("3 independent sources")
    assert finding(inc, claims).verdict == "consistent_with_violation"


def test_a_denial_contests_and_never_corroborates(services):
    claims = [strike("mod-1"), strike("gov-1"), denial("mfa-1")]
    (inc,), unattached = fused(services, claims, {"gov-1": "2025-03-28T14:00:00+00:00"})
    assert not unattached and inc.facility_id == NOVO and len(inc.claims) == 3
    assert inc.grade == "contested" and inc.disputed == ("strike",)
    assert not any("independent sources" in r for r in inc.grade_reasons)
    assert any(r.startswith("counter-claim: Ministry of Foreign Affairs of Ukraine (ext-mfa-1) denies that the strike happened")
               for r in inc.grade_reasons), inc.grade_reasons
    roles = {link.report_id: link.role for link in inc.claims}
    assert roles == {"ext-mod-1": "claim", "ext-gov-1": "claim", "ext-mfa-1": "counter-claim"}
    f = finding(inc, claims)
    assert f.verdict == "contested"
    assert {(e.report_id, e.role) for e in f.evidence} == {("ext-mod-1", "claim"), ("ext-gov-1", "claim"),
                                                           ("ext-mfa-1", "counter-claim")}
    gov = next(e for e in f.evidence if e.report_id == "ext-gov-1")
    assert "same side as Ministry of Defence of Russia (RU): not independent" in gov.role_note
    assert next(e for e in f.evidence if e.report_id == "ext-mfa-1").source == "Ministry of Foreign Affairs of Ukraine"


def test_the_denial_neither_names_the_attacker_nor_acknowledges(services):
    # "Ukraine did not attack": attacker UA, stated, in the denying sentence; acknowledged_by set by mistake
    claims = [strike("mod-1", attacker=None, attacker_basis=None),
              denial("mfa-1", acknowledged_by="UA", attacker="UA", attacker_basis="stated", denied="attribution")]
    (inc,), _ = fused(services, claims)
    assert inc.attacker is None and inc.grade != "confirmed"


def test_independent_sources_corroborate_and_a_denial_still_contests(services):
    claims = [strike("mod-1"), strike("reu-1"), denial("mfa-1")]
    (inc,), _ = fused(services, claims, {"reu-1": "2025-03-28T15:00:00+00:00"})
    roles = {link.report_id: (link.role, link.role_note) for link in inc.claims}
    assert roles["ext-mod-1"][0] == "claim" and roles["ext-reu-1"][0] == "corroboration"
    assert "independent of Ministry of Defence of Russia (neutral source)" in roles["ext-reu-1"][1]
    assert inc.grade == "contested" and finding(inc, claims).verdict == "contested"
    # without the denial the same sources make a fair incident
    (plain,), _ = fused(services, claims[:2], {"reu-1": "2025-03-28T15:00:00+00:00"})
    assert plain.grade == "fair"


def test_a_denied_attribution_disputes_responsibility(services):
    claims = [strike("mod-1"), strike("reu-1", attacker=None, attacker_basis=None), denial("mfa-1", denied="attribution")]
    (inc,), _ = fused(services, claims)
    assert inc.attacker == "UA" and inc.disputed == ("attribution",)
    assert inc.grade == "contested"
    assert any(r.startswith("responsibility denied: Ministry of Foreign Affairs of Ukraine (ext-mfa-1) denies that UA "
                            "carried out the strike") for r in inc.grade_reasons), inc.grade_reasons
    assert "UA denied by UA source" in inc.attribution
    f = finding(inc, claims)
    assert f.verdict == "contested"
    step = next(t for t in f.trace if t.condition == "attribution")
    assert step.result == "unknown" and "responsibility denied" in step.fact


def test_a_denied_damage_contests_a_reported_hit_but_not_an_attempt(services):
    claims = [strike("gov-1", effects=Effects(fire=True)), denial("mfa-1", denied="damage")]
    (inc,), _ = fused(services, claims)
    assert inc.grade == "contested" and inc.disputed == ("damage",)
    assert any("denies the damage reported by Bryansk Oblast Governor" in r for r in inc.grade_reasons)
    # the governor only says drones attacked (nothing hit): "no damage" contests nothing, and is noted
    claims = [strike("gov-1", outcome="attempted"), denial("mfa-1", denied="damage")]
    (inc,), _ = fused(services, claims)
    assert inc.grade == "weak" and inc.disputed == ("damage",)
    assert any("says there was no damage; no report asserts damage" in r for r in inc.grade_reasons)


def test_all_shot_down_against_a_hit_is_a_counter_claim_role(services):
    claims = [strike("ukr-1", country="RU"), strike("tass-1", outcome="attempted")]
    (inc,), _ = fused(services, claims)
    assert inc.grade == "contested"
    assert {link.report_id: link.role for link in inc.claims} == {"ext-ukr-1": "claim", "ext-tass-1": "counter-claim"}


# --- a denial never creates an event of its own -------------------------------------------------

def test_a_denial_with_nothing_asserted_creates_no_incident(services):
    """The same denial sentence also named Crimea, where nobody had reported a strike."""
    crimea = denial("mfa-1", 1, country="UA", region_code="UA-43", attacker="UA")
    claims = [strike("mod-1"), denial("mfa-1"), crimea]
    incs, unattached = fused(services, claims)
    assert [i.facility_id for i in incs] == [NOVO]
    assert all(i.region_code != "UA-43" for i in incs)
    (u,) = unattached
    assert u.claim_id == crimea.id and u.report_id == "ext-mfa-1"
    assert u.reason == ("denies the strike at UA-43 (2025-03-28), but no report asserts a strike there within 1 day: "
                        "a denial creates no incident")


def test_a_denial_on_another_night_or_another_region_joins_nothing(services):
    claims = [strike("mod-1"), denial("mfa-1", date="2025-03-25"), denial("mfa-2", region_code="RU-KRS")]
    m = {c.report_id: meta(c.report_id) for c in claims}
    unattached: list[Unattached] = []
    (inc,) = fuse(claims, m, services.registry, unattached=unattached)
    assert inc.grade == "weak" and len(unattached) == 2


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_counter_claims_keep_fusion_order_independent(services, seed):
    claims = [strike("mod-1"), strike("gov-1", date="2025-03-27"), denial("mfa-1"), strike("reu-1"),
              denial("mfa-1", 1, region_code="UA-43", country="UA"), denial("tass-1", denied="damage", facility_id=NOVO),
              strike("ukr-1", date="2025-04-02", region_code="RU-KRS", facility_id=None, facility_type="refinery"),
              denial("mod-1", 1, date="2025-04-02", region_code="RU-KRS", denied="damage")]
    m = {c.report_id: meta(c.report_id) for c in claims}
    ref = [i.to_dict() for i in fuse(claims, m, services.registry)]
    shuffled = claims[:]
    random.Random(seed).shuffle(shuffled)
    assert [i.to_dict() for i in fuse(shuffled, m, services.registry)] == ref


# --- through the pipeline, with our own reports ------------------------------------------------

class DenialsMarked:
    """The rule extractor, with the claims of denying sentences marked as counter-claims: what the
    extractor does once it reads stance (the extraction side of issue #11)."""

    def __init__(self, rules):
        self.rules = rules
        self.name = "denials-marked"

    @property
    def id(self) -> str:
        return "denials-marked/" + self.rules.id

    def extract(self, report):
        import dataclasses

        out = []
        for c in self.rules.extract(report):
            if c.kind == "strike" and any(w in e.text for e in c.evidence for w in ("rejects", "denies")):
                c = dataclasses.replace(c, stance="denies", denied="strike")
            out.append(c)
        return out


def test_pipeline_keeps_a_denial_out_of_corroboration(db, ctx):
    import dataclasses
    import json
    from pathlib import Path

    from truce.ingest import ingest_paths
    from truce.outputs.shapes import findings_json, incidents_json
    from truce.pipeline import run_pipeline

    c = dataclasses.replace(ctx, _extractor=DenialsMarked(ctx.extractor))
    ingest_paths(db, [Path(__file__).parent / "data" / "counterclaims" / "novobryanskaya.jsonl"], c)
    s = run_pipeline(db, c)
    assert s.counter_claims == 1 and not s.unattached
    (inc,) = [i for i in incidents_json(db) if i["facility_id"] == NOVO]
    assert inc["grade"] == "contested" and inc["disputed"] == ["strike"]
    assert {x["report_id"]: x["role"] for x in inc["claims"]} == {"cc-gov": "claim", "cc-mod": "claim", "cc-mfa": "counter-claim"}
    f = next(f for f in findings_json(db, "moratorium-2025-03") if f["incident_id"] == inc["id"])
    assert f["verdict"] == "contested"
    assert {e["report_id"]: e["role"] for e in f["evidence"]} == {"cc-gov": "claim", "cc-mod": "claim",
                                                                  "cc-mfa": "counter-claim"}
    assert json.dumps(f)  # the shape stays JSON


# --- the demo -------------------------------------------------------------------------------

def test_in_the_demo_no_denial_is_a_source_and_none_stands_alone(demo):
    """Whatever the extractor reads as a denial: it is a counter-claim wherever it is, and no
    incident rests on counter-claims alone."""
    from truce.db import Database

    with Database(str(demo[0])) as db:
        claims = {c.id: c for c in db.claims()}
        for inc in db.incidents():
            roles = {link.claim_id: link.role for link in inc.claims}
            for cid, role in roles.items():
                assert (claims[cid].stance == "denies") <= (role == "counter-claim"), (inc.id, cid, role)
            assert any(r != "counter-claim" for r in roles.values()) or inc.grade == "contested", inc.id


def test_in_the_demo_the_foreign_ministry_denial_contests_novobryanskaya(demo):
    """demo-084: Ukraine's foreign ministry rejects Moscow's claim of a strike on the Novobryanskaya
    substation. It must be the counter-claim, the incident contested, the finding not a violation,
    and its mention of Crimea no incident."""
    from truce.db import Database

    with Database(str(demo[0])) as db:
        (inc,) = [i for i in db.incidents() if i.facility_id == NOVO and i.date == "2025-03-28"]
        assert {link.role for link in inc.claims if link.report_id == "demo-084"} == {"counter-claim"}
        assert inc.grade == "contested"
        (f,) = [f for f, _ in db.findings("moratorium-2025-03") if f.incident_id == inc.id]
        assert f.verdict != "consistent_with_violation"
        crimea = [i for i in db.incidents() if i.region_code == "UA-43" and i.date == "2025-03-28"]
        assert all(set(i.report_ids) != {"demo-084"} for i in crimea)
