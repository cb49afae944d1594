"""ACLED CSV exports read as reports.

Each row is stored as a report whose text is the row's ``notes`` (ACLED's
event description) and whose raw bytes keep the whole row as JSON; the
ACLED extractor (:mod:`truce.extract.acled`) turns it into a claim from the
structured fields. A row's report id comes from its own identity, ACLED's
``event_id_cnty`` (else all its fields), never from its notes alone: two
events told in the same words stay two reports.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Iterator

from truce.errors import IngestError
from truce.ingest.files import DEFAULT_LIMITS, Limits, make_report, read_bytes, record_error
from truce.records import ACLED_CONTENT_TYPE, Report
from truce.reference.sources import SourceBook

_REQUIRED = ("event_id_cnty", "event_date", "notes", "latitude", "longitude", "country")


def read_acled_csv(path: Path, sources: SourceBook, errors: list[str] | None = None, limits: Limits = DEFAULT_LIMITS,
                   *, follow: bool = True) -> Iterator[tuple[Report, bytes]]:
    """(report, the row as JSON bytes) per ACLED row; bad rows go to ``errors``."""
    data = read_bytes(path, limits.max_file_bytes, follow=follow)
    yield from read_acled_text(decode_csv(data, str(path)), str(path), sources, errors, limits)


def decode_csv(data: bytes, name: str, *, first_line: int = 1) -> str:
    """CSV bytes as text (a byte-order mark dropped, NUL characters removed)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise IngestError(f"not UTF-8 text (byte {e.start + 1})", path=name,
                          line=first_line + data.count(b"\n", 0, e.start)) from e
    return text.replace("\x00", "") if "\x00" in text else text


def acled_header(text: str, name: str) -> list[str]:
    """The columns of an ACLED export (its first CSV record), checked."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
    except csv.Error as e:
        raise IngestError(f"not a CSV file: {e}", path=name, line=1) from e
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise IngestError(f"not an ACLED export: missing columns {', '.join(missing)}", path=name, line=1)
    if len(set(header)) != len(header):
        raise IngestError("repeated column names in the header", path=name, line=1)
    return header


def read_acled_text(text: str, name: str, sources: SourceBook, errors: list[str] | None = None,
                    limits: Limits = DEFAULT_LIMITS, *, header: list[str] | None = None,
                    first_line: int = 1) -> Iterator[tuple[Report, bytes]]:
    """ACLED rows in CSV text: a whole export (its header first), or, with ``header``, a run
    of rows cut from one at record boundaries whose first line is ``first_line`` of the file."""
    reader = csv.reader(io.StringIO(text, newline=""))
    if header is None:
        header = acled_header(text, name)
        try:
            next(reader)
        except (StopIteration, csv.Error):
            return
    while True:
        start = first_line + reader.line_num
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:  # a field over the csv module's limit, a stray quote
            record_error(errors, IngestError(f"unreadable CSV row: {e}", path=name, line=start))
            continue
        if not fields or fields == [""]:
            continue
        if len(fields) != len(header):
            record_error(errors, IngestError(f"row has {len(fields)} fields; the header has {len(header)}",
                                             path=name, line=start))
            continue
        row = dict(zip(header, fields))
        try:
            got = _row_report(row, name, start, sources, limits)
        except IngestError as e:
            record_error(errors, IngestError(str(e), path=name, line=start))
            continue
        yield got


def _row_report(row: dict[str, str], path: str, line: int, sources: SourceBook, limits: Limits) -> tuple[Report, bytes]:
    notes = row["notes"].strip()
    if not notes:
        raise IngestError("empty notes")
    try:
        lat, lon = float(row["latitude"]), float(row["longitude"])
    except ValueError:
        raise IngestError("latitude/longitude is not a number") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise IngestError("latitude/longitude out of range")
    date = _acled_date(row["event_date"])
    if date is None:
        raise IngestError(f"unreadable event_date {row['event_date'][:40]!r}")
    event_id = row["event_id_cnty"].strip()
    blob = json.dumps(row, ensure_ascii=False, sort_keys=True)
    identity = f"event_id_cnty:{event_id}" if event_id else f"row:{blob}"
    rep = make_report(text=notes, external_id=f"acled:{event_id or hashlib.sha256(blob.encode('utf-8', 'replace')).hexdigest()[:16]}",
                      sources=sources, source="ACLED",
                      title=f"{row.get('sub_event_type') or row.get('event_type')}: {row.get('location')}"[:2000],
                      published=date, language="en", content_type=ACLED_CONTENT_TYPE, origin=f"{path}:{line}",
                      identity=identity, limits=limits)
    return rep, blob.encode("utf-8")


def _acled_date(s: str) -> str | None:
    import datetime as dt

    s = s.strip()
    if len(s) > 40:
        return None
    for fmt in ("%Y-%m-%d", "%d %B %Y", "%d-%B-%Y", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(s, fmt).date().isoformat()
        except ValueError:
            continue
    return None
