import json
from pathlib import Path

import pytest

from truce.extract import finalize
from truce.ingest import read_reports_jsonl
from truce.records import Claim

DATA = Path(__file__).parent / "data"
DEMO = Path(__file__).parents[1] / "src" / "truce" / "data" / "demo" / "reports.jsonl"


@pytest.fixture(scope="module")
def extracted(ctx):
    out = {}
    with open(DATA / "reports.jsonl", encoding="utf-8") as fh:
        for rep in read_reports_jsonl(fh, "reports.jsonl", ctx.sources):
            out[rep.external_id] = (rep, finalize(ctx.extractor.extract(rep), rep, ctx.services))
    return out


def strikes(claims: list[Claim], salience=("main", "secondary")):
    return [c for c in claims if c.kind == "strike" and c.salience in salience]


def test_named_facility_with_night_date_attacker_and_recap(extracted):
    rep, claims = extracted["t-ua-tpp"]
    main = strikes(claims)
    assert [(c.facility_id, c.date, c.attacker, c.attacker_basis, c.outcome) for c in main] == [
        ("ua-trypillia-tpp", "2024-04-11", "RU", "stated", "hit")]
    assert main[0].effects.destroyed and main[0].effects.fire
    bg = strikes(claims, ("background",))
    assert [(c.facility_id, c.date) for c in bg] == [("ua-dnipro-hpp", "2024-03-22")]
    assert main[0].region == "Kyiv Oblast" and main[0].region_code == "UA-32"


def test_debris_fire_counts_as_hit_and_attacker_is_inferred_not_stated(extracted):
    _, claims = extracted["t-ru-refinery"]
    (c,) = strikes(claims)
    assert (c.facility_id, c.date, c.outcome) == ("ru-ryazan-refinery", "2024-03-13", "hit")
    assert (c.attacker, c.attacker_basis) == ("UA", "inferred")
    assert c.effects.injured == 2


def test_acknowledgement_by_the_attacking_party(extracted):
    _, claims = extracted["t-uk-sbu"]
    (c,) = strikes(claims)
    assert (c.facility_id, c.attacker, c.attacker_basis, c.acknowledged_by) == ("ru-ryazan-refinery", "UA", "stated", "UA")


def test_interception_list_is_not_a_strike(extracted):
    _, claims = extracted["t-ru-intercept"]
    assert strikes(claims, ("main", "secondary", "background")) == []
    assert {c.region_code for c in claims if c.kind == "interception"} == {"RU-BEL", "RU-KRS", "RU-BRY"}


def test_negative_report_has_no_energy_claim(extracted):
    _, claims = extracted["t-en-negative"]
    assert [c for c in claims if c.kind in ("strike", "accusation")] == []


def test_talks_report_gives_a_negotiation_claim_not_a_strike(extracted):
    _, claims = extracted["t-en-talks"]
    assert strikes(claims, ("main", "secondary", "background")) == []
    (n,) = [c for c in claims if c.kind == "negotiation"]
    assert n.agreement_id == "qatar-2024" and n.mediator == "QA" and set(n.parties) == {"UA", "RU"}
    assert n.status == "suspended"


def test_accusation_is_linked_to_its_strike(extracted):
    _, claims = extracted["t-ru-accuse"]
    (acc,) = [c for c in claims if c.kind == "accusation"]
    assert (acc.accuser, acc.accused) == ("RU", "UA")
    (s,) = strikes(claims)
    assert acc.linked_claim == s.index
    assert (s.region_code, s.facility_type, s.attacker, s.attacker_basis) == ("RU-KDA", "oil_depot", "UA", "stated")


def test_mass_strike_gives_one_claim_per_oblast(extracted):
    _, claims = extracted["t-uk-mass"]
    # one per oblast, and the national statement ("атаку на енергосистему України") as a
    # country-level event beside them (docs/annotation.md, mass strikes)
    assert sorted(c.region_code or "" for c in strikes(claims)) == ["", "UA-07", "UA-46", "UA-56"]
    assert all(c.date == "2024-08-26" and c.attacker == "RU" for c in strikes(claims))


def test_rule_and_extractor_recorded(extracted):
    for _, claims in extracted.values():
        for c in claims:
            assert c.extractor.startswith("rules/") and c.rule


def test_evidence_offsets_match_text_on_every_bundled_and_gold_report(ctx):
    texts = []
    with open(DEMO, encoding="utf-8") as fh:
        texts += list(read_reports_jsonl(fh, "demo", ctx.sources))
    for p in sorted((Path(__file__).parent / "gold").rglob("*.json")):
        d = json.loads(p.read_text(encoding="utf-8"))
        from truce.ingest import make_report
        texts.append(make_report(text=d["text"], external_id=d["id"], sources=ctx.sources, source=d.get("source"),
                                 title=d.get("title"), published=d.get("published"), language=d.get("language")))
    n = 0
    for rep in texts:
        for c in finalize(ctx.extractor.extract(rep), rep, ctx.services):
            for e in c.evidence:
                assert rep.text[e.start:e.end] == e.text
                n += 1
    assert n > 200


def test_related_story_links_are_not_read_as_events(ctx):
    from truce.ingest import make_report

    text = ("Вночі ворог атакував Бурштинську ТЕС, пошкоджено обладнання.\n\n"
            "Читайте також: Росіяни вдарили по підстанції на Одещині\n\n"
            "На станції тривають відновлювальні роботи.")
    rep = make_report(text=text, external_id="x", sources=ctx.sources, published="2024-03-29", language="uk")
    claims = finalize(ctx.extractor.extract(rep), rep, ctx.services)
    assert [(c.kind, c.facility_id) for c in claims] == [("strike", "ua-burshtyn-tpp")]
