"""Claims from ACLED rows: the structured fields (date, admin1, coordinates,
actors, sub-event type) decide; the row's notes, read by the rule extractor,
name the facility or its type, and the coordinates link a registry site."""

from __future__ import annotations


from truce.extract import Extractor
from truce.extract.analysis import Services
from truce.records import Claim, Effects, Evidence, Report
from truce.reference.registry import type_family


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

    def __init__(self, services: Services, rules: Extractor):
        self.svc = services
        self.rules = rules

    @property
    def id(self) -> str:
        return f"acled/{self.version}"

    def extract_row(self, report: Report, row: dict[str, str]) -> list[Claim]:
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
