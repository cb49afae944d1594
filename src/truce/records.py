"""Typed records that flow between the pipeline stages (DESIGN.md, "Records").

All records are frozen dataclasses. ``to_dict``/``from_dict`` give the JSON
shape used on disk and in the public contract (EVAL-FORMAT.md); anything that
crosses a file or API boundary goes through them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable

# --- vocabularies ----------------------------------------------------------

FACILITY_TYPES: tuple[str, ...] = (
    "nuclear_plant", "thermal_plant", "chp", "hydro_plant", "solar_wind",
    "substation", "transmission_line", "distribution", "gas_production",
    "gas_storage", "gas_pipeline_station", "gas_processing", "refinery",
    "oil_depot", "oil_pumping_station", "oil_terminal", "other_energy",
)
CLAIM_KINDS = ("strike", "interception", "negotiation", "accusation")
PUBLIC_KINDS = (*CLAIM_KINDS, "denial")  # what `truce extract` writes: a counter-claim is a "denial"
AFFILIATIONS = ("UA", "RU", "neutral", "international")
SOURCE_KINDS = ("wire", "news_outlet", "party_official", "operator",
                "regional_authority", "monitor", "dataset", "mediator", "unknown")
GRADES = ("confirmed", "fair", "weak", "contested", "discounted")
VERDICTS = ("not_covered", "consistent_with_violation", "alleged",
            "contested", "indeterminate")
NEGOTIATION_STATUSES = ("proposed", "under_negotiation", "agreed", "in_force",
                        "suspended", "expired", "collapsed", "violated_alleged")
OUTCOMES = ("hit", "attempted", "unknown")
STANCES = ("asserts", "denies")
DENIED = ("strike", "damage", "attribution")
# what a source is to an incident: the claim (who asserts the strike, and sources of the same side), a
# counter-claim (who denies it, or reports it repelled against a reported hit), or corroboration
# (an independent source asserting the same event)
ROLES = ("claim", "counter-claim", "corroboration")
SALIENCE = ("main", "secondary", "background")
PARTIES = ("UA", "RU")
ACLED_CONTENT_TYPE = "text/x-acled-row"  # a report that is one ACLED row (its raw bytes keep the row)


def other_party(party: str | None) -> str | None:
    """The opposing party of a two-party conflict."""
    return {"UA": "RU", "RU": "UA"}.get(party or "")


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}  # per class: its dataclass fields, None if not one


def _field_names(cls: type) -> tuple[str, ...] | None:
    names = _FIELD_NAMES.get(cls, ())
    if names == ():
        names = tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None
        _FIELD_NAMES[cls] = names
    return names


_FIELD_SETS: dict[type, frozenset[str]] = {}


def _field_set(cls: type) -> frozenset[str]:
    got = _FIELD_SETS.get(cls)
    if got is None:
        got = _FIELD_SETS[cls] = frozenset(_field_names(cls) or ())
    return got


_SCALARS = frozenset({str, int, float, bool, type(None)})
_INITS: dict[type, tuple[dict[str, Any], dict[str, Any], frozenset[str]]] = {}


def _build(cls: type, kw: dict[str, Any]) -> Any:
    """``cls(**kw)`` for a frozen dataclass without ``__post_init__``, made by filling the
    instance's ``__dict__`` (a frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``: most of the cost of reading a claim of some fifty fields). Anything
    the constructor would refuse (a field missing, an unknown one) goes through it, to fail alike."""
    got = _INITS.get(cls)
    if got is None:
        fs = dataclasses.fields(cls)
        got = _INITS[cls] = ({f.name: f.default for f in fs if f.default is not dataclasses.MISSING},
                             {f.name: f.default_factory for f in fs if f.default_factory is not dataclasses.MISSING},
                             frozenset(f.name for f in fs if f.default is dataclasses.MISSING
                                       and f.default_factory is dataclasses.MISSING))
    defaults, factories, required = got
    if not required <= kw.keys() or not kw.keys() <= _field_set(cls):
        return cls(**kw)
    obj: Any = object.__new__(cls)
    obj.__dict__.update({n: kw[n] if n in kw else defaults[n] if n in defaults else factories[n]()
                         for n in _field_names(cls) or ()})  # in field order, as __init__ leaves it
    return obj


def _plain(value: Any) -> Any:
    # dispatch on the exact type, scalars inline: records are serialised by the million in a
    # large run (a finding is some fifty values), and a call per scalar was most of the cost
    t = type(value)
    if t in _SCALARS:
        return value
    if t is list or t is tuple:
        return [v if type(v) in _SCALARS else _plain(v) for v in value]
    if t is dict:
        return {k: v if type(v) in _SCALARS else _plain(v) for k, v in value.items()}
    names = _field_names(t)
    if names is not None:
        out = {}
        for n in names:
            v = getattr(value, n)
            out[n] = v if type(v) in _SCALARS else _plain(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class _Record:
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _plain(self)
        return out


# --- sources and reports ---------------------------------------------------

@dataclass(frozen=True)
class Source(_Record):
    """Who published: an outlet, an official channel, an operator, a monitor."""

    name: str
    kind: str = "unknown"
    affiliation: str | None = None
    domains: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    region: str | None = None
    assets: str | None = None  # an operator's main asset type: "its facilities" of Naftogaz are gas production


@dataclass(frozen=True)
class Report(_Record):
    """One document as received. Immutable; ``id`` is the SHA-256 of its normalised content."""

    id: str
    text: str
    external_id: str
    source: str | None = None
    source_kind: str = "unknown"
    affiliation: str | None = None
    url: str | None = None
    title: str | None = None
    published: str | None = None
    language: str | None = None
    content_type: str = "text/plain"
    origin: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Report":
        kw: dict[str, Any] = {f.name: d.get(f.name) for f in dataclasses.fields(cls) if f.name in d}
        return cls(**kw)


# --- claims ----------------------------------------------------------------

@dataclass(frozen=True)
class Evidence(_Record):
    """A span of the report text; ``text == report.text[start:end]``."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Effects(_Record):
    fire: bool | None = None
    damage: bool | None = None
    destroyed: bool | None = None
    outage_customers: int | None = None
    killed: int | None = None
    injured: int | None = None
    fire_area_m2: float | None = None


@dataclass(frozen=True)
class Claim(_Record):
    """One event asserted by one report (EVAL-FORMAT.md section 2)."""

    report_id: str
    index: int
    kind: str
    date: str | None = None
    date_end: str | None = None
    date_precision: str = "unknown"
    date_basis: str = "unspecified"
    country: str | None = None
    region_code: str | None = None
    region: str | None = None
    place: str | None = None
    place_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    location_precision: str | None = None
    facility_id: str | None = None
    facility_name: str | None = None
    facility_type: str | None = None
    attacker: str | None = None
    attacker_basis: str | None = None
    acknowledged_by: str | None = None
    weapon: str | None = None
    outcome: str = "unknown"
    effects: Effects = field(default_factory=Effects)
    salience: str = "main"
    hedged: bool = False
    denies_damage: bool = False
    retracted: bool = False
    # "asserts": the report says the event happened; "denies": the report's voice denies it
    # (a counter-claim: it never corroborates). ``denied`` says what is denied.
    stance: str = "asserts"
    denied: str | None = None  # "strike" (it did not happen), "damage", "attribution" (not by us / not by them)
    cited: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    confidence: float = 0.5
    extractor: str = ""
    rule: str = ""
    language: str | None = None
    # negotiation
    parties: tuple[str, ...] = ()
    mediator: str | None = None
    status: str | None = None
    topic: str | None = None
    conditions: tuple[str, ...] = ()
    agreement_id: str | None = None
    # accusation
    accuser: str | None = None
    accused: str | None = None
    linked_claim: int | None = None

    @property
    def id(self) -> str:
        return f"{self.report_id}:{self.index}"

    def to_public(self, report_id: str | None = None) -> dict[str, Any]:
        """The EVAL-FORMAT.md section 2 shape (with our optional extras)."""
        d = self.to_dict()
        d["report_id"] = report_id or self.report_id
        d["claim"] = d.pop("index")
        if self.kind != "negotiation":
            for k in ("parties", "mediator", "status", "topic", "conditions", "agreement_id"):
                d.pop(k)
        if self.kind != "accusation":
            for k in ("accuser", "accused", "linked_claim"):
                d.pop(k)
        if self.stance == "denies":
            # a counter-claim asserts no event: kind "denial" (an added kind, EVAL-FORMAT section 2),
            # with ``denied_kind`` saying what it denies, so that strike and accusation counts stay assertions
            d["denied_kind"] = self.kind
            d["kind"] = "denial"
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Claim":
        names = _field_set(cls)
        if "claim" not in d and d.get("kind") != "denial":  # the stored form: no key renamed
            kw: dict[str, Any] = {k: v for k, v in d.items() if k in names}
            if "effects" in kw:
                kw["effects"] = Effects(**(kw["effects"] or {}))
            if "evidence" in kw:
                kw["evidence"] = tuple(Evidence(**e) for e in (kw["evidence"] or ()))
            for k in ("parties", "conditions", "cited"):
                if k in kw:
                    kw[k] = tuple(kw[k] or ())
            claim: Claim = _build(cls, kw)
            return claim
        kw = {}
        for k, v in d.items():
            if k == "claim":
                k = "index"
            if k == "kind" and v == "denial":  # the public form of a counter-claim
                v = d.get("denied_kind") or "strike"
                kw["stance"] = "denies"
            if k not in names:
                continue
            if k == "effects":
                v = Effects(**(v or {}))
            elif k == "evidence":
                v = tuple(Evidence(**e) for e in (v or ()))
            elif k in ("parties", "conditions", "cited"):
                v = tuple(v or ())
            kw[k] = v
        return cls(**kw)


# --- reference data --------------------------------------------------------

@dataclass(frozen=True)
class Facility(_Record):
    """An energy asset from the registry."""

    id: str
    name: str
    type: str
    country: str
    region_code: str
    lat: float
    lon: float
    name_uk: str = ""
    name_ru: str = ""
    aliases: tuple[str, ...] = ()
    place: str = ""
    place_names: tuple[str, ...] = ()
    coord_precision: str = "site"
    capacity: float | None = None
    capacity_unit: str | None = None
    voltage_kv: float | None = None
    operator: str | None = None
    parent: str | None = None
    status: str = "operating"
    status_date: str | None = None
    source: str = ""
    notes: str = ""
    origin: str = "curated"

    def all_names(self) -> tuple[str, ...]:
        names = [self.name, self.name_uk, self.name_ru, *self.aliases]
        return tuple(n for n in dict.fromkeys(names) if n)


@dataclass(frozen=True)
class Place(_Record):
    """A gazetteer entry: a settlement, or a first-level region (``kind='region'``)."""

    id: str
    name: str
    country: str
    region_code: str | None
    lat: float
    lon: float
    population: int = 0
    kind: str = "settlement"
    names: tuple[str, ...] = ()


# --- physical evidence: satellite fire detections ----------------------------

PHYSICAL_VERDICTS = ("supports", "silent", "contradicts")


@dataclass(frozen=True)
class FireDetection(_Record):
    """One active-fire pixel from a NASA FIRMS file (VIIRS 375 m or MODIS 1 km).

    ``acquired`` is the overpass time in UTC (``YYYY-MM-DDTHH:MMZ``); ``confidence`` is
    ``low``/``nominal``/``high`` for both instruments (MODIS's 0–100 is kept in
    ``confidence_pct`` and binned as FIRMS advises: <30 low, 30–79 nominal, ≥80 high);
    ``brightness`` is the fire channel's brightness temperature in kelvin (VIIRS I-4,
    MODIS channel 21/22); ``frp`` the fire radiative power in MW; ``fire_type`` FIRMS's
    archive ``type`` (0 vegetation, 1 volcano, 2 other static land source, 3 offshore)."""

    id: str
    lat: float
    lon: float
    acquired: str
    satellite: str  # S-NPP | NOAA-20 | NOAA-21 | Terra | Aqua
    instrument: str  # VIIRS | MODIS
    confidence: str
    brightness: float | None = None
    frp: float | None = None
    daynight: str | None = None  # D | N
    confidence_pct: int | None = None
    fire_type: int | None = None
    source: str = ""  # the file it was read from (its name, never the analyst's path)
    line: int = 0


@dataclass(frozen=True)
class DetectionMatch(_Record):
    """A detection near a facility: how far from the site and whether it stands above the
    facility's background (its flare or stack on days without incidents)."""

    detection: FireDetection
    distance_km: float
    above_background: bool = True


@dataclass(frozen=True)
class PhysicalEvidence(_Record):
    """What satellite fire detections say about one incident: ``supports`` (detections above
    the site's background in the window), ``silent`` (none, or only background; ``why`` says
    which is knowable: no data loaded, no detection, background only) or ``contradicts``
    (the site was seen in the window at background level while a fire is reported)."""

    incident_id: str
    facility_id: str
    verdict: str  # PHYSICAL_VERDICTS
    why: str  # supports | no_data | no_detection | background_only | observed_no_fire
    reason: str
    window_start: str
    window_end: str
    radius_km: float
    detections: tuple[DetectionMatch, ...] = ()
    background: str = ""


@dataclass(frozen=True)
class FireCandidate(_Record):
    """A cluster of detections above background at a registry facility with no reported
    incident: a candidate for an analyst to review, never a finding by itself."""

    id: str
    facility_id: str
    facility_name: str
    facility_type: str
    country: str
    region_code: str
    date: str
    detections: tuple[DetectionMatch, ...]
    reason: str
    status: str = "review"


# --- incidents, findings, ledger --------------------------------------------

@dataclass(frozen=True)
class ClaimLink(_Record):
    claim_id: str
    report_id: str
    joined_because: str
    role: str = "claim"  # ROLES
    role_note: str = ""  # why the source has that role
    source: str | None = None


@dataclass(frozen=True)
class Incident(_Record):
    """One physical event: claims fused, consensus attributes, corroboration grade."""

    id: str
    kind: str
    date: str | None
    date_precision: str
    country: str | None
    region_code: str | None
    region: str | None
    facility_id: str | None
    facility_name: str | None
    facility_type: str | None
    attacker: str | None
    attacker_basis: str | None
    weapon: str | None
    outcome: str
    lat: float | None = None
    lon: float | None = None
    grade: str = "weak"
    grade_reasons: tuple[str, ...] = ()
    claims: tuple[ClaimLink, ...] = ()
    report_ids: tuple[str, ...] = ()
    attribution: tuple[str, ...] = ()
    first_reported: str | None = None
    effects: Effects = field(default_factory=Effects)
    location_precision: str | None = None  # facility | settlement | region | None
    disputed: tuple[str, ...] = ()  # what counter-claims deny: "strike", "damage", "attribution"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Incident":
        d = dict(d)
        d["claims"] = tuple(ClaimLink(**c) for c in d.get("claims", ()))
        d["disputed"] = tuple(d.get("disputed", ()))
        d["grade_reasons"] = tuple(d.get("grade_reasons", ()))
        d["report_ids"] = tuple(d.get("report_ids", ()))
        d["attribution"] = tuple(d.get("attribution", ()))
        d["effects"] = Effects(**(d.get("effects") or {}))
        names = _field_set(cls)
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class TraceStep(_Record):
    """One clause checked: which fact satisfied or failed which condition."""

    clause: str
    condition: str
    fact: str
    result: str  # "pass" | "fail" | "unknown"
    note: str = ""


@dataclass(frozen=True)
class Reading(_Record):
    """How the finding decides under one set of alternatives for the agreement's ambiguities."""

    alternatives: dict[str, str]
    verdict: str
    note: str = ""


@dataclass(frozen=True)
class FindingEvidence(_Record):
    """One claim a finding rests on, why it belongs to the incident, and what its source is to it:
    the claim, a counter-claim or corroboration (``ROLES``)."""

    report_id: str
    claim: str
    joined_because: str
    role: str = "claim"
    role_note: str = ""
    source: str | None = None


@dataclass(frozen=True)
class Finding(_Record):
    incident_id: str
    agreement_id: str
    verdict: str
    trace: tuple[TraceStep, ...]
    readings: tuple[Reading, ...] = ()
    hinges_on: str | None = None
    evidence: tuple[FindingEvidence, ...] = ()
    engine: str = ""

    def canonical(self) -> str:
        """The finding's canonical JSON, what the findings table stores and the digest hashes;
        made once per finding (a run digests, stores and records each one)."""
        text: str | None = self.__dict__.get("_canonical")  # not a field: eq, hash and to_dict ignore it
        if text is None:
            text = canonical_json(self.to_dict())
            object.__setattr__(self, "_canonical", text)
        return text

    def digest(self) -> str:
        """SHA-256 of the finding's canonical JSON: what the ledger chains."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Finding":
        return cls(
            incident_id=d["incident_id"], agreement_id=d["agreement_id"], verdict=d["verdict"],
            trace=tuple(TraceStep(**t) for t in d.get("trace", ())),
            readings=tuple(Reading(**r) for r in d.get("readings", ())),
            hinges_on=d.get("hinges_on"), evidence=tuple(FindingEvidence(**e) for e in d.get("evidence", ())),
            engine=d.get("engine", ""),
        )


@dataclass(frozen=True)
class StatusObservation(_Record):
    """One point of an agreement's status history: from its terms file, or a
    negotiation claim in a report (with the report's evidence and source)."""

    agreement_id: str
    claim_id: str
    status: str
    date: str | None
    source: str | None
    evidence: str
    report_id: str | None
    origin: str  # "terms" | "report"
    parties: tuple[str, ...] = ()
    mediator: str | None = None
    conditions: tuple[str, ...] = ()
    salience: str | None = None
    # same-day conflicts, resolved by the source's standing (evaluate.status_history)
    standing: str | None = None  # terms | party | mediator | official | media
    reading: str | None = None  # None (no conflict that day) | holds | yields | disagreement
    reading_note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if self.origin == "terms":  # the terms' own history carries no report fields
            for k in ("parties", "mediator", "conditions", "salience"):
                d.pop(k)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StatusObservation":
        kw: dict[str, Any] = {f.name: d.get(f.name) for f in dataclasses.fields(cls) if f.name in d}
        for k in ("parties", "conditions"):
            kw[k] = tuple(kw.get(k) or ())
        return cls(**kw)


@dataclass(frozen=True)
class LedgerEntry(_Record):
    """A ledger entry with its payload decoded."""

    seq: int
    kind: str
    subject: str
    payload: dict[str, Any]
    author: str
    created_at: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class LedgerRow(_Record):
    """A ledger entry as stored and hashed: the payload is canonical JSON text, byte for byte."""

    seq: int
    kind: str
    subject: str
    payload: str
    author: str
    created_at: str
    prev_hash: str
    hash: str

    def decoded(self) -> LedgerEntry:
        try:
            payload = json.loads(self.payload)
        except json.JSONDecodeError:
            payload = {"__unparseable__": self.payload}
        return LedgerEntry(self.seq, self.kind, self.subject, payload if isinstance(payload, dict) else
                           {"__unparseable__": self.payload}, self.author, self.created_at, self.prev_hash, self.hash)


def unique(items: Iterable[Any]) -> list[Any]:
    """Order-preserving de-duplication."""
    return list(dict.fromkeys(items))
