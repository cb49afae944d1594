from pathlib import Path

import pytest

from truce.evaluate import evaluate
from truce.reference.terms import load_agreement, load_agreements
from truce.errors import TermsError
from truce.records import Claim, ClaimLink, Incident

AG = {a.id: a for a in load_agreements()}
M = AG["moratorium-2025-03"]
Q = AG["qatar-2024"]


def inc(**kw) -> Incident:
    base = dict(id="inc-x", kind="facility", date="2025-04-01", date_precision="day", country="RU", region_code="RU-KDA",
                region="Krasnodar Krai", facility_id="ru-tuapse-refinery", facility_name="Tuapse refinery",
                facility_type="refinery", attacker="UA", attacker_basis="stated", weapon="drone", outcome="hit",
                grade="fair", grade_reasons=("2 independent sources",),
                claims=(ClaimLink("r1:0", "ext-1", "x"),))
    base.update(kw)
    return Incident(**base)


def claim(**kw) -> Claim:
    base = dict(report_id="r1", index=0, kind="strike", attacker="UA", attacker_basis="stated")
    base.update(kw)
    return Claim(**base)


def test_schema_and_files_load():
    assert {"moratorium-2025-03", "qatar-2024"} <= set(AG)
    assert M.ever_in_force() and not Q.ever_in_force()


def test_invalid_terms_name_the_offending_field(tmp_path):
    p = tmp_path / "bad.yaml"
    text = Path(M.path).read_text(encoding="utf-8").replace("      - refinery\n", "      - refinary\n", 1)
    p.write_text(text, encoding="utf-8")
    with pytest.raises(TermsError) as e:
        load_agreement(p)
    assert str(e.value).startswith(f"{p}: commitments[0].assets[0]: 'refinary' is not one of")


def test_invalid_yaml_names_the_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("id: x\ntitle: [unclosed\n", encoding="utf-8")
    with pytest.raises(TermsError, match=r"bad\.yaml:\d+: invalid YAML"):
        load_agreement(p)



def test_a_key_given_twice_is_an_error_not_a_silent_override(tmp_path):
    # PyYAML keeps the last of two equal keys: a second 'commitments:' would drop the first
    p = tmp_path / "twice.yaml"
    p.write_text("id: x\ntitle: a\nid: y\n", encoding="utf-8")
    with pytest.raises(TermsError, match=r"twice\.yaml:3: invalid YAML: the key 'id' is given twice"):
        load_agreement(p)

def test_talks_never_in_force_cover_nothing():
    f = evaluate(inc(), Q)
    assert f.verdict == "not_covered" and "never" not in f.trace[0].fact and f.trace[0].result == "fail"
    assert "suspended" in f.trace[0].fact


def test_consistent_with_violation_needs_attribution_beyond_the_victim():
    f = evaluate(inc(), M, [claim(acknowledged_by="UA")], {"r1": "UA"})
    assert f.verdict == "consistent_with_violation"
    assert [t.condition for t in f.trace][:6] == ["the agreement entered into force", "incident date inside the window",
                                                 "target inside the covered territory", "asset class covered",
                                                 "attacker is a bound party", "target is the other party's infrastructure"]


def test_alleged_when_only_the_other_side_attributes():
    f = evaluate(inc(), M, [claim()], {"r1": "RU"})
    assert f.verdict == "alleged"
    assert any("only by the other side" in t.fact for t in f.trace)


def test_alleged_when_weak():
    f = evaluate(inc(grade="weak"), M, [claim(acknowledged_by="UA")], {"r1": "UA"})
    assert f.verdict == "alleged"


def test_contested():
    assert evaluate(inc(grade="contested"), M, [claim()], {"r1": "RU"}).verdict == "contested"


def test_not_covered_outside_window_and_asset_classes():
    assert evaluate(inc(date="2025-05-10"), M).verdict == "not_covered"
    assert evaluate(inc(date="2025-03-01"), M).verdict == "not_covered"


def test_indeterminate_names_the_fact():
    f = evaluate(inc(facility_type="other_energy", facility_id=None), M)
    assert (f.verdict, f.hinges_on) == ("indeterminate", "asset type")
    f = evaluate(inc(attacker=None, attacker_basis=None), M)
    assert (f.verdict, f.hinges_on) == ("indeterminate", "attacker")


def test_disputed_start_date_gives_readings():
    f = evaluate(inc(date="2025-03-20"), M, [claim(acknowledged_by="UA")], {"r1": "UA"})
    assert f.verdict == "indeterminate"
    assert "When did the moratorium start?" in f.hinges_on and "moscow (RU) → consistent_with_violation" in f.hinges_on
    assert "kyiv (UA) → not_covered" in f.hinges_on
    assert {r.verdict for r in f.readings} == {"consistent_with_violation", "not_covered"}


def test_gas_production_coverage_is_disputed():
    f = evaluate(inc(facility_type="gas_production", country="UA", region_code="UA-63", attacker="RU", facility_id=None),
                 M, [claim(attacker="RU", acknowledged_by="RU")], {"r1": "RU"})
    assert f.verdict == "indeterminate" and "gas production" in f.hinges_on


def test_strike_in_occupied_territory_by_the_territorial_state_is_indeterminate():
    f = evaluate(inc(country="UA", region_code="UA-43", attacker="UA", facility_id=None), M, [claim()], {"r1": "RU"},
                 occupied=True)
    assert f.hinges_on == "control of occupied territory"
