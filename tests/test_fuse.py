import random

from hypothesis import given, settings
from hypothesis import strategies as st

from truce.fuse import fuse
from truce.grade import ReportMeta, grade
from truce.records import Claim

AFF = {"ukr": ("Ukrinform", "UA", "wire"), "tass": ("TASS", "RU", "wire"), "reu": ("Reuters", "neutral", "wire"),
       "dtek": ("DTEK", "UA", "operator"), "sbu": ("SBU", "UA", "party_official"), "up": ("Ukrainska Pravda", "UA", "news_outlet"),
       "nv": ("NV", "UA", "news_outlet")}


def meta(rid: str, canonical: str | None = None, published: str = "2024-04-11") -> ReportMeta:
    name, aff, kind = AFF[rid.split("-")[0]]
    return ReportMeta(rid, "ext-" + rid, name, kind, aff, None, published, canonical or rid)


def c(rid: str, i: int = 0, **kw) -> Claim:
    base = dict(report_id=rid, index=i, kind="strike", date="2024-04-11", date_precision="day", country="UA",
                region_code="UA-32", facility_type="thermal_plant", attacker="RU", attacker_basis="inferred", outcome="hit")
    base.update(kw)
    return Claim(**base)


def test_same_facility_same_night_fuses_across_a_day(services):
    claims = [c("ukr-1", facility_id="ua-trypillia-tpp"), c("reu-1", facility_id="ua-trypillia-tpp", date="2024-04-10"),
              c("tass-1", facility_id="ua-trypillia-tpp", date="2024-04-12")]
    m = {x.report_id: meta(x.report_id) for x in claims}
    (inc,) = fuse(claims, m, services.registry)
    assert inc.facility_id == "ua-trypillia-tpp" and inc.date == "2024-04-11" and len(inc.claims) == 3
    assert all("names facility ua-trypillia-tpp" in l.joined_because for l in inc.claims)


def test_different_nights_stay_apart(services):
    claims = [c("ukr-1", facility_id="ua-burshtyn-tpp", date="2024-03-22"), c("ukr-2", facility_id="ua-burshtyn-tpp", date="2024-03-29")]
    assert len(fuse(claims, {x.report_id: meta(x.report_id) for x in claims}, services.registry)) == 2


def test_regional_claim_joins_the_named_facility_in_that_region(services):
    claims = [c("ukr-1", facility_id="ua-trypillia-tpp"), c("up-1", facility_type="other_energy")]
    (inc,) = fuse(claims, {x.report_id: meta(x.report_id) for x in claims}, services.registry)
    assert any("joins the named facility" in l.joined_because for l in inc.claims)


def test_unnamed_assets_block_by_region_and_family(services):
    claims = [c("ukr-1", region_code="UA-46", facility_type="substation"), c("reu-1", region_code="UA-46", facility_type="substation"),
              c("tass-1", region_code="UA-07", facility_type="substation"), c("nv-1", region_code=None, facility_type="other_energy")]
    incs = fuse(claims, {x.report_id: meta(x.report_id) for x in claims}, services.registry)
    assert sorted((i.kind, i.region_code, len(i.claims)) for i in incs) == [
        ("country", None, 1), ("region", "UA-07", 1), ("region", "UA-46", 2)]


def _scenario():
    claims = []
    for n, rid in enumerate(["ukr-1", "reu-1", "tass-1", "up-1", "dtek-1", "nv-1", "sbu-1"]):
        claims.append(c(rid, 0, facility_id="ua-trypillia-tpp", date=f"2024-04-{10 + n % 3:02d}"))
        claims.append(c(rid, 1, region_code="UA-46", facility_type="other_energy"))
        claims.append(c(rid, 2, region_code="UA-63", facility_type="chp", date=f"2024-04-{20 + n % 2:02d}"))
    return claims


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), dup=st.booleans())
def test_fusion_is_order_independent_and_idempotent(services, seed, dup):
    claims = _scenario()
    m = {x.report_id: meta(x.report_id) for x in claims}
    ref = [i.to_dict() for i in fuse(claims, m, services.registry)]
    shuffled = claims[:]
    random.Random(seed).shuffle(shuffled)
    if dup:
        shuffled = shuffled + shuffled[: len(shuffled) // 2]  # the same claims seen again
    got = [i.to_dict() for i in fuse(list(dict.fromkeys(shuffled)), m, services.registry)]
    assert got == ref


# --- grades --------------------------------------------------------------------------

def g(claims, metas, attacker="RU"):
    return grade(claims, {m.report_id: m for m in metas}, attacker)


def test_single_source_is_weak():
    assert g([c("ukr-1")], [meta("ukr-1")])[0] == "weak"


def test_two_sources_of_one_side_are_weak_not_fair():
    grade_, reasons = g([c("ukr-1"), c("up-1")], [meta("ukr-1"), meta("up-1")])
    assert grade_ == "weak" and "all UA" in reasons[-1]


def test_independent_sources_of_two_affiliations_are_fair():
    grade_, reasons = g([c("ukr-1"), c("reu-1")], [meta("ukr-1"), meta("reu-1")])
    assert grade_ == "fair" and "2 independent sources" in reasons[-1]


def test_syndicated_copies_count_once():
    grade_, reasons = g([c("reu-1"), c("ukr-1")], [meta("reu-1"), meta("ukr-1", canonical="reu-1")])
    assert grade_ == "weak" and "syndicated" in reasons[0]


def test_acknowledgement_by_attacker_confirms():
    grade_, reasons = g([c("sbu-1", country="RU", attacker="UA", attacker_basis="stated", acknowledged_by="UA")],
                        [meta("sbu-1")], attacker="UA")
    assert grade_ == "confirmed" and "acknowledged by the attacking party (UA)" in reasons[0]


def test_operator_plus_independent_source_confirms():
    assert g([c("dtek-1"), c("ukr-1")], [meta("dtek-1"), meta("ukr-1")])[0] == "confirmed"


def test_competing_claims_are_contested():
    grade_, reasons = g([c("ukr-1"), c("tass-1", outcome="attempted")], [meta("ukr-1"), meta("tass-1")])
    assert grade_ == "contested" and "competing claims" in reasons[0]
    grade_, reasons = g([c("ukr-1", attacker="RU", attacker_basis="stated"), c("tass-1", attacker="UA", attacker_basis="stated")],
                        [meta("ukr-1"), meta("tass-1")])
    assert grade_ == "contested" and "responsibility disputed" in reasons[0]


def test_retraction_discounts():
    assert g([c("ukr-1", retracted=True)], [meta("ukr-1")])[0] == "discounted"
