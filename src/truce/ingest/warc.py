"""Web archives (WARC, ``.warc`` or ``.warc.gz``) read as reports.

Each ``response`` (or ``resource``) record whose payload is an HTML page is
read like an HTML file (:func:`truce.ingest.files.report_from_html`): the
article's text, title, outlet and date; the record's target URI stands in
for the page's URL, and the capture day for its date when the page states
none. Other records (requests, metadata, images, scripts) are passed over.
A record that cannot be read is one error naming the file, the record's
number and its byte offset, and the rest of the archive is still read.

The archive is read as a stream: :func:`read_warc_stream` also reads a
window of an archive that starts at a record boundary (how ``truce
backfill`` splits an archive between workers, :mod:`truce.backfill`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any, Iterator

from truce.errors import IngestError
from truce.ingest.files import DEFAULT_LIMITS, Limits, open_regular, record_error, report_from_html
from truce.records import Report
from truce.reference.sources import SourceBook

WARC_SUFFIXES = (".warc", ".warc.gz")
HTML_TYPES = ("text/html", "application/xhtml+xml")


def is_warc(path: Path) -> bool:
    return path.name.lower().endswith(WARC_SUFFIXES)


def _iterator(stream: IO[bytes]) -> Any:
    try:
        from warcio.archiveiterator import ArchiveIterator
    except ImportError as e:  # pragma: no cover - warcio is a dependency
        raise IngestError("reading WARC files needs the warcio package (pip install warcio)") from e
    return ArchiveIterator(stream)


def read_warc(path: Path, sources: SourceBook, errors: list[str] | None = None, limits: Limits = DEFAULT_LIMITS, *,
              follow: bool = True) -> Iterator[tuple[Report, bytes]]:
    """(report, the page's bytes) per HTML record of a whole archive."""
    fd = open_regular(path, follow=follow)
    with os.fdopen(fd, "rb") as fh:
        yield from read_warc_stream(fh, str(path), sources, errors, limits)


def read_warc_stream(stream: IO[bytes], name: str, sources: SourceBook, errors: list[str] | None = None,
                     limits: Limits = DEFAULT_LIMITS, *, first_record: int = 1,
                     base_offset: int = 0) -> Iterator[tuple[Report, bytes]]:
    """Reports in a WARC stream that starts at a record boundary. ``first_record`` and
    ``base_offset`` (the stream's position in the whole archive) keep error messages and
    origins true to the archive when the stream is a window of it."""
    it = _iterator(stream)
    n = first_record - 1
    max_bytes = min(limits.max_file_bytes, limits.max_report_chars * 16)
    try:
        for record in it:
            n += 1
            if record.rec_type not in ("response", "resource"):
                continue
            ctype = _content_type(record)
            if ctype.split(";")[0].strip().lower() not in HTML_TYPES:
                continue
            payload = record.content_stream().read(max_bytes + 1)  # first: asking the offset reads past it
            offset = base_offset + it.get_record_offset()
            uri = (record.rec_headers.get_header("WARC-Target-URI") or "").strip() or None
            where = f"record {n} at byte {offset:,}" + (f" ({uri[:200]})" if uri else "")
            if len(payload) > max_bytes:
                record_error(errors, IngestError(f"{where}: page is larger than {max_bytes / 1048576:,.1f} MiB",
                                                 path=name))
                continue
            payload = _as_utf8(payload, ctype)
            record_id = (record.rec_headers.get_header("WARC-Record-ID") or "").strip("<> ")
            external_id = uri if uri and len(uri) <= 500 else f"warc:{record_id or f'{Path(name).name}#{n}'}"
            captured = (record.rec_headers.get_header("WARC-Date") or "")[:10] or None
            try:
                rep = report_from_html(payload, external_id=external_id, sources=sources, origin=f"{name}#{n}",
                                       limits=limits, url=uri if uri and len(uri) <= 4000 else None, published=captured)
            except IngestError as e:
                record_error(errors, IngestError(f"{where}: {e}", path=name))
                continue
            yield rep, payload
    except IngestError:
        raise
    except Exception as e:  # noqa: BLE001 - warcio raises several types on a damaged archive
        record_error(errors, IngestError(f"damaged WARC after record {n}: {type(e).__name__}: "
                                         f"{' '.join(str(e).split())[:160]}", path=name))


def _content_type(record: Any) -> str:
    headers = record.http_headers if record.rec_type == "response" else None
    value = headers.get_header("Content-Type") if headers is not None else None
    return str(value or record.rec_headers.get_header("Content-Type") or "")


def _as_utf8(payload: bytes, ctype: str) -> bytes:
    """The page in UTF-8 when its Content-Type names another charset that Python knows."""
    for part in ctype.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower()
            if charset and charset not in ("utf-8", "utf8"):
                try:
                    return payload.decode(charset, errors="replace").encode("utf-8")
                except LookupError:
                    return payload
    return payload
