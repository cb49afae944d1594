"""Evidence offsets index the report text exactly as given (EVAL-FORMAT.md section 2):
whatever the text's bullets, no-break spaces, CRLF newlines, tabs, decomposed accents,
emoji or zero-width characters, ``text[start:end] == evidence.text`` on every path, and
the same claims come out as for the plain text."""

from __future__ import annotations

import json
import unicodedata

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truce.cli import cli
from truce.extract import finalize
from truce.ingest import make_report
from truce.text import TextView

REPORTS = [
    ("en", "2024-04-11", "Strike on Trypillia",
     "Russian missiles struck the Trypillia thermal power plant in Kyiv Oblast overnight on April 11, destroying "
     "its turbine hall.\n\nThe operator Centrenergo said the plant had lost all generation. A fire broke out."),
    ("uk", "2024-03-22", "Удар по ДніпроГЕС",
     "У ніч на 22 березня російські ракети влучили в ДніпроГЕС у Запоріжжі. Виникла пожежа.\n\n"
     "Укргідроенерго повідомило про пошкодження машинного залу."),
    ("ru", "2024-03-13", "Атака на НПЗ",
     "В ночь на 13 марта беспилотники атаковали Рязанский нефтеперерабатывающий завод, возник пожар.\n\n"
     "Губернатор Рязанской области сообщил, что пострадавших нет."),
]

NOISE = ["\u00a0", "\t", "  ", "\u202f", "\u200b", "\u00ad", " 🔥", " ⚡️ "]


@st.composite
def noisy(draw):
    lang, published, title, text = draw(st.sampled_from(REPORTS))
    out = text
    if draw(st.booleans()):
        out = out.replace("\n", "\r\n")
    if draw(st.booleans()):
        out = unicodedata.normalize("NFD", out)  # "й", "ї" as a letter plus a combining mark
    if draw(st.booleans()):
        out = "• " + out.replace("\n\n", "\n\n• ")
    # sprinkle noise between words, never inside one
    words = out.split(" ")
    picks = draw(st.lists(st.tuples(st.integers(0, max(0, len(words) - 1)), st.sampled_from(NOISE)), max_size=6))
    for i, junk in picks:
        words[i] = words[i] + junk
    return lang, published, title, text, " ".join(words)


def _key(c):
    return (c.kind, c.facility_id, c.facility_type, c.region_code, c.date, c.status)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=noisy())
def test_offsets_index_the_text_as_given(ctx, case):
    lang, published, title, plain, text = case
    claims = {}
    for body in (plain, text):
        rep = make_report(text=body, external_id="r", sources=ctx.sources, title=title, published=published,
                          language=lang)
        assert rep.text == body  # stored exactly as given
        got = finalize(ctx.extractor.extract(rep), rep, ctx.services)  # finalize checks the offsets too
        for c in got:
            for e in c.evidence:
                assert body[e.start:e.end] == e.text
        claims[body is text] = sorted(map(_key, got), key=repr)
    assert claims[False] and claims[True] == claims[False]


def test_the_extract_command_returns_offsets_into_the_jsonl_text(tmp_path):
    text = "•\u00a0Russian drones hit a substation in Odesa Oblast overnight,\r\n\tcutting power to 30,000 homes."
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "x", "text": text, "title": "Odesa", "published": "2024-12-25"}) + "\n",
                   encoding="utf-8")
    r = CliRunner().invoke(cli, ["extract", str(src), "-o", "-"])
    claims = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert claims and all(text[e["start"]:e["end"]] == e["text"] for c in claims for e in c["evidence"])


def test_text_view_maps_every_span_back():
    original = "A\r\nb\u00a0c\u00adde\u0301f\tg"
    v = TextView.of(original)
    assert v.text == "A\nb cdéf g"
    for a in range(len(v.text) + 1):
        for b in range(a, len(v.text) + 1):
            x, y = v.span(a, b)
            assert unicodedata.normalize("NFC", original[x:y]).replace("\r\n", "\n").replace("\u00a0", " ") \
                .replace("\u00ad", "").replace("\t", " ") == v.text[a:b]
