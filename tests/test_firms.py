"""Satellite fire detections (NASA FIRMS): reading the files, storing them, and what they say
about incidents (issue #15). Every file under tests/data/firms was written for these tests
(``make_files.py``): made-up detections in FIRMS's own layouts."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from conftest import DATA
from truce.errors import IngestError
from truce.grade import with_physical
from truce.ingest import ingest_paths
from truce.ingest.firms import looks_like_firms, read_firms
from truce.physical import load_matching, radius_km, window
from truce.pipeline import run_pipeline

FIRMS = DATA / "firms"
EXAMPLES = Path(__file__).parents[1] / "src" / "truce" / "data" / "firms" / "examples"  # the README's files
SYZRAN = "ru-syzran-refinery"


# --- reading ---------------------------------------------------------------------------

def test_viirs_csv_is_read_with_every_field():
    errors: list[str] = []
    dets = list(read_firms(FIRMS / "syzran-strike.csv", errors))
    assert not errors
    strike = [d for d in dets if d.acquired == "2024-03-15T23:32Z" and d.frp == 48.3]
    assert len(strike) == 1
    d = strike[0]
    assert (d.satellite, d.instrument, d.confidence, d.daynight, d.brightness, d.fire_type) == (
        "NOAA-20", "VIIRS", "high", "N", 367.1, 0)
    assert d.source == "syzran-strike.csv" and d.line > 1
    # FIRMS writes 21 for 00:21
    assert any(x.acquired == "2024-03-16T00:21Z" and x.satellite == "S-NPP" for x in dets)


def test_modis_confidence_is_kept_and_binned():
    (d,) = list(read_firms(EXAMPLES / "demo-modis.csv"))
    assert (d.instrument, d.satellite, d.confidence_pct, d.confidence, d.brightness) == ("MODIS", "Aqua", 86, "high", 331.5)


def test_the_archive_json_form_gives_the_same_detections():
    csv_ids = {d.id for d in read_firms(FIRMS / "syzran-strike.csv") if d.acquired.startswith(("2024-03-15T23", "2024-03-16"))}
    json_dets = list(read_firms(FIRMS / "syzran-strike.json"))
    assert {d.id for d in json_dets} <= csv_ids and len(json_dets) == 5
    assert {d.confidence for d in json_dets} == {"high", "nominal"}


def test_bad_rows_are_named_with_file_and_line_and_the_rest_is_read():
    errors: list[str] = []
    dets = list(read_firms(FIRMS / "bad-rows.csv", errors))
    assert len(dets) == 2  # the good row and a repeat of a good one
    assert len(errors) == 4
    assert all("bad-rows.csv:" in e for e in errors)
    assert any(":3: bright_ti4 is not a number" in e for e in errors)
    assert any(":4: impossible coordinate" in e for e in errors)
    assert any(":5: acq_date is not a date" in e for e in errors)
    assert any(":6: VIIRS confidence must be l, n or h" in e for e in errors)


def test_a_file_without_firms_columns_is_one_error(tmp_path):
    p = tmp_path / "fires.csv"
    p.write_text("latitude,longitude,acq_date,acq_time,bright_ti4\n50.1,30.2,2024-03-01,0112,330.1\n", encoding="utf-8")
    assert looks_like_firms(p)
    with pytest.raises(IngestError, match=r"fires.csv:2: not a FIRMS active-fire file: missing columns satellite, confidence, frp"):
        list(read_firms(p))
    assert not looks_like_firms(DATA / "acled_sample.csv")


# --- matching parameters -----------------------------------------------------------------

def test_radius_grows_with_the_site_the_sensor_and_the_registry_precision(ctx):
    params = load_matching()
    reg = ctx.registry
    ref = dataclasses.replace(reg.get(SYZRAN), coord_precision="site")
    sub = next(f for f in reg if f.type == "substation" and f.coord_precision == "site")
    assert radius_km(ref, "VIIRS", params) == pytest.approx(2.9)
    assert radius_km(ref, "MODIS", params) > radius_km(ref, "VIIRS", params)
    assert radius_km(sub, "VIIRS", params) == pytest.approx(1.0)
    town = dataclasses.replace(ref, coord_precision="town")
    assert radius_km(town, "VIIRS", params) == pytest.approx(8.9)
    # a night strike "on the 16th": the evening of the 15th to the end of the 17th, UTC
    assert window("2024-03-16", params) == ("2024-03-15T12:00Z", "2024-03-17T23:59Z")


def test_with_physical_raises_weak_only_when_the_satellites_support():
    assert with_physical("weak", ("single source: AP",), "supports", "supports: 3 detections")[0] == "fair"
    for g in ("fair", "confirmed", "contested", "discounted"):
        assert with_physical(g, (), "supports", "supports: x")[0] == g
    for v in ("silent", "contradicts"):
        g, reasons = with_physical("weak", ("single source: AP",), v, f"{v}: y")
        assert g == "weak" and reasons[-1].endswith(f"{v}: y")


# --- the stage, end to end ---------------------------------------------------------------

def _syzran(db):
    return next(i for i in db.incidents() if i.facility_id == SYZRAN)


def _run(db, ctx, *files):
    res = ingest_paths(db, [FIRMS / "reports.jsonl", *(FIRMS / f for f in files)], ctx)
    assert not res.errors, res.errors
    return res, run_pipeline(db, ctx)


def test_detections_the_night_of_the_strike_raise_the_grade_with_the_evidence(db, ctx):
    before = _run(db, ctx)[1]
    assert before.physical == {}
    assert _syzran(db).grade == "weak"
    res, summary = _run(db, ctx, "syzran-strike.csv")
    assert res.detection_files == 1 and res.detections_new > 100
    inc = _syzran(db)
    assert inc.grade == "fair"
    reason = inc.grade_reasons[-1]
    assert reason.startswith("physical corroboration (satellite, independent of both parties) raises weak to fair")
    # the detection's time, distance, brightness and radiative power are the evidence
    assert "VIIRS NOAA-20 2024-03-15 23:32 UTC, 0.5 km from the site, 367.1 K, FRP 48.3 MW, high confidence" in reason
    ev = db.physical_evidence()[inc.id]
    assert ev.verdict == "supports" and len(ev.detections) == 5
    assert all(m.above_background for m in ev.detections)
    assert summary.physical["supports"] == 1
    # the findings' traces carry it
    traces = [t.fact for f, _ in db.findings() if f.incident_id == inc.id for t in f.trace]
    assert not traces or any("satellite" in t for t in traces) or all("grade" not in t for t in traces)
    # re-running changes nothing (idempotent)
    again = run_pipeline(db, ctx)
    assert again.ledger_appended == 0 and _syzran(db).grade == "fair"
    # ingesting the same detections in the archive's JSON form stores nothing new
    res2 = ingest_paths(db, [FIRMS / "syzran-strike.json"], ctx)
    assert (res2.detections_new, res2.detections_seen) == (0, 5)


def test_a_flare_at_the_same_site_does_not_corroborate(db, ctx):
    _run(db, ctx, "syzran-flare.csv")
    inc = _syzran(db)
    assert inc.grade == "weak"
    ev = db.physical_evidence()[inc.id]
    # the report says the refinery burned; the flare was seen (so the sky was clear), nothing above it
    assert ev.verdict == "contradicts" and ev.why == "observed_no_fire"
    assert ev.detections and not any(m.above_background for m in ev.detections)
    assert "background (flare or stack) on" in ev.background
    assert inc.grade_reasons[-1].startswith("satellite evidence contradicts the reported fire")
    assert db.fire_candidates() == []  # a flare is not a candidate either


def test_unreported_fires_are_candidates_never_findings(db, ctx):
    _, summary = _run(db, ctx, EXAMPLES / "demo-viirs.csv", EXAMPLES / "demo-modis.csv")
    cands = db.fire_candidates()
    assert [(c.facility_id, c.date) for c in cands] == [("ru-kirishi-refinery", "2024-04-02")]
    c = cands[0]
    assert len(c.detections) == 4 and c.status == "review" and "never a finding" in c.reason
    assert not any(i.facility_id == "ru-kirishi-refinery" for i in db.incidents())
    assert not any(f.incident_id == c.id for f, _ in db.findings())
    assert summary.physical["candidates"] == 1
    # the Aqua (MODIS) pixel joins the VIIRS ones as evidence of the Syzran fire
    ev = db.physical_evidence()[_syzran(db).id]
    assert {m.detection.instrument for m in ev.detections} == {"VIIRS", "MODIS"}


def test_silence_says_what_can_be_known(sqlite_db, ctx, tmp_path):
    # detections elsewhere in the steppe on those days, none at Syzran: the satellites flew, the site is silent
    rows = [line for line in (FIRMS / "syzran-strike.csv").read_text(encoding="utf-8").splitlines()
            if not line.startswith("53.1")]
    p = tmp_path / "steppe.csv"
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ingest_paths(sqlite_db, [FIRMS / "reports.jsonl", p], ctx)
    run_pipeline(sqlite_db, ctx)
    ev = sqlite_db.physical_evidence()[_syzran(sqlite_db).id]
    assert (ev.verdict, ev.why) == ("silent", "no_detection")
    assert "nor within 50 km" in ev.reason and _syzran(sqlite_db).grade == "weak"
    # no file covering the strike's days: no_data, and nothing said in the grade
    p.write_text(rows[0] + "\n" + "\n".join(r for r in rows[1:] if r.split(",")[5] >= "2024-04-01") + "\n", encoding="utf-8")
    fresh = tmp_path / "late.db"
    from truce.db import Database

    with Database(str(fresh)) as d2:
        ingest_paths(d2, [FIRMS / "reports.jsonl", p], ctx)
        run_pipeline(d2, ctx)
        inc = _syzran(d2)
        assert d2.physical_evidence()[inc.id].why == "no_data"
        assert not any("satellite" in r for r in inc.grade_reasons)


@pytest.mark.slow  # the README's commands run the same path in tests/test_docs.py
def test_cli_ingest_and_candidates(tmp_path, demo):
    from click.testing import CliRunner

    from truce.cli import cli

    db = tmp_path / "t.db"
    shutil.copy(demo[0], db)
    r = CliRunner().invoke(cli, ["ingest", "--db", str(db), str(EXAMPLES / "demo-viirs.csv"), str(EXAMPLES / "demo-modis.csv")])
    assert r.exit_code == 0, r.output
    assert "from 2 FIRMS file(s)" in r.output and "new satellite fire detection(s)" in r.output
    r = CliRunner().invoke(cli, ["run", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "satellite: supports 1, silent 16, contradicts 1 (incidents at facilities; 24 outside" in r.output and "1 candidate(s) for review" in r.output
    r = CliRunner().invoke(cli, ["candidates", "--db", str(db), "--format", "json"])
    assert r.exit_code == 0, r.output
    assert [c["facility_id"] for c in json.loads(r.output)] == ["ru-kirishi-refinery"]
    r = CliRunner().invoke(cli, ["report", "--db", str(db), "-o", str(tmp_path / "r.html")])
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "id='satellite'" in html and "Candidate incidents (1)" in html and "367.1 K" in html


def test_findings_show_the_satellite_evidence(tmp_path, demo, ctx):
    """A weak incident inside the March 2025 moratorium (Sudzha, 8 April: alleged) is corroborated
    by NOAA-21 the night of the strike: fair, and the finding's trace says why."""
    from truce.db import Database

    path = tmp_path / "t.db"
    shutil.copy(demo[0], path)
    with Database(str(path)) as db:
        def sudzha() -> tuple:
            inc = next(i for i in db.incidents() if i.facility_id == "ru-sudzha-gis" and i.date == "2025-04-08")
            f = next(f for f, _ in db.findings("moratorium-2025-03") if f.incident_id == inc.id)
            return inc, f

        inc, f = sudzha()
        assert (inc.grade, f.verdict) == ("weak", "alleged")
        ingest_paths(db, [FIRMS / "sudzha-strike.csv"], ctx)
        s = run_pipeline(db, ctx)
        inc, f = sudzha()
        assert inc.grade == "fair"
        step = next(t for t in f.trace if t.condition == "the incident is established")
        assert step.result == "pass" and "VIIRS NOAA-21 2025-04-07 23:41 UTC" in step.fact
        assert f.verdict == "consistent_with_violation"
        assert s.ledger_appended >= 1  # the changed finding is on the record


def test_a_site_seen_burning_on_a_few_quiet_days_is_held_to_them(ctx):
    """Two quiet days with a 3 MW flare are too few to call a background, yet a 3 MW pixel the
    night of a strike does not stand above them; a 40 MW one does."""
    from truce.physical import Background, _above
    from truce.records import DetectionMatch, FireDetection

    params = load_matching()
    bg = Background(quiet_days=30, detection_days=2, frp_p95=3.0, count_p95=1.0, exists=False)

    def m(frp: float) -> DetectionMatch:
        return DetectionMatch(FireDetection(id=f"d{frp}", lat=0.0, lon=0.0, acquired="2024-03-15T23:00Z",
                                            satellite="NOAA-20", instrument="VIIRS", confidence="nominal", frp=frp), 0.5)

    assert [x.above_background for x in _above([m(3.1)], bg, params)] == [False]
    assert [x.above_background for x in _above([m(40.0)], bg, params)] == [True]
    none = Background(quiet_days=30, detection_days=0, frp_p95=0.0, count_p95=0.0, exists=False)
    assert [x.above_background for x in _above([m(3.1)], none, params)] == [True]
