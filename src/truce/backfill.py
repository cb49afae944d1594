"""Backfill: archives of reports extracted on a Dask cluster, then the stages once.

``truce backfill ARCHIVE... --engine dask`` (docs/backfill.md):

1. **plan** (client): each archive is split into partitions at record
   boundaries, never one task per report: JSON Lines by lines, ACLED CSV
   exports by CSV records (a quoted field may hold a newline), WARC files by
   records (``partition_size`` HTML pages each). A partition is a file path,
   a byte range and the number of its first line or record; the client reads
   no report and ships no text. Other files (HTML pages, text, feeds, NASA
   FIRMS files) are read on the client as ``truce ingest`` reads them.
2. **extract** (workers): each worker builds the extraction :class:`Context`
   once (:class:`ContextPlugin`, a module-level cache behind it), reads its
   partitions from the archive paths itself, and extracts their reports as
   ``truce run`` does (:func:`truce.pipeline.extract_one`). Partitions are
   submitted in a bounded window (twice the workers), so memory on the client
   stays bounded however large the archive. With PostgreSQL the workers write
   reports and claims to the shared database themselves, one transaction per
   partition, and skip reports the current extractor has already read; with
   SQLite (one machine's file) they return them and the client writes each
   partition in one transaction.
3. **stages** (client): :func:`truce.pipeline.run_pipeline` then dedups, fuses,
   grades, evaluates and records the ledger once; it finds nothing left to
   extract.

Idempotent: a report's id is its content (or an ACLED event id) and its claims
are upserted by claim id, so a rerun, or a task Dask retries after a worker was
lost, stores nothing twice. A bad line or record is one error naming the file
and line (or record) and is skipped, as ``truce ingest`` does; a partition that
fails is retried by Dask (``retries``) and then reported with its file and
line range, and the others go on.
"""

from __future__ import annotations

import io
import os
import socket
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Sequence

from truce.config import Settings
from truce.context import Context, load_context
from truce.db import Database
from truce.errors import ExtractionError, IngestError, PipelineError
from truce.ingest import ingest_paths, iter_files
from truce.ingest.acled import acled_header, decode_csv, read_acled_text
from truce.ingest.files import CSV_SUFFIXES, JSONL_SUFFIXES, Limits, open_regular, read_reports_jsonl
from truce.ingest.firms import looks_like_firms
from truce.ingest.warc import HTML_TYPES, is_warc, read_warc_stream
from truce.memory import batch_collection
from truce.pipeline import RunSummary, extract_one, run_pipeline
from truce.records import Claim, Facility, Report

Progress = Callable[[str, int, int], None]
DEFAULT_PARTITION = 250  # lines, CSV records or HTML pages per partition
ENGINES = ("dask",)


# --- plan: partitions at record boundaries ------------------------------------------------

@dataclass(frozen=True)
class Partition:
    """A run of records of one archive: bytes ``[start, end)`` of ``path``, beginning at line
    (JSONL, CSV) or record (WARC) number ``first``; ``count`` lines, rows or pages."""

    index: int
    path: str
    kind: str  # "jsonl" | "acled" | "warc"
    start: int
    end: int
    first: int
    count: int
    header: tuple[str, ...] = ()  # an ACLED export's columns

    def describe(self) -> str:
        unit = "records" if self.kind == "warc" else "lines"
        return f"{self.path} ({unit} {self.first}-{self.first + max(self.count, 1) - 1}, bytes {self.start:,}-{self.end:,})"


def archive_kind(path: Path) -> str | None:
    """``jsonl``, ``acled`` or ``warc`` for a file backfill splits; None for one it leaves to
    the client's reader (HTML, text, feeds, NASA FIRMS)."""
    if is_warc(path):
        return "warc"
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES and not looks_like_firms(path):
        return "acled"
    return None


def plan(paths: Iterable[str | Path], size: int = DEFAULT_PARTITION,
         errors: list[str] | None = None) -> tuple[list[Partition], list[Path]]:
    """(partitions of the archives, other files for the client's reader). Paths are made
    absolute: a worker on another machine reads the same path (docs/backfill.md). A file
    that cannot be split (unreadable, not an ACLED export) is an error and left out."""
    if size < 1:
        raise PipelineError(f"partition size must be at least 1 (got {size})")
    errors = [] if errors is None else errors
    parts: list[Partition] = []
    others: list[Path] = []
    for p in paths:
        if str(p) == "-":
            errors.append("-: backfill reads archives from files, not standard input (use truce ingest -)")
            continue
        path = Path(p)
        if not path.exists() and not path.is_symlink():
            errors.append(str(IngestError("no such file", path=str(path))))
            continue
    for path, follow in iter_files([p for p in paths if str(p) != "-" and (Path(p).exists() or Path(p).is_symlink())],
                                   errors):
        try:
            kind = archive_kind(path) if path.is_file() else None
            if kind is None:
                others.append(path)
                continue
            fd = open_regular(path, follow=follow)
            with os.fdopen(fd, "rb") as fh:
                name = str(path.resolve())
                found: list[tuple[int, int, int, int, list[str]]]
                if kind == "jsonl":
                    found = [(a, b, first, n, []) for a, b, first, n in _line_spans(fh, size)]
                elif kind == "acled":
                    found = _csv_spans(fh, name, size)
                else:
                    found = [(a, b, first, n, []) for a, b, first, n in _warc_spans(fh, size)]
        except IngestError as e:
            errors.append(str(e))
            continue
        except OSError as e:
            errors.append(str(IngestError(f"cannot read file: {e.strerror}", path=str(path))))
            continue
        for a, b, first, n, header in found:
            parts.append(Partition(len(parts), name, kind, a, b, first, n, tuple(header)))
    return parts, others


def _line_spans(fh: IO[bytes], size: int) -> list[tuple[int, int, int, int]]:
    """(start, end, first line, lines) every ``size`` lines, found by counting newlines in
    1 MiB blocks (no line is held whole)."""
    spans = []
    start, first, lines, pos = 0, 1, 0, 0
    tail = b""
    while True:
        block = fh.read(1 << 20)
        if not block:
            break
        tail = block[-1:]
        i = 0
        while True:
            j = block.find(b"\n", i)
            if j < 0:
                break
            lines += 1
            i = j + 1
            if lines == size:
                spans.append((start, pos + i, first, lines))
                start, first, lines = pos + i, first + lines, 0
        pos += len(block)
    if pos > start:
        spans.append((start, pos, first, lines + (0 if tail == b"\n" else 1)))
    return spans


def _csv_spans(fh: IO[bytes], name: str, size: int) -> list[tuple[int, int, int, int, list[str]]]:
    """Spans of ``size`` CSV records after the header. A record ends at a newline outside
    quotes (an even number of quote characters so far: ``""`` inside a field keeps it even)."""
    spans: list[tuple[int, int, int, int, list[str]]] = []
    header_bytes = b""
    pos, line_no, quoted = 0, 0, False
    header: list[str] | None = None
    start = first = 0
    records = 0
    while True:
        line = fh.readline(1 << 24)
        if not line:
            break
        pos += len(line)
        if line.endswith(b"\n"):
            line_no += 1
        quoted ^= bool(line.count(b'"') & 1)
        if header is None:
            header_bytes += line
            if quoted and len(header_bytes) < (1 << 20):
                continue
            header = acled_header(decode_csv(header_bytes, name), name)
            start, first = pos, line_no + 1
            continue
        if quoted:
            continue
        records += 1
        if records == size:
            spans.append((start, pos, first, records, header))
            start, first, records = pos, line_no + 1, 0
    if header is None:
        if header_bytes:  # an unterminated quote in the first record: its own error
            acled_header(decode_csv(header_bytes, name), name)
        raise IngestError("not an ACLED export: the file is empty", path=name, line=1)
    if pos > start:
        spans.append((start, pos, first, records + (1 if quoted else 0), header))
    return spans


def _warc_spans(fh: IO[bytes], size: int) -> list[tuple[int, int, int, int]]:
    """Spans of ``size`` HTML pages, cut at record boundaries (record offsets as warcio finds
    them; a gzipped archive must be compressed record by record, as WARC files are)."""
    from truce.ingest.warc import _content_type, _iterator

    spans = []
    it = _iterator(fh)
    start, first, pages, n = 0, 1, 0, 0
    try:
        for record in it:
            n += 1
            offset = it.get_record_offset()
            if pages == size:
                spans.append((start, offset, first, pages))
                start, first, pages = offset, n, 0
            if record.rec_type in ("response", "resource") and \
                    _content_type(record).split(";")[0].strip().lower() in HTML_TYPES:
                pages += 1
    except Exception as e:  # noqa: BLE001 - a damaged tail: its partition names the error when read
        if n == 0:
            raise IngestError(f"not a WARC file: {type(e).__name__}: {' '.join(str(e).split())[:160]}",
                              path=getattr(fh, "name", None) and str(fh.name)) from e
    end = fh.seek(0, io.SEEK_END)
    if end > start:
        spans.append((start, end, first, pages))
    return spans


# --- workers: read a partition, extract its reports ----------------------------------------

class _Window(io.RawIOBase):
    """Bytes ``[start, end)`` of a file as a stream (readline and read stop at ``end``)."""

    def __init__(self, fh: IO[bytes], start: int, end: int):
        super().__init__()
        self._fh = fh
        self._left = end - start
        fh.seek(start)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self._left)
        if n <= 0:
            return 0
        data = self._fh.read(n)
        b[:len(data)] = data
        self._left -= len(data)
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        limit = self._left if size is None or size < 0 else min(size, self._left)
        if limit <= 0:
            return b""
        line = self._fh.readline(limit)
        self._left -= len(line)
        return line


def read_partition(part: Partition, ctx: Context, errors: list[str],
                   limits: Limits) -> Iterator[tuple[Report, bytes | None]]:
    """The reports of one partition, each with its raw bytes where the stages keep them (an
    ACLED row, an archived page), language detected where the record does not state it."""
    fd = open_regular(Path(part.path))
    with os.fdopen(fd, "rb") as fh:
        window = _Window(fh, part.start, part.end)
        items: Iterator[tuple[Report, bytes | None]]
        if part.kind == "jsonl":
            items = ((r, None) for r in read_reports_jsonl(window, part.path, ctx.sources, errors, limits,
                                                            first_line=part.first))
        elif part.kind == "acled":
            data = window.read()
            items = iter(read_acled_text(decode_csv(data, part.path, first_line=part.first), part.path, ctx.sources,
                                         errors, limits, header=list(part.header), first_line=part.first))
        else:
            items = iter(read_warc_stream(io.BufferedReader(window, 1 << 16), part.path, ctx.sources, errors, limits,
                                          first_record=part.first, base_offset=part.start))
        for rep, raw in items:
            if rep.language is None:
                rep = replace(rep, language=ctx.detector.detect(((rep.title or "") + "\n" + rep.text)[:2000]))
            yield rep, raw


@dataclass
class PartitionResult:
    """What a worker did with one partition. ``reports_read`` and ``extractions`` (report id,
    claims, why it was skipped) come back only when the client writes them (SQLite)."""

    index: int
    reports: int = 0
    extracted: int = 0
    already: int = 0  # read before by the same extractor (a rerun): not extracted again
    new: int = 0
    seen: int = 0
    claims: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reports_read: list[tuple[Report, bytes | None]] = field(default_factory=list)
    extractions: list[tuple[str, list[Claim], str | None]] = field(default_factory=list)
    seconds: float = 0.0
    cpu: float = 0.0
    worker: str = ""


@dataclass
class _WorkerState:
    ctx: Context
    db: Database | None


_CONTEXTS: dict[str, Context] = {}
_DATABASES: dict[str, Database] = {}


def _context_key(settings: Settings, facilities: Sequence[Facility] | None) -> str:
    """What a context depends on: the settings but the database and the author, and the
    imported facilities."""
    return repr((replace(settings, db="", author=None), list(facilities or [])))


def worker_state(settings: Settings, write_url: str | None, facilities: Sequence[Facility] | None = None) -> _WorkerState:
    """This process's extraction context (and, when workers write, its database), each built
    once per process: a second backfill with other databases reuses the context."""
    key = _context_key(settings, facilities)
    ctx = _CONTEXTS.get(key)
    if ctx is None:
        ctx = _CONTEXTS[key] = load_context(settings, facilities=list(facilities or []))
    db = None
    if write_url:
        db = _DATABASES.get(write_url)
        if db is None:
            db = _DATABASES[write_url] = Database(write_url)
    return _WorkerState(ctx, db)


def process_partition(part: Partition, settings: Settings, write_url: str | None,
                      facilities: Sequence[Facility] | None = None,
                      known: frozenset[str] | None = None) -> PartitionResult:
    """The task a worker runs: read the partition, extract what the current extractor has not
    read (``known``: report ids it has; asked of the database when workers write), and store
    it (``write_url``) or return it."""
    with batch_collection():
        return _process_partition(part, settings, write_url, facilities, known)


def _process_partition(part: Partition, settings: Settings, write_url: str | None,
                       facilities: Sequence[Facility] | None, known: frozenset[str] | None) -> PartitionResult:
    t, c = time.perf_counter(), time.process_time()
    state = worker_state(settings, write_url, facilities)
    ctx, db = state.ctx, state.db
    res = PartitionResult(part.index, worker=f"{socket.gethostname()}:{os.getpid()}")
    limits = Limits.of(settings)
    res.reports_read = list(read_partition(part, ctx, res.errors, limits))
    res.reports = len(res.reports_read)
    todo: dict[str, tuple[Report, bytes | None]] = {}
    for rep, raw in res.reports_read:
        todo.setdefault(rep.id, (rep, raw))  # the same content again under another id: read once
    extractor = ctx.extractor.id
    if db is not None:
        known = frozenset(db.extracted_ids(extractor, list(todo)))
    for rid, (rep, raw) in todo.items():
        if known is not None and rid in known:
            res.already += 1
            continue
        try:
            claims, skipped = extract_one(rep, ctx, {rid: raw} if raw is not None else None)
        except ExtractionError as e:
            res.errors.append(f"{rep.external_id}: extraction failed: {e}")
            continue
        res.extracted += 1
        res.claims += len(claims)
        if skipped:
            res.skipped.append(f"{rep.external_id}: skipped: {skipped}")
        res.extractions.append((rid, claims, skipped))
    if db is not None:
        store(db, extractor, res)
    res.seconds, res.cpu = time.perf_counter() - t, time.process_time() - c
    return res


def store(db: Database, extractor: str, res: PartitionResult) -> None:
    """A partition's reports, then its reports' claims, in one transaction; the rows are
    dropped from ``res`` once stored."""
    with db.atomic():
        res.new, res.seen = db.add_reports([r for r, _ in res.reports_read],
                                           {r.id: raw for r, raw in res.reports_read if raw is not None})
        db.replace_claims_many(res.extractions, extractor)
    res.reports_read, res.extractions = [], []


# --- the client: plan, submit in a bounded window, store, then the stages -----------------

@dataclass
class BackfillSummary:
    files: int = 0
    partitions: int = 0
    workers: int = 0
    write: str = ""  # "workers" (PostgreSQL) or "client" (SQLite)
    reports: int = 0  # read from the archives
    new: int = 0
    seen: int = 0
    extracted: int = 0
    already: int = 0
    claims: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # partitions that failed after Dask's retries
    worker_cpu: float = 0.0  # CPU seconds the tasks took on the workers
    seconds: dict[str, float] = field(default_factory=dict)
    run: RunSummary | None = None

    @property
    def ok(self) -> bool:
        return not (self.errors or self.skipped or self.failed)


def backfill(db: Database, ctx: Context | Callable[[], Context], paths: Sequence[str | Path], *,
             scheduler: str | None = None,
             workers: int | None = None, partition_size: int = DEFAULT_PARTITION, retries: int = 2,
             progress: Progress | None = None, wait: float | None = None, client: Any = None,
             stages: bool = True, settings: Settings | None = None) -> BackfillSummary:
    """Archives → reports and claims on a Dask cluster → every stage once on this process.

    ``scheduler``: the address of a running cluster (``tcp://host:8786``); otherwise a
    LocalCluster of ``workers`` processes (default: the cores) is started and stopped.
    ``client``: an existing ``distributed.Client`` to use instead. ``wait`` as for
    :func:`truce.pipeline.run_pipeline`; ``stages=False`` stores reports and claims only (a
    later ``truce run`` fuses and evaluates them).

    ``ctx`` may be a function that loads the context: when the workers write (PostgreSQL)
    this process needs it only for the stages and for files that are not archives, so the
    cluster does not wait for it, nor share the cores with its loading (``settings`` are
    then the workers' settings)."""
    load = _loader(ctx)
    s = BackfillSummary()
    t0 = time.perf_counter()
    parts, others = plan(paths, partition_size, s.errors)
    s.partitions = len(parts)
    s.files = len({p.path for p in parts}) + len(others)
    s.seconds["plan"] = time.perf_counter() - t0
    if others:  # single pages, texts, feeds, FIRMS files: read here, extracted by the run below
        res = ingest_paths(db, others, load())
        s.errors += res.errors
        s.new, s.seen, s.reports = s.new + res.new, s.seen + res.seen, s.reports + res.new + res.seen
    s.write = "workers" if db.dialect == "postgresql" else "client"
    t = time.perf_counter()
    if parts:
        run_partitions(db, ctx if isinstance(ctx, Context) else load, parts, s, scheduler=scheduler, workers=workers,
                       retries=retries, progress=progress, client=client, settings=settings)
    s.seconds["extract"] = time.perf_counter() - t
    t = time.perf_counter()
    if stages:
        s.run = run_pipeline(db, load(), progress=progress, wait=wait)
    s.seconds["stages"] = time.perf_counter() - t
    s.seconds["total"] = time.perf_counter() - t0
    return s


def _loader(ctx: Context | Callable[[], Context]) -> Callable[[], Context]:
    """The context, loaded once when first asked for."""
    if isinstance(ctx, Context):
        return lambda: ctx
    held: list[Context] = []

    def load() -> Context:
        if not held:
            held.append(ctx())
        return held[0]

    return load


def run_partitions(db: Database, ctx: Context | Callable[[], Context], parts: Sequence[Partition],
                   s: BackfillSummary, *, scheduler: str | None = None, workers: int | None = None,
                   retries: int = 2, progress: Progress | None = None, client: Any = None,
                   settings: Settings | None = None) -> None:
    """Extract the partitions on the cluster and store their reports and claims, counting
    into ``s``; a partition that still fails after ``retries`` goes to ``s.failed``. With
    ``settings`` and a context loader for ``ctx``, the context is loaded here only when this
    process writes (SQLite: it needs the extractor's id)."""
    load = _loader(ctx)
    settings = settings or load().settings
    s.write = s.write or ("workers" if db.dialect == "postgresql" else "client")
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as e:
        raise PipelineError("backfill on Dask needs dask[distributed]: pip install 'truce-monitor[backfill]'") from e

    own_cluster = own_client = None
    t = time.perf_counter()
    try:
        if client is None:
            if scheduler:
                try:
                    own_client = client = Client(scheduler, timeout="20s")
                except (OSError, TimeoutError) as e:
                    raise PipelineError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from e
            else:
                n = workers or os.cpu_count() or 1
                own_cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
                own_client = client = Client(own_cluster)
        s.seconds["cluster"] = time.perf_counter() - t
        t = time.perf_counter()
        write_url = db.engine.url.render_as_string(hide_password=False) if s.write == "workers" else None
        facilities = _stored_facilities(db)
        plugin = ContextPlugin(settings, write_url, facilities)
        client.register_plugin(plugin, name=plugin.name)  # returns once every worker has it
        s.workers = len(client.scheduler_info().get("workers", {})) or 1
        s.seconds["context"] = time.perf_counter() - t
        shared_facilities = client.scatter([facilities], broadcast=True)[0] if facilities else None
        known = None
        if write_url is None:  # workers cannot ask the database: they get the ids (one copy each)
            ids = db.extracted_ids(load().extractor.id)
            known = client.scatter([frozenset(ids)], broadcast=True)[0] if ids else None  # a list: one object
        total = sum(p.count for p in parts)
        window = max(2 * s.workers, 2)
        queue = deque(parts)
        submitted: dict[Any, Partition] = {}

        def submit() -> Any:
            part = queue.popleft()
            fut = client.submit(process_partition, part, settings, write_url, shared_facilities, known,
                                retries=retries, pure=False, key=f"truce-backfill-{part.index}-{os.urandom(4).hex()}")
            submitted[fut] = part
            return fut

        pending = as_completed([submit() for _ in range(min(window, len(queue)))])
        done_lines = 0
        results: dict[int, PartitionResult] = {}
        for fut in pending:
            part = submitted.pop(fut)
            if queue:
                pending.add(submit())
            try:
                res: PartitionResult = fut.result()
            except Exception as e:  # noqa: BLE001 - a failed partition is reported, the others go on
                s.failed.append(f"{part.describe()}: failed after {retries} retr{'y' if retries == 1 else 'ies'}: "
                                f"{type(e).__name__}: {' '.join(str(e).split())[:200]}")
                continue
            finally:
                fut.release()
            if write_url is None:
                store(db, load().extractor.id, res)
            results[res.index] = res
            s.reports += res.reports
            s.new += res.new
            s.seen += res.seen
            s.extracted += res.extracted
            s.already += res.already
            s.claims += res.claims
            s.worker_cpu += res.cpu
            done_lines += part.count
            if progress:
                progress("backfill", done_lines, total)
        for i in sorted(results):  # in the archives' order, whatever order the workers finished in
            s.errors += results[i].errors
            s.skipped += results[i].skipped
        s.failed.sort(key=lambda m: m)
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()


def _stored_facilities(db: Database) -> list[Facility]:
    from truce.ingest.facilities import stored_facilities

    return stored_facilities(db)


try:  # the plugin's base class when distributed is installed (the backfill extra)
    from distributed.diagnostics.plugin import WorkerPlugin as _PluginBase
except ImportError:  # pragma: no cover
    _PluginBase = object  # type: ignore[assignment,misc]


class ContextPlugin(_PluginBase):
    """Builds the extraction context (and the database, when workers write) once on each
    worker as it joins, before any partition is read. Named by its settings: registering
    the same again (a second backfill on the same cluster) is a no-op, and the context
    stays built for the worker's life."""

    idempotent = True  # not registered again under the same name

    def __init__(self, settings: Settings, write_url: str | None, facilities: Sequence[Facility]):
        import hashlib

        self.settings = settings
        self.write_url = write_url
        self.facilities = list(facilities)
        key = f"{_context_key(settings, self.facilities)}\x1f{write_url}".encode("utf-8", "backslashreplace")
        self.name = "truce-backfill-" + hashlib.sha256(key).hexdigest()[:16]

    def setup(self, worker: Any = None) -> None:
        worker_state(self.settings, self.write_url, self.facilities)

    def teardown(self, worker: Any = None) -> None:
        db = _DATABASES.pop(self.write_url, None) if self.write_url else None
        if db is not None:
            db.close()
