"""The pages: server-rendered with Jinja2 (autoescaped), complete without JavaScript; the
map, the live list and the filter form are enhanced by ``static/app.js`` where it runs.

Every form that writes is a POST with the session's CSRF token; the reviewer is the
signed-in user, never a field of the form.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from truce import __version__
from truce.outputs import shapes
from truce.outputs.i18n import (LANGUAGE_NAMES, LANGUAGES, format_date, format_datetime, format_number, gettext_for,
                                ngettext_for, negotiate)
from truce.outputs.maps import CREDIT, INSTALL_HINT
from truce.outputs.query import FILTER_PARAMS, VERDICT_ORDER, Filters, QueryError, to_params, where
from truce.outputs.report_summary import status_history
from truce.records import FACILITY_TYPES, GRADES, VERDICTS
from truce.web import views
from truce.web.state import HERE, WebError, WebState, current_user
from truce.web.auth import AuthError, User, csrf_ok, new_csrf, sign_in

router = APIRouter(include_in_schema=False)
_env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)
GRADE_ORDER = ("confirmed", "fair", "weak", "contested", "discounted")


def state_of(request: Request) -> WebState:
    return request.app.state.truce


def language(request: Request) -> str:
    lang = getattr(request.state, "lang", None)
    if lang:
        return str(lang)
    lang = negotiate(request.query_params.get("lang") or request.cookies.get("truce_lang"),
                     request.headers.get("accept-language"))
    request.state.lang = lang
    return lang


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = new_csrf()
    return str(token)


class _LazyCsrf:
    """The session's CSRF token, made only when a page shows a form (so a page without one
    sets no session cookie and can be cached)."""

    def __init__(self, request: Request):
        self.request = request

    def __str__(self) -> str:
        return csrf_token(self.request)

    __html__ = __str__


def cached_page(request: Request, key: str, build: Any) -> Response:
    """A page as the public (or an open reader) sees it, kept until the data change (a new
    incident, finding, review or publication); signed-in users always get a fresh page."""
    user = current_user(request)
    if user.name is not None:
        return build()
    state = state_of(request)
    k = (key, language(request), user.role, str(request.url.query))
    version = views.data_version(state)
    pages = state.cache.setdefault("pages", {})
    hit = pages.get(k)
    if hit is not None and hit[0] == version:
        return Response(hit[1], status_code=200, headers=hit[2], media_type="text/html; charset=utf-8")
    response: Response = build()
    if response.status_code == 200:
        if len(pages) > 5000:
            pages.clear()
        headers = {k2: v for k2, v in response.headers.items() if k2.lower() not in ("content-length", "content-type")}
        pages[k] = (version, bytes(response.body), headers)
    return response


def render(request: Request, template: str, http_status: int = 200, **ctx: Any) -> HTMLResponse:
    lang = language(request)
    user = current_user(request)
    state = state_of(request)
    _ = gettext_for(lang)

    def link(path: str, **params: Any) -> str:
        pairs = [(k, str(v)) for k, v in params.items() if v is not None and v != ""]
        return path + ("?" + urlencode(pairs) if pairs else "")

    def lang_link(code: str) -> str:
        pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"] + [("lang", code)]
        return request.url.path + "?" + urlencode(pairs)

    html = _env.get_template(template).render(
        request=request, user=user, lang=lang, languages=[(c, LANGUAGE_NAMES[c]) for c in LANGUAGES],
        lang_link=lang_link, _=_, n_=ngettext_for(lang), date=lambda v: format_date(v, lang),
        stamp=lambda v: format_datetime(v, lang), num=lambda v: format_number(v, lang), link=link,
        csrf=_LazyCsrf(request), version=__version__, credit=CREDIT, install_hint=INSTALL_HINT,
        tile_url=state.tile_url, poll_ms=int(state.poll_seconds * 1000), region=lambda c: state.region_label(c, lang),
        verdict_label=lambda v: _(v.replace("_", " ")) if v else "–",
        grade_label=lambda g: _(g) if g else "–", type_label=lambda t: _(t.replace("_", " ")) if t else "–",
        safe_url=views.safe_url, public=not user.sees_all, open_access=state.open_access, **ctx)
    response = HTMLResponse(html, status_code=http_status)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie("truce_lang", lang, max_age=365 * 86400, samesite="lax")
    response.headers["Content-Language"] = lang
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response


def error_page(request: Request, status: int, message: str) -> Response:
    try:
        return render(request, "error.html", http_status=status, status_code=status, message=message)
    except WebError:  # a bad token on a page: the page of the public
        request.state.user = User(None, "viewer")
        return render(request, "error.html", http_status=status, status_code=status, message=message)


# --- reading ---------------------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> Response:
    return cached_page(request, "overview", lambda: _overview(request))


def _overview(request: Request) -> Response:
    from truce.web.api import incident_list

    state = state_of(request)
    user = current_user(request)
    counts = views.verdict_counts(state, user)
    agreements = [{"a": a, "status": views.current_status(state, a.id), "verdicts": counts.get(a.id, {}),
                   "windows": [c.get("window") or {} for c in a.commitments]} for a in state.agreements]
    latest, _ = incident_list(state, user, Filters(), cursor=None, limit=20, descending=True)
    return render(request, "overview.html", agreements=agreements, grades=views.grade_counts(state, user),
                  grade_order=GRADE_ORDER, latest=latest, last=state.db.last_update(), verdict_order=VERDICT_ORDER)


@router.get("/agreements/{agreement_id}", response_class=HTMLResponse)
def agreement_page(request: Request, agreement_id: str) -> Response:
    import datetime as dt

    state = state_of(request)
    user = current_user(request)
    a = state.agreement(agreement_id)
    if a is None:
        raise WebError(404, f"no agreement {agreement_id!r}")
    windows = [c.get("window") or {} for c in a.commitments]
    start = min((str(w["start"]) for w in windows if w.get("start")), default=None)
    end = max((str(w["end"]) for w in windows if w.get("end")), default=None)
    alt: list[tuple[str, str]] = []
    for amb in a.ambiguities:
        vals = sorted(str(x.get("value")) for x in amb.get("alternatives", []) if len(str(x.get("value") or "")) == 10)
        if len(vals) >= 2:
            alt.append((vals[0], vals[-1]))
    incidents: list[Any] = []
    if start and end:
        lo = (dt.date.fromisoformat(start) - dt.timedelta(days=30)).isoformat()
        hi = (dt.date.fromisoformat(end) + dt.timedelta(days=30)).isoformat()
        incidents = state.db.incident_page({"start": lo, "end": hi}, limit=5000, published_only=not user.sees_all)
    rows = state.db.finding_page({"agreements": (a.id,)}, VERDICT_ORDER, limit=60, published_only=not user.sees_all)
    findings = shapes.finding_page_json(state.db, [(f, at) for f, at, _ in rows])
    dates = {f.incident_id: day for f, _, day in rows}
    return render(request, "agreement.html", a=a, status=views.current_status(state, a.id),
                  history=status_history(state.db, a.id, views.HISTORY_SHOWN), verdicts=views.verdict_counts(state, user).get(a.id, {}),
                  verdict_order=VERDICT_ORDER, findings=findings, dates=dates, windows=windows,
                  timeline=views.timeline_svg(incidents, (start, end) if start and end else None, alt))


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(request: Request, incident_id: str) -> Response:
    return cached_page(request, f"incident/{incident_id}", lambda: _incident_page(request, incident_id))


def _incident_page(request: Request, incident_id: str) -> Response:
    from truce.web.api import visible_incident
    from truce.web.review import reviews_with_state

    state = state_of(request)
    user = current_user(request)
    inc = visible_incident(state, user, incident_id)
    published = state.db.published([inc.id])
    visible = None if user.sees_all else set(published)
    item = shapes.incident_page_json(state.db, [inc], visible)[0]
    reports = state.db.reports_by_external(list(inc.report_ids))
    claims = state.db.claims_by_id([c.claim_id for c in inc.claims])
    cards = []
    for link in inc.claims:
        c = claims.get(link.claim_id)
        r = reports.get(link.report_id)
        cards.append({"link": link, "claim": c, "report": r})
    rows = [(f, at) for f, at in state.db.findings_of([inc.id]) if visible is None or (f.incident_id, f.agreement_id) in visible]
    findings = shapes.finding_page_json(state.db, rows)
    reviews = reviews_with_state(state.db, [f"{f.agreement_id}/{f.incident_id}" for f, _ in rows]) if user.sees_all else []
    return render(request, "incident.html", inc=inc, item=item, cards=cards, findings=findings, reviews=reviews,
                  published=published, verdicts=VERDICTS)


@router.get("/facilities/{facility_id}", response_class=HTMLResponse)
def facility_page(request: Request, facility_id: str) -> Response:
    from truce.web.api import incident_list

    state = state_of(request)
    f = state.registry.get(facility_id)
    if f is None:
        raise WebError(404, f"no facility {facility_id!r} in the registry")
    items, more = incident_list(state, current_user(request), Filters(facilities=(facility_id,)), cursor=None, limit=200)
    return render(request, "facility.html", f=f, items=items, more=more)


@router.get("/reports/{report_id}", response_class=HTMLResponse)
def report_page(request: Request, report_id: str, claim: int | None = None) -> Response:
    state = state_of(request)
    r, claims = views.visible_report(state, current_user(request), report_id)
    homes = state.db.incidents_of_claims([c.id for c in claims])
    return render(request, "report.html", r=r, claims=claims, homes=homes,
                  text=views.highlighted(r.text, claims, claim), focus=claim)


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request) -> Response:
    from truce.web.api import finding_list, incident_list, read_filters

    state = state_of(request)
    user = current_user(request)
    what = request.query_params.get("what") or "incidents"
    cursor = request.query_params.get("cursor") or None
    params = {k: request.query_params.getlist(k) for k in FILTER_PARAMS}
    error = None
    items: list[dict[str, Any]] = []
    nxt = None
    filters = Filters()
    try:
        filters = read_filters(state, params)
        if what == "findings":
            items, nxt = finding_list(state, user, filters, cursor=cursor, limit=50)
        else:
            what = "incidents"
            items, nxt = incident_list(state, user, filters, cursor=cursor, limit=50)
    except QueryError as e:
        error = str(e)
    query = to_params(filters)
    shown = urlencode(query + ([("cursor", cursor)] if cursor else []) + [("limit", "50")])
    return render(request, "search.html", what=what, items=items, next_cursor=nxt, error=error, params=params,
                  query=urlencode(query), shown=shown, described=filters.describe(),
                  choices={"country": ("UA", "RU"), "type": FACILITY_TYPES, "grade": GRADES, "verdict": VERDICTS,
                           "agreement": state.agreement_ids}, where=where(filters))


@router.get("/ledger", response_class=HTMLResponse)
def ledger_page(request: Request) -> Response:
    from truce.ledger import verify
    from truce.web.review import reviews_with_state

    state = state_of(request)
    user = current_user(request)
    v = verify(state.db)
    entries = state.db.ledger_recent(["review", "signoff", "publish"], limit=50) if user.sees_all else \
        state.db.ledger_recent(["publish"], limit=50)
    reviews = {r["seq"]: r for r in reviews_with_state(state.db, sorted({e.subject for e in entries}))} if user.sees_all else {}
    return render(request, "ledger.html", v=v, head=state.db.ledger_head(), entries=entries, reviews=reviews)


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(status_code=204)


# --- signing in and writing ------------------------------------------------------------------------

@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return render(request, "login.html", error=None, name="")


@router.post("/login")
def login(request: Request, name: str = Form(""), secret: str = Form(""), csrf: str = Form("")) -> Response:
    if not csrf_ok(request.session.get("csrf"), csrf):
        raise WebError(403, "the form has expired (CSRF token missing or wrong); reload the page and try again")
    try:
        user = sign_in(state_of(request).db, name.strip(), secret)
    except AuthError as e:
        return render(request, "login.html", http_status=401, error=str(e), name=name)
    request.session.clear()
    request.session["user"] = user.name
    request.session["csrf"] = new_csrf()
    request.state.user = user
    return RedirectResponse("/", status_code=303)


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    if not csrf_ok(request.session.get("csrf"), csrf):
        raise WebError(403, "the form has expired (CSRF token missing or wrong); reload the page and try again")
    request.session.clear()
    return RedirectResponse("/", status_code=303)


def form_writer(request: Request, csrf: str) -> User:
    user = current_user(request)
    if not user.can_write:
        raise WebError(401, "sign in to do this")
    if not csrf_ok(request.session.get("csrf"), csrf):
        raise WebError(403, "the form has expired (CSRF token missing or wrong); reload the page and try again")
    return user


@router.post("/incidents/{incident_id}/reviews")
def review_form(request: Request, incident_id: str, agreement: str = Form(...), verdict: str = Form(...),
                note: str = Form(""), csrf: str = Form("")) -> Response:
    from truce.web.review import ReviewError, propose

    user = form_writer(request, csrf)
    if not user.may_review:
        raise WebError(403, f"a {user.role} may not propose reviews")
    try:
        row = propose(state_of(request).db, user, incident_id, agreement, verdict, note)
    except ReviewError as e:
        raise WebError(409, str(e)) from e
    return RedirectResponse(f"/incidents/{incident_id}#review-{row['seq']}", status_code=303)


@router.post("/reviews/{seq}/signoff")
def signoff_form(request: Request, seq: int, csrf: str = Form("")) -> Response:
    from truce.web.review import ReviewError, sign

    user = form_writer(request, csrf)
    if not user.may_sign:
        raise WebError(403, f"a {user.role} may not sign reviews")
    try:
        row = sign(state_of(request).db, user, seq)
    except ReviewError as e:
        raise WebError(409, str(e)) from e
    incident = row["subject"].split("/", 1)[1]
    return RedirectResponse(f"/incidents/{incident}#review-{seq}", status_code=303)


@router.post("/findings/{agreement_id}/{incident_id}/publish")
def publish_form(request: Request, agreement_id: str, incident_id: str, csrf: str = Form("")) -> Response:
    from truce.web.review import ReviewError, publish

    user = form_writer(request, csrf)
    if not user.may_sign:
        raise WebError(403, f"a {user.role} may not publish findings")
    try:
        publish(state_of(request).db, user, incident_id, agreement_id)
    except ReviewError as e:
        raise WebError(404, str(e)) from e
    return RedirectResponse(f"/incidents/{incident_id}#finding-{agreement_id}", status_code=303)
