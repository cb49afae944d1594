"""Damage told as a state, not an event: past damage, repairs, technical faults,
retrospectives, forecasts, undisclosed sites and tallies (texts written for these tests)."""

import pytest

from truce.extract import finalize
from truce.ingest import make_report


def run(ctx, text, published, language, title=None):
    rep = make_report(text=text, external_id="t", sources=ctx.sources, published=published, language=language,
                      title=title)
    return finalize(ctx.extractor.extract(rep), rep, ctx.services)


def energy(claims):
    return [c for c in claims if c.kind in ("strike", "accusation")]


@pytest.mark.parametrize("language,text", [
    ("en", "The grid operator said the system has been under strain since the winter, when Russian strikes "
           "knocked out a large part of thermal generation."),
    ("en", "Analysts blame the deficit on last year's damage to hydro plants and on low water in the reservoirs."),
    ("uk", "На Трипільській ТЕС тривають ремонтні роботи: фахівці демонтують знищене обладнання машинної зали."),
    ("ru", "В Курске на полчаса отключалось электроснабжение из-за технологического сбоя на подстанции, "
           "не связанного с атаками."),
    ("uk", "Через пошкодження внутрішньої електромережі будівлі школа тимчасово працює від генератора."),
    ("en", "Russia is stockpiling cruise missiles for a massive attack on Ukraine's energy system, the president said."),
    ("uk", "За його словами, противник робить ставку на удари по газовидобуванню взимку."),
    # other infrastructure, distant blasts, no reported damage
    ("uk", "Вночі росіяни вдарили по об'єкту критичної інфраструктури у Кривому Розі: пошкоджено залізничне депо."),
    ("en", "Explosions were heard in Kyiv as air defence engaged ballistic missiles; there were no reports of damage "
           "to energy facilities."),
    ("en", "The IAEA team at the Zaporizhzhia nuclear plant heard explosions several kilometres away on Sunday "
           "but reported no damage at the site."),
    ("ru", "Жители Энергодара слышали взрывы в районе Никополя, информации о повреждениях нет."),
    ("en", "The IAEA said Ukraine's nuclear power plants had to reduce output because of the attacks on the grid, "
           "although none of the plants had been hit."),
    # protection works, sanctions, storms
    ("en", "Second-level structures, designed to withstand direct hits by Shahed drones, now shield 20 substations."),
    ("en", "EU governments approved a sanctions package targeting a refinery in India part-owned by Rosneft."),
    ("uk", "Через негоду знеструмлено 312 населених пунктів. Пошкодження стосуються переважно розподільчих мереж 10 кВ."),
])
def test_no_energy_event(ctx, language, text):
    assert energy(run(ctx, text, "2025-06-10", language)) == []


def test_repairs_do_not_hide_a_fresh_strike_in_the_same_report(ctx):
    text = ("Вночі ворог атакував Бурштинську ТЕС, пошкоджено обладнання.\n\n"
            "На Трипільській ТЕС тривають ремонтні роботи. Роботи йдуть повільно через масштаб пошкоджень.")
    strikes = [c for c in run(ctx, text, "2025-06-10", "uk") if c.kind == "strike"]
    assert [(c.facility_id, c.salience) for c in strikes] == [("ua-burshtyn-tpp", "main")]


def test_a_retrospective_is_background(ctx):
    text = ("A year ago, on April 11, 2024, a Russian missile strike destroyed the Trypillia thermal power plant "
            "near Kyiv. The operator has since rebuilt part of the site.")
    strikes = [c for c in run(ctx, text, "2025-04-11", "en") if c.kind == "strike"]
    assert [(c.facility_id, c.date, c.salience) for c in strikes] == [("ua-trypillia-tpp", "2024-04-11", "background")]


def test_an_undisclosed_site_borrows_no_region(ctx):
    text = ("DTEK said output at its wind farm in Mykolaiv region rose in May.\n\n"
            "Overnight a Russian missile attack damaged one of DTEK's thermal power plants. "
            "The company did not name the plant or the region.")
    (c,) = [c for c in run(ctx, text, "2025-06-05", "en") if c.kind == "strike"]
    assert (c.facility_type, c.region_code, c.country, c.date) == ("thermal_plant", None, "UA", "2025-06-05")


def test_a_tally_in_a_talks_report_is_an_accusation_not_a_strike(ctx):
    text = ("Це чергове порушення Росією мораторію на удари по енергетиці. Відтоді окупанти завдали понад "
            "десять ударів по енергетичних об'єктах на Херсонщині.")
    claims = run(ctx, text, "2025-04-03", "uk")
    assert [c for c in claims if c.kind == "strike"] == []
    acc = [(c.accuser, c.accused, c.region_code, c.linked_claim) for c in claims if c.kind == "accusation"]
    assert ("UA", "RU", "UA-65", None) in acc


def test_a_red_line_is_not_an_accusation(ctx):
    text = ("Kyiv would regard any strike on its ports as a violation of the agreement, "
            "the defence minister said after the talks.")
    assert [c for c in run(ctx, text, "2025-03-25", "en") if c.kind == "accusation"] == []


def negotiations(claims):
    return [(c.status, c.agreement_id) for c in claims if c.kind == "negotiation"]


@pytest.mark.parametrize("published,text,status", [
    # readiness to accept a proposal is not agreement
    ("2025-03-11", "Ukraine said on Tuesday it was ready to accept a U.S. proposal for a 30-day halt to strikes on "
                   "energy infrastructure, after talks with American officials in Jeddah.", "proposed"),
    ("2024-08-18", "Russian officials backed away from the Doha meeting on a halt to strikes on energy facilities "
                   "after the Kursk incursion, two diplomats said.", "suspended"),
])
def test_main_negotiation_status(ctx, published, text, status):
    assert negotiations(run(ctx, text, published, "en"))[0][0] == status


def test_a_conditional_offer_is_a_proposal_of_its_own(ctx):
    text = ("The 30-day moratorium on strikes against energy infrastructure has expired, the Kremlin said.\n\n"
            "Kyiv is ready to extend the halt on strikes on energy if Russia does the same, the president said.")
    got = negotiations(run(ctx, text, "2025-04-17", "en"))
    assert ("expired", "moratorium-2025-03") in got and any(s == "proposed" for s, _ in got)


def test_a_deal_on_another_subject_is_its_own_claim_without_agreement_id(ctx):
    text = ("Кремль опублікував перелік енергетичних об'єктів, на які поширюється мораторій на удари.\n\n"
            "Делегації США та Росії за підсумками консультацій також домовилися про безпечне судноплавство в Чорному морі.")
    claims = run(ctx, text, "2025-03-25", "uk")
    side = [c for c in claims if c.kind == "negotiation" and c.agreement_id is None]
    assert [(c.status, c.rule) for c in side] == [("agreed", "negotiation/agreed/other-subject")]
    assert "судноплавство" in side[0].topic


def test_a_landmark_facility_is_not_the_target(ctx):
    text = ("Russian forces shelled Nikopol from across the reservoir opposite the occupied Zaporizhzhia nuclear "
            "plant, damaging homes and a power line, the governor said.")
    strikes = [c for c in run(ctx, text, "2025-01-10", "en") if c.kind == "strike"]
    assert [c.facility_type for c in strikes] == ["transmission_line"]


def test_a_boiler_house_is_not_the_towns_chp(ctx):
    text = "Внаслідок обстрілу Харкова пошкоджено котельню, без тепла залишилися 50 будинків."
    (c,) = [c for c in run(ctx, text, "2025-01-10", "uk") if c.kind == "strike"]
    assert (c.facility_id, c.region_code) == (None, "UA-63")


def test_a_title_makes_a_city_name_a_first_name(ctx):
    text = ("President Volodymyr Zelensky said Russia fired 120 missiles overnight.\n\n"
            "DTEK said its thermal power plants had been seriously damaged in the attack.")
    (c,) = [c for c in run(ctx, text, "2024-11-17", "en") if c.kind == "strike"]
    assert (c.facility_type, c.country, c.region_code) == ("thermal_plant", "UA", None)


def test_a_common_noun_opening_a_sentence_is_no_village(ctx):
    text = ("Пожар произошел на территории Туапсинского НПЗ в Краснодарском крае после атаки беспилотников.\n\n"
            "В результате атаки также повреждена линия электропередачи.")
    strikes = [c for c in run(ctx, text, "2024-05-17", "ru") if c.kind == "strike"]
    assert {c.region_code for c in strikes} == {"RU-KDA"} and len(strikes) == 2


def test_a_report_about_one_district_places_its_unnamed_facility_there(ctx):
    text = ("The enemy once again attacked Odesa district with attack drones overnight.\n\n"
            "As a result of the attack, an energy infrastructure facility was damaged and a fire broke out.")
    (c,) = [c for c in run(ctx, text, "2025-01-31", "en") if c.kind == "strike"]
    assert (c.facility_type, c.region_code) == ("other_energy", "UA-51")


def test_an_operators_own_sites_take_its_asset_type(ctx):
    text = ("State-owned Naftogaz said its production facilities in the Kharkiv region were hit overnight.\n\n"
            "In the Poltava region, the company said, drones struck several sites and a fire broke out.")
    strikes = [c for c in run(ctx, text, "2025-03-07", "en") if c.kind == "strike"]
    assert sorted((c.facility_type, c.region_code) for c in strikes) == [
        ("gas_production", "UA-53"), ("gas_production", "UA-63")]


def test_the_day_before_the_target_dates_it(ctx):
    text = ("Russia struck Ukraine's gas sector again on Friday. Recall: in January Russian missiles hit gas "
            "infrastructure several times, including on Jan. 15, when they targeted underground gas storage sites in the Lviv region.")
    (bg,) = [c for c in run(ctx, text, "2025-03-07", "en") if c.kind == "strike" and c.salience == "background"]
    assert (bg.facility_type, bg.region_code, bg.date) == ("gas_storage", "UA-46", "2025-01-15")


@pytest.mark.parametrize("published,accused", [("2025-03-07", []), ("2025-03-28", ["RU"])])
def test_an_attributed_strike_is_an_accusation_only_while_a_halt_is_in_force(ctx, published, accused):
    text = ("Russian drones hit a substation in Sumy region overnight, the governor said, "
            "as talks on a ceasefire continued.")
    claims = run(ctx, text, published, "en")
    assert [c.accused for c in claims if c.kind == "accusation"] == accused


def test_earlier_strikes_on_the_plant_and_a_summary_of_others(ctx):
    text = ("A fire broke out at Lukoil's refinery in Volgograd overnight after a drone attack, the governor said.\n\n"
            "The plant has been hit before. On the night of Feb. 3, a drone attack caused a fire at the refinery.\n\n"
            "Ukraine has stepped up its strikes on Russian refineries, hitting plants in Ryazan and Saratov regions.")
    got = sorted((c.salience, c.facility_id or c.region_code, c.date) for c in run(ctx, text, "2025-08-14", "en")
                 if c.kind == "strike")
    assert got == [("background", "RU-RYA", None), ("background", "RU-SAR", None),
                   ("background", "ru-volgograd-refinery", "2025-02-03"),
                   ("main", "ru-volgograd-refinery", "2025-08-14")]


@pytest.mark.parametrize("text,region", [
    # a namesake far away loses to the region the sentence names
    ("In the Rostov region, a drone attack overnight caused a fire at a power substation in the Kamensky district.",
     "RU-ROS"),
    # a source in the capital is not where the plant is
    ("A person familiar with the matter in Kyiv said the Ryazan refinery had been hit by drones overnight and "
     "that a crude distillation unit was on fire.", "RU-RYA"),
])
def test_region_of_the_target_not_of_a_namesake_or_a_speaker(ctx, text, region):
    assert {c.region_code for c in run(ctx, text, "2025-08-14", "en") if c.kind == "strike"} == {region}


def test_an_operators_statement_about_our_facilities_in_two_regions(ctx):
    from truce.ingest import make_report
    from truce.extract import finalize

    text = ("Tonight, Russia carried out the largest attack on our gas production facilities.\n\n"
            "Most of the missiles were aimed at our facilities in Kharkiv and Poltava regions; equipment was damaged.\n\n"
            "There is no military logic in striking gas wells. None of our staff was hurt.")
    rep = make_report(text=text, external_id="t", sources=ctx.sources, source="Naftogaz", published="2025-10-03",
                      language="en")
    got = sorted((c.facility_type, c.region_code) for c in finalize(ctx.extractor.extract(rep), rep, ctx.services)
                 if c.kind == "strike")
    assert got == [("gas_production", "UA-53"), ("gas_production", "UA-63")]


def test_a_denial_spread_over_a_phrase(ctx):
    text = ("The IAEA said it had been told the cut in output was linked to military activity affecting the grid, "
            "and that none of Ukraine's nuclear plants had been hit.")
    assert energy(run(ctx, text, "2025-10-30", "en")) == []


def test_a_hedged_claim_the_report_itself_denies_is_no_event(ctx):
    text = ("Telegram channels claimed overnight that the Ryazan power station in Novomichurinsk was on fire after "
            "being hit by drones.\n\nThe plant's owner said the station was operating normally. "
            "The plant was not hit, officials said.")
    assert energy(run(ctx, text, "2025-02-19", "en")) == []


def test_damage_told_in_the_next_sentence_about_the_asset_just_named(ctx):
    text = ("В ночь на 5 августа в Тверской области отражена атака беспилотников.\n\n"
            "Вблизи Андреаполя расположена нефтеперекачивающая станция «Андреаполь». "
            "По данным телеграм-каналов, горел один из ее резервуаров.")
    (c,) = [c for c in run(ctx, text, "2025-08-05", "ru") if c.kind == "strike"]
    assert (c.facility_type, c.region_code, c.outcome, len(c.evidence)) == ("oil_pumping_station", "RU-TVE", "hit", 2)


@pytest.mark.parametrize("language,text", [
    ("uk", "На Львівщині уламки збитих дронів пошкодили кілька приватних будинків, влучань в енергооб'єкти не зафіксовано."),
    ("uk", "У МАГАТЕ уточнили, що зниження потужності пов'язане з мережею, а самі атомні станції не постраждали."),
])
def test_denials_of_a_hit_on_energy(ctx, language, text):
    assert energy(run(ctx, text, "2025-10-30", language)) == []


def test_same_day_and_dropped_munitions(ctx):
    text = ("Согласно перечню, в ночь на 11 апреля беспилотник ВСУ сбросил боеприпас на трансформаторную подстанцию "
            "в Климовском районе Брянской области. Утром того же дня в Рыльском районе Курской области артиллерийским "
            "огнем повреждена линия электропередачи.")
    got = sorted((c.region_code, c.facility_type, c.date) for c in run(ctx, text, "2025-04-12", "ru") if c.kind == "strike")
    assert got == [("RU-BRY", "substation", "2025-04-11"), ("RU-KRS", "transmission_line", "2025-04-11")]


def test_a_party_that_says_it_complies_is_the_accuser(ctx):
    text = ("В министерстве подчеркнули, что российская сторона соблюдает мораторий на удары по энергетике, "
            "а списки нарушений регулярно передаются в Вашингтон.")
    acc = [(c.accuser, c.accused) for c in run(ctx, text, "2025-04-12", "ru") if c.kind == "accusation"]
    assert acc == [("RU", "UA")]


def test_a_town_hit_beside_a_substation_elsewhere_in_the_region_is_its_own_strike(ctx):
    text = ("У ніч проти 21 вересня ворог ударними БпЛА атакував Харків та Богодухівський район.\n\n"
            "Харків: у Київському районі влучання в об'єкт енергетичної інфраструктури. Виникла пожежа.\n\n"
            "Богодухівська громада: пошкоджено підстанцію, знеструмлено близько 4 тис. абонентів.")
    got = sorted(c.facility_type for c in run(ctx, text, "2025-09-21", "uk") if c.kind == "strike")
    assert got == ["other_energy", "substation"]


@pytest.mark.parametrize("language,text,published,region", [
    # duplicate gazetteer rows of one city do not make it undecidable
    ("en", "A Russian drone attack damaged energy infrastructure in the city of Mykolaiv overnight.", "2024-11-17", "UA-48"),
    # "была" is no future tense: the attempted attack stands
    ("ru", "Сегодня ночью была предпринята попытка атаки БПЛА на Сызранский НПЗ, возник пожар.", "2024-03-16", "RU-SAM"),
])
def test_regions_and_events_in_plain_reports(ctx, language, text, published, region):
    assert {c.region_code for c in run(ctx, text, published, language) if c.kind == "strike"} == {region}


def test_a_wave_of_strikes_elsewhere_is_a_summary(ctx):
    text = ("Russia hit the Dnipro hydroelectric plant in Zaporizhzhia overnight, officials said.\n\n"
            "The attack came after a wave of Ukrainian drone strikes on Russian oil refineries.")
    assert [(c.facility_id, c.salience) for c in run(ctx, text, "2024-03-22", "en") if c.kind == "strike"] == [
        ("ua-dnipro-hpp", "main")]


@pytest.mark.parametrize("text,n", [
    ("Найскладніша ситуація на Одещині, де негода пошкодила лінії електропередачі та повалила опори. "
     "Графіки відключень діють через наслідки ворожих атак на енергосистему.", 0),
    ("Через пошкодження контактної мережі після атаки дронів кілька приміських поїздів затримуються.", 0),
    # a capitalised word is a name: Governor Nehoda, not bad weather (негода)
    ("На Тернопільщині, за словами очільника ОВА В'ячеслава Негоди, внаслідок ракетного удару пошкоджено енергооб'єкт.", 1),
])
def test_weather_railways_and_names(ctx, text, n):
    assert len([c for c in run(ctx, text, "2024-11-22", "uk") if c.kind == "strike"]) == n


def test_a_regional_digest_line_by_line(ctx):
    text = ("Сумщина: наслідки ворожих атак за минулу добу та ніч\n\n"
            "Шосткинська громада: у ніч проти 16 листопада ворожі ударні БпЛА атакували об'єкт енергетичної "
            "інфраструктури. Виникла пожежа, пошкоджено обладнання.\n\n"
            "Конотопська громада: вночі внаслідок удару «шахеда» пошкоджено підстанцію.\n\n"
            "Білопільська громада: вчора вдень ворог обстріляв громаду з артилерії — пошкоджено лінію електропередачі.")
    got = sorted((c.facility_type, c.region_code, c.date) for c in run(ctx, text, "2025-11-16", "uk") if c.kind == "strike")
    assert got == [("other_energy", "UA-59", "2025-11-16"), ("substation", "UA-59", "2025-11-16"),
                   ("transmission_line", "UA-59", "2025-11-15")]


def test_drones_downed_on_approach_to_an_energy_facility_are_an_attempt(ctx):
    text = "На Львівщині сили ППО збили дрони на підльоті до енергооб'єкта — пошкоджень немає."
    (c,) = [c for c in run(ctx, text, "2024-08-26", "uk") if c.kind == "strike"]
    assert (c.facility_type, c.region_code, c.outcome) == ("other_energy", "UA-46", "attempted")
