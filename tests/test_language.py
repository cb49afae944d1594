import pytest

from truce.language import LanguageDetector

D = LanguageDetector()


@pytest.mark.parametrize("text,lang", [
    ("Drones hit the Ryazan refinery overnight", "en"),
    ("Харків", "uk"), ("Харьков", "ru"), ("Без світла", "uk"), ("Без света", "ru"),
    ("Вночі ворог атакував енергетику Львівщини", "uk"),
    ("Минувшей ночью беспилотники атаковали НПЗ", "ru"),
    ("Удар по ТЭЦ", "ru"), ("Удар по ТЕС у Бурштині", "uk"),
])
def test_detect(text, lang):
    assert D.detect(text) == lang
