"""Syndicated copies: the verifier, the full pass, and the incremental groups stored in the
database (any batching gives the groups of one full pass)."""

from __future__ import annotations

import random
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truce import dedup
from truce.records import Report

WORDS = [w for w in ("drone strike refinery fire oil depot substation power grid region governor said overnight "
                     "attack damaged energy facility air defence shot down debris workers injured blackout "
                     "outage repair crews electricity restored thermal plant turbine transformer pipeline "
                     "pumping station storage tank emergency services regional administration ministry").split()]


def _words(seed: int, n: int) -> str:
    rnd = random.Random(seed)
    return " ".join(rnd.choice(WORDS) + str(rnd.randrange(100)) for _ in range(n))


def _family(seed: int) -> list[str]:
    """A story S and its versions: a byline added; S with a closing quarter T added; the same
    without S's first quarter (a copy of the second, not of the first); an unrelated story."""
    s, t = _words(seed, 160), _words(seed + 1000, 40)
    cut = len(s) // 4
    return ["(Reuters) - " + s, s, s + " " + t, s[cut:] + " " + t, _words(seed + 2000, 160)]


def _report(i: int, text: str, published: str | None = None) -> Report:
    return Report(id=f"{i:064x}", text=text, external_id=f"r{i}", published=published)


POOL = [_report(i, text, f"2025-03-{1 + (i * 7) % 28:02d}T08:00:00+00:00" if i % 5 else None)
        for i, text in enumerate([x for seed in range(4) for x in _family(seed)]
                                 + ["too short to be compared " * 3, "too short to be compared " * 3])]


def test_bands_are_those_of_datasketch_lsh_at_the_threshold():
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=dedup.LSH_THRESHOLD, num_perm=dedup.NUM_PERM)
    assert (lsh.b, lsh.r) == (dedup.BANDS, dedup.ROWS)


def test_band_keys_are_those_of_datasketch_minhash_fed_value_by_value():
    import hashlib

    from datasketch import MinHash

    texts = [x for seed in range(3) for x in _family(seed)] + ["Жителі Бурштина: " + _words(5, 90)]
    for text, keys in zip(texts, dedup.band_keys(texts)):
        m = MinHash(num_perm=dedup.NUM_PERM, seed=1, hashfunc=lambda v: v)
        for v in sorted(set(dedup._shingle_hashes(text).tolist())):
            m.update(v)
        hv = m.hashvalues.astype("<u8")
        assert keys == [int.from_bytes(hashlib.blake2b(bytes([b]) + hv[b * dedup.ROWS:(b + 1) * dedup.ROWS].tobytes(),
                                                       digest_size=8).digest(), "big", signed=True)
                        for b in range(dedup.BANDS)]


def test_verifier_accepts_copies_and_refuses_other_stories():
    byline, s, s_t, tail_t, other = _family(1)
    assert dedup.similar(byline, s)  # ratio
    assert dedup.similar(s, s_t) and dedup.similar(s_t, tail_t)
    assert not dedup.similar(s, tail_t)  # a quarter of each is not in the other
    assert not dedup.similar(s, other)
    # a copy that drops the last third keeps failing the ratio but passes containment only
    # while the lengths are within CONTAIN_LENGTHS of each other
    long_, short = s + " " + _words(77, 60), s
    assert dedup.similar(long_, short)
    assert not dedup.similar(s + " " + _words(78, 120), s)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(0, 40), st.integers(1, 60), st.integers(0, 3))
def test_hash_prefilter_never_refuses_what_the_shingle_sets_accept(seed, cut, extra, repeat):
    """The numpy pre-test (missing hashes) only rules out pairs the exact shingle-set test refuses."""
    s = _words(seed, 60) * (1 + repeat)  # repeated text: fewer distinct shingles than positions
    t = s[cut:] + " " + _words(seed + 1, extra)
    a, b = dedup._Text(s), dedup._Text(t)
    short, long_ = sorted((a, b), key=lambda x: len(x.norm))
    exact = len(short.shingles & long_.shingles) >= dedup.CONTAINMENT * len(short.shingles)
    assert dedup._may_contain(short, long_) or not exact


def test_hash_prefilter_rules_out_other_stories():
    a, b = dedup._Text(_words(1, 150)), dedup._Text(_words(2, 150))
    assert not dedup._may_contain(a, b)
    assert dedup._may_contain(a, dedup._Text(_words(1, 150) + " " + _words(3, 10)))


def test_verifier_reads_at_most_the_cap():
    s = _words(3, 4000)
    assert len(s) > dedup.VERIFY_CHARS
    t = dedup._Text(s)
    assert len(t.norm) == dedup.VERIFY_CHARS
    # beyond the cap, texts are the same as far as the verifier reads
    assert dedup.similar(s, s[:dedup.VERIFY_CHARS] + _words(4, 4000))


def test_full_pass_groups_copies_with_their_earliest_report_as_canonical():
    reports = [_report(1, "(AP) " + _words(9, 150), "2025-03-02"), _report(2, _words(9, 150), "2025-03-01"),
               _report(3, _words(10, 150), "2025-03-01"), _report(4, "short", "2025-01-01")]
    m = dedup.syndication_groups(reports)
    assert m == {reports[0].id: reports[1].id, reports[1].id: reports[1].id, reports[2].id: reports[2].id,
                 reports[3].id: reports[3].id}
    assert [g.members for g in dedup.groups_of(m)] == [(reports[0].id, reports[1].id)]


def test_the_demo_groups_are_those_of_rapidfuzz_partial_ratio(ctx):
    """The bounded verifier groups the bundled reports exactly as the former one did
    (``fuzz.ratio`` ≥ 85, or lengths within 0.7 and ``fuzz.partial_ratio`` ≥ 95)."""
    import json
    from importlib import resources

    from rapidfuzz import fuzz

    from truce.ingest import make_report

    rows = [json.loads(x) for x in resources.files("truce").joinpath("data/demo/reports.jsonl").read_text("utf-8").splitlines()]
    reports = [make_report(text=r["text"], external_id=r["id"], sources=ctx.sources, source=r.get("source"),
                           published=r.get("published")) for r in rows]
    keys = dedup.band_keys([r.text for r in reports])
    pairs = {(i, j) for i in range(len(reports)) for j in range(i) if set(keys[i]) & set(keys[j])}
    assert pairs
    for i, j in pairs:
        a, b = dedup._norm(reports[i].text), dedup._norm(reports[j].text)
        old = fuzz.ratio(a, b) >= 85 or (min(len(a), len(b)) / max(len(a), len(b)) > 0.7
                                          and fuzz.partial_ratio(a, b) >= 95)
        assert dedup.similar(reports[i].text, reports[j].text) == old, (rows[i]["id"], rows[j]["id"])
    groups = dedup.groups_of(dedup.syndication_groups(reports))
    assert sorted(len(g.members) for g in groups) == [2, 4]


def test_incremental_groups_merge_when_a_new_report_links_two(db):
    _, s, s_t, tail_t, _ = _family(5)
    a, b, c = _report(1, s, "2025-03-03"), _report(2, s_t, "2025-03-02"), _report(3, tail_t, "2025-03-01")
    assert set(dedup.band_keys([s])[0]) & set(dedup.band_keys([s_t])[0])
    db.add_reports([a, c])
    first = dedup.update(db)
    assert (first.deduped, first.groups, db.syndication()) == (2, 0, {})
    db.add_reports([b])
    second = dedup.update(db)
    assert (second.deduped, second.linked, second.groups) == (1, 2, 1)
    # one group; its canonical is the earliest report (c), whichever arrived first
    assert db.syndication() == {a.id: c.id, b.id: c.id}
    assert db.syndicated_groups() == [(c.id, sorted([a.id, b.id, c.id]))]
    assert dedup.update(db).deduped == 0


def test_a_small_cache_of_stored_texts_gives_the_same_groups(db, monkeypatch):
    monkeypatch.setattr(dedup, "CACHE", 1)  # stored candidates' texts read again for every report
    db.add_reports(POOL[::2])
    dedup.update(db)
    db.add_reports(POOL[1::2])
    dedup.update(db)
    assert {r.id: db.syndication().get(r.id, r.id) for r in POOL} == dedup.syndication_groups(POOL)


def test_changed_parameters_dedup_everything_again(db, monkeypatch):
    db.add_reports(POOL[:5])
    dedup.update(db)
    groups = db.syndication()
    monkeypatch.setattr(dedup, "VERSION", dedup.VERSION + "-other")
    again = dedup.update(db)
    assert again.redone and again.deduped == 5 and db.syndication() == groups


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(len(POOL))), cuts=st.lists(st.integers(1, len(POOL) - 1), max_size=4),
       batch=st.integers(1, 8))
def test_any_batching_gives_the_groups_of_one_full_pass(db, order, cuts, batch):
    db.reset()
    db.set_meta("dedup_version", "")
    bounds = [0, *sorted(set(cuts)), len(POOL)]
    for lo, hi in zip(bounds, bounds[1:]):
        db.add_reports([POOL[k] for k in order[lo:hi]])
        dedup.update(db, batch=batch)
    full = dedup.syndication_groups(POOL)
    assert len(dedup.groups_of(full)) == 4  # each family's copies (the pool is worth testing)
    assert {r.id: db.syndication().get(r.id, r.id) for r in POOL} == full
    assert db.syndication_group_count() == len(dedup.groups_of(full))


def test_read_commands_show_the_stored_groups(demo, tmp_path):
    """``truce incidents``/``export`` and the report's coverage read the groups ``truce run``
    stored: on the demo they are those of a full pass over every report; what is stored is
    what they show."""
    import shutil

    from truce.db import Database
    from truce.outputs.shapes import incidents_json
    from truce.outputs.stats import coverage

    path = tmp_path / "demo.db"
    shutil.copy(demo[0], path)
    db = Database(str(path))
    reports = db.reports()
    full = dedup.syndication_groups(reports)
    ext = {r.id: r.external_id for r in reports}
    by_ext = {r.external_id: r.id for r in reports}
    shown = {(x["report_id"], x["syndicated_with"]) for i in incidents_json(db) for x in i["reports"]}
    expected = {(x, ext[full[by_ext[x]]] if full[by_ext[x]] != by_ext[x] else None) for x, _ in shown}
    assert shown == expected and any(s for _, s in shown)
    assert len(coverage(db)["syndicated"]) == len(dedup.groups_of(full)) == 2
    # make two reports of one incident copies in storage: the read commands follow
    inc = next(i for i in incidents_json(db) if len(i["reports"]) >= 2 and not any(x["syndicated_with"] for x in i["reports"]))
    a, b = sorted(by_ext[x["report_id"]] for x in inc["reports"])[:2]
    db.store_syndication([(a, a, a), (b, a, a)], [])
    again = next(i for i in incidents_json(db) if i["id"] == inc["id"])
    assert {x["report_id"]: x["syndicated_with"] for x in again["reports"]}[ext[b]] == ext[a]
    assert len(coverage(db)["syndicated"]) == 3


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200) | st.text(alphabet=" \t\n\u00a0\u2028\x1c_-.,'’é́İßǅ" "aZ5яЇ", max_size=60))
@settings(max_examples=400, deadline=None)
def test_norm_is_punctuation_as_space_then_spaces_collapsed(text):
    assert dedup._norm(text) == re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.casefold())).strip()
