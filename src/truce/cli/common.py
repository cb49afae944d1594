"""What every command shares: the ``truce`` group, one-line usage errors, the
database and filter options, settings and context loading, progress, tables and
output files. Each command opens a Database (where it needs one), calls one
library function and turns library errors into a one-line message and exit
status 1."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import IO, TYPE_CHECKING, Any, Callable, NoReturn

import click

from truce import __version__
from truce.config import Settings
from truce.records import FACILITY_TYPES, GRADES, VERDICTS

if TYPE_CHECKING:
    from truce.context import Context
    from truce.db import Database
    from truce.outputs.query import Filters

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


def workers_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--workers N: extraction worker processes (default: the cores; 1 reads in this process)."""
    return click.option("--workers", "workers", type=click.IntRange(min=1), default=None, metavar="N",
                        help="Extraction worker processes (default: the number of cores; 1: in this process). "
                             "Fewer than 1,000 reports are read in this process.")(f)


def _workers(workers: int | None) -> int:
    from truce.parallel import default_workers

    return workers if workers is not None else default_workers()


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
        ids |= set(database.agreement_ids())
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
