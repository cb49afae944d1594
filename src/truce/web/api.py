"""The JSON API, ``/api/v1``: the shapes of ``truce incidents --format json`` and
``truce findings --format json`` (one definition: :mod:`truce.outputs.shapes`), selected with
the command line's filters (:mod:`truce.outputs.query`) and paged with opaque cursors.

Lists answer ``{"ok": true, "items": [...], "next_cursor": "…" | null}``; one thing answers
``{"ok": true, "<thing>": {...}}``; every error ``{"ok": false, "error": "…", "status": N}``.
The public (and a ``viewer``) sees published findings only, and the incidents they are about.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Path, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from truce.outputs import shapes
from truce.outputs.query import (FILTER_PARAMS, VERDICT_ORDER, Filters, decode_cursor, encode_cursor,
                                 filters_from_params, where)
from truce.records import FACILITY_TYPES, GRADES, VERDICTS
from truce.web.state import WebError, WebState, current_user
from truce.web.auth import User

router = APIRouter(prefix="/api/v1", tags=["api"])

Country = Literal["UA", "RU"]
Grade = Literal["confirmed", "fair", "weak", "contested", "discounted"]
Verdict = Literal["not_covered", "consistent_with_violation", "alleged", "contested", "indeterminate"]
FacilityType = Literal[
    "nuclear_plant", "thermal_plant", "chp", "hydro_plant", "solar_wind", "substation", "transmission_line",
    "distribution", "gas_production", "gas_storage", "gas_pipeline_station", "gas_processing", "refinery",
    "oil_depot", "oil_pumping_station", "oil_terminal", "other_energy"]
assert set(Grade.__args__) == set(GRADES) and set(Verdict.__args__) == set(VERDICTS)  # type: ignore[attr-defined]
assert set(FacilityType.__args__) == set(FACILITY_TYPES)  # type: ignore[attr-defined]

MAX_LIMIT = 1000


class ErrorBody(BaseModel):
    ok: Literal[False] = False
    error: str
    status: int


class ReviewIn(BaseModel):
    incident_id: str = Field(min_length=1, max_length=40)
    agreement_id: str = Field(min_length=1, max_length=100)
    verdict: Verdict
    note: str = Field(min_length=1, max_length=5000)


class PublicationIn(BaseModel):
    incident_id: str = Field(min_length=1, max_length=40)
    agreement_id: str = Field(min_length=1, max_length=100)


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A filter, cursor or id that cannot be used"},
    401: {"model": ErrorBody, "description": "An invalid or revoked bearer token"},
    404: {"model": ErrorBody, "description": "Nothing with that id (or not published)"},
    422: {"model": ErrorBody, "description": "A parameter of the wrong form"},
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS, 401: {"model": ErrorBody, "description": "No valid bearer token"},
    403: {"model": ErrorBody, "description": "The token's role may not do this"},
    409: {"model": ErrorBody, "description": "Already done, or not allowed on this entry"},
}


def state_of(request: Request) -> WebState:
    return request.app.state.truce


class FilterArgs:
    """The filters as query parameters: the command line's names, repeatable where it repeats."""

    def __init__(self,
                 date_from: str | None = Query(None, alias="from", max_length=40,
                                               description="First day: 2025-03-01, 01.03.2025, 2025-03, yesterday"),
                 date_to: str | None = Query(None, alias="to", max_length=40, description="Last day (as from)"),
                 country: list[Country] = Query([], description="Target country"),
                 region: list[str] = Query([], description="ISO 3166-2 code (UA-32) or a region's name"),
                 facility: list[str] = Query([], description="Registry facility id"),
                 type: list[FacilityType] = Query([], description="Asset type"),
                 grade: list[Grade] = Query([], description="Corroboration grade"),
                 verdict: list[Verdict] = Query([], description="Finding verdict"),
                 agreement: list[str] = Query([], description="Agreement id")):
        self.params: dict[str, list[str]] = {
            "from": [date_from] if date_from else [], "to": [date_to] if date_to else [], "country": list(country),
            "region": region, "facility": facility, "type": list(type), "grade": list(grade),
            "verdict": list(verdict), "agreement": agreement}


def read_filters(state: WebState, params: dict[str, list[str]]) -> Filters:
    return filters_from_params(params, agreements=state.agreement_ids, facilities=list(state.registry.facilities),
                               regions=state.regions)


def params_of(request: Request) -> dict[str, list[str]]:
    return {k: request.query_params.getlist(k) for k in FILTER_PARAMS}


# --- incidents ---------------------------------------------------------------------------------

def incident_list(state: WebState, user: User, filters: Filters, *, cursor: str | None, limit: int,
                  descending: bool = False) -> tuple[list[dict[str, Any]], str | None]:
    after = decode_cursor(cursor, (str, str)) if cursor else None
    stamps: dict[str, str] = {}  # read with the page: no second lookup of its incidents
    page = state.db.incident_page_data(where(filters), after=after, limit=limit + 1, descending=descending,  # type: ignore[arg-type]
                                       published_only=not user.sees_all, stamps=stamps)
    more = len(page) > limit
    page = page[:limit]
    published = None if user.sees_all else set(state.db.published([d["id"] for d in page]))
    items = shapes.incident_page_json(state.db, page, published, updated=stamps)
    nxt = encode_cursor([page[-1]["date"] or "9999", page[-1]["id"]]) if more and page else None
    return items, nxt


@router.get("/incidents", responses={**ERRORS, 200: {"description": "A page of incidents (EVAL-FORMAT.md section 4), "
                                                                    "or the page as CSV or GeoJSON",
                                                     "content": {"text/csv": {}, "application/geo+json": {}}}})
def list_incidents(request: Request, f: FilterArgs = Depends(),
                   cursor: str | None = Query(None, max_length=400, description="next_cursor of the previous page"),
                   limit: int = Query(50, ge=1, le=MAX_LIMIT),
                   order: Literal["asc", "desc"] = Query("asc", description="by date: oldest (asc) or latest first"),
                   format: Literal["json", "csv", "geojson"] = Query("json")) -> Response:
    """Incidents in the shape of ``truce incidents --format json``, filtered as on the command line."""
    state = state_of(request)
    user = current_user(request)
    filters = read_filters(state, f.params)
    items, nxt = incident_list(state, user, filters, cursor=cursor, limit=limit, descending=order == "desc")
    if format == "csv":
        from truce.outputs.export import write_csv

        buf = io.StringIO()
        write_csv(items, buf, sorted({a for r in items for a in r["verdicts"]}))
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": "attachment; filename=incidents.csv",
                                 **({"Link": f'<?cursor={nxt}>; rel="next"'} if nxt else {})})
    if format == "geojson":
        from truce.outputs.export import incidents_geojson

        return JSONResponse({**incidents_geojson(items), "next_cursor": nxt}, media_type="application/geo+json")
    return JSONResponse({"ok": True, "items": items, "next_cursor": nxt})


@router.get("/incidents/{incident_id}", responses=ERRORS)
def get_incident(request: Request, incident_id: str = Path(max_length=100)) -> dict[str, Any]:
    """One incident (as in the list), with its findings under each agreement."""
    state = state_of(request)
    user = current_user(request)
    inc = visible_incident(state, user, incident_id)
    published = None if user.sees_all else set(state.db.published([inc.id]))
    item = shapes.incident_page_json(state.db, [inc], published)[0]
    rows = [(f, at) for f, at in state.db.findings_of([inc.id]) if published is None or (f.incident_id, f.agreement_id) in published]
    return {"ok": True, "incident": item, "findings": shapes.finding_page_json(state.db, rows)}


def visible_incident(state: WebState, user: User, incident_id: str) -> Any:
    inc = state.db.incident(incident_id)
    if inc is None or (not user.sees_all and not state.db.published([incident_id])):
        raise WebError(404, f"no incident {incident_id!r}" + ("" if user.sees_all else " (among published findings)"))
    return inc


# --- findings -----------------------------------------------------------------------------------

def finding_list(state: WebState, user: User, filters: Filters, *, cursor: str | None,
                 limit: int) -> tuple[list[dict[str, Any]], str | None]:
    after = decode_cursor(cursor, (int, str, str, str)) if cursor else None
    rows = state.db.finding_page(where(filters), VERDICT_ORDER, after=after, limit=limit + 1,  # type: ignore[arg-type]
                                 published_only=not user.sees_all)
    more = len(rows) > limit
    rows = rows[:limit]
    items = shapes.finding_page_json(state.db, [(f, at) for f, at, _ in rows])
    nxt = None
    if more and rows:
        f, _, day = rows[-1]
        rank = VERDICT_ORDER.index(f.verdict) if f.verdict in VERDICT_ORDER else len(VERDICT_ORDER)
        nxt = encode_cursor([rank, day or "9999", f.incident_id, f.agreement_id])
    return items, nxt


@router.get("/findings", responses={**ERRORS, 200: {"description": "A page of findings (truce findings --format json)",
                                                    "content": {"text/csv": {}}}})
def list_findings(request: Request, f: FilterArgs = Depends(),
                  cursor: str | None = Query(None, max_length=400), limit: int = Query(50, ge=1, le=MAX_LIMIT),
                  format: Literal["json", "csv"] = Query("json")) -> Response:
    """Findings with their traces and latest review, as a mediator reads them (violations and
    contested first, then by date)."""
    state = state_of(request)
    user = current_user(request)
    items, nxt = finding_list(state, user, read_filters(state, f.params), cursor=cursor, limit=limit)
    if format == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["incident_id", "agreement_id", "verdict", "hinges_on", "evaluated_at", "review_verdict", "review_author"])
        for d in items:
            rv = d.get("review") or {}
            w.writerow([_cell(x) for x in (d["incident_id"], d["agreement_id"], d["verdict"], d.get("hinges_on"),
                                           d.get("evaluated_at"), rv.get("verdict"), rv.get("author"))])
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": "attachment; filename=findings.csv"})
    return JSONResponse({"ok": True, "items": items, "next_cursor": nxt})


def _cell(v: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    s = "" if v is None else str(v)
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s


@router.get("/findings/{agreement_id}/{incident_id}", responses=ERRORS)
def get_finding(request: Request, agreement_id: str = Path(max_length=100),
                incident_id: str = Path(max_length=100)) -> dict[str, Any]:
    state = state_of(request)
    user = current_user(request)
    rows = [(f, at) for f, at in state.db.findings_of([incident_id]) if f.agreement_id == agreement_id]
    if not rows or (not user.sees_all and (incident_id, agreement_id) not in state.db.published([incident_id])):
        raise WebError(404, f"no finding for incident {incident_id!r} under agreement {agreement_id!r}")
    from truce.web.review import reviews_with_state

    pub = state.db.published([incident_id]).get((incident_id, agreement_id))
    return {"ok": True, "finding": shapes.finding_page_json(state.db, rows)[0], "published": pub,
            "reviews": reviews_with_state(state.db, [f"{agreement_id}/{incident_id}"]) if user.sees_all else []}


# --- agreements, facilities, reports ---------------------------------------------------------------

def agreement_summary(state: WebState, user: User, a: Any) -> dict[str, Any]:
    from truce.web.views import current_status

    return {"id": a.id, "title": a.title, "parties": a.parties, "mediators": a.mediators,
            "window": [c.get("window") for c in a.commitments], "status": current_status(state, a.id)}


@router.get("/agreements", responses=ERRORS)
def list_agreements(request: Request) -> dict[str, Any]:
    """The agreements loaded, each with its current status, window and findings by verdict."""
    from truce.web.views import verdict_counts

    state = state_of(request)
    user = current_user(request)
    counts = verdict_counts(state, user)
    return {"ok": True, "items": [{**agreement_summary(state, user, a), "verdicts": counts.get(a.id, {})}
                                  for a in state.agreements]}


def known_agreement(state: WebState, agreement_id: str) -> Any:
    a = state.agreement(agreement_id)
    if a is None:
        raise WebError(404, f"no agreement {agreement_id!r}; known: {', '.join(state.agreement_ids)}")
    return a


@router.get("/agreements/{agreement_id}", responses=ERRORS)
def get_agreement(request: Request, agreement_id: str = Path(max_length=100)) -> dict[str, Any]:
    """An agreement's terms (as in its YAML), its findings by verdict and its status history: the
    recorded history and the latest observations reports make (as its page lists them), the number
    of all and their counts by status and source standing; ``/agreements/{id}/status`` pages
    through every one."""
    from truce.outputs.report_summary import status_history
    from truce.web.views import HISTORY_SHOWN, verdict_counts

    state = state_of(request)
    user = current_user(request)
    a = known_agreement(state, agreement_id)
    h = status_history(state.db, a.id, HISTORY_SHOWN)
    counts = [{"status": st, "standing": standing, "count": n} for (st, standing), n in sorted(h.counts.items())]
    return {"ok": True, "agreement": {**agreement_summary(state, user, a), "terms": a.data,
                                      "verdicts": verdict_counts(state, user).get(a.id, {}),
                                      "status_history": [s.to_dict() for s in h.shown],
                                      "status_observations": h.total, "status_counts": counts}}


@router.get("/agreements/{agreement_id}/status", responses=ERRORS)
def list_agreement_status(request: Request, agreement_id: str = Path(max_length=100),
                          cursor: str | None = Query(None, max_length=200),
                          limit: int = Query(200, ge=1, le=MAX_LIMIT)) -> dict[str, Any]:
    """Every status observation of an agreement (its terms' and its reports'), a page at a time
    in claim-id order."""
    state = state_of(request)
    a = known_agreement(state, agreement_id)
    after = str(decode_cursor(cursor, (str,))[0]) if cursor else ""
    rows = state.db.agreement_status_page(a.id, after, limit + 1)
    nxt = encode_cursor([rows[limit - 1][1]]) if len(rows) > limit else None
    return {"ok": True, "items": [s.to_dict() for s, _ in rows[:limit]], "next_cursor": nxt}


@router.get("/facilities", responses={**ERRORS, 200: {"description": "Registry facilities, or as GeoJSON",
                                                      "content": {"application/geo+json": {}}}})
def list_facilities(request: Request, country: list[Country] = Query([]), type: list[FacilityType] = Query([]),
                    cursor: str | None = Query(None, max_length=200), limit: int = Query(100, ge=1, le=MAX_LIMIT),
                    format: Literal["json", "geojson"] = Query("json")) -> Response:
    """Registry facilities (``truce facilities export``), by id."""
    state = state_of(request)
    rows = sorted((f for f in state.registry if (not country or f.country in country) and (not type or f.type in type)),
                  key=lambda f: f.id)
    if cursor:
        (last,) = decode_cursor(cursor, (str,))
        rows = [f for f in rows if f.id > str(last)]
    if format == "geojson":
        from truce.reference.registry import to_geojson

        return JSONResponse(to_geojson(rows[:limit]), media_type="application/geo+json")
    page = rows[:limit]
    nxt = encode_cursor([page[-1].id]) if len(rows) > limit and page else None
    return JSONResponse({"ok": True, "items": [f.to_dict() for f in page], "next_cursor": nxt})


@router.get("/facilities/{facility_id}", responses=ERRORS)
def get_facility(request: Request, facility_id: str = Path(max_length=100)) -> dict[str, Any]:
    state = state_of(request)
    f = state.registry.get(facility_id)
    if f is None:
        raise WebError(404, f"no facility {facility_id!r} in the registry")
    user = current_user(request)
    items, nxt = incident_list(state, user, Filters(facilities=(facility_id,)), cursor=None, limit=200)
    return {"ok": True, "facility": f.to_dict(), "incidents": items, "more_incidents": nxt is not None}


@router.get("/reports/{report_id}", responses=ERRORS)
def get_report(request: Request, report_id: str = Path(max_length=100)) -> dict[str, Any]:
    """A report (by its SHA-256 id) with its text and every claim extracted from it (evidence offsets into the text)."""
    from truce.web.views import visible_report

    state = state_of(request)
    r, cl = visible_report(state, current_user(request), report_id)
    return {"ok": True, "report": {"id": r.id, "external_id": r.external_id, "source": r.source,
                                   "source_kind": r.source_kind, "affiliation": r.affiliation, "url": r.url,
                                   "title": r.title, "published": r.published, "language": r.language, "text": r.text},
            "claims": [c.to_public(r.external_id) for c in cl]}


# --- the ledger and reviews ----------------------------------------------------------------

@router.get("/ledger/head", responses=ERRORS)
def ledger_head(request: Request) -> dict[str, Any]:
    """The ledger's last entry (sequence number and hash): compare with an exported, signed head."""
    db = state_of(request).db
    head = db.ledger_head()
    return {"ok": True, "head": {"seq": head[0], "hash": head[1]} if head else None, "entries": db.ledger_count()}


@router.get("/ledger/verify", responses=ERRORS)
def ledger_verify(request: Request) -> dict[str, Any]:
    """Recompute the hash chain (as ``truce ledger verify``)."""
    from truce.ledger import verify

    v = verify(state_of(request).db)
    return {"ok": True, "intact": v.ok, "entries": v.entries, "reason": v.reason, "first_bad": v.first_bad,
            "head": v.head}


@router.get("/reviews", responses=ERRORS)
def list_reviews(request: Request, incident: str | None = Query(None, max_length=100),
                 agreement: str | None = Query(None, max_length=100),
                 before: int | None = Query(None, ge=1, le=2**62, description="a ledger sequence number (paging)"),
                 limit: int = Query(50, ge=1, le=MAX_LIMIT)) -> dict[str, Any]:
    """Reviews (newest first) with their sign-off; analysts and leads only (the public sees published findings)."""
    from truce.web.review import reviews_with_state

    state = state_of(request)
    user = current_user(request)
    if not user.sees_all:
        return {"ok": True, "items": [], "next_before": None}
    if incident and agreement:
        items = list(reversed(reviews_with_state(state.db, [f"{agreement}/{incident}"])))
        return {"ok": True, "items": items[:limit], "next_before": None}
    entries = state.db.ledger_recent(["review"], before=before, limit=limit + 1)
    subjects = [e.subject for e in entries[:limit] if (not incident or e.payload.get("incident_id") == incident)
                and (not agreement or e.payload.get("agreement_id") == agreement)]
    by_seq = {r["seq"]: r for r in reviews_with_state(state.db, subjects)}
    items = [by_seq[e.seq] for e in entries[:limit] if e.seq in by_seq]
    return {"ok": True, "items": items, "next_before": entries[limit - 1].seq if len(entries) > limit else None}


def writer(request: Request) -> User:
    """The bearer token's user (API writes take no cookie, so need no CSRF token)."""
    if not (request.headers.get("authorization") or "").lower().startswith("bearer "):
        raise WebError(401, "this needs a bearer token (Authorization: Bearer …); `truce users token NAME` makes one")
    return current_user(request)


@router.post("/reviews", status_code=201, responses=WRITE_ERRORS)
def post_review(request: Request, body: ReviewIn = Body(...), user: User = Depends(writer)) -> dict[str, Any]:
    """Propose a review of a finding (analyst or lead): a ``review`` ledger entry authored by the token's user."""
    from truce.web.review import ReviewError, propose

    if not user.may_review:
        raise WebError(403, f"a {user.role} may not propose reviews")
    state = state_of(request)
    if state.db.incident(body.incident_id) is None:
        raise WebError(404, f"no incident {body.incident_id!r}")
    try:
        row = propose(state.db, user, body.incident_id, body.agreement_id, body.verdict, body.note)
    except ReviewError as e:
        raise WebError(404 if str(e).startswith("no finding") else 409, str(e)) from e
    return {"ok": True, "entry": row}


@router.post("/reviews/{seq}/signoff", status_code=201, responses=WRITE_ERRORS)
def post_signoff(request: Request, seq: int = Path(ge=1, le=2**62), user: User = Depends(writer)) -> dict[str, Any]:
    """Sign off a review (a lead other than its author): a ``signoff`` ledger entry."""
    from truce.web.review import ReviewError, sign

    if not user.may_sign:
        raise WebError(403, f"a {user.role} may not sign reviews")
    try:
        row = sign(state_of(request).db, user, seq)
    except ReviewError as e:
        raise WebError(404 if str(e).startswith("no review") else 409, str(e)) from e
    return {"ok": True, "entry": row}


@router.post("/publications", status_code=201, responses=WRITE_ERRORS)
def post_publication(request: Request, body: PublicationIn = Body(...), user: User = Depends(writer)) -> dict[str, Any]:
    """Publish a finding (a lead): a ``publish`` ledger entry; the public sees the finding from then on."""
    from truce.web.review import ReviewError, publish

    if not user.may_sign:
        raise WebError(403, f"a {user.role} may not publish findings")
    try:
        row = publish(state_of(request).db, user, body.incident_id, body.agreement_id)
    except ReviewError as e:
        raise WebError(404, str(e)) from e
    return {"ok": True, "entry": row}


# --- maps and the live monitor ------------------------------------------------------------------

@router.get("/boundaries", responses={**ERRORS, 200: {"description": "A GeoJSON FeatureCollection",
                                                      "content": {"application/geo+json": {}}}})
def boundaries(request: Request) -> Response:
    """Admin-1 boundaries of UA and RU (Natural Earth, public domain) as GeoJSON, with each
    region's names in English, Ukrainian and Russian; an empty collection when not installed."""
    from truce.web.views import boundaries_geojson

    return JSONResponse(boundaries_geojson(state_of(request)), media_type="application/geo+json",
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/updates", responses=ERRORS)
def updates(request: Request, since: str | None = Query(None, max_length=40, description="the last value seen"),
            limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
    """Incidents added or changed since ``since`` (oldest first) and the new ``last``: what a
    monitor page polls so new incidents appear without a reload."""
    state = state_of(request)
    user = current_user(request)
    last = state.db.last_update()
    if not since:
        return {"ok": True, "last": last, "items": []}
    got = state.db.incidents_updated_since(since, limit=limit)
    incs = [i for i, _ in got]
    published = None if user.sees_all else set(state.db.published([i.id for i in incs]))
    if published is not None:
        incs = [i for i in incs if any(k[0] == i.id for k in published)]
    return {"ok": True, "last": got[-1][1] if got else (last if last and last > since else since),
            "items": shapes.incident_page_json(state.db, incs, published)}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with the bearer scheme on the writes and our error shape for
    validation errors (FastAPI's own 422 body is not what we answer)."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    doc.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
    schemas = doc["components"].get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    state: WebState = app.state.truce
    known = {"agreement": state.agreement_ids, "facility": sorted(f.id for f in state.registry),
             "region": sorted(r["code"] for r in state.regions)}
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            for param in op.get("parameters", []):
                if param.get("in") == "query" and param["name"] in known and param["schema"].get("type") == "array":
                    param["schema"]["items"] = {"type": "string", "enum": known[param["name"]]}
            if "422" in op.get("responses", {}):
                op["responses"]["422"] = {"description": "A parameter of the wrong form",
                                          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
            if method == "post":
                op["security"] = [{"bearer": []}]
    app.openapi_schema = doc
    return doc
