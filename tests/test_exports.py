import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from truce.cli import cli

DATA = Path(__file__).parent / "data"

# ACLED's export columns in their published order (ACLED Codebook, "Data columns"), written out
# here rather than taken from the code under test
ACLED_PUBLISHED = [
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type", "sub_event_type",
    "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2", "interaction", "civilian_targeting",
    "iso", "region", "country", "admin1", "admin2", "admin3", "location", "latitude", "longitude", "geo_precision",
    "source", "source_scale", "notes", "fatalities", "tags", "timestamp",
]


@pytest.fixture
def demo_db(demo, tmp_path):
    return str(demo[0]), tmp_path


def test_geojson_export_is_valid_rfc7946(demo_db):
    import geojson

    db, d = demo_db
    out = d / "i.geojson"
    assert CliRunner().invoke(cli, ["export", "--db", db, "--format", "geojson", "-o", str(out)]).exit_code == 0
    obj = geojson.loads(out.read_text(encoding="utf-8"))
    assert obj.is_valid, obj.errors()
    assert obj["type"] == "FeatureCollection" and len(obj["features"]) > 50
    for f in obj["features"]:
        if f["geometry"] is not None:
            lon, lat = f["geometry"]["coordinates"]
            assert 19 <= lon <= 180 and 40 <= lat <= 72  # lon, lat order


def test_parquet_reads_back(demo_db):
    import pyarrow.parquet as pq

    db, d = demo_db
    out = d / "i.parquet"
    assert CliRunner().invoke(cli, ["export", "--db", db, "--format", "parquet", "-o", str(out),
                                    "--from", "2025-03-18", "--to", "2025-04-16"]).exit_code == 0
    import datetime as dt

    import pyarrow as pa

    t = pq.read_table(out)
    assert t.num_rows > 5 and "grade" in t.column_names
    assert t.schema.field("date").type == pa.date32()
    assert t.schema.field("first_reported").type == pa.timestamp("ms", tz="UTC")
    assert all(dt.date(2025, 3, 18) <= d <= dt.date(2025, 4, 16) for d in t.column("date").to_pylist())
    assert {"location_precision", "verdict_moratorium-2025-03", "evidence_quote", "evidence_url"} <= set(t.column_names)
    assert "consistent_with_violation" in set(t.column("verdict_moratorium-2025-03").to_pylist())
    assert all(q for q in t.column("evidence_quote").to_pylist())


def test_acled_csv_has_exactly_acleds_columns_and_codes(demo_db):
    db, d = demo_db
    r = CliRunner().invoke(cli, ["export", "--db", db, "--format", "acled-csv", "-o", "-"])
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    header = r.stdout.splitlines()[0].split(",")
    assert header == ACLED_PUBLISHED and len(header) == 31
    assert {x["sub_event_type"] for x in rows} <= {"Air/drone strike", "Shelling/artillery/missile attack"}
    assert {x["geo_precision"] for x in rows} <= {"1", "2", "3"} and {x["time_precision"] for x in rows} == {"1"}
    trypillia = next(x for x in rows if x["location"] == "Trypillia TPP")
    assert (trypillia["country"], trypillia["iso"], trypillia["actor1"], trypillia["admin1"]) == (
        "Ukraine", "804", "Military Forces of Russia (2000-)", "Kyiv")


def test_csv_export(demo_db):
    db, d = demo_db
    r = CliRunner().invoke(cli, ["export", "--db", db, "--format", "csv", "-o", "-"])
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows and {"id", "grade", "n_sources", "report_ids"} <= set(rows[0])


def test_stats_are_computed_and_explained(demo_db):
    db, _ = demo_db
    r = CliRunner().invoke(cli, ["stats", "--db", db, "--format", "json"])
    s = json.loads(r.stdout)
    ua = s["capacity"]["generation"]["UA"]
    assert ua["mw_hit"] > 5000 and 0 < ua["share"] < 1
    assert "Trypillia TPP" in ua["by_type"]["thermal_plant"]["facilities"]
    rates = s["rates"]["moratorium-2025-03"]
    assert set(rates) == {"moscow", "kyiv"}
    ru = rates["moscow"]["by_attacker"]["RU"]
    assert set(ru["counts"]) == {"before", "during", "after"} and 0 <= (ru["during_vs_before"]["p_value"] or 0) <= 1
    text = CliRunner().invoke(cli, ["stats", "--db", db]).output
    assert "exact Poisson rate-ratio" in text and "Mt/yr" in text


def test_rate_change_detects_a_real_drop():
    from truce.records import Incident
    from truce.outputs.stats import rate_change

    def inc(day):
        return Incident(id=day, kind="region", date=day, date_precision="day", country="UA", region_code="UA-46",
                        region=None, facility_id=None, facility_name=None, facility_type="substation", attacker="RU",
                        attacker_basis="stated", weapon=None, outcome="hit", grade="fair")
    import datetime as dt
    before = [inc((dt.date(2025, 2, 16) + dt.timedelta(days=i)).isoformat()) for i in range(30) for _ in range(2)]
    during = [inc((dt.date(2025, 3, 18) + dt.timedelta(days=i)).isoformat()) for i in range(0, 30, 10)]
    r = rate_change(before + during, "2025-03-18", "2025-04-16")["by_attacker"]["RU"]
    assert r["counts"] == {"before": 60, "during": 3, "after": 0}
    assert r["during_vs_before"]["ratio"] == 0.05 and r["during_vs_before"]["p_value"] < 0.001
    assert r["during_vs_before"]["ci95"][1] < 0.2


def test_acled_import_rows_become_reports_and_claims(tmp_path):
    db = str(tmp_path / "a.db")
    r = CliRunner().invoke(cli, ["ingest", str(DATA / "acled_sample.csv"), "--db", db])
    assert r.exit_code == 1 and f"{DATA / 'acled_sample.csv'}:5: latitude/longitude is not a number" in r.output
    assert "ingested 3 new report(s)" in r.output
    CliRunner().invoke(cli, ["run", "--db", db])
    rows = json.loads(CliRunner().invoke(cli, ["incidents", "--db", db, "--format", "json"]).stdout)
    facilities = {x["facility_id"]: x for x in rows}
    assert set(facilities) == {"ua-burshtyn-tpp", "ru-ryazan-refinery"}  # the hardware store is not energy
    b = facilities["ua-burshtyn-tpp"]
    assert b["attacker"] == "RU" and b["attacker_basis"] == "stated" and b["weapon"] == "missile"
    assert b["reports"][0]["report_id"] == "acled:UKR900001" and b["reports"][0]["source"] == "ACLED"


def test_acled_export_round_trips_through_our_own_importer(demo_db):
    """Every exported row is read back by `truce ingest` and becomes the same incident again
    (date, country, region, asset type, attacker); what could not be exported is counted."""
    db, d = demo_db
    out = d / "acled.csv"
    r = CliRunner().invoke(cli, ["export", "--db", db, "--format", "acled-csv", "-o", str(out)])
    assert r.exit_code == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    left = sum(int(line.split()[2]) for line in r.stderr.splitlines() if line.startswith("left out "))
    every = json.loads(CliRunner().invoke(cli, ["incidents", "--db", db, "--format", "json"]).stdout)
    assert len(rows) + left == len(every) and left > 0
    back = str(d / "back.db")
    r = CliRunner().invoke(cli, ["ingest", str(out), "--db", back])
    assert r.exit_code == 0 and r.output.strip() == f"ingested {len(rows)} new report(s), 0 already stored, from 1 file(s)"
    assert CliRunner().invoke(cli, ["run", "--db", back]).exit_code == 0
    again = json.loads(CliRunner().invoke(cli, ["incidents", "--db", back, "--format", "json"]).stdout)
    by_row = {x["report_id"]: i for i in again for x in i["reports"]}
    original = {i["id"]: i for i in every}
    same = 0
    for row in rows:
        got = by_row[f"acled:{row['event_id_cnty']}"]  # every row made an incident
        was = original[row["notes"].split("[Truce Monitor ")[1].split(",")[0]]
        keys = ("date", "country", "region_code", "facility_type", "attacker")
        same += all(got[k] == was[k] for k in keys)
    assert same >= len(rows) - 2, (same, len(rows))  # a region's point may fall within 3 km of a plant there
