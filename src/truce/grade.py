"""Corroboration grades (DESIGN.md, after the Airwars scheme), each with its reasons.

- confirmed: the attacking party acknowledged the strike, or the target's
  operator and an independent source report it;
- fair: two or more independent credible sources, not all of one affiliation;
- weak: a single source, or several of one affiliation;
- contested: competing claims (hit vs "all shot down, no damage"; or
  responsibility disputed);
- discounted: retracted or shown false.

Syndicated copies count once. Precedence: discounted, contested, confirmed,
fair, weak.

The claim, the counter-claim and corroboration are kept apart. A
counter-claim (a claim whose report denies the event: ``stance ==
"denies"``) is never a voice for the event, so it can only lower what the
asserting sources establish: a denial of the strike, of the damage against
a reported hit, or of the attribution makes the incident contested, and a
denial of damage no report asserts is noted without contesting anything.
:func:`roles` says which of the three each source is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from truce.records import Claim


@dataclass(frozen=True)
class ReportMeta:
    """What grading needs to know about a report."""

    report_id: str
    external_id: str
    source: str | None
    source_kind: str
    affiliation: str | None
    url: str | None
    published: str | None
    canonical: str  # syndication group representative (itself if unique)


def is_counter(c: Claim) -> bool:
    """A counter-claim: the report's voice denies the event (the strike, its damage or who did it)."""
    return c.stance == "denies"


def asserted_damage(c: Claim) -> bool:
    e = c.effects
    return c.outcome == "hit" or bool(e.damage or e.fire or e.destroyed)


def grade(claims: Sequence[Claim], meta: dict[str, ReportMeta], attacker: str | None) -> tuple[str, tuple[str, ...]]:
    reasons: list[str] = []
    counters = [c for c in claims if is_counter(c)]
    claims = [c for c in claims if not is_counter(c)]
    if not claims:  # fusion never builds such an incident; say so if a caller does
        return "contested", (f"only counter-claims: {_ext(meta, counters)} deny an event no source asserts",)
    reports = sorted({c.report_id for c in claims})
    copies = sorted(r for r in reports if meta[r].canonical != r)
    # one voice per syndication group; a voice is the outlet of the group's original
    voices: dict[str, ReportMeta] = {}
    for r in reports:
        m = meta[r]
        canon = meta.get(m.canonical, m)
        voices.setdefault(canon.source or f"unknown:{canon.report_id}", canon)
    if copies:
        reasons.append(f"{len(copies)} syndicated cop{'y' if len(copies) == 1 else 'ies'} counted once: "
                       + ", ".join(meta[r].external_id for r in copies))
    sources = sorted(voices)
    affiliations = sorted({v.affiliation for v in voices.values() if v.affiliation})

    retracted = [c for c in claims if c.retracted]
    if retracted and len(retracted) == len(claims):
        return "discounted", tuple(reasons + [f"retracted in {_ext(meta, retracted)}"])
    hits = [c for c in claims if c.outcome == "hit" and not c.retracted]
    denials = [c for c in claims if c.outcome == "attempted" and not c.retracted]
    stated = {c.attacker for c in claims if c.attacker_basis == "stated" and c.attacker}
    contested = []
    if hits and denials:
        deny_src = {meta[c.report_id].affiliation for c in denials}
        hit_src = {meta[c.report_id].affiliation for c in hits}
        contested.append(f"competing claims: hit reported by {_ext(meta, hits)}; "
                         f"no damage / all intercepted per {_ext(meta, denials)}"
                         + ("" if deny_src != hit_src else " (same side)"))
    if len(stated) > 1:
        by = {p: _ext(meta, [c for c in claims if c.attacker == p and c.attacker_basis == "stated"]) for p in sorted(stated)}
        contested.append("responsibility disputed: " + "; ".join(f"{p} named by {by[p]}" for p in sorted(by)))
    notes, countered = _counter_reasons(counters, claims, meta, attacker)
    contested += countered
    reasons += notes
    if contested:
        return "contested", tuple(reasons + contested)

    ack = [c for c in claims if c.acknowledged_by and (attacker is None or c.acknowledged_by == attacker)]
    if ack:
        party = ack[0].acknowledged_by
        reasons.append(f"acknowledged by the attacking party ({party}) in {_ext(meta, ack)}")
        return "confirmed", tuple(reasons)
    operators = [v for v in voices.values() if v.source_kind == "operator"]
    if operators and len(voices) >= 2:
        others = sorted(s for s in sources if s not in {o.source for o in operators})
        reasons.append(f"reported by the operator ({', '.join(sorted(o.source or '?' for o in operators))}) "
                       f"and independently by {', '.join(others)}")
        return "confirmed", tuple(reasons)
    if len(voices) >= 2 and (len(affiliations) >= 2 or any(a in ("neutral", "international") for a in affiliations)):
        reasons.append(f"{len(voices)} independent sources ({', '.join(sources)}) "
                       f"of {len(affiliations)} affiliation{'s' if len(affiliations) != 1 else ''} ({', '.join(affiliations)})")
        return "fair", tuple(reasons)
    if len(voices) >= 2:
        reasons.append(f"{len(voices)} sources, all {affiliations[0] if affiliations else 'of unknown affiliation'} "
                       f"({', '.join(sources)}): not independent confirmation")
    else:
        reasons.append(f"single source: {sources[0] if sources else 'unknown'}")
    return "weak", tuple(reasons)


def _counter_reasons(counters: Sequence[Claim], claims: Sequence[Claim], meta: dict[str, ReportMeta],
                     attacker: str | None) -> tuple[list[str], list[str]]:
    """(notes, contesting reasons) for the counter-claims of an incident, by what they deny."""
    notes: list[str] = []
    contesting: list[str] = []
    by_what: dict[str, list[Claim]] = {}
    for c in counters:
        by_what.setdefault(c.denied if c.denied in ("damage", "attribution") else "strike", []).append(c)
    if "strike" in by_what:
        contesting.append(f"counter-claim: {_ext(meta, by_what['strike'])} denies that the strike happened "
                          f"(asserted by {_ext(meta, claims)})")
    if "damage" in by_what:
        damaged = [c for c in claims if asserted_damage(c)]
        if damaged:
            contesting.append(f"counter-claim: {_ext(meta, by_what['damage'])} denies the damage reported by {_ext(meta, damaged)}")
        else:
            notes.append(f"{_ext(meta, by_what['damage'])} says there was no damage; no report asserts damage")
    if "attribution" in by_what:
        named = [c for c in claims if c.attacker_basis == "stated" and c.attacker and c.attacker == (attacker or c.attacker)]
        who = attacker or (named[0].attacker if named else None)
        contesting.append(f"responsibility denied: {_ext(meta, by_what['attribution'])} denies that "
                          f"{who or 'the named attacker'} carried out the strike"
                          + (f" ({who} named by {_ext(meta, named)})" if named else ""))
    return notes, contesting


def _independent(a: str | None, b: str | None) -> bool:
    """Two sources are independent when they are of different known affiliations, or neutral/international."""
    affs = {x for x in (a, b) if x}
    return len(affs) >= 2 or bool(affs & {"neutral", "international"})


def roles(claims: Sequence[Claim], meta: dict[str, ReportMeta]) -> dict[str, tuple[str, str]]:
    """Claim id → (role, why): ``counter-claim`` (denies the event, or reports it repelled with no
    damage against a reported hit), ``claim`` (the first source to assert it, and sources of its
    side, which are not independent of it) or ``corroboration`` (an independent source asserting
    the same event)."""
    out: dict[str, tuple[str, str]] = {}
    asserting = [c for c in claims if not is_counter(c)]
    for c in claims:
        if is_counter(c):
            out[c.id] = ("counter-claim", f"denies the {c.denied or 'strike'}")
    hits = [c for c in asserting if c.outcome == "hit" and not c.retracted]
    if hits:
        for c in asserting:
            if c.outcome == "attempted" and not c.retracted:
                out[c.id] = ("counter-claim", "reports the attack repelled with no damage, against a reported hit")
    rest = [c for c in asserting if c.id not in out]
    if not rest:
        return out

    def voice(c: Claim) -> ReportMeta:
        m = meta[c.report_id]
        return meta.get(m.canonical, m)

    first = voice(min(rest, key=lambda c: (voice(c).published or "9999", voice(c).external_id, c.id)))
    first_name = first.source or first.report_id
    for c in rest:
        m, v = meta[c.report_id], voice(c)
        copy = f"; a syndicated copy of {v.external_id}, counted once" if m.canonical != m.report_id else ""
        if (v.source or v.report_id) == first_name:
            out[c.id] = ("claim", f"first to report it ({first.affiliation or 'unknown affiliation'}){copy}")
        elif _independent(v.affiliation, first.affiliation):
            out[c.id] = ("corroboration", f"independent of {first_name} ({v.affiliation or 'unknown'} source){copy}")
        else:
            out[c.id] = ("claim", f"same side as {first_name} ({v.affiliation or 'unknown affiliation'}): "
                                  f"not independent{copy}")
    return out


def _ext(meta: dict[str, ReportMeta], claims: Sequence[Claim]) -> str:
    names = sorted({f"{meta[c.report_id].source or 'unknown'} ({meta[c.report_id].external_id})" for c in claims})
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def with_physical(grade_: str, reasons: Sequence[str], verdict: str, reason: str) -> tuple[str, tuple[str, ...]]:
    """The grade once satellite fire detections are weighed (:mod:`truce.physical`).

    Detections above a facility's background are evidence no party writes: an independent,
    physical voice. They raise a weak incident (one source, or sources of one side) to fair;
    a contested one stays contested (the monitor does not adjudicate competing claims), a
    fair or confirmed one keeps its grade, a discounted one stays discounted; each says what
    the satellites saw. Silence and contradiction (of a reported fire, not of the strike)
    add their reason and change no grade."""
    out = list(reasons)
    if verdict == "supports" and grade_ == "weak":
        out.append("physical corroboration (satellite, independent of both parties) raises weak to fair: " + reason)
        return "fair", tuple(out)
    prefix = {"supports": "physical corroboration (satellite): ", "contradicts": "satellite evidence ",
              "silent": "satellite evidence is "}.get(verdict, "satellite: ")
    out.append(prefix + reason)
    return grade_, tuple(out)
