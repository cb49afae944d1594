"""Readers for report files: JSON Lines (EVAL-FORMAT.md section 1), plain text
(with optional ``Title:``/``Source:``/``Published:``/``URL:`` header lines),
HTML pages (trafilatura) and RSS/Atom feed files (feedparser).

A report's id is the SHA-256 of its normalised content and source, so the
same thing read twice is one report. A report read from a file is known by the
file's name (its ``id:`` header line where it has one), never by its path on
the analyst's machine: that id is what findings and reports publish. The full
path stays in ``origin``, which nothing publishes.

Every reader is total (docs/hardening.md): a bad line, byte or field is
reported with file and line and the rest of the file is still read; fields
are typed and checked against the limits both database backends accept
(NUL characters removed, lengths checked); files are opened without
following symbolic links where a directory was walked, only regular files
are read, and no file or report over its size limit is read whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from truce.errors import IngestError
from truce.records import Report
from truce.reference.sources import SourceBook
from truce.text import normalise, normalise_text

TEXT_SUFFIXES = {".txt", ".md", ".text"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
FEED_SUFFIXES = {".xml", ".rss", ".atom", ".feed"}
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
CSV_SUFFIXES = {".csv"}


@dataclass(frozen=True)
class Limits:
    """Size limits of the readers (settings ``max_report_chars``, ``max_file_mb``)."""

    max_report_chars: int = 500_000
    max_file_mb: int = 256

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1024 * 1024

    @property
    def max_line_bytes(self) -> int:  # a JSONL line: the text, escaped at worst 6 bytes a character, plus fields
        return self.max_report_chars * 6 + 100_000

    @classmethod
    def of(cls, settings: Any) -> "Limits":
        if settings is None:
            return cls()
        return cls(int(getattr(settings, "max_report_chars", cls.max_report_chars)),
                   int(getattr(settings, "max_file_mb", cls.max_file_mb)))


DEFAULT_LIMITS = Limits()
# field → longest value both backends store (truce.schema.LIMITS; checked here so that a bad
# line is one error, not a lost batch)
FIELD_LIMITS = {"id": 500, "source": 200, "url": 4000, "title": 2000, "language": 8}


def report_id(text: str, source: str | None, identity: str | None = None) -> str:
    """SHA-256 of the normalised text and source: one report per content per outlet.
    ``identity`` replaces the text where a record has its own (an ACLED row's event id)."""
    h = hashlib.sha256()
    h.update(normalise(source or "").encode("utf-8"))
    h.update(b"\x1f")
    if identity is not None:
        h.update(b"identity\x1f" + identity.encode("utf-8"))
    else:
        h.update(normalise_text(text).encode("utf-8"))
    return h.hexdigest()


def make_report(*, text: str, external_id: str, sources: SourceBook, source: str | None = None,
                url: str | None = None, title: str | None = None, published: Any = None,
                language: str | None = None, content_type: str = "text/plain", origin: str | None = None,
                identity: str | None = None, limits: Limits = DEFAULT_LIMITS) -> Report:
    """A checked report; raises :class:`IngestError` (no location: the reader adds it)
    for a field of the wrong type, too long, with a lone surrogate, or a bad date."""
    text = clean_field("text", text)
    if len(text) > limits.max_report_chars:
        raise IngestError(f"report text is {len(text):,} characters; the limit is {limits.max_report_chars:,} "
                          "(TRUCE_MAX_REPORT_CHARS)")
    if not text.strip():
        raise IngestError("empty report text")
    # the text is kept exactly as given (evidence offsets index it); the id hashes its normalised form
    fields = {"id": clean_field("id", external_id), "source": clean_field("source", source),
              "url": clean_field("url", url), "title": clean_field("title", title),
              "language": clean_field("language", language)}
    for name, limit in FIELD_LIMITS.items():
        v = fields[name]
        if v is not None and len(v) > limit:
            raise IngestError(f"field {name!r} is {len(v):,} characters long (at most {limit})")
    if not fields["id"]:
        raise IngestError("empty field 'id'")
    desc = sources.describe(fields["source"], fields["url"])
    return Report(id=report_id(text, desc["source"], identity), text=text, external_id=fields["id"],
                  source=desc["source"], source_kind=desc["source_kind"], affiliation=desc["affiliation"],
                  url=fields["url"], title=fields["title"], published=published_date(published),
                  language=fields["language"] if fields["language"] in ("en", "uk", "ru") else None,
                  content_type=content_type, origin=clean_field("origin", origin))


def clean_field(name: str, value: Any) -> Any:
    """A text field as both backends store it: NUL characters removed; a lone surrogate
    (``"\\ud800"`` in JSON, bad bytes decoded with surrogateescape) is an error."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise IngestError(f"field {name!r} must be a string, not {_json_type(value)}")
    if "\x00" in value:
        value = value.replace("\x00", "")
    if _SURROGATE.search(value):
        raise IngestError(f"field {name!r} contains an invalid character (a lone UTF-16 surrogate)")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def published_date(value: Any) -> str | None:
    """``published`` as an ISO 8601 string: a date (``2025-03-18``, ``2025-03``, ``2025``) or a
    date-time kept as given, or a free-form date ("18 March 2025") turned into its ISO day;
    years 1900-2100. Anything else raises :class:`IngestError`."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise IngestError(f"field 'published' must be a date string such as 2025-03-18, not {_json_type(value)}")
    s = clean_field("published", value).strip()
    bad = IngestError(f"field 'published' is not a date: {s[:60]!r} (use ISO 8601, e.g. 2025-03-18 or 2025-03-18T06:00:00Z)")
    if not s or len(s) > 40:
        raise bad
    m = _DATE.fullmatch(s)
    try:
        if m:
            y, mo, d = m.groups()
            dt.date(int(y), int(mo or 1), int(d or 1))
            year = int(y)
        else:
            try:
                year = dt.datetime.fromisoformat(s.replace("Z", "+00:00")).year
            except ValueError:
                parsed = _free_date(s)
                if parsed is None:
                    raise bad from None
                s, year = parsed.isoformat(), parsed.year
    except ValueError:
        raise bad from None
    if not 1900 <= year <= 2100:
        raise IngestError(f"field 'published' is out of range: {s[:60]!r} (years 1900-2100)")
    return s


def _free_date(s: str) -> dt.date | None:
    import dateparser

    try:
        r = dateparser.parse(s, languages=["en", "uk", "ru"], settings={"PREFER_DATES_FROM": "past"})
    except (ValueError, OverflowError, TypeError, RecursionError):
        return None
    return r.date() if r else None


def _json_type(v: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(
        type(v), type(v).__name__)


# --- readers ------------------------------------------------------------------------------

def read_reports_jsonl(stream: IO[str] | IO[bytes] | Iterable[str | bytes], name: str, sources: SourceBook,
                       errors: list[str] | None = None, limits: Limits = DEFAULT_LIMITS, *,
                       first_line: int = 1) -> Iterator[Report]:
    """Reports from JSON Lines (a text or, better, a binary stream); a malformed line, a
    bad byte or a bad field goes to ``errors`` ("file:line: problem") and is skipped, and
    the rest of the file is still read. ``first_line``: the stream's first line's number in
    the file (a stream that starts inside a file, :mod:`truce.backfill`)."""
    for lineno, line in enumerate(_lines(stream, limits.max_line_bytes), start=first_line):
        if isinstance(line, _TooLong):
            record_error(errors, IngestError(f"line is longer than {limits.max_line_bytes:,} bytes "
                                             "(TRUCE_MAX_REPORT_CHARS)", path=name, line=lineno))
            continue
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as e:
                record_error(errors, IngestError(f"not UTF-8 text (byte {e.start + 1} of the line: "
                                                 f"{line[e.start:e.start + 1]!r})", path=name, line=lineno))
                continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            record_error(errors, IngestError(f"malformed JSON: {e.msg} (column {e.colno})", path=name, line=lineno))
            continue
        except RecursionError:
            record_error(errors, IngestError("malformed JSON: nested too deeply", path=name, line=lineno))
            continue
        except ValueError as e:  # e.g. an integer with thousands of digits
            record_error(errors, IngestError(f"malformed JSON: {' '.join(str(e).split())[:120]}", path=name, line=lineno))
            continue
        if not isinstance(obj, dict):
            record_error(errors, IngestError("expected a JSON object", path=name, line=lineno))
            continue
        rid, text = obj.get("id"), obj.get("text")
        if rid is None or (isinstance(rid, str) and not rid.strip()):
            record_error(errors, IngestError("missing required field 'id'", path=name, line=lineno))
            continue
        if isinstance(rid, int) and not isinstance(rid, bool):
            rid = str(rid)
        if not isinstance(text, str) or not text.strip():
            record_error(errors, IngestError("missing or empty required field 'text'", path=name, line=lineno))
            continue
        try:
            yield make_report(text=text, external_id=rid, sources=sources, source=obj.get("source"),
                              url=obj.get("url"), title=obj.get("title"), published=obj.get("published"),
                              language=obj.get("language"), origin=f"{name}:{lineno}", limits=limits)
        except IngestError as e:
            record_error(errors, IngestError(str(e), path=name, line=lineno))


class _TooLong:
    """A line over the limit (skipped without being held in memory)."""


def _lines(stream: Any, limit: int) -> Iterator[str | bytes | _TooLong]:
    readline = getattr(stream, "readline", None)
    if readline is None:
        yield from stream
        return
    while True:
        line = readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n" if isinstance(line, bytes) else "\n"):
            while True:  # drop the rest of the line
                more = readline(1 << 20)
                if not more or more.endswith(b"\n" if isinstance(more, bytes) else "\n"):
                    break
            yield _TooLong()
            continue
        yield line


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


def record_error(errors: list[str] | None, e: IngestError) -> None:
    if errors is None:
        raise e
    errors.append(str(e))


def read_text_file(path: Path, sources: SourceBook, limits: Limits = DEFAULT_LIMITS, *, follow: bool = True) -> Report:
    raw = read_bytes(path, limits.max_report_chars * 4, follow=follow)
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise IngestError(f"not UTF-8 text (byte {e.start + 1})", path=str(path), line=line) from e
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
    try:
        return make_report(text=body, external_id=meta.get("id") or path.name, sources=sources, source=meta.get("source"),
                           url=meta.get("url"), title=meta.get("title"), published=meta.get("published"),
                           language=meta.get("language"), origin=str(path), limits=limits)
    except IngestError as e:
        raise IngestError(str(e), path=str(path)) from e


def read_html_file(path: Path, sources: SourceBook, limits: Limits = DEFAULT_LIMITS, *,
                   follow: bool = True) -> tuple[Report, bytes]:
    raw = read_bytes(path, min(limits.max_file_bytes, limits.max_report_chars * 16), follow=follow)
    try:
        return report_from_html(raw, external_id=path.name, sources=sources, origin=str(path), limits=limits), raw
    except IngestError as e:
        raise IngestError(str(e), path=str(path)) from e


def report_from_html(raw: bytes, *, external_id: str, sources: SourceBook, origin: str, limits: Limits = DEFAULT_LIMITS,
                     url: str | None = None, published: str | None = None) -> Report:
    """A report from an HTML page's bytes (trafilatura: the article's text, title, outlet, date
    and canonical URL); ``url`` and ``published`` stand in where the page states none (a web
    archive's capture). Raises :class:`IngestError` without a location (the caller adds it)."""
    import trafilatura

    html = raw.decode("utf-8", errors="replace")
    try:
        doc = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False, include_tables=False)
    except (ValueError, TypeError, RecursionError, AttributeError) as e:  # lxml and trafilatura on hostile markup
        raise IngestError(f"unreadable HTML: {type(e).__name__}") from e
    if doc is None:
        raise IngestError("no article text found in HTML")
    d = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    text = d.get("text") or ""
    if not text.strip():
        raise IngestError("no article text found in HTML")
    return make_report(text=text, external_id=external_id, sources=sources, source=_text_or_none(d.get("sitename")),
                       url=_text_or_none(d.get("url")) or url, title=_text_or_none(d.get("title")),
                       published=_lenient_date(d.get("date")) or _lenient_date(published), content_type="text/html",
                       origin=origin, limits=limits)


def _text_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) and v.strip() else None


def _lenient_date(v: Any) -> str | None:
    """A date found by a library in a page or feed: kept when valid, dropped otherwise
    (the report is still worth reading without it)."""
    try:
        return published_date(v)
    except IngestError:
        return None


def read_feed_file(path: Path, sources: SourceBook, errors: list[str] | None = None,
                   limits: Limits = DEFAULT_LIMITS, *, follow: bool = True) -> Iterator[Report]:
    raw = read_bytes(path, limits.max_file_bytes, follow=follow)
    yield from read_feed_bytes(raw, str(path), sources, errors, limits, label=path.name)


def read_feed_bytes(raw: bytes, name: str, sources: SourceBook, errors: list[str] | None = None,
                    limits: Limits = DEFAULT_LIMITS, *, label: str | None = None,
                    source: str | None = None) -> Iterator[Report]:
    """Reports in an RSS/Atom document (a file's bytes, or a feed fetched by ``truce watch``):
    ``name`` (a path or URL) locates errors and the reports' origins; ``label`` makes the id
    of an entry without id or link; ``source`` names the outlet (default: the feed's title)."""
    import io

    import feedparser

    # a stream, never bytes or a string: feedparser would read a string that names a file or URL
    try:
        feed = feedparser.parse(io.BytesIO(raw), resolve_relative_uris=False, sanitize_html=True)
    except (ValueError, TypeError, RecursionError, AttributeError) as e:
        raise IngestError(f"not a readable RSS/Atom feed: {type(e).__name__}", path=name) from e
    if feed.bozo and not feed.entries:
        raise IngestError(f"not a readable RSS/Atom feed: {' '.join(str(feed.bozo_exception).split())[:200]}",
                          path=name)
    outlet = source or _text_or_none(feed.feed.get("title"))
    for n, entry in enumerate(feed.entries, start=1):
        try:
            rep = _feed_entry(entry, n, name, label or name, outlet, sources, limits, fixed=source is not None)
        except IngestError as err:
            record_error(errors, IngestError(f"feed entry {n}: {err}", path=name))
            continue
        if rep is not None:
            yield rep
        else:
            record_error(errors, IngestError(f"feed entry {n} has no text", path=name))


def _feed_entry(e: Any, n: int, name: str, label: str, outlet: str | None, sources: SourceBook, limits: Limits,
                fixed: bool = False) -> Report | None:
    body: Any = ""
    content = e.get("content")
    if isinstance(content, list) and content and isinstance(content[0], dict):
        body = content[0].get("value", "")
    body = body or e.get("summary", "") or e.get("description", "")
    text = _strip_html(body) if isinstance(body, str) else ""
    if not text.strip():
        return None
    published = None
    if e.get("published_parsed"):
        import calendar

        try:
            published = _lenient_date(dt.datetime.fromtimestamp(calendar.timegm(e.published_parsed),
                                                                dt.timezone.utc).isoformat())
        except (ValueError, OverflowError, OSError, TypeError):
            published = None
    src = e.get("source")
    return make_report(text=text, external_id=_text_or_none(e.get("id")) or _text_or_none(e.get("link")) or f"{label}#{n}",
                       sources=sources,
                       source=_text_or_none(src.get("title")) if isinstance(src, dict) and not fixed else outlet,
                       url=_text_or_none(e.get("link")), title=_text_or_none(e.get("title")), published=published,
                       content_type="application/rss+xml", origin=f"{name}#{n}", limits=limits)


_XML_INCOMPATIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _strip_html(s: str) -> str:
    if "<" not in s:
        return s
    import lxml.html

    s = _XML_INCOMPATIBLE.sub(" ", s)  # lxml refuses control characters in text it is given
    try:
        frag = lxml.html.fromstring(f"<div>{s}</div>")
        for br in frag.iter("br"):
            br.tail = "\n" + (br.tail or "")
        for p in frag.iter("p"):
            p.tail = "\n\n" + (p.tail or "")
        return str(frag.text_content())
    except Exception:  # noqa: BLE001 - lxml raises several types on junk
        return s


def open_regular(path: Path, *, follow: bool = True, max_bytes: int | None = None) -> int:
    """A file descriptor on a regular file: no FIFO, device or socket (it would block or
    never end), no symbolic link unless ``follow``, nothing over ``max_bytes``."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError as e:
        raise IngestError("is a directory", path=str(path)) from e
    except OSError as e:
        if not follow and os.path.islink(path):
            raise IngestError("is a symbolic link; not followed", path=str(path)) from e
        raise IngestError(f"cannot read file: {e.strerror}", path=str(path)) from e
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IngestError("is a directory", path=str(path))
        if not stat.S_ISREG(st.st_mode):
            raise IngestError("not a regular file (a FIFO, device or socket); not read", path=str(path))
        if max_bytes is not None and st.st_size > max_bytes:
            raise IngestError(f"file is {st.st_size / 1048576:,.1f} MiB; the limit for this kind of file is "
                              f"{max_bytes / 1048576:,.1f} MiB (TRUCE_MAX_FILE_MB, TRUCE_MAX_REPORT_CHARS)", path=str(path))
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: Path, max_bytes: int, *, follow: bool = True) -> bytes:
    """A whole regular file, at most ``max_bytes`` (see :func:`open_regular`)."""
    fd = open_regular(path, follow=follow, max_bytes=max_bytes)
    try:
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as e:
        raise IngestError(f"cannot read file: {e.strerror}", path=str(path)) from e
    if len(data) > max_bytes:  # grew while we read it
        raise IngestError(f"file is larger than {max_bytes / 1048576:,.1f} MiB", path=str(path))
    return data


def _read_bytes(path: Path) -> bytes:
    return read_bytes(path, DEFAULT_LIMITS.max_file_bytes)
