"""Records: a claim read back from its stored form is the claim that was stored, made through
its constructor or not."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from truce.records import Claim, Effects, Evidence


def _claims() -> list[Claim]:
    return [
        Claim(report_id="r1", index=0, kind="strike"),
        Claim(report_id="r1", index=1, kind="strike", date="2025-03-18", country="UA", region_code="UA-12",
              facility_id="ua-x", effects=Effects(fire=True, killed=2), evidence=(Evidence(3, 9, "struck"),),
              cited=("governor",), stance="denies", denied="damage", confidence=0.8),
        Claim(report_id="r2", index=4, kind="negotiation", parties=("UA", "RU"), conditions=("30 days",),
              status="in_force", agreement_id="a"),
    ]


@pytest.mark.parametrize("claim", _claims(), ids=lambda c: c.id)
def test_a_claim_read_back_equals_the_one_stored(claim):
    back = Claim.from_dict(claim.to_dict())
    built = Claim(**{f.name: getattr(back, f.name) for f in dataclasses.fields(Claim)})
    assert back == claim and hash(back) == hash(claim) and repr(back) == repr(claim)
    assert list(vars(back).items()) == list(vars(built).items())  # fields in order, as __init__ leaves them
    assert pickle.loads(pickle.dumps(back)) == claim
    with pytest.raises(dataclasses.FrozenInstanceError):
        back.kind = "interception"  # type: ignore[misc]


def test_the_public_form_and_bad_rows_read_as_through_the_constructor():
    c = _claims()[1]
    assert Claim.from_dict(c.to_public()) == c  # kind "denial", "claim" for the index
    with pytest.raises(TypeError):
        Claim.from_dict({"report_id": "r", "kind": "strike"})  # no index: the constructor's own error
    assert Claim.from_dict({**c.to_dict(), "unknown": 1}) == c  # what is not a field is left out
