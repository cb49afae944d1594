"""How real reports are put together (issue #10): strikes told through outages,
national statements, discourse across sentences, precision traps, dates and
accusations. Every example is written for this project; each test names the
phenomenon its rule handles."""

from __future__ import annotations

import pytest

from truce.extract import finalize
from truce.ingest import make_report


def run(ctx, text, published, lang, title=None, source=None):
    rep = make_report(text=text, external_id="t", sources=ctx.sources, published=published, language=lang,
                      title=title, source=source)
    return finalize(ctx.extractor.extract(rep), rep, ctx.services)


def strikes(claims):
    return sorted(((c.facility_id or c.facility_type), c.region_code or "", c.outcome) for c in claims if c.kind == "strike")


# --- strikes told through their outages (convention 2) ---------------------------------

@pytest.mark.parametrize("lang,text,region", [
    ("uk", "Через російську атаку близько 23:00 у Полтавській області стався блекаут.", "UA-53"),
    ("ru", "После атаки беспилотников в Курске и Курском районе пропал свет, сообщил губернатор.", "RU-KRS"),
    ("en", "After the night's shelling, 40,000 homes in Nikopol lost power, the regional governor said.", "UA-12"),
])
def test_an_outage_tied_to_an_attack_is_a_strike_on_the_region(ctx, lang, text, region):
    assert strikes(run(ctx, text, "2025-11-20", lang)) == [("other_energy", region, "hit")]


@pytest.mark.parametrize("lang,text", [
    ("uk", "У Київській області з 18:00 діятимуть графіки погодинних відключень."),
    ("en", "About 12,000 homes in Sumy were without power on Monday, the utility said, without giving a reason."),
    ("ru", "Завтра в Белгороде могут быть перебои с электроснабжением из-за плановых работ."),
])
def test_an_outage_without_an_attack_is_no_strike(ctx, lang, text):
    assert strikes(run(ctx, text, "2025-11-20", lang)) == []



def test_power_lines_brought_down_in_a_drone_attack_are_a_strike(ctx):
    text = ("Обломки беспилотников повредили дома в поселке Афипском Краснодарского края. "
            "В оперштабе региона сообщили, что обрушились ЛЭП.")
    assert strikes(run(ctx, text, "2025-12-14", "ru")) == [("transmission_line", "RU-KDA", "hit")]

def test_an_outage_beside_an_air_raid_alert_is_tied_to_it(ctx):
    text = ("Без світла залишилися Рівне, Луцьк і Житомир. По всій країні оголошено повітряну тривогу, "
            "працювала ППО.")
    got = {r for _, r, _ in strikes(run(ctx, text, "2024-11-17", "uk"))}
    assert {"UA-56", "UA-07", "UA-18"} <= got


def test_an_outage_caused_by_a_strike_in_a_neighbouring_region_is_no_strike_there(ctx):
    text = "Частина Сумщини залишилася без світла через удар по енергооб'єкту в сусідній області, повідомили в ОВА."
    assert strikes(run(ctx, text, "2025-10-01", "uk")) == [("other_energy", "", "hit")]


def test_an_outage_at_a_named_asset_takes_its_type(ctx):
    text = "In Kherson Oblast, a falling UAV led to power outages at a substation, the governor said."
    assert strikes(run(ctx, text, "2024-07-30", "en")) == [("substation", "UA-65", "hit")]


# --- mass strikes: a national statement beside the regions (convention 3) ---------------

def test_a_national_statement_keeps_a_country_level_event_beside_the_regions(ctx):
    text = ("Вночі російські війська завдали масованого удару по енергосистемі України. "
            "Пошкоджено об'єкти енергетики у Волинській і Рівненській областях.")
    assert [(f, r) for f, r, _ in strikes(run(ctx, text, "2024-08-26", "uk"))] == [
        ("other_energy", ""), ("other_energy", "UA-07"), ("other_energy", "UA-56")]



def test_an_outage_told_of_the_country_is_a_national_event_beside_the_city(ctx):
    text = ("A missile damaged an energy facility that supplies 200,000 flats in Kyiv.\n"
            "- In Ukraine, due to the massive strikes on critical infrastructure, emergency power outages are introduced.")
    assert strikes(run(ctx, text, "2022-10-31", "en")) == [("other_energy", "", "hit"), ("other_energy", "UA-30", "hit")]


def test_a_town_name_before_a_partys_surname_is_a_first_name(ctx):
    text = ("The moratorium was supported by [Vladimir] Zelensky, she said. The targets were transformers and "
            "substations, she added.")
    assert "RU-VLA" not in [c.region_code for c in run(ctx, text, "2025-04-17", "en")]


def test_another_hit_in_the_region_is_a_second_event(ctx):
    text = ("Після опівночі енергетики повідомили, що через атаку ворога на енергооб'єкт 20 тисяч родин "
            "на Сумщині без світла. Приблизно через годину стало відомо про ще одне влучання в Шосткинському "
            "районі, без світла ще 3000 абонентів.")
    assert [r for _, r, _ in strikes(run(ctx, text, "2025-10-20", "uk"))] == ["UA-59", "UA-59"]

def test_regions_counted_but_not_named_are_a_national_event(ctx):
    text = ("После ночных ударов повреждены объекты энергетики в Харькове, сообщил министр энергетики. "
            "Всего удары ракетами и беспилотниками затронули восемь областей.")
    assert [(f, r) for f, r, _ in strikes(run(ctx, text, "2026-02-03", "ru"))] == [("other_energy", ""), ("other_energy", "UA-63")]


def test_a_campaign_statement_without_a_day_is_no_event(ctx):
    text = "Russian attacks on Ukraine's energy sector have intensified since March, causing blackouts in many regions."
    assert strikes(run(ctx, text, "2024-06-14", "en")) == []


def test_damage_cited_in_a_story_about_trade_is_no_event(ctx):
    text = ("Ukraine plans record electricity imports on Friday after significant damage to energy infrastructure "
            "from Russian missile attacks, the grid operator said.")
    assert strikes(run(ctx, text, "2024-06-14", "en", title="Ukraine to import record volumes of power")) == []


# --- discourse: references back, headlines, units, parts -------------------------------

def test_the_facility_refers_to_the_headlines_plant(ctx):
    text = "A fire broke out at the facility after the overnight attack, the regional governor said."
    got = strikes(run(ctx, text, "2025-02-10", "en", title="Drones hit the Novoshakhtinsk refinery"))
    assert got == [("ru-novoshakhtinsk-refinery", "RU-ROS", "hit")]


def test_bare_facility_with_nothing_to_refer_to_is_no_target(ctx):
    assert strikes(run(ctx, "Беспилотник атаковал предприятие в Курской области, возник пожар.", "2025-02-10", "ru")) == []


def test_a_numbered_unit_after_another_is_a_target_of_its_own(ctx):
    text = "Missiles struck the Kyiv CHP-5 overnight. Later in the day, CHP-6 was also hit, the city said."
    assert [f for f, _, _ in strikes(run(ctx, text, "2025-02-10", "en"))] == ["ua-kyiv-chp5", "ua-kyiv-chp6"]


def test_the_substation_feeding_a_pumping_station_is_part_of_that_strike(ctx):
    text = "Ворожі дрони атакували підстанцію, яка живить нафтоперекачувальну станцію в Брянській області."
    assert [f for f, _, _ in strikes(run(ctx, text, "2025-02-10", "uk"))] == ["oil_pumping_station"]


def test_burning_tanks_on_the_plants_grounds_are_the_plant(ctx):
    text = "Вночі дрони атакували Рязанський НПЗ. На території заводу горять резервуари з нафтопродуктами."
    assert strikes(run(ctx, text, "2025-02-10", "uk")) == [("ru-ryazan-refinery", "RU-RYA", "hit")]


def test_a_counted_plural_named_one_by_one_is_their_sum(ctx):
    text = ("В ночь на 4 октября загорелись сразу две нефтебазы – в Воронежской области на нефтебазу упал дрон, "
            "а в Пермском крае горели емкости с топливом.")
    assert strikes(run(ctx, text, "2024-10-04", "ru")) == [("oil_depot", "RU-VOR", "hit")]


# --- precision traps ---------------------------------------------------------------------

@pytest.mark.parametrize("lang,text", [
    ("en", "A fire in a tank at the Lukoil refinery near Ukhta killed two workers; officials said it was caused by a "
           "contractor's breach of safety rules and not by drone attacks."),
    ("uk", "На Омському НПЗ стався потужний вибух, спалахнула пожежа. Причини інциденту встановлюються."),
    ("ru", "На нефтебазе в Кстове произошел техногенный пожар при подготовке резервуара к ремонту."),
])
def test_an_accident_is_no_strike(ctx, lang, text):
    assert strikes(run(ctx, text, "2024-06-02", lang)) == []


@pytest.mark.parametrize("lang,text", [
    ("en", "Trump asked Putin to halt strikes on Ukraine's energy infrastructure for 30 days."),
    ("uk", "Зеленський підтримав припинення ударів по енергетичних об'єктах Росії."),
    ("ru", "Путин согласился приостановить удары по объектам энергетики Украины."),
])
def test_halting_strikes_is_no_strike(ctx, lang, text):
    assert strikes(run(ctx, text, "2025-03-19", lang)) == []


@pytest.mark.parametrize("lang,text", [
    ("uk", "Ворог атакував підстанцію на Сумщині, пошкоджень об'єкта енергетики не зафіксовано."),
    ("ru", "Беспилотники пытались атаковать подстанцию, но повреждений не допущено."),
])
def test_negation_after_the_noun_makes_an_attempt(ctx, lang, text):
    assert [o for _, _, o in strikes(run(ctx, text, "2025-03-20", lang))] == ["attempted"]



@pytest.mark.parametrize("lang,text", [
    ("uk", "Уночі в Херсоні було чутно вибухи. Атак на об'єкти енергетики зафіксовано не було."),
    ("ru", "Ночью в Белгороде были слышны взрывы. Атак на объекты энергетики зафиксировано не было."),
])
def test_attacks_recorded_as_none_are_no_strike(ctx, lang, text):
    assert strikes(run(ctx, text, "2025-06-11", lang)) == []


@pytest.mark.parametrize("text", [
    "The reactor at the Zaporizhzhia plant was cooled down and the unit was shut down for maintenance, the operator said.",
    "The cease-fire on energy infrastructure proposed by Washington would last 30 days, officials said.",
    "Videos circulating online show a queue at a petrol station in Belgorod; the operator said supply is stable.",
    "Fuel prices rose in Moscow this week. Photo: a refinery near Moscow. Analysts expect gasoline to climb further.",
    "Residents of Kharkiv recalled the plant the Russians flattened a year ago as a new school opened on Tuesday.",
])
def test_phrasal_particles_idioms_captions_and_history_are_no_strike(ctx, text):
    assert strikes(run(ctx, text, "2025-06-11", "en")) == []


def test_an_official_explanation_cancels_the_attack_reading(ctx):
    text = ("A fire broke out at the Volgograd refinery on Tuesday. Investigators blame a faulty furnace; no aircraft "
            "were detected in the area, the regional emergencies ministry said.")
    assert strikes(run(ctx, text, "2025-06-11", "en", title="Fire at Volgograd refinery")) == []


def test_no_casualties_is_not_damage(ctx):
    text = "Drones attacked the Novoshakhtinsk refinery overnight. There were no casualties, the governor said."
    assert strikes(run(ctx, text, "2025-05-10", "en")) == [("ru-novoshakhtinsk-refinery", "RU-ROS", "unknown")]

def test_restoring_the_networks_is_no_target(ctx):
    text = ("Вночі ворог атакував енергетичну інфраструктуру Одещини. Через атаку частина громад без світла, "
            "фахівці працюють над відновленням мереж.")
    assert strikes(run(ctx, text, "2026-02-10", "uk")) == [("other_energy", "UA-51", "hit")]


def test_a_fire_elsewhere_in_a_report_of_an_attack_is_no_strike(ctx):
    text = ("Ночью беспилотник упал на территорию нефтебазы в Воронежской области, возник пожар.\n\n"
            "Еще один пожар произошел на складе топлива в Пермском крае.")
    assert [r for _, r, _ in strikes(run(ctx, text, "2024-10-04", "ru"))] == ["RU-VOR"]


def test_an_acronym_is_no_town(ctx, services):
    toks = services.km.tokenize("За даними ЗМІ, вибухи пролунали вночі.", "uk")
    assert [pm.text for pm in services.gazetteer.find(toks, "За даними ЗМІ, вибухи пролунали вночі.")] == []


# --- dates ------------------------------------------------------------------------------

def test_two_nights_of_one_month(ctx):
    text = "Дрони атакували нафтоперекачувальну станцію «Унеча» в Брянській області в ніч на 13 та на 6 серпня."
    days = sorted(c.date for c in run(ctx, text, "2025-08-22", "uk") if c.kind == "strike")
    assert days[0] in ("2025-08-06", "2025-08-13")


def test_a_time_of_day_before_a_weekday_is_that_weekday(services):
    from truce.extract.dates import parse_published
    found = services.dates("uk").find("вранці у понеділок дрони атакували станцію", parse_published("2025-08-22"))
    assert [str(d.date) for d in found] == ["2025-08-18"]



def test_a_weekday_beside_a_date_fixes_the_year_when_the_report_has_none(ctx):
    text = "On Sunday, 14 September, Ukrainian drones struck the Kirishi refinery in Leningrad region, the governor said."
    assert [c.date for c in run(ctx, text, None, "en") if c.kind == "strike"] == ["2025-09-14"]


def test_a_day_named_in_the_next_sentence_does_not_date_the_strike(ctx):
    text = ("Drones struck a substation in Kherson region overnight. Two days ago the city council met to discuss "
            "heating, the mayor added.")
    assert [c.date for c in run(ctx, text, "2025-04-03", "en") if c.kind == "strike"] == ["2025-04-03"]


def test_a_span_in_the_headline_does_not_split_one_event(ctx):
    claims = run(ctx, "Russia launched missiles at the Dnipro hydroelectric plant, which was hit several times on "
                 "Friday night.", "2024-03-25", "en", title="A 48-hour barrage on Ukraine's grid")
    assert len([c for c in claims if c.kind == "strike"]) == 1



def test_the_presidents_name_is_no_village(ctx, services):
    from truce.extract.analysis import analyse
    doc = analyse(services, "t", "Зеленський заявив, що вночі дрони атакували підстанцію.", published="2026-02-03",
                  language="uk")
    assert [pm.text for s in doc.sentences for pm in s.places] == []


def test_the_agreements_violated_are_not_a_deal_concluded(ctx):
    text = ("Зеленський заявив, що Росія умисно порушила енергетичне перемир'я. За його словами, ворог почав "
            "порушувати домовленості ще в ніч на п'ятницю.")
    got = [c.status for c in run(ctx, text, "2026-02-03", "uk") if c.kind == "negotiation"]
    assert got == ["violated_alleged"]

# --- accusations -------------------------------------------------------------------------

def test_the_sides_accusing_each_other_are_two_accusations(ctx):
    text = "Ukraine and Russia accused one another on Wednesday of violating the moratorium on energy strikes."
    got = sorted((c.accuser, c.accused) for c in run(ctx, text, "2025-03-26", "en") if c.kind == "accusation")
    assert got == [("RU", "UA"), ("UA", "RU")]


def test_the_speaker_accuses_and_the_possessor_of_the_violation_is_accused(ctx):
    text = "Moscow again highlights Kiev's violation of the moratorium on strikes on energy facilities."
    got = [(c.accuser, c.accused) for c in run(ctx, text, "2025-04-17", "en") if c.kind == "accusation"]
    assert got[:1] == [("RU", "UA")]



def test_a_charge_summing_up_listed_strikes_is_one_per_strike_in_the_reports_direction(ctx):
    text = ("Російська сторона знову порушила енергетичне перемир'я, заявив речник МЗС України.\n\n"
            "За минулу добу зафіксовано два таких порушення. У Сумській області внаслідок обстрілу пошкоджено підстанцію. "
            "Також вчора пошкоджено лінію електропередачі в Чернігівській області. "
            "Усе це є порушеннями енергетичного перемир'я.")
    got = sorted((c.accuser, c.accused, c.region_code) for c in run(ctx, text, "2025-04-10", "uk")
                 if c.kind == "accusation" and c.region_code)
    assert got == [("UA", "RU", "UA-59"), ("UA", "RU", "UA-74")]

def test_a_charge_of_war_outside_any_halt_is_no_accusation(ctx):
    text = "The governor accused Russia of deliberately targeting energy infrastructure in the region."
    assert [c for c in run(ctx, text, "2024-12-25", "en") if c.kind == "accusation"] == []


def test_a_third_country_accusing_is_not_a_party(ctx):
    text = "Hungary's foreign minister accused Ukraine of an attack on the Druzhba pipeline during the truce."
    assert [c for c in run(ctx, text, "2025-04-01", "en") if c.kind == "accusation"] == []


# --- negotiation statuses ----------------------------------------------------------------

def test_a_report_may_assert_several_statuses(ctx):
    text = ("The 30-day moratorium agreed on March 18 has been in place since then, the Kremlin said. "
            "Kyiv accused Moscow of violating it.")
    statuses = {c.status for c in run(ctx, text, "2025-04-10", "en") if c.kind == "negotiation"}
    assert {"agreed", "in_force"} <= statuses and "violated_alleged" not in statuses



@pytest.mark.parametrize("lang,text,parties", [
    ("en", "Trump said Putin agreed not to target Kyiv for a week during the cold spell.", ("RU", "US")),
    ("uk", "Трамп домовився з путіним про тимчасове припинення атак по енергетиці України.", ("RU", "US")),
    ("en", "Ukraine and Russia agreed to a 30-day pause in strikes on energy infrastructure, the White House said.",
     ("RU", "UA")),
    ("uk", "Україна погодилася на енергетичний мораторій, досягнутий за посередництва США, заявили в МЗС.",
     ("RU", "UA")),
])
def test_a_deal_between_the_mediator_and_one_side_has_those_two_as_parties(ctx, lang, text, parties):
    got = [c.parties for c in run(ctx, text, "2026-01-29", lang) if c.kind == "negotiation"]
    assert got[:1] == [parties]

def test_asking_to_suspend_strikes_is_no_suspension_of_talks(ctx):
    text = "Трамп попросил Путина приостановить удары по Киеву до 1 февраля, и Кремль согласился на предложение."
    statuses = {c.status for c in run(ctx, text, "2026-01-30", "ru") if c.kind == "negotiation"}
    assert "suspended" not in statuses and "agreed" in statuses
