import csv
import io
import json

import pytest

from truce.errors import RegistryError
from truce.reference.gazetteer import haversine_km
from truce.reference.registry import COLUMNS, EXPORT_COLUMNS, Registry, export_csv, package_registry_paths, read_facilities, to_geojson


@pytest.fixture(scope="module")
def reg(services):
    return services.registry


def test_every_shipped_row_validates_and_cites_a_source(reg):
    assert len(reg) > 150
    for f in reg:
        assert f.source.strip(), f.id
        assert f.coord_precision in ("site", "area", "town")
        assert f.country == f.region_code[:2]


def test_coverage_of_key_assets(reg):
    ids = set(reg.facilities)
    for fid in ("ua-zaporizhzhia-npp", "ua-burshtyn-tpp", "ua-trypillia-tpp", "ua-dnipro-hpp", "ua-kyiv-hpp",
                "ru-ryazan-refinery", "ru-norsi-refinery", "ru-tuapse-refinery", "ru-sudzha-gis", "ru-kursk-npp"):
        assert fid in ids, fid
    refineries = [f for f in reg if f.country == "RU" and f.type == "refinery" and f.lon < 60]
    assert len(refineries) >= 25


# Cross-checked against published plant-site coordinates (IAEA PRIS / Wikipedia infoboxes).
@pytest.mark.parametrize("fid,lat,lon,km", [
    ("ua-zaporizhzhia-npp", 47.5119, 34.5858, 2), ("ua-rivne-npp", 51.3272, 25.8917, 2),
    ("ua-khmelnytskyi-npp", 50.3015, 26.6499, 2), ("ua-south-ukraine-npp", 47.8167, 31.2167, 2),
    ("ua-dnipro-hpp", 47.8694, 35.0872, 2), ("ru-kursk-npp", 51.675, 35.605, 3),
    ("ru-novovoronezh-npp", 51.275, 39.20, 3), ("ua-trypillia-tpp", 50.13, 30.75, 3),
])
def test_cross_checked_coordinates(reg, fid, lat, lon, km):
    f = reg.get(fid)
    assert haversine_km(f.lat, f.lon, lat, lon) <= km


@pytest.mark.parametrize("text,fid", [
    ("удар по Бурштинській ТЕС", "ua-burshtyn-tpp"), ("пожар на Рязанском НПЗ", "ru-ryazan-refinery"),
    ("the Trypillia thermal power plant", "ua-trypillia-tpp"), ("Трипільську ТЕС", "ua-trypillia-tpp"),
    ("ДніпроГЕС", "ua-dnipro-hpp"), ("KINEF", "ru-kirishi-refinery"), ("ГИС «Суджа»", "ru-sudzha-gis"),
])
def test_aliases_match_inflected_and_transliterated_names(reg, services, text, fid):
    toks = services.km.tokenize(text)
    found = {f.id for _, _, fl, _ in reg.find_names(toks) for f in fl}
    assert fid in found, found


def _write(tmp_path, rows, header=COLUMNS):
    p = tmp_path / "x.csv"
    with open(p, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(header))
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return p


GOOD = dict(id="ua-test-tpp", name="Test TPP", name_uk="Тестова ТЕС", name_ru="Тестовая ТЭС", aliases="Testova TES",
            type="thermal_plant", country="UA", region_code="UA-46", place="Testove", place_names="Тестове",
            lat="49.8", lon="24.0", coord_precision="area", capacity="300", capacity_unit="MW", voltage_kv="",
            operator="", parent="", status="operating", status_date="", source="press:test", notes="")


def test_invalid_row_names_file_line_and_column(tmp_path):
    p = _write(tmp_path, [GOOD, {**GOOD, "id": "ua-bad", "type": "power_plant"}])
    with pytest.raises(RegistryError) as e:
        read_facilities(p)
    assert str(e.value).startswith(f"{p}:3: column type:")


def test_capacity_needs_a_unit(tmp_path):
    p = _write(tmp_path, [{**GOOD, "capacity_unit": ""}])
    with pytest.raises(RegistryError, match="capacity_unit"):
        read_facilities(p)


def test_duplicate_ids_are_rejected(tmp_path, services):
    p = _write(tmp_path, [GOOD])
    fs = read_facilities(p)
    with pytest.raises(RegistryError, match="duplicate facility id"):
        Registry(fs + fs, services.km)


def test_export_csv_columns_and_geojson(reg):
    buf = io.StringIO()
    n = export_csv(reg, buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert n == len(reg) == len(rows)
    assert list(rows[0])[:12] == ["id", "name", "aliases", "type", "country", "region_code", "lat", "lon",
                                  "capacity", "capacity_unit", "operator", "source"]
    assert tuple(rows[0]) == EXPORT_COLUMNS
    gj = to_geojson(reg)
    f0 = gj["features"][0]
    assert f0["geometry"]["type"] == "Point" and len(f0["geometry"]["coordinates"]) == 2
    lon, lat = f0["geometry"]["coordinates"]
    assert reg.get(f0["id"]).lat == pytest.approx(lat) and reg.get(f0["id"]).lon == pytest.approx(lon)
    json.dumps(gj)


def test_package_files_present():
    names = {p.name for p in package_registry_paths()}
    assert {"ua.csv", "ru.csv"} <= names
