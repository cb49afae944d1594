"""Ingestion: files → Report records → the database.

Readers by format live beside this module: :mod:`truce.ingest.files`
(JSONL, text, HTML, RSS/Atom), :mod:`truce.ingest.acled` (ACLED CSV
exports), :mod:`truce.ingest.warc` (web archives) and :mod:`truce.ingest.facilities` (facility datasets for the
registry). Bad lines are reported with file and line and skipped;
reports are stored as they are read, one transaction per batch of 1,000. Walking a
directory follows no symbolic link and reads only regular files.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Protocol

from truce.errors import IngestError
from truce.ingest.acled import read_acled_csv
from truce.ingest.firms import looks_like_firms, read_firms
from truce.ingest.warc import is_warc, read_warc
from truce.ingest.files import (CSV_SUFFIXES, DEFAULT_LIMITS, FEED_SUFFIXES, HTML_SUFFIXES, JSONL_SUFFIXES,
                                TEXT_SUFFIXES, Limits, make_report, open_regular, read_feed_file, read_html_file,
                                read_reports_jsonl, read_text_file, report_id)
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


__all__ = ["IngestResult", "Limits", "collect", "ingest_paths", "iter_files", "iter_reports", "make_report", "read_path",
           "read_reports_jsonl", "report_id"]


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



def iter_files(paths: Iterable[str | Path], errors: list[str] | None = None) -> Iterator[tuple[Path, bool]]:
    """(file, whether a symbolic link may be followed to it). A path given by name is read
    as named; inside a directory, symbolic links and special files are skipped (named in
    ``errors``) and hidden files ignored."""
    for p in paths:
        path = Path(p)
        if str(p) != "-" and path.is_dir():
            for root, dirs, files in os.walk(path, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(root, d)))
                for name in sorted(files + [d for d in os.listdir(root) if os.path.islink(os.path.join(root, d))
                                            and os.path.isdir(os.path.join(root, d))]):
                    if name.startswith("."):
                        continue
                    f = Path(root) / name
                    try:
                        mode = os.lstat(f).st_mode
                    except OSError:
                        continue
                    if stat.S_ISLNK(mode):
                        _note(errors, IngestError("is a symbolic link; not followed inside a directory", path=str(f)))
                    elif not stat.S_ISREG(mode):
                        _note(errors, IngestError("not a regular file (a FIFO, device or socket); not read", path=str(f)))
                    else:
                        yield f, False
        else:
            yield path, True


def _note(errors: list[str] | None, e: IngestError) -> None:
    if errors is not None:
        errors.append(str(e))


def read_path(path: Path, sources: SourceBook, errors: list[str], limits: Limits = DEFAULT_LIMITS, *,
              follow: bool = True) -> Iterator[tuple[Report, bytes | None]]:
    """Reports in one file, by suffix (content sniffing for unknown suffixes)."""
    if str(path) == "-":
        for r in read_reports_jsonl(sys.stdin.buffer, "<stdin>", sources, errors, limits):
            yield r, None
        return
    if not path.exists() and not path.is_symlink():
        raise IngestError("no such file", path=str(path))
    suffix = path.suffix.lower()
    if is_warc(path):
        yield from read_warc(path, sources, errors, limits, follow=follow)
    elif suffix in JSONL_SUFFIXES:
        fd = open_regular(path, follow=follow)
        try:
            with os.fdopen(fd, "rb") as fh:
                for r in read_reports_jsonl(fh, str(path), sources, errors, limits):
                    yield r, None
        except OSError as e:
            raise IngestError(f"cannot read file: {e.strerror}", path=str(path)) from e
    elif suffix in HTML_SUFFIXES:
        r, raw = read_html_file(path, sources, limits, follow=follow)
        yield r, raw
    elif suffix in FEED_SUFFIXES:
        for r in read_feed_file(path, sources, errors, limits, follow=follow):
            yield r, None
    elif suffix in CSV_SUFFIXES:
        yield from read_acled_csv(path, sources, errors, limits, follow=follow)
    elif suffix in TEXT_SUFFIXES or not suffix:
        yield read_text_file(path, sources, limits, follow=follow), None
    else:
        raise IngestError(f"unsupported file type {suffix!r} (use .jsonl, .txt, .html, .xml/.rss, .csv, .warc/.warc.gz)", path=str(path))


INGEST_BATCH = 1000  # reports stored per transaction by :func:`ingest_paths`


def iter_reports(paths: Iterable[str | Path], sources: SourceBook, result: IngestResult, *,
                 detector: "LanguageDetector | None" = None, progress: Progress | None = None,
                 limits: Limits = DEFAULT_LIMITS) -> Iterator[tuple[Report, bytes | None]]:
    """Reports (with the raw bytes of an HTML page) as each file is read, one line at a time
    for JSON Lines; bad lines and unreadable files go to ``result.errors``, files are counted."""
    n = 0
    for path, follow in iter_files(paths, result.errors):
        result.files += 1
        try:
            for rep, data in read_path(path, sources, result.errors, limits, follow=follow):
                if rep.language is None and detector is not None:
                    rep = replace(rep, language=detector.detect(((rep.title or "") + "\n" + rep.text)[:2000]))
                n += 1
                yield rep, data
                if progress is not None:
                    progress(n)
        except IngestError as e:
            result.errors.append(str(e))


def collect(paths: Iterable[str | Path], sources: SourceBook, *, detector: "LanguageDetector | None" = None,
            progress: Progress | None = None,
            limits: Limits = DEFAULT_LIMITS) -> tuple[list[Report], dict[str, bytes], IngestResult]:
    """Read everything into memory (:func:`iter_reports` reads as it goes)."""
    result = IngestResult()
    out: list[Report] = []
    raw: dict[str, bytes] = {}
    for rep, data in iter_reports(paths, sources, result, detector=detector, progress=progress, limits=limits):
        out.append(rep)
        if data is not None:
            raw[rep.id] = data
    return out, raw, result


def ingest_paths(db: "Database", paths: Iterable[str | Path], ctx: ReaderServices, *,
                 progress: Progress | None = None, batch: int = INGEST_BATCH) -> IngestResult:
    """Read files and store their reports as they are read, ``batch`` reports per transaction
    (memory bounded by the batch, whatever the input's size; a failure keeps the batches stored
    before it, and ingesting again skips them as already stored). NASA FIRMS active-fire files
    (recognised by their header) are stored as fire detections."""
    limits = Limits.of(getattr(ctx, "settings", None))
    result = IngestResult()
    files = [p for p, _ in iter_files(paths, result.errors)]  # symlinks and special files in directories left out
    # only a regular file is sniffed (a FIFO named on the command line would block)
    firms = [p for p in files if str(p) != "-" and p.is_file() and looks_like_firms(p)]
    others = [p for p in files if p not in firms]
    reports: list[Report] = []
    raw: dict[str, bytes] = {}

    def store() -> None:
        new, seen = db.add_reports(reports, raw)
        result.new += new
        result.seen += seen
        reports.clear()
        raw.clear()

    for rep, data in iter_reports(others, ctx.sources, result, detector=ctx.detector, progress=progress, limits=limits):
        reports.append(rep)
        if data is not None:
            raw[rep.id] = data
        if len(reports) >= batch:
            store()
    store()
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
