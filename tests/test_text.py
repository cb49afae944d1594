from hypothesis import example, given, settings
from hypothesis import strategies as st

from truce.text import (_ABBREV, _ABBREV_WIDTH, KeyMaker, Morphology, PhraseMatcher, normalise, normalise_text,
                        split_sentences, stem, translit_key)

KM = KeyMaker(Morphology())


def test_normalise_unifies_apostrophes_case_and_yo():
    assert normalise("Об’єкт") == normalise("об'єкт") == normalise("обʼєкт") == "обєкт"
    assert normalise("Ёлка") == "елка"


def test_mixed_script_tokens_become_cyrillic():
    # a Latin "C" and "E" typed inside a Cyrillic abbreviation
    assert normalise("TEC") == "tec"
    assert normalise("ТEС") == normalise("ТЕС")


def test_stem_shares_inflected_forms():
    assert stem("трипільської") == stem("трипільська")
    assert stem("рязанского") == stem("рязанский") == stem("рязань")
    assert stem("refineries") == stem("refinery")
    assert stem("damaged") == stem("damage")


def test_translit_key_absorbs_romanisation_variants():
    assert translit_key("zaporizhzhya") == translit_key("zaporizhzhia")
    assert translit_key("novokuybyshevsk") == translit_key("novokuibyshevsk")


def test_tokens_keep_offsets():
    text = "Вночі уражено Рязанський НПЗ."
    for t in KM.tokenize(text, "uk"):
        assert text[t.start:t.end] == t.text


def test_sentences_keep_offsets_and_paragraphs():
    text = "Вночі ворог атакував. У м. Києві пошкоджено ТЕЦ-5!\n\nНагадаємо, 11 квітня…  Ще одне."
    sents = split_sentences(text)
    assert [s.text for s in sents][:2] == ["Вночі ворог атакував.", "У м. Києві пошкоджено ТЕЦ-5!"]
    for s in sents:
        assert text[s.start:s.end] == s.text
    assert sents[0].paragraph == sents[1].paragraph != sents[2].paragraph


def test_phrase_matcher_matches_inflected_phrases_longest_first():
    m = PhraseMatcher(KM)
    m.add("Бурштинська ТЕС", "burshtyn")
    m.add("ТЕС", "tpp")
    toks = KM.tokenize("Удар по Бурштинській ТЕС та іншій ТЕС", "uk")
    got = [(x.payload, x.end - x.start) for x in m.find(toks)]
    assert got == [("burshtyn", 2), ("tpp", 1)]


def test_acronyms_match_only_acronyms():
    m = PhraseMatcher(KM)
    m.add("ВЕС", "wind")
    # "всім" lemmatises to "весь", whose stem equals the acronym's letters
    assert m.find(KM.tokenize("Дякуємо всім енергетикам", "uk")) == []
    assert [x.payload for x in m.find(KM.tokenize("Пошкоджено ВЕС", "uk"))] == ["wind"]


def test_normalise_text_is_stable():
    assert normalise_text("a\r\n\r\n\r\n\r\nb  c ") == "a\n\nb c"


def test_joined_gapped_patterns_find_a_sentence_wherever_one_pattern_does(ctx):
    """The one search that lets a sentence skip its gapped patterns finds what any of them finds."""
    import json
    from pathlib import Path

    from truce.extract.analysis import _GAPPED

    hits = 0
    for lang, lex in ctx.services.lexicons.items():
        joined = lex.any_pattern(_GAPPED)
        assert joined is not None
        pats = [p for n in _GAPPED for p in lex.patterns.get(n, ())]
        texts = [json.loads(p.read_text(encoding="utf-8"))["text"] for p in Path(__file__).parent.glob("gold*/**/*.json")]
        for text in texts:
            for s in split_sentences(text):
                one = any(p.search(s.text) for p in pats)
                hits += one
                assert bool(joined.search(s.text)) == one, (lang, s.text)
    assert hits > 0


def _every_match(m: PhraseMatcher, toks: list) -> list:
    """What find_all must return, by definition: at each token in turn, every phrase it anchors
    (in the order the matcher files them) whose other words and capital requirement fit."""
    out = []
    for i, tok in enumerate(toks):
        for seq, payload, phrase, needs_cap, anchor in m._entries(tok.keys):
            s, n = i - anchor, len(seq)
            if len(seq) == 1:
                short_acronym = m.capitalised and 2 <= len(tok.text) <= 4 and tok.text.isupper() and not phrase.isupper()
                if not needs_cap or (tok.text[:1].isupper() and not short_acronym):
                    out.append((i, i + 1, payload, phrase))
            elif s >= 0 and s + n <= len(toks) and not (needs_cap and not toks[s].text[:1].isupper()) and all(
                    not seq[j].isdisjoint(toks[s + j].keys) for j in range(n)):
                out.append((s, s + n, payload, phrase))
    return out


_WORDS = ["the", "night", "Ночь", "plant", "Plants", "ТЕС", "NPP", "oil", "Oil", "depot", "на", "in", "of",
          "Київ", "Києві", "refinery", "ППО", "station", "substation", "Ryazan"]


@given(phrases=st.lists(st.tuples(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4), st.integers(0, 3)),
                        min_size=1, max_size=25),
       text=st.lists(st.sampled_from(_WORDS), max_size=30), capitalised=st.booleans())
@settings(max_examples=300, deadline=None)
@example(phrases=[(["plant"], 0), (["the", "plant", "station"], 1), (["plant", "station"], 2)],
         text=["the", "plant", "station"], capitalised=False)
def test_find_all_is_every_phrase_that_fits_in_token_and_filing_order(phrases, text, capitalised):
    m = PhraseMatcher(KM, capitalised=capitalised)
    for words, payload in phrases:
        m.add(" ".join(words), payload)
    toks = KM.tokenize(" ".join(text), "uk")
    assert [tuple(x) for x in m.find_all(toks)] == _every_match(m, toks)
    assert [tuple(x) for x in m.find_all(toks)] == _every_match(m, toks)  # again, from the filled plans


def test_abbreviation_search_sees_a_tail_long_enough():
    import re._parser

    assert re._parser.parse(_ABBREV.pattern, _ABBREV.flags).getwidth()[1] <= _ABBREV_WIDTH
    assert [s.text for s in split_sentences("Удар по м. Бурштин. Пожежу загашено.")] == [
        "Удар по м. Бурштин.", "Пожежу загашено."]


def test_lemmas_made_at_start_up_are_stored_and_read_back(tmp_path):
    path = tmp_path / "lemmas.json"
    a = Morphology()
    made = a.lemmas("станції", "uk")
    a.save(path)
    a.lemmas("підстанцію", "uk")  # after save: a report's words are not recorded (nor written)
    a.save(path)
    b = Morphology()
    b.load(path)
    b._an = {}  # nothing may be parsed now: the stored lemmas answer
    assert b.lemmas("станції", "uk") == made and "станція" in made
    assert '"uk підстанцію"' not in path.read_text(encoding="utf-8")


def test_a_foreign_or_broken_lemma_file_is_ignored(tmp_path):
    path = tmp_path / "lemmas.json"
    for text in ("{not json", '{"format": "truce-lemmas/1", "signature": "other", "lemmas": {"uk станції": ["x"]}}'):
        path.write_text(text, encoding="utf-8")
        m = Morphology()
        m.load(path)
        assert "x" not in m.lemmas("станції", "uk") and "станція" in m.lemmas("станції", "uk")
    empty = Morphology()
    empty.save(tmp_path / "none.json")  # nothing made: nothing written
    assert not (tmp_path / "none.json").exists()
