import pytest

from truce.reference.gazetteer import Gazetteer, haversine_km
from truce.records import Place


@pytest.fixture(scope="module")
def gz(services):
    return services.gazetteer


def regions_in(gz, km, text, lang="any"):
    toks = km.tokenize(text, lang)
    return [(m.text, sorted({p.region_code for p in m.places}), m.is_region) for m in gz.find(toks, text)]


@pytest.mark.parametrize("text,code", [
    ("Lviv Oblast", "UA-46"), ("Lviv region", "UA-46"), ("Львівська область", "UA-46"), ("Львовская область", "UA-46"),
    ("на Львівщині", "UA-46"), ("на Прикарпатті", "UA-26"), ("на Київщині", "UA-32"), ("на Слобожанщині", "UA-63"),
    ("в Рязанской области", "RU-RYA"), ("в Краснодарском крае", "RU-KDA"), ("на Кубани", "RU-KDA"),
    ("в Одеській області", "UA-51"), ("Одесской области", "UA-51"), ("Dnipropetrovsk Oblast", "UA-12"),
    ("Kirovohrad region", "UA-35"), ("в Белгородской области", "RU-BEL"), ("в Республике Татарстан", "RU-TA"),
])
def test_region_names_in_three_languages_inflected_and_colloquial(gz, services, text, code):
    got = regions_in(gz, services.km, text)
    assert any(code in codes and is_region for _, codes, is_region in got), got


def test_coordinated_region_adjectives(gz, services):
    got = regions_in(gz, services.km, "в Київській, Харківській, Львівській та Запорізькій областях", "uk")
    codes = [c for _, cs, r in got if r for c in cs]
    assert {"UA-32", "UA-63", "UA-46", "UA-23"} <= set(codes)
    assert "UA-30" not in codes  # "Київській … областях" is the oblast, not the city


@pytest.mark.parametrize("name,region", [
    ("Kyiv", "UA-30"), ("Kiev", "UA-30"), ("Київ", "UA-30"), ("Киев", "UA-30"),
    ("Дніпропетровськ", "UA-12"), ("Dnipro", "UA-12"), ("Кіровоград", "UA-35"), ("Kropyvnytskyi", "UA-35"),
    ("Кузнецовськ", "UA-56"), ("Varash", "UA-56"), ("Енергодар", "UA-23"), ("Энергодар", "UA-23"),
    ("Кстово", "RU-NIZ"), ("Кириши", "RU-LEN"), ("Туапсе", "RU-KDA"), ("Burshtyn", "UA-26"),
])
def test_lookup_latin_cyrillic_and_former_names(gz, name, region):
    res = gz.resolve(name)
    assert res.candidates, name
    assert res.candidates[0].place.region_code == region, res.candidates[:3]


@pytest.mark.parametrize("form,region", [("Києві", "UA-30"), ("Харкові", "UA-63"), ("Рязани", "RU-RYA"),
                                         ("Кривому Розі", "UA-12"), ("Энергодаре", "UA-23"), ("Киришах", "RU-LEN")])
def test_inflected_place_names(gz, services, form, region):
    got = regions_in(gz, services.km, f"Вибухи у {form} вночі")
    best = gz.rank(form, [p for m in gz.find(services.km.tokenize(f"у {form}"), f"у {form}") for p in m.places])
    assert best.candidates and best.candidates[0].place.region_code == region, got


def test_ambiguous_names_use_context_and_say_when_undecided(gz):
    plain = gz.resolve("Олександрівка")
    assert len(plain.candidates) > 5
    hinted = gz.resolve("Олександрівка", region_hint="UA-51")
    assert hinted.candidates[0].place.region_code == "UA-51"
    # two equally likely villages, no context: not decided
    places = [Place("a", "Novoselivka", "UA", "UA-14", 48.0, 37.0, 600), Place("b", "Novoselivka", "UA", "UA-63", 49.5, 36.5, 610)]
    res = gz.rank("Novoselivka", places)
    assert not res.decided and res.best is None and "needs a region" in res.reason
    assert gz.rank("Novoselivka", places, region_hint="UA-63").best.id == "b"


def test_common_words_are_not_places(gz, services):
    assert regions_in(gz, services.km, "Кроме того, Поки що тихо.") == []


@pytest.mark.parametrize("lat,lon,code", [
    (50.45, 30.52, "UA-30"), (49.84, 24.03, "UA-46"), (47.51, 34.58, "UA-23"), (44.95, 34.10, "UA-43"),
    (54.63, 39.74, "RU-RYA"), (56.15, 44.20, "RU-NIZ"), (45.10, 39.00, "RU-KDA"), (50.60, 36.60, "RU-BEL"),
    (49.99, 36.23, "UA-63"), (46.48, 30.73, "UA-51"),
])
def test_point_to_region(gz, lat, lon, code):
    assert gz.region_at(lat, lon) == code


def test_region_name_round_trip(gz):
    for code, p in gz.regions.items():
        assert gz.region_code_for_name(p.name) == code


def test_in_memory_gazetteer(services):
    g = Gazetteer([Place("x", "Testograd", "UA", "UA-46", 49.8, 24.0, 1000, names=("Testograd", "Тестоград"))], services.km)
    toks = services.km.tokenize("у Тестограді")
    assert [m.places[0].id for m in g.find(toks, "у Тестограді")] == ["x"]
    assert haversine_km(50.45, 30.52, 49.99, 36.23) == pytest.approx(411, abs=3)


def test_phrase_index_is_read_on_first_lookup_and_rebuilt_when_damaged(services, tmp_path):
    import json
    from concurrent.futures import ThreadPoolExecutor

    places = [Place("x", "Testograd", "UA", "UA-46", 49.8, 24.0, 1000, names=("Testograd", "Тестоград"))]
    text = "у Тестограді"
    toks = services.km.tokenize(text)
    g = Gazetteer(places, services.km, index_dir=tmp_path)
    path = g.index_file(tmp_path)
    assert not path.exists()  # nothing built or read before a lookup
    assert [m.places[0].id for m in g.find(toks, text)] == ["x"]
    assert json.loads(path.read_text(encoding="utf-8"))["format"] == "truce-gazetteer-index/2"  # built, kept
    again = Gazetteer(places, services.km, index_dir=tmp_path)
    with ThreadPoolExecutor(4) as pool:  # threads looking up at once all see the whole index
        got = list(pool.map(lambda _: [m.places[0].id for m in again.find(toks, text)], range(8)))
    assert got == [["x"]] * 8 and again.lookup("Testograd") == places
    path.write_text("{damaged", encoding="utf-8")
    assert Gazetteer(places, services.km, index_dir=tmp_path).region_code_for_name("Testograd") is None
    assert json.loads(path.read_text(encoding="utf-8"))["format"] == "truce-gazetteer-index/2"  # rebuilt


def test_a_context_load_leaves_the_phrase_index_for_its_first_lookup():
    from truce.context import load_context

    ctx = load_context()
    assert ctx.gazetteer._index_dir is not None  # a command that reads no text never pays for it
    assert ctx.gazetteer.region_code_for_name("Lviv Oblast") == "UA-46"
    assert ctx.gazetteer._index_dir is None
    again = load_context()
    again.gazetteer.preload()  # a watcher or an extraction worker reads them up front
    assert again.gazetteer._index_dir is None
