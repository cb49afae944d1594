"""ACLED CSV: import rows as reports and claims; export incidents in ACLED's 31 columns.

An imported row is stored as a report whose text is the row's ``notes``
(ACLED's event description) and whose raw bytes keep the whole row; the
ACLED extractor turns it into a claim from the structured fields (date,
admin1, coordinates, actors, sub-event type) and links our facilities from
the notes or the coordinates.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Iterator

from truce.errors import IngestError
from truce.records import Claim, Effects, Evidence, Report
from truce.sources import SourceBook

ACLED_COLUMNS = (
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type", "sub_event_type",
    "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2", "interaction", "civilian_targeting",
    "iso", "region", "country", "admin1", "admin2", "admin3", "location", "latitude", "longitude",
    "geo_precision", "source", "source_scale", "notes", "fatalities", "tags", "timestamp",
)
CONTENT_TYPE = "text/x-acled-row"
_REQUIRED = ("event_id_cnty", "event_date", "notes", "latitude", "longitude", "country")


def read_acled_csv(path: Path, sources: SourceBook, errors: list[str] | None = None) -> Iterator[tuple[Report, bytes]]:
    """(report, the row as JSON bytes) per ACLED row; bad rows go to ``errors``."""
    from truce.ingest import _err, make_report

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise IngestError(f"cannot read CSV: {e}", path=str(path)) from e
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise IngestError(f"not an ACLED export: missing columns {', '.join(missing)}", path=str(path), line=1)
    for row in reader:
        line = reader.line_num
        notes = (row.get("notes") or "").strip()
        if not notes:
            _err(errors, IngestError("empty notes", path=str(path), line=line))
            continue
        try:
            float(row["latitude"]), float(row["longitude"])
        except (TypeError, ValueError):
            _err(errors, IngestError("latitude/longitude is not a number", path=str(path), line=line))
            continue
        date = _acled_date(row.get("event_date") or "")
        if date is None:
            _err(errors, IngestError(f"unreadable event_date {row.get('event_date')!r}", path=str(path), line=line))
            continue
        rep = make_report(text=notes, external_id=f"acled:{row['event_id_cnty']}", sources=sources, source="ACLED",
                          title=f"{row.get('sub_event_type') or row.get('event_type')}: {row.get('location')}",
                          published=date, language="en", content_type=CONTENT_TYPE, origin=f"{path}:{line}")
        yield rep, json.dumps(row, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _acled_date(s: str) -> str | None:
    import datetime as dt

    s = s.strip()
    for fmt in ("%Y-%m-%d", "%d %B %Y", "%d-%B-%Y", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(s, fmt).date().isoformat()
        except ValueError:
            continue
    return None


_ACTORS = {"russia": "RU", "ukraine": "UA"}


def _party(actor: str) -> str | None:
    a = (actor or "").lower()
    if "unidentified" in a:
        return None
    for k, v in _ACTORS.items():
        if f"of {k}" in a or a.startswith(k):
            return v
    return None


class AcledExtractor:
    """Claims from an ACLED row: structured fields first, the notes for facility and type."""

    name = "acled"
    version = "0.1.0"

    def __init__(self, services: Any, rules: Any):
        self.svc = services
        self.rules = rules

    @property
    def id(self) -> str:
        return f"acled/{self.version}"

    def extract_row(self, report: Report, row: dict[str, str]) -> list[Claim]:
        from truce.registry import type_family

        text_claims = [c for c in self.rules.extract(report) if c.kind == "strike"]
        lat, lon = float(row["latitude"]), float(row["longitude"])
        country = (row.get("iso") and {"804": "UA", "643": "RU"}.get(str(row["iso"]).strip())) or (
            {"Ukraine": "UA", "Russia": "RU"}.get(row.get("country", "")))
        region = self.svc.gazetteer.region_code_for_name(row.get("admin1")) or self.svc.gazetteer.region_at(lat, lon)
        attacker = _party(row.get("actor1", ""))
        sub = (row.get("sub_event_type") or "").lower()
        weapon = "drone" if "drone" in sub or "air" in sub else ("missile" if "missile" in sub else (
            "artillery" if "shelling" in sub or "artillery" in sub else None))
        base = text_claims[0] if text_claims else None
        facility = self.svc.registry.get(base.facility_id) if base and base.facility_id else None
        if facility is None and base is not None and base.facility_type:
            near = self.svc.registry.nearest(lat, lon, max_km=3.0)
            if near is not None and type_family(near.type) == type_family(base.facility_type):
                facility = near
        if base is None and facility is None:
            return []  # not an energy target
        ftype = facility.type if facility else (base.facility_type if base else "other_energy")
        return [Claim(
            report_id=report.id, index=0, kind="strike", date=report.published, date_precision="day",
            date_basis="explicit", country=country, region_code=facility.region_code if facility else region,
            place=row.get("location"), lat=facility.lat if facility else lat, lon=facility.lon if facility else lon,
            location_precision="facility" if facility else "settlement",
            facility_id=facility.id if facility else None,
            facility_name=facility.name if facility else (base.facility_name if base else None),
            facility_type=ftype, attacker=attacker, attacker_basis="stated" if attacker else None,
            weapon=weapon, outcome="hit", effects=base.effects if base else Effects(),
            salience="main", evidence=(Evidence(0, len(report.text), report.text),), confidence=0.8,
            extractor=self.id, rule="acled-row" + ("+facility" if facility else ""), language="en")]
