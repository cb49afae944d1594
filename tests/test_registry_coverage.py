"""Coverage and consistency checks on the shipped facility registry (issue #15):
how much of each asset class is present and at which precision, and the invariants
a placed row must keep (its region, its capacity, its distance to its neighbours)."""

import math
from collections import Counter

import pytest

from truce.reference.gazetteer import haversine_km

# Rows whose ISO region is right but that the gazetteer's vote of nearby settlements
# puts in the surrounding oblast: both plants stand inside the St Petersburg city limits.
REGION_VOTE_EXCEPTIONS = {"ru-spb-pravoberezhnaya-chp5", "ru-spb-vyborgskaya-chp17",
                          # on the Mykolaiv bank of the Tylihul estuary, the Odesa Oblast border: the
                          # nearest settlements are across the water
                          "ua-progressovka-spp", "ua-prohresivka-ss330"}

# Site rows farther than HOST_PLACE_KM from every gazetteer place bearing their host-place names,
# with why: the gazetteer's Prypiat is not the abandoned town beside the plant, and the
# Krivoporozhskaya HPP's village name matches a settlement of that name across Karelia.
HOST_PLACE_KM = 35.0
FAR_FROM_HOST_EXCEPTIONS = {"ua-chornobyl-npp", "ua-chornobyl-npp-nsc", "ru-krivoporozhskaya-hpp"}

POWER_TYPES = ("nuclear_plant", "thermal_plant", "chp", "hydro_plant", "solar_wind")


@pytest.fixture(scope="module")
def reg(services):
    return services.registry


def _european(f) -> bool:
    return f.country == "UA" or f.lon < 60


def test_counts_by_type_and_precision_do_not_fall(reg):
    c = Counter((f.country, f.type, f.coord_precision) for f in reg)
    # floors pinned from the registry as placed from GPPD, OSM and Wikipedia
    assert c[("RU", "thermal_plant", "site")] + c[("RU", "chp", "site")] >= 125
    assert c[("RU", "hydro_plant", "site")] >= 30
    assert c[("UA", "thermal_plant", "site")] >= 14
    assert c[("RU", "substation", "site")] >= 50
    assert c[("RU", "refinery", "site")] >= 3
    assert c[("UA", "substation", "site")] >= 90
    assert c[("UA", "chp", "site")] + c[("UA", "thermal_plant", "site")] >= 35


def test_large_power_plants_of_european_russia_and_ukraine(reg):
    big = [f for f in reg if f.type in POWER_TYPES and _european(f) and not f.parent
           and f.capacity_unit == "MW" and (f.capacity or 0) >= 100]
    assert len(big) >= 200
    site = [f for f in big if f.coord_precision == "site"]
    assert len(site) / len(big) >= 0.85, [f.id for f in big if f.coord_precision != "site"]


def test_high_voltage_substations_present(reg):
    kv = Counter(int(f.voltage_kv) for f in reg if f.type == "substation" and f.voltage_kv and _european(f))
    assert kv[750] >= 22
    assert kv[330] >= 125
    for fid in ("ua-kyivska-ss750", "ua-zakhidnoukrainska-ss750", "ua-vinnytska-ss750", "ua-zaporizka-ss750",
                "ua-pivnichnoukrainska-ss750", "ua-dniprovska-ss750", "ua-donbaska-ss750", "ua-pivdennodonbaska-ss750",
                "ru-leningradskaya-ss750", "ru-novobryanskaya-ss", "ru-metallurgicheskaya-ss", "ua-dzhankoi-ss330"):
        assert reg.get(fid) is not None, fid
    placed = [f for f in reg if f.type == "substation" and f.voltage_kv and int(f.voltage_kv) >= 330 and _european(f)]
    assert sum(f.coord_precision == "site" for f in placed) / len(placed) >= 0.9


def test_refineries_of_european_russia_present(reg):
    refineries = [f for f in reg if f.type == "refinery" and f.country == "RU" and f.lon < 60]
    assert len(refineries) >= 28


def test_site_rows_lie_in_their_region(reg, services):
    wrong = [(f.id, f.region_code, services.gazetteer.region_at(f.lat, f.lon)) for f in reg
             if f.coord_precision == "site" and f.id not in REGION_VOTE_EXCEPTIONS
             and services.gazetteer.region_at(f.lat, f.lon) != f.region_code]
    assert not wrong, wrong


def _host_distance_km(f, gazetteer) -> float | None:
    """Distance from a row's point to the nearest gazetteer settlement in its region that bears
    one of its host-place names (places the registry itself added are left out), or None."""
    best = None
    for name in (f.place, *f.place_names):
        for p in gazetteer.lookup(name) if name else ():
            if p.id.startswith("fac:") or p.kind != "settlement" or p.region_code != f.region_code:
                continue
            d = haversine_km(f.lat, f.lon, p.lat, p.lon)
            best = d if best is None else min(best, d)
    return best


def test_site_rows_lie_near_their_host_place(reg, services):
    """A site point a typo or a swapped coordinate sent off lies far from the town it names."""
    far = [(f.id, f.place, round(d, 1)) for f in reg
           if f.coord_precision == "site" and f.id not in FAR_FROM_HOST_EXCEPTIONS
           and (d := _host_distance_km(f, services.gazetteer)) is not None and d > HOST_PLACE_KM]
    assert not far, far


def test_far_from_host_exceptions_are_still_needed(reg, services):
    for fid in FAR_FROM_HOST_EXCEPTIONS:
        f = reg.get(fid)
        assert f is not None and f.coord_precision == "site", fid
        d = _host_distance_km(f, services.gazetteer)
        assert d is not None and d > HOST_PLACE_KM, f"{fid}: drop it from the exceptions"


def test_region_vote_exceptions_are_still_needed(reg, services):
    for fid in REGION_VOTE_EXCEPTIONS:
        f = reg.get(fid)
        assert f is not None and f.coord_precision == "site", fid
        assert services.gazetteer.region_at(f.lat, f.lon) != f.region_code, f"{fid}: drop it from the exceptions"


def test_no_two_sited_rows_of_a_type_on_one_spot(reg):
    rows = [f for f in reg if f.coord_precision == "site"]
    clashes = []
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            if a.type != b.type or a.parent == b.id or b.parent == a.id or (a.parent and a.parent == b.parent):
                continue
            if abs(a.lat - b.lat) < 0.01 and haversine_km(a.lat, a.lon, b.lat, b.lon) < 0.3:
                clashes.append((a.id, b.id))
    assert not clashes, clashes


def test_capacities_are_positive_with_a_unit(reg):
    for f in reg:
        if f.capacity is not None:
            assert f.capacity > 0 and math.isfinite(f.capacity), f.id
            assert f.capacity_unit, f.id
        if f.type in POWER_TYPES and f.capacity_unit:
            assert f.capacity_unit == "MW", f.id


def test_placed_rows_cite_a_placing_source(reg):
    placing = ("GPPD:", "GEM:", "OSM", "wikipedia", "IAEA PRIS", "operator:", "press:")
    for f in reg:
        if f.coord_precision == "site":
            assert any(p in f.source for p in placing), f.id


def test_unplaced_rows_say_so(reg):
    """A town-precision row admits in its notes that the site is not pinned."""
    words = ("not pinned", "not placed", "not known", "not established", "not verified", "point is", "coordinates are",
             "site within", "town", "city")
    silent = [f.id for f in reg if f.coord_precision == "town" and not any(w in (f.notes or "").lower() for w in words)]
    assert len(silent) <= 13, silent


def test_nine_in_ten_of_the_assets_issue_15_names_are_placed_at_their_site(reg):
    """Refineries, power plants of 100 MW or more (wind and solar farms too) and 330/750 kV
    substations of Ukraine and European Russia: at least 90 % at `site` precision."""
    named = [f for f in reg if _european(f) and not f.parent and (
        f.type == "refinery"
        or (f.type in POWER_TYPES and f.capacity_unit == "MW" and (f.capacity or 0) >= 100)
        or (f.type == "substation" and f.voltage_kv and int(f.voltage_kv) in (330, 750)))]
    assert len(named) >= 400
    placed = sum(f.coord_precision == "site" for f in named)
    assert placed / len(named) >= 0.9, (placed, len(named))
