"""Readers for report files: JSON Lines (EVAL-FORMAT.md section 1), plain text
(with optional ``Title:``/``Source:``/``Published:``/``URL:`` header lines),
HTML pages (trafilatura) and RSS/Atom feed files (feedparser).

A report's id is the SHA-256 of its normalised content and source, so the
same thing read twice is one report. A report read from a file is known by the
file's name (its ``id:`` header line where it has one), never by its path on
the analyst's machine: that id is what findings and reports publish. The full
path stays in ``origin``, which nothing publishes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import IO, Any, Iterator

from truce.errors import IngestError
from truce.records import Report
from truce.reference.sources import SourceBook
from truce.text import normalise, normalise_text

TEXT_SUFFIXES = {".txt", ".md", ".text"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
FEED_SUFFIXES = {".xml", ".rss", ".atom", ".feed"}
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
CSV_SUFFIXES = {".csv"}


def report_id(text: str, source: str | None) -> str:
    """SHA-256 of the normalised text and source: one report per content per outlet."""
    h = hashlib.sha256()
    h.update(normalise(source or "").encode("utf-8"))
    h.update(b"\x1f")
    h.update(normalise_text(text).encode("utf-8"))
    return h.hexdigest()


def make_report(*, text: str, external_id: str, sources: SourceBook, source: str | None = None,
                url: str | None = None, title: str | None = None, published: Any = None,
                language: str | None = None, content_type: str = "text/plain", origin: str | None = None) -> Report:
    # the text is kept exactly as given (evidence offsets index it); the id hashes its normalised form
    desc = sources.describe(source, url)
    return Report(id=report_id(text, desc["source"]), text=text, external_id=external_id, source=desc["source"],
                  source_kind=desc["source_kind"], affiliation=desc["affiliation"], url=url, title=title,
                  published=None if published in (None, "") else str(published),
                  language=language if language in ("en", "uk", "ru") else None,
                  content_type=content_type, origin=origin)


# --- readers ------------------------------------------------------------------------------

def read_reports_jsonl(stream: IO[str], name: str, sources: SourceBook,
                       errors: list[str] | None = None) -> Iterator[Report]:
    """Reports from JSON Lines; malformed lines go to ``errors`` ("file:line: problem") and are skipped."""
    for lineno, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            record_error(errors, IngestError(f"malformed JSON: {e.msg} (column {e.colno})", path=name, line=lineno))
            continue
        if not isinstance(obj, dict):
            record_error(errors, IngestError("expected a JSON object", path=name, line=lineno))
            continue
        rid, text = obj.get("id"), obj.get("text")
        if rid is None or (isinstance(rid, str) and not rid.strip()):
            record_error(errors, IngestError("missing required field 'id'", path=name, line=lineno))
            continue
        if not isinstance(text, str) or not text.strip():
            record_error(errors, IngestError("missing or empty required field 'text'", path=name, line=lineno))
            continue
        yield make_report(text=text, external_id=str(rid), sources=sources, source=_str(obj.get("source")),
                          url=_str(obj.get("url")), title=_str(obj.get("title")), published=obj.get("published"),
                          language=_str(obj.get("language")), origin=f"{name}:{lineno}")


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


def record_error(errors: list[str] | None, e: IngestError) -> None:
    if errors is None:
        raise e
    errors.append(str(e))


def read_text_file(path: Path, sources: SourceBook) -> Report:
    raw = _read_bytes(path)
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise IngestError(f"not UTF-8 text (byte {e.start})", path=str(path)) from e
    meta: dict[str, str] = {}
    lines = content.splitlines()
    i = 0
    while i < len(lines) and ":" in lines[i] and lines[i].split(":", 1)[0].strip().lower() in (
            "title", "source", "published", "url", "language", "id"):
        k, v = lines[i].split(":", 1)
        meta[k.strip().lower()] = v.strip()
        i += 1
    while meta and i < len(lines) and not lines[i].strip():
        i += 1  # the blank line that ends the header block
    body = "\n".join(lines[i:]) if meta else content
    if not body.strip():
        raise IngestError("empty report", path=str(path))
    return make_report(text=body, external_id=meta.get("id") or path.name, sources=sources, source=meta.get("source"),
                       url=meta.get("url"), title=meta.get("title"), published=meta.get("published"),
                       language=meta.get("language"), origin=str(path))


def read_html_file(path: Path, sources: SourceBook) -> tuple[Report, bytes]:
    import trafilatura

    raw = _read_bytes(path)
    html = raw.decode("utf-8", errors="replace")
    doc = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False, include_tables=False)
    if doc is None:
        raise IngestError("no article text found in HTML", path=str(path))
    d = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    text = d.get("text") or ""
    if not text.strip():
        raise IngestError("no article text found in HTML", path=str(path))
    return make_report(text=text, external_id=path.name, sources=sources, source=d.get("sitename"),
                       url=d.get("url"), title=d.get("title"), published=d.get("date"),
                       content_type="text/html", origin=str(path)), raw


def read_feed_file(path: Path, sources: SourceBook, errors: list[str] | None = None) -> Iterator[Report]:
    import feedparser

    raw = _read_bytes(path)
    feed = feedparser.parse(raw)
    if feed.bozo and not feed.entries:
        raise IngestError(f"not a readable RSS/Atom feed: {feed.bozo_exception}", path=str(path))
    outlet = feed.feed.get("title")
    for n, e in enumerate(feed.entries, start=1):
        body = ""
        if e.get("content"):
            body = e["content"][0].get("value", "")
        body = body or e.get("summary", "") or e.get("description", "")
        text = _strip_html(body)
        if not text.strip():
            record_error(errors, IngestError(f"feed entry {n} has no text", path=str(path)))
            continue
        published = None
        if e.get("published_parsed"):
            import calendar
            import datetime as dt

            published = dt.datetime.fromtimestamp(calendar.timegm(e.published_parsed), dt.timezone.utc).isoformat()
        yield make_report(text=text, external_id=e.get("id") or e.get("link") or f"{path.name}#{n}", sources=sources,
                          source=e.get("source", {}).get("title") if isinstance(e.get("source"), dict) else outlet,
                          url=e.get("link"), title=e.get("title"), published=published,
                          content_type="application/rss+xml", origin=f"{path}#{n}")


def _strip_html(s: str) -> str:
    if "<" not in s:
        return s
    import lxml.html

    try:
        frag = lxml.html.fromstring(f"<div>{s}</div>")
    except Exception:  # noqa: BLE001 - lxml raises several types on junk
        return s
    for br in frag.iter("br"):
        br.tail = "\n" + (br.tail or "")
    for p in frag.iter("p"):
        p.tail = "\n\n" + (p.tail or "")
    return frag.text_content()


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except IsADirectoryError as e:
        raise IngestError("is a directory", path=str(path)) from e
    except OSError as e:
        raise IngestError(f"cannot read file: {e.strerror}", path=str(path)) from e
