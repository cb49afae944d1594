"""Evaluate against terms: each incident checked clause by clause against each
agreement, and each agreement's status history.

For every incident and agreement the evaluator checks, in order: was the
agreement ever in force; is the date inside the window; is the territory
covered; is the asset class covered; is the attacker a bound party; is the
target the other party's. Each check is a trace step naming the fact used.
Where the terms carry alternatives (a disputed start date), every reading
is evaluated; if readings disagree, the verdict is ``indeterminate`` and
says which ambiguity decides it and how.

Verdicts (DESIGN.md): not_covered, consistent_with_violation, alleged,
contested, indeterminate.
"""

from __future__ import annotations

import itertools
from typing import Any, Mapping, NamedTuple, Sequence

from truce.records import Claim, Finding, FindingEvidence, Incident, Reading, StatusObservation, TraceStep
from truce.reference.terms import Agreement

ENGINE_VERSION = "terms/0.1.0"

# --- evaluation ---------------------------------------------------------------------------

def _readings(a: Agreement) -> list[dict[str, str]]:
    ambs = a.ambiguities
    if not ambs:
        return [{}]
    combos = itertools.product(*[[alt["id"] for alt in amb["alternatives"]] for amb in ambs])
    return [dict(zip([amb["id"] for amb in ambs], combo)) for combo in combos]


def _resolved(a: Agreement, commitment: dict[str, Any], reading: dict[str, str]) -> dict[str, Any]:
    c = {**commitment, "window": dict(commitment["window"])}
    for amb in a.ambiguities:
        alt = next(x for x in amb["alternatives"] if x["id"] == reading[amb["id"]])
        if amb["field"] == "window.start":
            c["window"]["start"] = alt["value"]
        elif amb["field"] == "window.end":
            c["window"]["end"] = alt["value"]
        elif amb["field"] == "commitments.assets":
            c["assets"] = list(alt["value"])
        elif amb["field"] == "commitments.regions":
            c["regions"] = list(alt["value"]) if alt["value"] is not None else None
    return c


class _Prepared(NamedTuple):
    """What evaluating against an agreement needs of it alone, made once per agreement."""

    in_force: str | None  # "in force from …", or None if the status history never has it in force
    trail: str  # the status history, for an agreement never in force
    readings: list[tuple[dict[str, str], tuple[tuple[str, str], ...], list[dict[str, Any]]]]  # (reading, key, commitments)


_PREPARED: dict[int, tuple[Agreement, str, _Prepared]] = {}


def _prepared(a: Agreement) -> _Prepared:
    # an evaluation run asks the same few agreements about every incident: their readings,
    # resolved commitments and sorted status history were most of its cost when made each time
    got = _PREPARED.get(id(a))
    if got is None or got[0] is not a or got[1] != a.digest:
        if len(_PREPARED) > 64:
            _PREPARED.clear()
        statuses = a.statuses()
        on = [s["date"] for s in statuses if s["status"] == "in_force"]
        trail = " → ".join(f"{s['status']} ({s['date']})" for s in statuses) or "no status recorded"
        readings = [(rd, tuple(rd.items()), [_resolved(a, c, rd) for c in a.commitments]) for rd in _readings(a)]
        got = (a, a.digest, _Prepared("in force from " + ", ".join(on) if on else None, trail, readings))
        _PREPARED[id(a)] = got
    return got[2]


def _check(incident: Incident, a: Agreement, c: dict[str, Any], claims: Sequence[Claim],
           affiliations: dict[str, str | None], occupied: bool,
           prep: _Prepared) -> tuple[str, list[TraceStep], str | None]:
    """One reading of one commitment → (verdict, trace, fact it hinges on)."""
    steps: list[TraceStep] = []
    cid = c["id"]

    def step(cond: str, fact: str, result: str, note: str = "") -> None:
        steps.append(TraceStep(clause=f"{a.id}/{cid}", condition=cond, fact=fact, result=result, note=note))

    if prep.in_force is None:
        step("the agreement entered into force", f"status history: {prep.trail}", "fail",
             "talks that never produced a commitment in force bind no one")
        return "not_covered", steps, None
    step("the agreement entered into force", prep.in_force, "pass")

    start, end = c["window"].get("start"), c["window"].get("end")
    if incident.date is None:
        step("incident date inside the window", "incident date unknown", "unknown")
        return "indeterminate", steps, "incident date"
    inside = (start is None or incident.date >= start) and (end is None or incident.date <= end)
    step("incident date inside the window", f"{incident.date} vs window {start or '…'} – {end or '…'}",
         "pass" if inside else "fail")
    if not inside:
        return "not_covered", steps, None

    if incident.country is None:
        step("target inside the covered territory", "target country unknown", "unknown")
        return "indeterminate", steps, "target country"
    terr = incident.country in c["territory"]
    step("target inside the covered territory", f"target in {incident.country}; covered: {', '.join(c['territory'])}",
         "pass" if terr else "fail")
    if not terr:
        return "not_covered", steps, None
    regions = c.get("regions")
    if regions:
        if incident.region_code is None:
            step("target inside the covered regions", "target region unknown", "unknown")
            return "indeterminate", steps, "target region"
        inside_regions = incident.region_code in regions
        step("target inside the covered regions", f"target in {incident.region_code}; covered: {', '.join(regions)}",
             "pass" if inside_regions else "fail")
        if not inside_regions:
            return "not_covered", steps, None

    ftype = incident.facility_type
    if ftype is None or ftype == "other_energy":
        step("asset class covered", f"asset type not stated ({ftype or 'none'})", "unknown",
             "reports name an energy facility without saying what kind")
        return "indeterminate", steps, "asset type"
    covered = ftype in c["assets"]
    step("asset class covered", f"{ftype}" + (f" ({incident.facility_name})" if incident.facility_name else ""),
         "pass" if covered else "fail")
    if not covered:
        return "not_covered", steps, None

    attacker = incident.attacker
    if attacker is None:
        why = "responsibility disputed" if incident.attacker_basis == "disputed" else "no report names the attacker"
        step("attacker is a bound party", why, "unknown")
        return ("contested" if incident.attacker_basis == "disputed" else "indeterminate"), steps, "attacker"
    bound = attacker in c["bound"]
    step("attacker is a bound party", f"attacker {attacker} ({incident.attacker_basis})", "pass" if bound else "fail")
    if not bound:
        return "not_covered", steps, None

    if attacker == incident.country:
        if occupied:
            step("target is the other party's infrastructure",
                 f"target in {incident.region_code}, territory of {incident.country} under the other party's control",
                 "unknown", "the parties dispute whose infrastructure this is")
            return "indeterminate", steps, "control of occupied territory"
        step("target is the other party's infrastructure", f"{attacker} struck a target in {incident.country}", "fail")
        return "not_covered", steps, None
    step("target is the other party's infrastructure", f"{attacker} → target in {incident.country}", "pass")

    if incident.grade == "discounted":
        step("the incident is established", "grade discounted: " + "; ".join(incident.grade_reasons), "fail")
        return "not_covered", steps, None
    if "attribution" in incident.disputed:
        denials = [r for r in incident.grade_reasons if r.startswith("responsibility denied")]
        step("attribution", "; ".join(denials) or f"responsibility of {attacker} denied by a counter-claim", "unknown",
             "a counter-claim disputes who carried out the strike")
        return "contested", steps, None
    if incident.grade == "contested":
        step("the incident is established", "grade contested: " + "; ".join(incident.grade_reasons), "unknown")
        return "contested", steps, None
    victim = incident.country
    asserting = [cl for cl in claims if cl.stance != "denies"]  # a denial never attributes or acknowledges
    attributing = {affiliations.get(cl.report_id) for cl in asserting
                   if cl.attacker == attacker and cl.attacker_basis == "stated"}
    acknowledged = any(cl.acknowledged_by == attacker for cl in asserting)
    neutral = bool(attributing & {"neutral", "international"})
    by_attacker_side = attacker in attributing
    if incident.attacker_basis == "inferred":
        attribution = "inferred from the target's side of the front only"
        attributed = False
    elif acknowledged or by_attacker_side:
        attribution, attributed = f"acknowledged by {attacker}", True
    elif neutral:
        attribution, attributed = "attributed by a neutral or international source", True
    else:
        attribution = f"attributed only by the other side ({victim} sources)"
        attributed = False
    step("attribution", attribution, "pass" if attributed else "unknown")
    step("the incident is established", f"grade {incident.grade}: " + "; ".join(incident.grade_reasons),
         "pass" if incident.grade in ("fair", "confirmed") else "unknown")
    if incident.grade in ("fair", "confirmed") and attributed:
        return "consistent_with_violation", steps, None
    return "alleged", steps, None


def evaluate(incident: Incident, a: Agreement, claims: Sequence[Claim] = (),
             affiliations: dict[str, str | None] | None = None, *, occupied: bool = False) -> Finding:
    """One incident against one agreement, every reading of its alternatives.

    ``claims`` are the incident's claims and ``affiliations`` maps their report ids
    to source affiliations (for attribution); ``occupied`` says the target lies in
    territory controlled by the other party (the registry's facility status, or the
    gazetteer's occupied regions)."""
    affiliations = affiliations or {}
    readings: list[Reading] = []
    traces: dict[tuple[tuple[str, str], ...], list[TraceStep]] = {}
    verdicts: list[str] = []
    hinge: str | None = None
    prep = _prepared(a)
    for rd, key, commitments in prep.readings:
        per_commit = [_check(incident, a, c, claims, affiliations, occupied, prep) for c in commitments]
        # an incident violates the agreement if any commitment says so; else the most informative result
        order = ("consistent_with_violation", "alleged", "contested", "indeterminate", "not_covered")
        v, steps, h = min(per_commit, key=lambda x: order.index(x[0]))
        traces[key] = steps
        readings.append(Reading(alternatives=dict(rd), verdict=v, note=h or ""))
        verdicts.append(v)
        hinge = hinge or h
    distinct = sorted(set(verdicts))
    base = traces[prep.readings[0][1]]
    if len(distinct) == 1:
        verdict = distinct[0]
        hinges = hinge if verdict == "indeterminate" else None
        trace = list(base)
    else:
        verdict = "indeterminate"
        deciding = _deciding(a, readings)
        hinges = "; ".join(deciding)
        trace = list(base) + [TraceStep(clause=f"{a.id}/readings", condition="readings of the disputed terms agree",
                                        fact=" | ".join(f"{_label(r.alternatives)}: {r.verdict}" for r in readings),
                                        result="fail", note=hinges)]
    evidence = tuple(FindingEvidence(cl.report_id, cl.claim_id, cl.joined_because, cl.role, cl.role_note, cl.source)
                     for cl in incident.claims)
    return Finding(incident_id=incident.id, agreement_id=a.id, verdict=verdict, trace=tuple(trace),
                   readings=tuple(readings) if len(readings) > 1 else (), hinges_on=hinges,
                   evidence=evidence, engine=f"{ENGINE_VERSION}; terms {a.digest[:12]}")


def _label(alts: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in alts.items()) or "terms"


def _deciding(a: Agreement, readings: Sequence[Reading]) -> list[str]:
    """Which ambiguities change the verdict, and how each of their alternatives decides."""
    out = []
    for amb in a.ambiguities:
        by_alt: dict[str, set[str]] = {}
        for r in readings:
            by_alt.setdefault(r.alternatives[amb["id"]], set()).add(r.verdict)
        if len({frozenset(v) for v in by_alt.values()}) > 1:
            held = {alt["id"]: alt.get("held_by") for alt in amb["alternatives"]}
            parts = [f"{k}{' (' + held[k] + ')' if held.get(k) else ''} → {'/'.join(sorted(v))}" for k, v in by_alt.items()]
            out.append(f"{amb.get('question') or amb['field']}: " + ", ".join(parts))
    return out or ["readings disagree"]


# --- status history -----------------------------------------------------------------------

# Standing of a source on an agreement's status, highest first: the agreement's recorded history
# (its terms file), a party to the agreement (its government or military), a mediator, another
# official body (regional authorities, operators, monitors), the media.
STANDINGS = ("terms", "party", "mediator", "official", "media")
STANDING_LABEL = {"terms": "the agreement's recorded history", "party": "party to the agreement",
                  "mediator": "mediator", "official": "official body", "media": "media"}
# statuses that can hold together on one day: talks, an agreement on (or alleged broken, which
# presumes it on), an agreement off
PHASE = {"proposed": "talks", "under_negotiation": "talks", "agreed": "on", "in_force": "on",
         "violated_alleged": "on", "suspended": "off", "expired": "off", "collapsed": "off"}


def standing(a: Agreement, kind: str | None, affiliation: str | None) -> str:
    """A report source's standing on the status of ``a`` (see ``STANDINGS``)."""
    if kind == "party_official" and affiliation in a.parties:
        return "party"
    if kind == "mediator":
        return "mediator"
    if kind in ("party_official", "regional_authority", "operator", "monitor"):
        return "official"
    return "media"


def status_history(a: Agreement, claims: Sequence[Claim], externals: dict[str, tuple[str, str | None]],
                   sources: Mapping[str, tuple[str | None, str | None]] | None = None) -> list[StatusObservation]:
    """The agreement's status over time: its terms' history plus every negotiation claim
    about it, each with its evidence and source (``externals``: report id → (external id, source);
    ``sources``: report id → (source kind, affiliation), for the source's standing).

    Where observations of one day disagree (talks, on, off: ``PHASE``), the day is resolved by
    standing: what the sources of the highest standing say holds and the rest yields to it; when
    sources of equal standing disagree (the two parties, say), every one of them is marked a
    disagreement and nothing is made to hold."""
    return status_of_days(a, terms_status(a), claims, externals, sources)


def terms_status(a: Agreement) -> list[StatusObservation]:
    """The status history the agreement's terms record (``terms:N`` rows)."""
    return [StatusObservation(agreement_id=a.id, claim_id=f"terms:{i}", status=s["status"], date=s["date"],
                              source=s.get("source"), evidence=s.get("note") or "", report_id=None,
                              origin="terms", standing="terms")
            for i, s in enumerate(a.statuses())]


def status_of_days(a: Agreement, terms: Sequence[StatusObservation], claims: Sequence[Claim],
                   externals: Mapping[str, tuple[str, str | None]],
                   sources: Mapping[str, tuple[str | None, str | None]] | None = None) -> list[StatusObservation]:
    """:func:`status_history` of some whole days: ``terms`` and ``claims`` must hold every
    observation of each day they touch (a day is resolved on its own), so a history read a
    few days at a time is the history read at once."""
    sources = sources or {}
    rows = list(terms)
    for c in claims:
        if c.kind != "negotiation" or c.agreement_id != a.id or not c.status:
            continue
        ext, src = externals.get(c.report_id, (c.report_id, None))
        kind, aff = sources.get(c.report_id, (None, None))
        rows.append(StatusObservation(agreement_id=a.id, claim_id=c.id, status=c.status, date=c.date, source=src,
                                      evidence=" ".join(e.text for e in c.evidence)[:600], report_id=ext,
                                      parties=c.parties, mediator=c.mediator, conditions=c.conditions,
                                      salience=c.salience, origin="report", standing=standing(a, kind, aff)))
    rows = _resolve_days(rows)
    rows.sort(key=lambda r: (r.date or "9999", r.claim_id))
    return rows


def _resolve_days(rows: list[StatusObservation]) -> list[StatusObservation]:
    import dataclasses

    by_day: dict[str, list[StatusObservation]] = {}
    for r in rows:
        if r.date:
            by_day.setdefault(r.date, []).append(r)
    out: dict[str, StatusObservation] = {}
    for day, obs in by_day.items():
        if len({PHASE.get(r.status, r.status) for r in obs}) < 2:
            continue  # one phase that day (the terms' own "agreed" then "in force" is a sequence)

        def who(r: StatusObservation) -> str:
            return f"{r.status} per {r.source or r.report_id or 'unknown source'} ({STANDING_LABEL.get(r.standing or '', 'media')})"

        rank = {r.claim_id: STANDINGS.index(r.standing or "media") for r in obs}
        best = min(rank.values())
        top = [r for r in obs if rank[r.claim_id] == best]
        if best == 0:  # the recorded history is a sequence: its last entry of the day is where the day ends
            top = [max(top, key=lambda r: int(r.claim_id.split(":")[1]))]
        top_phases = {PHASE.get(r.status, r.status) for r in top}
        top_ids, top_objs = {r.claim_id for r in top}, {id(r) for r in top}
        # who said what, by phase, made once a day: a busy day has hundreds of observations, and
        # naming the others for each one of them was quadratic in the day's observations
        said: dict[str, set[str]] = {}
        for x in obs:
            said.setdefault(PHASE.get(x.status, x.status), set()).add(who(x))
        top_said: dict[str, set[str]] = {}
        for x in top:
            top_said.setdefault(PHASE.get(x.status, x.status), set()).add(who(x))
        against: dict[tuple[str, bool], str] = {}  # (phase, among the top only) → the others, joined

        def others(phase: str, among_top: bool) -> str:
            got = against.get((phase, among_top))
            if got is None:
                names = set().union(*(v for k, v in (top_said if among_top else said).items() if k != phase))
                got = against[(phase, among_top)] = "; ".join(sorted(names))
            return got

        holder = next(x for x in top if PHASE.get(x.status, x.status) in top_phases) if len(top_phases) == 1 else None
        top_all = "; ".join(sorted(set().union(*top_said.values())))
        for r in obs:
            phase = PHASE.get(r.status, r.status)
            if holder is not None:
                if phase in top_phases:
                    reading, note = "holds", f"holds on {day} over " + others(phase, False)
                else:
                    reading, note = "yields", f"yields to {who(holder)} on {day}"
            elif phase in top_phases and r.claim_id in top_ids and (id(r) in top_objs or r in top):
                reading, note = "disagreement", (f"sources of equal standing disagree on {day}: {who(r)} against "
                                                 + others(phase, True))
            else:
                reading, note = "yields", f"yields to sources of higher standing, who disagree on {day}: " + top_all
            out[r.claim_id] = dataclasses.replace(r, reading=reading, reading_note=note)
    return [out.get(r.claim_id, r) for r in rows]
