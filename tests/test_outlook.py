"""The grid outlook (issue #15): the arithmetic pinned on a small registry and assumptions written
for the test, then the command and the report's chart on the demo."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from truce.cli import cli
from truce.outputs.outlook import load_assumptions, outlook, series
from truce.records import Effects, Facility, Incident
from truce.reference.registry import Registry


def _fac(fid, type_, mw, status="operating", since=None):
    return Facility(id=fid, name=fid, type=type_, country="UA", region_code="UA-32", lat=50.0, lon=30.0,
                    capacity=mw, capacity_unit="MW", status=status, status_date=since, source="test")


ASSUMPTIONS = {
    "country": "UA",
    "sources": {"test": "written for the test"},
    "demand_peak_mw": {"unit": "MW", "source": "test", "months": {m: [2000, 1800, 2200] for m in range(1, 13)}},
    "daily_profile": {"unit": "share", "source": "test", "hours": [1.0] * 12 + [0.5] * 12},
    "import_mw": {"value": 100, "range": [50, 200], "unit": "MW", "source": "test"},
    "unlisted_generation_mw": {"value": 0, "range": [0, 0], "unit": "MW", "source": "test"},
    "availability": {"unit": "share", "source": "test", "by_type": {
        "nuclear_plant": [0.8, 0.7, 0.9], "thermal_plant": [0.5, 0.4, 0.6], "chp": [0.5, 0.5, 0.5],
        "hydro_plant": [0.5, 0.5, 0.5], "solar_wind": [0.0, 0.0, 0.0]}},
    "damage_share": {"value": 0.5, "range": [0.25, 1.0], "unit": "share", "source": "test"},
    "repair_days": {"unit": "days", "source": "test", "destroyed": [730, 365, 1095],
                    "damaged": {"nuclear_plant": [7, 2, 30], "thermal_plant": [120, 60, 240], "chp": [30, 10, 60],
                                "hydro_plant": [365, 180, 730], "solar_wind": [60, 30, 120]}},
}


@pytest.fixture(scope="module")
def small(ctx):
    reg = Registry([_fac("n1", "nuclear_plant", 1000), _fac("t1", "thermal_plant", 1000),
                    _fac("t2", "thermal_plant", 500, "destroyed", "2024-01-01"),
                    _fac("h1", "hydro_plant", 400, "damaged", "2024-06-01"), _fac("c1", "chp", 200),
                    _fac("o1", "thermal_plant", 300, "occupied")], ctx.services.km)
    hit = Incident(id="inc-c1", kind="facility", date="2024-03-10", date_precision="day", country="UA",
                   region_code="UA-32", region=None, facility_id="c1", facility_name="c1", facility_type="chp",
                   attacker="RU", attacker_basis="stated", weapon=None, outcome="hit", grade="fair",
                   effects=Effects(damage=True))
    return reg, [hit]


def test_the_arithmetic_of_one_day(small):
    reg, incs = small
    o = outlook(reg, incs, dt.date(2024, 3, 20), "UA", ASSUMPTIONS)
    assert o.installed_mw == {"nuclear_plant": 1000, "thermal_plant": 1800, "chp": 200, "hydro_plant": 400, "solar_wind": 0}
    # destroyed (since January) and occupied (no date: every day) thermal; the CHP hit ten days before,
    # half lost for 30 days; the hydro plant is damaged only from June
    assert o.lost_mw["thermal_plant"] == {"low": 800, "central": 800, "high": 800}
    assert o.lost_mw["chp"] == {"low": 0, "central": 100, "high": 200}  # repaired after 10 days / half / all for 60
    assert o.lost_mw["hydro_plant"]["central"] == 0
    assert o.available_mw["nuclear_plant"] == {"low": 900, "central": 800, "high": 700}
    assert o.available_mw["thermal_plant"] == {"low": 600, "central": 500, "high": 400}
    assert o.supply_mw == {"low": 2000, "central": 1650, "high": 1350}
    assert o.demand_mw == {"low": 1800, "central": 2000, "high": 2200}
    assert o.deficit_mw == {"low": 0, "central": 350, "high": 850}
    # 12 peak hours short by 350/2000 each; the 12 half-load hours are covered
    assert o.outage_hours == {"low": 0.0, "central": 2.1, "high": 4.6}
    assert o.shortfall_hours == {"low": 0, "central": 12, "high": 12}
    chp = next(x for x in o.losses if x.facility_id == "c1")
    assert chp.incidents == ("inc-c1",) and chp.basis == "incident" and chp.until["central"] == "2024-04-09"


def test_losses_follow_the_status_date_and_the_repair_time(small):
    reg, incs = small
    july = outlook(reg, incs, dt.date(2024, 7, 1), "UA", ASSUMPTIONS)
    assert july.lost_mw["hydro_plant"] == {"low": 100, "central": 200, "high": 400}
    assert july.lost_mw["chp"]["high"] == 0  # repaired by every assumption
    pts = series(reg, incs, dt.date(2024, 3, 1), dt.date(2024, 7, 1), step_days=30, assumptions=ASSUMPTIONS)
    assert [p["date"] for p in pts] == ["2024-03-01", "2024-03-31", "2024-04-30", "2024-05-30", "2024-06-29"]
    assert pts[1]["incidents"] == ["inc-c1"] and pts[0]["incidents"] == []
    assert pts[1]["deficit_mw"]["central"] == 350


def test_a_weak_incident_is_left_out_of_the_favourable_case(small):
    reg, incs = small
    import dataclasses

    weak = [dataclasses.replace(incs[0], grade="weak")]
    o = outlook(reg, weak, dt.date(2024, 3, 12), "UA", ASSUMPTIONS)
    assert o.lost_mw["chp"] == {"low": 0, "central": 100, "high": 200}


def test_every_shipped_assumption_has_a_value_a_range_and_a_source():
    a = load_assumptions("UA")
    for key in ("import_mw", "unlisted_generation_mw", "damage_share"):
        lo, hi = a[key]["range"]
        assert lo <= a[key]["value"] <= hi and a[key]["source"] and a[key]["unit"]
    for m in range(1, 13):
        central, lo, hi = a["demand_peak_mw"]["months"][m]
        assert lo <= central <= hi
    for t, (central, lo, hi) in a["availability"]["by_type"].items():
        assert 0 <= lo <= central <= hi <= 1, t
    assert len(a["daily_profile"]["hours"]) == 24 and max(a["daily_profile"]["hours"]) == 1.0
    assert "IEA" in a["sources"]["iea-2024"]


def test_outlook_on_the_demo_and_in_the_report(demo, tmp_path):
    db, out, _ = demo
    r = CliRunner().invoke(cli, ["outlook", "--db", str(db), "--date", "2025-01-15"])
    assert r.exit_code == 0, r.output
    assert "Grid outlook UA on 2025-01-15" in r.output and "deficit" in r.output and "Sources:" in r.output
    assert "Trypillia TPP" in r.output
    r = CliRunner().invoke(cli, ["outlook", "--db", str(db), "--format", "json"])
    data = json.loads(r.output)
    assert set(data["deficit_mw"]) == {"low", "central", "high"} and data["assumptions"]
    r = CliRunner().invoke(cli, ["outlook", "--db", str(db), "--country", "RU"])
    assert r.exit_code != 0 and "no outlook assumptions for 'RU'" in r.output
    html = (out / "out" / "report.html").read_text(encoding="utf-8")
    assert "id='outlook'" in html and "alt='available generation and demand over time'" in html
