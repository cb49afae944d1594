"""Optional model backend: claims from an OpenAI-compatible chat-completions
endpoint (a local llama.cpp or vLLM server, configured by URL).

Off by default; the rule extractor needs nothing. The model is asked for
JSON claims with verbatim evidence quotes; every claim is validated against
``data/schemas/claim.schema.json``, its quotes are re-anchored in the report
text (exact, then whitespace- and case-insensitive, then fuzzy) to get
character offsets, and its facility and region are resolved through the
registry and gazetteer. Claims whose evidence cannot be found in the text
are dropped: nothing leaves this stage without offsets that match.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from importlib import resources
from typing import Any

from truce.errors import ExtractionError
from truce.extract.analysis import Services
from truce.records import FACILITY_TYPES, Claim, Effects, Evidence, Report

PROMPT_VERSION = "2"

SYSTEM_PROMPT = """You extract events from news reports about strikes on energy infrastructure in the Russia-Ukraine war.
Return a JSON object {"claims": [...]} and nothing else. One claim per asserted event:
- kind: "strike" (an energy target attacked), "interception" (drones/missiles shot down, nothing hit),
  "negotiation" (talks or an agreement about halting strikes on energy), "accusation" (one side accuses the other).
- For strikes only energy targets count (power plants, substations, lines, refineries, oil depots, pipelines,
  pumping and metering stations, gas production and storage). Never emit strikes for homes, shops, ports,
  airfields or "an enterprise", nor for threats, forecasts or denials.
- Fields: date (YYYY-MM-DD; a night attack belongs to the day the night ends; resolve "overnight", "yesterday",
  weekdays against the publication date given), country ("UA" or "RU": the territory; Crimea and occupied
  Ukraine are UA), region (English name, e.g. "Lviv Oblast", "Krasnodar Krai", "Kyiv" for the city),
  place, facility_name, facility_type (one of: %(types)s), attacker ("RU", "UA" or null: only when the text
  says who attacked; never guess), weapon ("drone", "missile", "glide_bomb", "artillery", "mixed" or null),
  outcome ("hit" or "attempted"; fires from falling debris are hits), salience ("main", "secondary",
  "background" for earlier events the report recalls), effects {fire, destroyed, outage_customers, killed,
  injured}.
- Negotiation claims add parties (ISO country codes, e.g. ["UA","RU"]), mediator (ISO code of the mediating state
  or null), status (proposed, under_negotiation, agreed, in_force, suspended, expired, violated_alleged), topic,
  and agreement (the id of one of the known agreements below that the talks are about, or null).
- Known agreements (id: how reporters name it): %(agreements)s
- Accusation claims add accuser and accused ("UA"/"RU").
- evidence: a list of sentences copied VERBATIM from the report that state the event.
Mass strikes: one strike claim per oblast or named facility tied to energy damage."""


def _schema() -> dict[str, Any]:
    with resources.files("truce").joinpath("data", "schemas", "claim.schema.json").open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
        return schema


class LLMExtractor:
    name = "llm"

    def __init__(self, services: Services, url: str, model: str = "local", *, timeout: float = 60.0,
                 api_key: str | None = None):
        import jsonschema

        self.svc = services
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ExtractionError(f"model endpoint must be an http(s) URL, not {parts.scheme + ':' if parts.scheme else url[:40]!r}")
        if parts.username or parts.password:
            raise ExtractionError("put no credentials in the model URL; use TRUCE_LLM_API_KEY")
        self.url = url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self.api_key = api_key
        self._validator = jsonschema.Draft202012Validator(_schema())

    @property
    def id(self) -> str:
        return f"llm/{self.model}/p{PROMPT_VERSION}"

    # --- transport ----------------------------------------------------------------------

    def _complete(self, report: Report) -> str:
        body = {
            "model": self.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT % {
                    "types": ", ".join(FACILITY_TYPES),
                    "agreements": "; ".join(f"{a.id}: {a.title} ({', '.join(a.names('en'))})"
                                            for a in self.svc.agreements) or "none"}},
                {"role": "user", "content": json.dumps({"published": report.published, "language": report.language,
                                                        "title": report.title, "text": report.text}, ensure_ascii=False)},
            ],
        }
        req = urllib.request.Request(f"{self.url}/chat/completions", data=json.dumps(body).encode("utf-8"),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})})
        try:
            with _OPENER.open(req, timeout=self.timeout) as resp:
                data = json.loads(resp.read(_MAX_ANSWER + 1)[:_MAX_ANSWER].decode("utf-8"))
        except urllib.error.HTTPError as e:
            raise ExtractionError(f"model endpoint {self.url} answered HTTP {e.code}", path=report.external_id) from e
        except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as e:
            raise ExtractionError(f"cannot reach model endpoint {self.url}: {getattr(e, 'reason', e)}",
                                  path=report.external_id) from e
        except (ValueError, RecursionError) as e:  # not JSON, not UTF-8, nested too deeply
            raise ExtractionError(f"model endpoint {self.url} returned invalid JSON", path=report.external_id) from e
        try:
            return str(data["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError) as e:
            raise ExtractionError(f"model endpoint {self.url} returned no message content", path=report.external_id) from e

    # --- extraction ---------------------------------------------------------------------

    def extract(self, report: Report) -> list[Claim]:
        content = self._complete(report)
        try:
            payload = json.loads(_strip_fences(content))
        except json.JSONDecodeError as e:
            raise ExtractionError(f"model output is not JSON: {e.msg}", path=report.external_id) from e
        items = payload.get("claims") if isinstance(payload, dict) else payload
        if not isinstance(items, list):
            raise ExtractionError("model output has no 'claims' list", path=report.external_id)
        out: list[Claim] = []
        for raw in items:
            if not isinstance(raw, dict) or next(self._validator.iter_errors(raw), None) is not None:
                continue  # a malformed claim is dropped, not guessed at
            claim = self._to_claim(raw, report, len(out))
            if claim is not None:
                out.append(claim)
        return out

    def _to_claim(self, raw: dict[str, Any], report: Report, index: int) -> Claim | None:
        evidence = [e for q in raw.get("evidence") or [] if (e := anchor(report.text, q)) is not None]
        if not evidence:
            return None
        svc = self.svc
        facility = None
        if raw.get("facility_name"):
            toks = svc.km.tokenize(raw["facility_name"], report.language or "any")
            found = [f for _, _, fl, _ in svc.registry.find_names(toks) for f in fl]
            facility = found[0] if len(found) == 1 else None
        region_code = facility.region_code if facility else svc.gazetteer.region_code_for_name(raw.get("region"))
        country = facility.country if facility else (raw.get("country") or (region_code[:2] if region_code else None))
        eff = raw.get("effects") or {}
        attacker = raw.get("attacker")
        return Claim(
            report_id=report.id, index=index, kind=raw["kind"], date=raw.get("date"),
            date_precision="day" if raw.get("date") else "unknown", date_basis="unspecified",
            country=country, region_code=region_code, place=raw.get("place"),
            lat=facility.lat if facility else None, lon=facility.lon if facility else None,
            location_precision="facility" if facility else ("region" if region_code else "country"),
            facility_id=facility.id if facility else None,
            facility_name=facility.name if facility else raw.get("facility_name"),
            facility_type=facility.type if facility else raw.get("facility_type"),
            attacker=attacker, attacker_basis="stated" if attacker else None, weapon=raw.get("weapon"),
            outcome=raw.get("outcome") or "unknown",
            effects=Effects(fire=eff.get("fire"), destroyed=eff.get("destroyed"),
                            outage_customers=eff.get("outage_customers"), killed=eff.get("killed"),
                            injured=eff.get("injured")),
            salience=raw.get("salience") or "main", evidence=tuple(evidence), confidence=0.6,
            extractor=self.id, rule="llm", language=report.language,
            parties=tuple(raw.get("parties") or ()), mediator=raw.get("mediator"), status=raw.get("status"),
            topic=raw.get("topic"),
            agreement_id=raw.get("agreement") if raw.get("agreement") in {a.id for a in self.svc.agreements} else None,
            accuser=raw.get("accuser"), accused=raw.get("accused"))


_MAX_ANSWER = 16 * 1024 * 1024


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to http(s), and never carry the API key (or any header)
    to another origin: a redirect to another scheme, host or port drops Authorization."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        new = urllib.parse.urlsplit(newurl)
        if new.scheme not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, f"redirect to a {new.scheme or 'relative'}: URL refused",
                                         headers, fp)
        out = super().redirect_request(req, fp, code, msg, headers, newurl)
        if out is not None and _origin(urllib.parse.urlsplit(req.full_url)) != _origin(new):
            for h in list(out.headers):
                if h.lower() in ("authorization", "cookie", "proxy-authorization"):
                    del out.headers[h]
            out.unredirected_hdrs.pop("Authorization", None)
        return out


def _origin(u: urllib.parse.SplitResult) -> tuple[str, str, int | None]:
    try:
        port = u.port or {"http": 80, "https": 443}.get(u.scheme)
    except ValueError:  # a port out of range: no origin matches it
        port = -1
    return (u.scheme, (u.hostname or "").lower(), port)


# no file:, ftp: or data: handlers: only http(s) can be opened at all
_OPENER = urllib.request.OpenerDirector()
for _h in (urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(), _SameOriginRedirects(),
           urllib.request.HTTPErrorProcessor(), urllib.request.HTTPDefaultErrorHandler(), urllib.request.ProxyHandler()):
    _OPENER.add_handler(_h)


def _strip_fences(s: str) -> str:
    s = s.strip()
    m = re.match(r"^```(?:json)?\s*(.*?)\s*```$", s, re.S)
    return m.group(1) if m else s


def anchor(text: str, quote: str) -> Evidence | None:
    """Find a model's quote in the text: exactly, then ignoring case and runs of
    whitespace, then the best fuzzy alignment (≥ 90). Offsets always index ``text``."""
    if not quote or not quote.strip():
        return None
    q = quote.strip()
    i = text.find(q)
    if i >= 0:
        return Evidence(i, i + len(q), text[i:i + len(q)])
    pattern = r"\s+".join(re.escape(w) for w in q.split())
    m = re.search(pattern, text, re.IGNORECASE)
    if m:
        return Evidence(m.start(), m.end(), text[m.start():m.end()])
    from rapidfuzz import fuzz

    al = fuzz.partial_ratio_alignment(q, text, score_cutoff=90)
    if al is not None and al.dest_end > al.dest_start:
        return Evidence(al.dest_start, al.dest_end, text[al.dest_start:al.dest_end])
    return None
