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


def grade(claims: Sequence[Claim], meta: dict[str, ReportMeta], attacker: str | None) -> tuple[str, tuple[str, ...]]:
    reasons: list[str] = []
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


def _ext(meta: dict[str, ReportMeta], claims: Sequence[Claim]) -> str:
    names = sorted({f"{meta[c.report_id].source or 'unknown'} ({meta[c.report_id].external_id})" for c in claims})
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
