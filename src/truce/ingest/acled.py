"""ACLED CSV exports read as reports.

Each row is stored as a report whose text is the row's ``notes`` (ACLED's
event description) and whose raw bytes keep the whole row as JSON; the
ACLED extractor (:mod:`truce.extract.acled`) turns it into a claim from the
structured fields.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Iterator

from truce.errors import IngestError
from truce.ingest.files import make_report, record_error
from truce.records import ACLED_CONTENT_TYPE, Report
from truce.reference.sources import SourceBook

_REQUIRED = ("event_id_cnty", "event_date", "notes", "latitude", "longitude", "country")


def read_acled_csv(path: Path, sources: SourceBook, errors: list[str] | None = None) -> Iterator[tuple[Report, bytes]]:
    """(report, the row as JSON bytes) per ACLED row; bad rows go to ``errors``."""
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
            record_error(errors, IngestError("empty notes", path=str(path), line=line))
            continue
        try:
            float(row["latitude"]), float(row["longitude"])
        except (TypeError, ValueError):
            record_error(errors, IngestError("latitude/longitude is not a number", path=str(path), line=line))
            continue
        date = _acled_date(row.get("event_date") or "")
        if date is None:
            record_error(errors, IngestError(f"unreadable event_date {row.get('event_date')!r}", path=str(path), line=line))
            continue
        rep = make_report(text=notes, external_id=f"acled:{row['event_id_cnty']}", sources=sources, source="ACLED",
                          title=f"{row.get('sub_event_type') or row.get('event_type')}: {row.get('location')}",
                          published=date, language="en", content_type=ACLED_CONTENT_TYPE, origin=f"{path}:{line}")
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
