"""Ingestion: files → Report records → the database.

Readers by format live beside this module: :mod:`truce.ingest.files`
(JSONL, text, HTML, RSS/Atom), :mod:`truce.ingest.acled` (ACLED CSV
exports) and :mod:`truce.ingest.facilities` (facility datasets for the
registry). Bad lines are reported with file and line and skipped;
everything good in the batch is stored in one transaction.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Protocol

from truce.errors import IngestError
from truce.ingest.acled import read_acled_csv
from truce.ingest.firms import looks_like_firms, read_firms
from truce.ingest.files import (CSV_SUFFIXES, FEED_SUFFIXES, HTML_SUFFIXES, JSONL_SUFFIXES, TEXT_SUFFIXES,
                                make_report, read_feed_file, read_html_file, read_reports_jsonl, read_text_file,
                                report_id)
from truce.records import FireDetection, Report
from truce.reference.sources import SourceBook

if TYPE_CHECKING:
    from truce.db import Database
    from truce.language import LanguageDetector

Progress = Callable[[int], None]


class ReaderServices(Protocol):
    """What reading reports needs: the sources book (outlets, affiliations) and language ID."""

    @property
    def sources(self) -> SourceBook: ...

    @property
    def detector(self) -> "LanguageDetector": ...


__all__ = ["IngestResult", "collect", "ingest_paths", "iter_files", "make_report", "read_path", "read_reports_jsonl",
           "report_id"]


@dataclass
class IngestResult:
    new: int = 0
    seen: int = 0
    errors: list[str] = field(default_factory=list)
    files: int = 0
    detections_new: int = 0  # satellite fire detections (NASA FIRMS files)
    detections_seen: int = 0
    detection_files: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors



def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_file() and not f.name.startswith("."):
                    yield f
        else:
            yield path


def read_path(path: Path, sources: SourceBook, errors: list[str]) -> Iterator[tuple[Report, bytes | None]]:
    """Reports in one file, by suffix (content sniffing for unknown suffixes)."""
    if str(path) == "-":
        for r in read_reports_jsonl(sys.stdin, "<stdin>", sources, errors):
            yield r, None
        return
    if not path.exists():
        raise IngestError("no such file", path=str(path))
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        try:
            with open(path, encoding="utf-8") as fh:
                for r in read_reports_jsonl(fh, str(path), sources, errors):
                    yield r, None
        except UnicodeDecodeError as e:
            raise IngestError(f"not UTF-8 text (byte {e.start})", path=str(path)) from e
        except OSError as e:
            raise IngestError(f"cannot read file: {e.strerror}", path=str(path)) from e
    elif suffix in HTML_SUFFIXES:
        r, raw = read_html_file(path, sources)
        yield r, raw
    elif suffix in FEED_SUFFIXES:
        for r in read_feed_file(path, sources, errors):
            yield r, None
    elif suffix in CSV_SUFFIXES:
        yield from read_acled_csv(path, sources, errors)
    elif suffix in TEXT_SUFFIXES or not suffix:
        yield read_text_file(path, sources), None
    else:
        raise IngestError(f"unsupported file type {suffix!r} (use .jsonl, .txt, .html, .xml/.rss, .csv)", path=str(path))


def collect(paths: Iterable[str | Path], sources: SourceBook, *, detector: "LanguageDetector | None" = None,
            progress: Progress | None = None) -> tuple[list[Report], dict[str, bytes], IngestResult]:
    """Read everything first (nothing is stored until the whole input is read)."""
    result = IngestResult()
    out: list[Report] = []
    raw: dict[str, bytes] = {}
    for path in iter_files(paths):
        result.files += 1
        try:
            for rep, data in read_path(path, sources, result.errors):
                if rep.language is None and detector is not None:
                    rep = replace(rep, language=detector.detect(((rep.title or "") + "\n" + rep.text)[:2000]))
                out.append(rep)
                if data is not None:
                    raw[rep.id] = data
                if progress is not None:
                    progress(len(out))
        except IngestError as e:
            result.errors.append(str(e))
    return out, raw, result


def ingest_paths(db: "Database", paths: Iterable[str | Path], ctx: ReaderServices, *,
                 progress: Progress | None = None) -> IngestResult:
    """Read files and store their reports in one transaction (library entry point). NASA FIRMS
    active-fire files (recognised by their header) are stored as fire detections."""
    files = list(iter_files(paths))
    firms = [p for p in files if str(p) != "-" and p.exists() and looks_like_firms(p)]
    others = [p for p in files if p not in firms]
    reports, raw, result = collect(others, ctx.sources, detector=ctx.detector, progress=progress)
    with db.atomic():
        result.new, result.seen = db.add_reports(reports, raw)
        if firms:
            result.detection_files = len(firms)
            result.files += len(firms)
            result.detections_new, result.detections_seen = db.add_fire_detections(_detections(firms, result.errors))
    return result


def _detections(paths: Iterable[Path], errors: list[str]) -> Iterator[FireDetection]:
    for p in paths:
        try:
            yield from read_firms(p, errors)
        except IngestError as e:
            errors.append(str(e))
