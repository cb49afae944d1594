"""The ``truce`` command: a thin layer over the library.

Each command opens a Database (where it needs one), calls one library
function and turns library errors into a one-line message and exit status 1.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, NoReturn

import click

from truce import __version__
from truce.config import Settings
from truce.errors import PipelineError
from truce.records import FACILITY_TYPES, GRADES, VERDICTS

if TYPE_CHECKING:
    from truce.context import Context
    from truce.db import Database
    from truce.outputs.query import Filters
    from truce.pipeline import RunSummary

DB_HELP = "Database: a SQLite path or a URL (sqlite:///x.db, postgresql://…). Default ./truce.db or TRUCE_DB."


# --- bad input: one line, no usage block -------------------------------------------------

class OneLineUsageError(click.UsageError):
    """A usage error printed as one line (what was wrong, and where the help is); exit status 2."""

    def show(self, file: IO[Any] | None = None) -> None:
        where = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        message = " ".join(self.format_message().split())  # click lists some choices one per line
        click.echo(f"Error: {message}{where}", file=file, err=file is None)


def _one_line(e: click.UsageError) -> OneLineUsageError:
    return OneLineUsageError(e.format_message(), e.ctx)  # exit status 2, as every usage error


class TruceGroup(click.Group):
    """The command group: every usage error below it (a bad date, an unknown choice, a missing
    option, an unknown id) is one line and exit status 2."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except OneLineUsageError:
            raise
        except click.UsageError as e:
            raise _one_line(e) from e

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OneLineUsageError:
            raise
        except click.UsageError as e:
            raise _one_line(e) from e


def _usage(message: str) -> NoReturn:
    raise OneLineUsageError(message, click.get_current_context(silent=True))


# --- dates and filters: read in one place (truce.outputs.query) ---------------------------

class DayType(click.ParamType):
    """A day: ISO 8601, or a common form (01.03.2025, 2025/03/01, 2025-03, yesterday), echoing on
    stderr how a non-ISO form was read. An impossible or ambiguous date is a one-line error."""

    name = "DATE"

    def __init__(self, end: bool = False):
        self.end = end

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.date:
        if isinstance(value, dt.date):
            return value
        from truce.outputs.query import QueryError, parse_day

        try:
            day, how = parse_day(str(value), end=self.end)
        except QueryError as e:
            self.fail(str(e), param, ctx)
        if how:
            opt = param.opts[0] if param is not None and param.opts else "date"
            click.echo(f"note: {opt} {value} read as {day.isoformat()} ({how})", err=True)
        return day


def db_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--db", "db", metavar="PATH|URL", default=None, help=DB_HELP)(f)


FILTER_OPTIONS: tuple[tuple[str, str, Any, str], ...] = (
    ("--from", "date_from", DayType(), "First day: YYYY-MM-DD, or 01.03.2025, 2025/03/01, 2025-03, yesterday."),
    ("--to", "date_to", DayType(end=True), "Last day (as --from; 2025-03 is the month's last day)."),
    ("--country", "countries", click.Choice(["UA", "RU"], case_sensitive=False), "Target country; repeatable."),
    ("--region", "regions", None, "Target region: ISO 3166-2 code (UA-32) or name (Kyiv Oblast); repeatable."),
    ("--facility", "facilities", None, "Registry facility id (truce facilities export); repeatable."),
    ("--type", "types", click.Choice(FACILITY_TYPES), "Asset type; repeatable."),
    ("--grade", "grades", click.Choice(GRADES), "Corroboration grade; repeatable."),
    ("--verdict", "verdicts", click.Choice(VERDICTS), "Finding verdict (under --agreement if given); repeatable."),
    ("--agreement", "agreements", None, "Agreement id; repeatable."),
)


def filter_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--from/--to/--country/--region/--facility/--type/--grade/--verdict/--agreement, read into
    one :class:`truce.outputs.query.Filters` by :func:`_filters`."""
    for flag, dest, kind, help_ in reversed(FILTER_OPTIONS):
        multiple = not dest.startswith("date_")
        f = click.option(flag, dest, type=kind, multiple=multiple, default=None, help=help_,
                         metavar=None if kind is not None else "ID" if dest != "regions" else "REGION")(f)
    return f


def _filters(settings: Settings, database: Database, kw: dict[str, Any]) -> Filters:
    """The filters given on the command line, with every id checked against what is known
    (agreements loaded or evaluated in the database, the gazetteer's regions, the registry)."""
    from truce.outputs.query import Filters, QueryError, check_known, resolve_regions

    try:
        agreements = tuple(kw.get("agreements") or ())
        if agreements:
            check_known("agreement", agreements, _agreement_ids(settings, database))
        regions: tuple[str, ...] = ()
        if kw.get("regions"):
            from truce.reference.gazetteer import read_regions

            regions = resolve_regions(kw["regions"], read_regions())
        facilities = tuple(kw.get("facilities") or ())
        if facilities:
            check_known("facility", facilities, list(_registry_of(settings, database).facilities))
        return Filters(date_from=kw.get("date_from"), date_to=kw.get("date_to"),
                       countries=tuple(c.upper() for c in kw.get("countries") or ()), regions=regions,
                       facilities=facilities, types=tuple(kw.get("types") or ()), grades=tuple(kw.get("grades") or ()),
                       verdicts=tuple(kw.get("verdicts") or ()), agreements=agreements)
    except QueryError as e:
        _usage(str(e))


def _agreement_ids(settings: Settings, database: Database | None = None) -> list[str]:
    from truce.reference.terms import load_agreements

    ids = {a.id for a in load_agreements(settings.agreements)}
    if database is not None:
        ids |= {f.agreement_id for f, _ in database.findings()}
    return sorted(ids)


def _registry_of(settings: Settings, database: Database | None) -> Any:
    from truce.ingest.facilities import apply_links, stored_facilities
    from truce.reference.registry import Registry
    from truce.text import KeyMaker

    if database is None:
        return Registry.load(KeyMaker(None), settings.registry)
    reg = Registry.load(KeyMaker(None), settings.registry, extra=stored_facilities(database))
    return apply_links(reg, database)


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    return Settings.load(ctx.obj.get("config") if ctx.obj else None, **overrides)


def _context(settings: Settings, database: Database | None = None) -> Context:
    from truce.context import load_context

    return load_context(settings, database)


def _open(settings: Settings, *, create: bool = True) -> Database:
    """The configured database; ``create=False`` (every command that reads) refuses one that does not exist."""
    from truce.db import Database

    return Database(settings.db, create=create)


class Progress:
    """Progress on stderr: rich progress bars on a terminal, a plain line per 10% otherwise."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._last: dict[str, int] = {}
        self._bars: Any = None
        self._tasks: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled or total < 20:
            return
        if self.tty:
            if self._bars is None:
                from rich.console import Console
                from rich.progress import Progress as Bars

                self._bars = Bars(console=Console(stderr=True))
                self._bars.start()
            if stage not in self._tasks:
                self._tasks[stage] = self._bars.add_task(stage, total=total)
            self._bars.update(self._tasks[stage], completed=done, total=total)
            return
        pct = int(100 * done / max(total, 1))
        if pct // 10 != self._last.get(stage, -1) // 10 or done == total:
            click.echo(f"{stage}: {done}/{total} ({pct}%)", err=True)
        self._last[stage] = pct

    def close(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None


def _fail(e: Exception) -> NoReturn:
    from truce.outputs.query import QueryError

    if isinstance(e, QueryError):
        _usage(str(e))
    raise click.ClickException(str(e)) from e


@click.group(name="truce", cls=TruceGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="truce")
@click.option("--config", type=click.Path(dir_okay=False), default=None,
              help="TOML settings file (or TRUCE_CONFIG); see `truce settings`.")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Truce Monitor: strikes on energy infrastructure, checked against the agreements meant to stop them.

    Reports in; claims, incidents, findings and a tamper-evident ledger out.

    Example:

        truce demo && truce incidents --format table
    """
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


# --- demo / ingest / run -------------------------------------------------------------

@cli.command()
@db_option
@click.option("--out", "out_dir", default="truce-report", show_default=True, type=click.Path(file_okay=False),
              help="Directory for report.html.")
@click.pass_context
def demo(ctx: click.Context, db: str | None, out_dir: str) -> None:
    """Build a fresh demo database from the bundled reports, run every stage, write a report.

    The demo builds in the database every command uses (./truce.db, TRUCE_DB or --db). A previous
    demo database is rebuilt (a PostgreSQL one has its tables emptied); a database holding anything
    else is refused, never overwritten.

    Example:

        truce demo --db demo.db --out out/
    """
    from truce.demo import open_demo_database, run_demo

    t0 = time.perf_counter()
    progress = Progress()
    try:
        settings = _settings(ctx, db=db)
        c = _context(settings)
        with open_demo_database(settings.db) as database:
            summary, report = run_demo(database, c, Path(out_dir), progress=progress)
            where = _shown(database)
    except PipelineError as e:
        _fail(e)
    finally:
        progress.close()
    secs = time.perf_counter() - t0
    _print_summary(summary)
    click.echo(f"report:    {report}")
    click.echo(f"database:  {where}   ({secs:.1f} s)")


def _shown(database: Database) -> str:
    from truce.db import sqlite_path

    return sqlite_path(str(database.engine.url)) or database.url


def _print_summary(s: RunSummary) -> None:
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(s.claims_by_kind.items()))
    click.echo(f"reports:   {s.reports}")
    click.echo(f"claims:    {s.claims} ({kinds})")
    grades = ", ".join(f"{g} {s.incidents_by_grade.get(g, 0)}" for g in
                       ("confirmed", "fair", "weak", "contested", "discounted"))
    click.echo(f"incidents: {s.incidents} ({grades})")
    for aid, verdicts in sorted(s.findings_by_verdict.items()):
        vs = ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items(), key=lambda kv: -kv[1]))
        click.echo(f"findings:  {aid}: {vs}")
    if s.counter_claims:
        click.echo(f"denials:   {s.counter_claims} counter-claim(s): {s.counter_claims - len(s.unattached)} contest the "
                   f"incident they deny, {len(s.unattached)} deny nothing reported (no incident)")
    for u in s.unattached:
        click.echo(f"note: {u}", err=True)
    if s.physical:
        seen = ", ".join(f"{k} {s.physical.get(k, 0)}" for k in ("supports", "silent", "contradicts"))
        click.echo(f"satellite: {seen} (incidents at facilities; {s.physical.get('no_data', 0)} outside the FIRMS "
                   f"files' days); {s.physical.get('candidates', 0)} candidate(s) for review")
    click.echo(f"ledger:    {s.ledger_entries} entries ({s.ledger_appended} appended)")
    for e in s.errors:
        click.echo(f"warning: {e}", err=True)
    for e in s.skipped:
        click.echo(f"error: {e}", err=True)


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@db_option
@click.option("--sources", "sources_file", multiple=True, type=click.Path(dir_okay=False),
              help="Extra sources YAML (outlets and their affiliation); repeatable.")
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[str, ...], db: str | None, sources_file: tuple[str, ...]) -> None:
    """Store reports from files or directories: .jsonl, .txt, .html, .xml/.rss feeds, ACLED .csv; '-' reads JSONL from stdin.

    NASA FIRMS active-fire files (VIIRS or MODIS, CSV or JSON, recognised by their columns) are
    stored as satellite fire detections; `truce run` weighs them as physical evidence.

    The same content from the same source is stored once. Bad lines are named and
    skipped (exit status 1); everything else in the batch is stored.

    Example:

        truce ingest reports.jsonl articles/ --db truce.db
    """
    from truce.ingest import ingest_paths

    try:
        settings = _settings(ctx, db=db, sources=sources_file or None)
        c = _context(settings)
        with _open(settings) as database:
            res = ingest_paths(database, paths, c, progress=None)
    except PipelineError as e:
        _fail(e)
    for msg in res.errors:
        click.echo(f"error: {msg}", err=True)
    fires = (f"; {res.detections_new} new satellite fire detection(s), {res.detections_seen} already stored, "
             f"from {res.detection_files} FIRMS file(s)") if res.detection_files else ""
    click.echo(f"ingested {res.new} new report(s), {res.seen} already stored, from {res.files} file(s)"
               + fires + (f"; {len(res.errors)} error(s)" if res.errors else ""))
    if res.errors:
        sys.exit(1)


@cli.command()
@db_option
@click.option("--extractor", type=click.Choice(["rules", "llm"]), default=None, help="Extractor backend (default rules).")
@click.option("--llm-url", default=None, help="OpenAI-compatible base URL for --extractor llm.")
@click.option("--author", default=None, help="Name recorded on ledger entries (default TRUCE_AUTHOR or the OS user).")
@click.option("--wait", is_flag=True, help="If another `truce run` holds the database, wait for it instead of exiting.")
@click.pass_context
def run(ctx: click.Context, db: str | None, extractor: str | None, llm_url: str | None, author: str | None,
        wait: bool) -> None:
    """Run every stage over what is stored: extract new reports, fuse, grade, evaluate, record in the ledger.

    Incremental: reports already read by the same extractor are not read again;
    the ledger gets entries only for findings that are new or changed. One run
    per database at a time: a second one exits naming the holder (or waits,
    with --wait). A report the extractor cannot read (too long, over its time
    budget) is recorded as skipped with its reason; exit status 1 names it.

    Example:

        truce run --db truce.db
    """
    from truce.pipeline import run_pipeline

    progress = Progress()
    try:
        settings = _settings(ctx, db=db, extractor=extractor, llm_url=llm_url, author=author)
        with _open(settings, create=False) as database:
            c = _context(settings, database)
            summary = run_pipeline(database, c, progress=progress, wait=float("inf") if wait else None)
    except PipelineError as e:
        _fail(e)
    finally:
        progress.close()
    _print_summary(summary)
    if summary.skipped:
        sys.exit(1)


# --- extract (stateless contract) ------------------------------------------------------

@cli.command()
@click.argument("input_path", metavar="INPUT")
@click.option("--output", "-o", "output", default="-", show_default=True, help="Claims JSONL ('-' for stdout).")
@click.option("--extractor", type=click.Choice(["rules", "llm"]), default=None, help="Extractor backend (default rules).")
@click.option("--llm-url", default=None, help="OpenAI-compatible base URL for --extractor llm.")
@click.pass_context
def extract(ctx: click.Context, input_path: str, output: str, extractor: str | None, llm_url: str | None) -> None:
    """Reports JSONL in, claims JSONL out (EVAL-FORMAT.md), no database. '-' is stdin/stdout.

    Malformed lines are reported on stderr with their line number and skipped;
    the exit status is 1 if any line was skipped.

    Example:

        truce extract reports.jsonl --output claims.jsonl
    """
    from truce.ingest import Limits, read_reports_jsonl
    from truce.pipeline import extract_one

    try:
        settings = _settings(ctx, extractor=extractor, llm_url=llm_url)
        c = _context(settings)
    except PipelineError as e:
        _fail(e)
    errors: list[str] = []
    n_reports = n_claims = 0
    name = "<stdin>" if input_path == "-" else input_path
    try:
        src = sys.stdin.buffer if input_path == "-" else open(input_path, "rb")
    except OSError as e:
        raise click.ClickException(f"{input_path}: cannot read file: {e.strerror}") from e
    out = sys.stdout if output == "-" else _write(output)
    progress = Progress()
    try:
        for rep in read_reports_jsonl(src, name, c.sources, errors, Limits.of(settings)):
            try:
                claims, skipped = extract_one(rep, c)
            except PipelineError as e:
                errors.append(str(e))
                continue
            if skipped:
                errors.append(f"{name}: report {rep.external_id!r} ({rep.origin}): skipped: {skipped}")
                continue
            for cl in claims:
                out.write(json.dumps(cl.to_public(rep.external_id), ensure_ascii=False) + "\n")
            n_reports += 1
            n_claims += len(claims)
            if n_reports % 100 == 0:
                progress("extract", n_reports, n_reports)
    finally:
        if out is not sys.stdout:
            out.close()
        if src is not sys.stdin.buffer:
            src.close()
    for msg in errors:
        click.echo(f"error: {msg}", err=True)
    click.echo(f"extracted {n_claims} claim(s) from {n_reports} report(s)"
               + (f"; skipped {len(errors)} line(s)" if errors else ""), err=True)
    if errors:
        sys.exit(1)


# --- incidents / findings --------------------------------------------------------------

def _write(output: str | None) -> Any:
    """stdout, or a file that appears whole when closed (never through a symbolic link)."""
    if not output or output == "-":
        return sys.stdout
    from truce.safeio import AtomicFile

    try:
        return AtomicFile(output)
    except OSError as e:
        raise click.ClickException(f"{output}: cannot write: {e.strerror}") from e


def _dump(out: Any, obj: Any) -> None:
    json.dump(obj, out, ensure_ascii=False, indent=1)
    out.write("\n")


@cli.command()
@db_option
@filter_options
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "geojson"]), default="table", show_default=True)
@click.option("--output", "-o", default=None, help="Write to a file instead of stdout.")
@click.pass_context
def incidents(ctx: click.Context, db: str | None, fmt: str, output: str | None, **kw: Any) -> None:
    """List incidents (claims fused into physical events) with their grades.

    json is EVAL-FORMAT.md section 4: each incident names the reports it rests on
    by the id they were ingested with, and the role of each claim (claim,
    counter-claim, corroboration).

    Example:

        truce incidents --country RU --type refinery --from 2025-03-18 --to 2025-04-16 --format json
    """
    from truce.outputs.shapes import incidents_json

    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            rows = incidents_json(database, _filters(settings, database, kw))
    except PipelineError as e:
        _fail(e)
    out = _write(output)
    if fmt == "json":
        _dump(out, rows)
    elif fmt == "geojson":
        from truce.outputs.export import incidents_geojson

        _dump(out, incidents_geojson(rows))
    elif fmt == "csv":
        cols = ["id", "date", "country", "region_code", "region", "facility_id", "facility_name", "facility_type",
                "attacker", "attacker_basis", "weapon", "outcome", "grade", "lat", "lon", "n_reports", "report_ids"]
        from truce.safeio import csv_row

        w = csv.DictWriter(out, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow(csv_row({**{k: r.get(k) for k in cols}, "n_reports": len(r["reports"]),
                                "report_ids": "|".join(x["report_id"] for x in r["reports"])}))
    else:
        _table(out, ["date", "id", "target", "type", "attacker", "grade", "reports"],
               [[r["date"] or "-", r["id"], r["facility_name"] or r["region"] or r["country"] or "-",
                 r["facility_type"] or "-", (r["attacker"] or "-") + ("*" if r["attacker_basis"] == "inferred" else ""),
                 r["grade"], str(len(r["reports"]))] for r in rows],
               f"{len(rows)} incident(s); * attacker inferred, not stated")
    if out is not sys.stdout:
        out.close()


@cli.command()
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--output", "-o", default=None, help="Write to a file instead of stdout.")
@click.pass_context
def candidates(ctx: click.Context, db: str | None, fmt: str, output: str | None) -> None:
    """Candidate incidents from satellite fire detections: fires above a facility's background with no
    reported incident at it. For an analyst to review; never a finding by themselves.

    Needs NASA FIRMS files ingested (`truce ingest fire_archive.csv`) and `truce run`.

    Example:

        truce candidates --format json -o candidates.json
    """
    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            found = database.fire_candidates()
            n = database.fire_detection_count()
    except PipelineError as e:
        _fail(e)
    out = _write(output)
    if fmt == "json":
        _dump(out, [c.to_dict() for c in found])
    else:
        rows = [[c.date, c.id, c.facility_name, c.facility_type, c.region_code, str(len(c.detections)),
                 f"{max((m.detection.frp or 0.0) for m in c.detections):.1f}"] for c in found]
        _table(out, ["date", "candidate", "facility", "type", "region", "detections", "max FRP MW"], rows,
               f"{len(found)} candidate(s) from {n} stored satellite fire detection(s); for review, never findings")
    if out is not sys.stdout:
        out.close()


def _table(out: Any, header: list[str], rows: list[list[str]], caption: str = "") -> None:
    """A table: drawn by rich on a terminal, plain aligned text when piped or written to a file."""
    if out is sys.stdout and sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        t = Table(*header, caption=caption or None, caption_justify="left")
        for r in rows:
            t.add_row(*r)
        Console().print(t)
        return
    widths = [min(60, max([len(h)] + [len(r[i]) for r in rows])) for i, h in enumerate(header)]
    out.write("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip() + "\n")
    for r in rows:
        out.write("  ".join((c if len(c) <= w else c[: w - 1] + "…").ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
    if caption:
        out.write(caption + "\n")


@cli.command()
@db_option
@filter_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--output", "-o", default=None, help="Write to a file instead of stdout.")
@click.pass_context
def findings(ctx: click.Context, db: str | None, fmt: str, output: str | None, **kw: Any) -> None:
    """Findings: each incident evaluated against each agreement, with a clause-by-clause trace.

    Ordered as a mediator reads them: consistent with violation, contested, alleged,
    indeterminate, not covered; then by date.

    Example:

        truce findings --agreement moratorium-2025-03 --verdict consistent_with_violation --verdict contested
    """
    from truce.outputs.shapes import findings_json

    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            rows = findings_json(database, filters=_filters(settings, database, kw))
            incs = {i.id: i for i in database.incidents()}
    except PipelineError as e:
        _fail(e)
    out = _write(output)
    if fmt == "json":
        _dump(out, rows)
    else:
        _table(out, ["date", "incident", "target", "agreement", "verdict", "grade", "sources", "hinges on / review"],
               [[incs[r["incident_id"]].date or "-", r["incident_id"], _target(incs[r["incident_id"]]), r["agreement_id"],
                 r["verdict"], incs[r["incident_id"]].grade, _roles(r["evidence"]),
                 (r["hinges_on"] or "") + (f" [review: {r['review']['verdict']} by {r['review']['author']}]" if r["review"] else "")]
                for r in rows if r["incident_id"] in incs], f"{len(rows)} finding(s)")
    if out is not sys.stdout:
        out.close()


def _target(i: Any) -> str:
    return str(i.facility_name or i.region or i.country or "-")


def _roles(evidence: list[dict[str, Any]]) -> str:
    """How many reports are the claim, counter-claims and corroboration ("2 claim, 1 counter")."""
    by: dict[str, set[str]] = {}
    for e in evidence:
        by.setdefault(e.get("role") or "claim", set()).add(e["report_id"])
    short = {"claim": "claim", "counter-claim": "counter", "corroboration": "corr"}
    return ", ".join(f"{len(by[k])} {v}" for k, v in short.items() if by.get(k))


@cli.command()
@click.argument("incident")
@click.option("--agreement", required=True, help="Agreement id the review is about.")
@click.option("--verdict", required=True, type=click.Choice(["not_covered", "consistent_with_violation", "alleged",
                                                              "contested", "indeterminate"]))
@click.option("--note", required=True, help="Why: the analyst's reasoning, shown beside the machine trace.")
@click.option("--author", default=None, help="Reviewer (default TRUCE_AUTHOR or the OS user).")
@db_option
@click.pass_context
def review(ctx: click.Context, incident: str, agreement: str, verdict: str, note: str, author: str | None,
           db: str | None) -> None:
    """Append an analyst's signed-off review of a finding to the ledger (the machine trace stays).

    Example:

        truce review inc-3f2a… --agreement moratorium-2025-03 --verdict alleged --note "only RU sources"
    """
    from truce.ledger import add_review
    from truce.outputs.query import check_known

    try:
        settings = _settings(ctx, db=db, author=author)
        with _open(settings, create=False) as database:
            check_known("agreement", [agreement], _agreement_ids(settings, database))
            check_known("incident", [incident], [i.id for i in database.incidents()])
            row = add_review(database, incident, agreement, verdict, note, settings.who)
    except PipelineError as e:
        _fail(e)
    click.echo(f"review recorded as ledger entry {row['seq']} ({row['hash'][:16]}…)")


# --- ledger ---------------------------------------------------------------------------

@cli.group()
def ledger() -> None:
    """The append-only, hash-chained ledger of findings and reviews."""


@ledger.command("verify")
@db_option
@click.option("--file", "file_", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Verify an exported ledger file instead of the database.")
@click.option("--public-key", default=None, help="Base64 Ed25519 public key the export's head must be signed with.")
@click.pass_context
def ledger_verify(ctx: click.Context, db: str | None, file_: str | None, public_key: str | None) -> None:
    """Check the hash chain: exit 0 when intact, 1 with the first bad entry otherwise.

    Example:

        truce ledger verify --db truce.db
    """
    from truce import ledger as lg

    try:
        if file_:
            with open(file_, "rb") as fh:
                v = lg.verify_export(fh, public_key)
        else:
            settings = _settings(ctx, db=db)
            with _open(settings, create=False) as database:
                v = lg.verify(database)
    except PipelineError as e:
        _fail(e)
    if v.ok:
        click.echo(f"ledger intact: {v.entries} entries" + (f", head {v.head}" if v.head else ""))
    else:
        click.echo(f"ledger broken: {v.reason}", err=True)
        sys.exit(1)


@ledger.command("export")
@db_option
@click.option("--output", "-o", required=True, help="File to write ('-' for stdout).")
@click.pass_context
def ledger_export(ctx: click.Context, db: str | None, output: str) -> None:
    """Write the ledger as JSON Lines a party can verify on its own (signed when TRUCE_LEDGER_KEY is set).

    Example:

        TRUCE_LEDGER_KEY=key.pem truce ledger export -o ledger.jsonl
    """
    from truce import ledger as lg

    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            out = _write(output)
            head = lg.export(database, out)
            if out is not sys.stdout:
                out.close()
    except PipelineError as e:
        _fail(e)
    click.echo(f"exported {head['head']['entries']} entries, head {head['head']['head_hash'][:16]}…"
               + (" (signed)" if "signature" in head else ""), err=True)


@ledger.command("keygen")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Where to write the private key (PEM).")
def ledger_keygen(out: str) -> None:
    """Create an Ed25519 signing key for ledger exports; prints the public key to publish.

    Example:

        truce ledger keygen --out ledger-key.pem
    """
    from truce import ledger as lg

    if os.path.lexists(out):
        raise click.ClickException(f"{out}: exists; refusing to overwrite a key")
    try:
        click.echo(lg.generate_key(Path(out)))
    except FileExistsError as e:
        raise click.ClickException(f"{out}: exists; refusing to overwrite a key") from e
    except OSError as e:
        raise click.ClickException(f"{out}: cannot create the key file: {e.strerror}") from e


# --- facilities ------------------------------------------------------------------------

@cli.group()
def facilities() -> None:
    """The energy-facility registry."""


@facilities.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "geojson"]), default="csv", show_default=True)
@click.option("--output", "-o", default=None, help="Write to a file instead of stdout.")
@db_option
@click.pass_context
def facilities_export(ctx: click.Context, fmt: str, output: str | None, db: str | None) -> None:
    """Export the registry (curated rows plus any imported into the database).

    Example:

        truce facilities export --format geojson -o facilities.geojson
    """
    from truce.reference.registry import export_csv, to_geojson

    try:
        regs = _registry(ctx, db)
    except PipelineError as e:
        _fail(e)
    out = _write(output)
    if fmt == "csv":
        export_csv(regs, out)
    else:
        _dump(out, to_geojson(regs))
    if out is not sys.stdout:
        out.close()


def _registry(ctx: click.Context, db: str | None) -> Any:
    """The registry, with the facilities imported into the database: the one given (which must
    exist), else the default database when there is one, else the shipped registry alone."""
    from truce.db import sqlite_path
    from truce.config import database_url

    settings = _settings(ctx, db=db)
    path = sqlite_path(database_url(settings.db))
    if db is None and path is not None and not Path(path).exists():
        return _registry_of(settings, None)
    with _open(settings, create=False) as database:
        return _registry_of(settings, database)


@facilities.command("show")
@click.argument("facility_id")
@db_option
@click.pass_context
def facilities_show(ctx: click.Context, facility_id: str, db: str | None) -> None:
    """Show one facility with all its names, data and sources.

    Example:

        truce facilities show ua-burshtyn-tpp
    """
    try:
        reg = _registry(ctx, db)
    except PipelineError as e:
        _fail(e)
    f = reg.get(facility_id)
    if f is None:
        from truce.outputs.query import QueryError, check_known

        try:
            check_known("facility", [facility_id], list(reg.facilities))
        except QueryError as e:
            _usage(str(e))
        return
    for k, v in f.to_dict().items():
        if isinstance(v, (list, tuple)):
            v = " | ".join(v)
        if v not in (None, "", []):
            click.echo(f"{k:16} {v}")


@facilities.command("import")
@click.argument("path", type=click.Path(dir_okay=False, exists=True))
@click.option("--format", "fmt", type=click.Choice(["gppd", "osm"]), required=True,
              help="gppd: WRI Global Power Plant Database CSV; osm: OSM-derived GeoJSON or CSV.")
@click.option("--tolerance-km", default=3.0, show_default=True, help="Same site if closer than this and type compatible.")
@db_option
@click.pass_context
def facilities_import(ctx: click.Context, path: str, fmt: str, tolerance_km: float, db: str | None) -> None:
    """Merge a larger dataset into the registry stored with the database (curated rows win).

    Example:

        truce facilities import global_power_plant_database.csv --format gppd
    """
    from truce.reference.registry import Registry
    from truce.ingest.facilities import import_file
    from truce.text import KeyMaker

    try:
        settings = _settings(ctx, db=db)
        reg = Registry.load(KeyMaker(None), settings.registry)
        with _open(settings) as database:
            res = import_file(database, reg, Path(path), fmt, tolerance_km=tolerance_km)
    except PipelineError as e:
        _fail(e)
    click.echo(f"read {res.read} row(s): {res.added} added, {res.merged} matched existing facilities, "
               f"{res.skipped} skipped (outside UA/RU or not energy)")


# --- export / stats ----------------------------------------------------------------------

@cli.command("export")
@db_option
@filter_options
@click.option("--format", "fmt", type=click.Choice(["csv", "geojson", "parquet", "acled-csv"]), required=True)
@click.option("--output", "-o", required=True, help="File to write ('-' for stdout, not for parquet).")
@click.pass_context
def export_cmd(ctx: click.Context, db: str | None, fmt: str, output: str, **kw: Any) -> None:
    """Export incidents: CSV, GeoJSON (RFC 7946), Parquet, or ACLED's 31-column CSV.

    CSV and Parquet carry location precision, the verdict under each agreement, the first
    evidence quote with its source URL (Parquet dates are typed). ACLED rows need a date and a
    place: incidents without them are left out, counted on stderr with the reason; `truce
    ingest` reads the file back.

    Example:

        truce export --format acled-csv -o truce-acled.csv --from 2025-03-18 --to 2025-04-16
    """
    from truce.outputs import export as ex
    from truce.outputs.shapes import incidents_json

    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            rows = incidents_json(database, _filters(settings, database, kw))
            agreements = _agreement_ids(settings, database)
    except PipelineError as e:
        _fail(e)
    left_out: dict[str, int] = {}
    if fmt == "parquet":
        if output == "-":
            _usage("parquet needs a file path (--output FILE.parquet)")
        n = ex.write_parquet(rows, output, agreements)
    else:
        out = _write(output)
        if fmt == "csv":
            n = ex.write_csv(rows, out, agreements)
        elif fmt == "geojson":
            _dump(out, ex.incidents_geojson(rows))
            n = len(rows)
        else:
            n, left_out = ex.write_acled(rows, out, int(time.time()))
        if out is not sys.stdout:
            out.close()
    click.echo(f"exported {n} incident(s) as {fmt}" + (f" to {output}" if output != "-" else ""), err=True)
    for reason, count in left_out.items():
        click.echo(f"left out {count} incident(s): {reason}", err=True)


@cli.command()
@db_option
@filter_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def stats(ctx: click.Context, db: str | None, fmt: str, **kw: Any) -> None:
    """Impact analytics: capacity hit, refining capacity hit in the last 30 days, strike rates
    before, during and after each agreement window (rate ratios with exact Poisson tests),
    findings by verdict.

    --from/--to bound the capacity figures (the rates compare periods around each window);
    the other filters select the incidents counted.

    Example:

        truce stats --agreement moratorium-2025-03 --country UA
    """
    from truce.outputs.stats import format_summary, summary

    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            filters = _filters(settings, database, kw)
            c = _context(settings, database)
            s = summary(database, c, filters=filters)
    except PipelineError as e:
        _fail(e)
    click.echo(json.dumps(s, ensure_ascii=False, indent=1) if fmt == "json" else format_summary(s))


@cli.command()
@db_option
@click.option("--date", "day", type=DayType(), default=None,
              help="The day: YYYY-MM-DD or 01.03.2025, 2025-03, yesterday (default: the latest incident's date).")
@click.option("--country", default="UA", show_default=True, type=click.Choice(["UA", "RU"], case_sensitive=False),
              help="Whose grid (assumptions ship for UA).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def outlook(ctx: click.Context, db: str | None, day: Any, country: str, fmt: str) -> None:
    """The grid outlook: available generation by type (registry capacity minus what is occupied, destroyed
    or damaged and not yet repaired), imports, against the month's evening-peak demand: the deficit in MW
    and the hours a day without power, low / central / high, with the incidents behind each loss and
    every assumption with its source (data/outlook/ua.yaml; TRUCE_OUTLOOK to replace it).

    Example:

        truce outlook --date 2025-01-15 --country UA --format json
    """
    from truce.outputs.outlook import for_database, format_table, load_assumptions

    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            c = _context(settings, database)
            o = for_database(database, c.registry, day, country.upper(), load_assumptions(country.upper(), settings.outlook))
    except PipelineError as e:
        _fail(e)
    if fmt == "json":
        _dump(sys.stdout, o.to_dict())
    else:
        click.echo(format_table(o))


# --- evaluation ------------------------------------------------------------------------

@cli.command("eval")
@click.argument("gold_dir", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--errors", is_flag=True, help="Also list every missed and spurious strike.")
@click.option("--no-fusion", is_flag=True, help="Skip the pairwise fusion score.")
@click.option("--extractor", type=click.Choice(["rules", "llm"]), default=None, help="Extractor backend (default rules).")
@click.option("--llm-url", default=None, help="OpenAI-compatible base URL for --extractor llm.")
@click.pass_context
def eval_cmd(ctx: click.Context, gold_dir: str, as_json: bool, errors: bool, no_fusion: bool,
             extractor: str | None, llm_url: str | None) -> None:
    """Score the extractor against gold annotations (EVAL-FORMAT.md section 3), per language and per field.

    Example:

        truce eval tests/gold --errors
    """
    from truce.scoring import format_result, iter_errors, load_gold, score

    try:
        settings = _settings(ctx, extractor=extractor, llm_url=llm_url)
        c = _context(settings)
        res = score(load_gold(gold_dir), c, fusion=not no_fusion)
    except PipelineError as e:
        _fail(e)
    if as_json:
        click.echo(json.dumps(res.as_dict(), ensure_ascii=False, indent=1))
    else:
        click.echo(format_result(res))
    if errors:
        for line in iter_errors(res):
            click.echo(line)


# --- report / settings -----------------------------------------------------------------

@cli.command()
@db_option
@filter_options
@click.option("--output", "-o", default="report.html", show_default=True, help="HTML file to write.")
@click.option("--pdf", is_flag=True, help="Also write a PDF (A4, page numbers, contents) next to it (needs WeasyPrint).")
@click.option("--lang", type=click.Choice(["en", "uk", "ru"]), default="en", show_default=True,
              help="Language of the report's headings, tables and labels.")
@click.pass_context
def report(ctx: click.Context, db: str | None, output: str, pdf: bool, lang: str, **kw: Any) -> None:
    """Write the situation report: status history, map, timeline, findings with evidence, coverage.

    The first --agreement is the report's focus; findings come violations and contested first.

    Example:

        truce report --agreement moratorium-2025-03 --from 2025-03-01 --to 2025-05-31 -o sitrep.html --pdf
    """
    from truce.outputs.report import write_pdf, write_report

    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            filters = _filters(settings, database, kw)
            c = _context(settings, database)
            path = write_report(database, c, Path(output), filters=filters, lang=lang)
        click.echo(f"wrote {path}")
        if pdf:
            click.echo(f"wrote {write_pdf(path, path.with_suffix('.pdf'))}")
    except PipelineError as e:
        _fail(e)


@cli.command()
def settings() -> None:
    """List every setting, its default and its environment variable.

    Example:

        truce settings
    """
    from truce.config import SETTINGS

    for s in SETTINGS:
        click.echo(f"{s.name:14} default {s.default!r:22} {s.help}")


# --- the web app -------------------------------------------------------------------------

@cli.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--open", "open_access", is_flag=True,
              help="Anyone may read everything (a laptop, a trusted network); without it the public sees published findings only.")
@click.option("--tiles", "tile_url", default=None, metavar="URL",
              help="An online tile layer (https://…/{z}/{x}/{y}.png, or TRUCE_TILE_URL); the map needs none.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes.")
@click.option("--get", "get_path", default=None, metavar="PATH",
              help="Answer one request (e.g. /api/v1/incidents?country=RU) on stdout and exit, without a server.")
@click.option("--token", default=None, help="Bearer token for --get (or TRUCE_TOKEN).")
@click.pass_context
def serve(ctx: click.Context, db: str | None, host: str, port: int, open_access: bool, tile_url: str | None,
          workers: int, get_path: str | None, token: str | None) -> None:
    """Serve the monitor in a browser: overview, agreements, incidents, facilities, reports, search,
    review, and the JSON API under /api/v1 (OpenAPI at /openapi.json).

    Example:

        truce serve --open        # then open http://127.0.0.1:8000/
    """
    import os

    try:
        settings = _settings(ctx, db=db)
        _open(settings, create=False).close()
    except PipelineError as e:
        _fail(e)
    if get_path is not None:
        from truce.web.cli import get_once

        status, body = get_once(settings, get_path, open_access=open_access, token=token or os.environ.get("TRUCE_TOKEN"))
        click.echo(body)
        if status >= 400:
            sys.exit(1)
        return
    from truce.web.cli import run_server

    run_server(settings, host=host, port=port, open_access=open_access, tile_url=tile_url, workers=workers)


@cli.group()
def users() -> None:
    """Accounts of the web app: viewer (published findings), analyst (everything, proposes reviews), lead (signs, publishes)."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "analyst", "lead"]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read a password (8+ characters) from stdin for signing in in a browser.")
@db_option
@click.pass_context
def users_add(ctx: click.Context, name: str, role: str, password_stdin: bool, db: str | None) -> None:
    """Add a user (or change a user's role) and print a new API token (shown once; stored as a hash).

    Example:

        truce users add olena --role analyst
    """
    from truce.web.auth import add_user

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            token = add_user(database, name, role, password)
    except PipelineError as e:
        _fail(e)
    click.echo(f"{name} ({role}); token (shown once): {token}")


@users.command("remove")
@click.argument("name")
@db_option
@click.pass_context
def users_remove(ctx: click.Context, name: str, db: str | None) -> None:
    """Remove a user and their tokens (their ledger entries stay).

    Example:

        truce users remove olena
    """
    from truce.web.auth import remove_user

    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            remove_user(database, name)
    except PipelineError as e:
        _fail(e)
    click.echo(f"removed {name}")


@users.command("token")
@click.argument("name")
@db_option
@click.pass_context
def users_token(ctx: click.Context, name: str, db: str | None) -> None:
    """Print a new API token for a user; the previous ones stop working.

    Example:

        truce users token olena
    """
    from truce.web.auth import renew_token

    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            token = renew_token(database, name)
    except PipelineError as e:
        _fail(e)
    click.echo(token)


@users.command("list")
@db_option
@click.pass_context
def users_list(ctx: click.Context, db: str | None) -> None:
    """List users and their roles.

    Example:

        truce users list
    """
    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            rows = database.users()
    except PipelineError as e:
        _fail(e)
    _table(sys.stdout, ["name", "role", "password", "since"],
           [[u["name"], u["role"], "yes" if u["has_password"] else "no", u["created_at"]] for u in rows], f"{len(rows)} user(s)")


def main() -> None:
    cli(prog_name="truce")


if __name__ == "__main__":  # pragma: no cover
    main()
