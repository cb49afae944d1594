from pathlib import Path

import pytest

from truce.errors import RegistryError
from truce.ingest.facilities import apply_links, import_file, read_gppd, read_osm, stored_facilities

DATA = Path(__file__).parent / "data" / "import"


def test_gppd_rows_map_types_countries_and_regions(services):
    rows = [f for _, f in read_gppd(DATA / "gppd_sample.csv", services.gazetteer.region_at)]
    kept = [f for f in rows if f is not None]
    assert len(rows) == 5 and len(kept) == 4  # the Polish plant is outside UA/RU
    solar = next(f for f in kept if "Solar" in f.name)
    assert (solar.type, solar.country, solar.capacity, solar.capacity_unit) == ("solar_wind", "UA", 120.0, "MW")
    assert solar.region_code == services.gazetteer.region_at(46.7, 32.9)
    assert solar.id == "ua-gppd-wri1000002" and "GPPD WRI1000002" in solar.source


def test_imported_rows_merge_with_curated_ones_without_duplicates(db, services):
    res = import_file(db, services.registry, DATA / "gppd_sample.csv", "gppd", region_at=services.gazetteer.region_at)
    assert (res.read, res.added, res.merged, res.skipped) == (5, 2, 2, 1)  # Burshtyn and Rivne NPP are known
    extra = stored_facilities(db)
    assert sorted(f.name for f in extra) == ["Test Gas Turbine Plant Voronezh", "Test Solar Park Pivden"]
    linked = apply_links(services.registry.merged_with(extra), db)
    assert "GPPD WRI1000001" in linked.get("ua-burshtyn-tpp").source
    # importing again adds nothing new
    again = import_file(db, services.registry, DATA / "gppd_sample.csv", "gppd", region_at=services.gazetteer.region_at)
    assert again.added == 0 and again.merged == 4


def test_osm_geojson_and_csv(db, services):
    feats = [f for _, f in read_osm(DATA / "osm_sample.geojson", services.gazetteer.region_at)]
    kept = [f for f in feats if f is not None]
    assert sorted(f.type for f in kept) == ["refinery", "substation", "thermal_plant"]
    sub = next(f for f in kept if f.type == "substation")
    assert sub.voltage_kv == 330 and sub.region_code == "UA-46" and sub.name_uk == "ПС 330 кВ Тестова"
    res = import_file(db, services.registry, DATA / "osm_sample.geojson", "osm", region_at=services.gazetteer.region_at)
    assert (res.added, res.merged, res.skipped) == (1, 2, 1)  # Trypillia and Ryazan match curated rows
    (pump,) = [f for _, f in read_osm(DATA / "osm_sample.csv", services.gazetteer.region_at)]
    assert pump.type == "oil_pumping_station" and pump.country == "RU"


def test_bad_import_files_name_the_problem(tmp_path, services):
    p = tmp_path / "x.csv"
    p.write_text("country,name\nUKR,x\n", encoding="utf-8")
    with pytest.raises(RegistryError, match=r"x\.csv:1: not a GPPD CSV: missing columns gppd_idnr"):
        list(read_gppd(p, services.gazetteer.region_at))
    g = tmp_path / "x.geojson"
    g.write_text("{not json", encoding="utf-8")
    with pytest.raises(RegistryError, match=r"x\.geojson:1: invalid GeoJSON"):
        list(read_osm(g, services.gazetteer.region_at))
