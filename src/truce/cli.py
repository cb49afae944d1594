"""The ``truce`` command: a thin layer over the library.

Each command opens a Database (where it needs one), calls one library
function and turns library errors into a one-line message and exit status 1.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NoReturn

import click

from truce import __version__
from truce.config import Settings
from truce.errors import PipelineError

if TYPE_CHECKING:
    from truce.context import Context
    from truce.db import Database
    from truce.pipeline import RunSummary

DB_HELP = "Database: a SQLite path or a URL (sqlite:///x.db, postgresql://…). Default ./truce.db or TRUCE_DB."


def db_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--db", "db", metavar="PATH|URL", default=None, help=DB_HELP)(f)


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    return Settings.load(ctx.obj.get("config") if ctx.obj else None, **overrides)


def _context(settings: Settings, database: Database | None = None) -> Context:
    from truce.context import load_context

    return load_context(settings, database)


def _open(settings: Settings) -> Database:
    from truce.db import Database

    return Database(settings.db)


class Progress:
    """Progress on stderr: a rewriting line on a terminal, a line per 10% otherwise."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._last: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled or total < 20:
            return
        pct = int(100 * done / max(total, 1))
        if self.tty:
            click.echo(f"\r{stage}: {done}/{total} ({pct}%)", err=True, nl=done >= total)
        elif pct // 10 != self._last.get(stage, -1) // 10 or done == total:
            click.echo(f"{stage}: {done}/{total} ({pct}%)", err=True)
        self._last[stage] = pct


def _fail(e: Exception) -> NoReturn:
    raise click.ClickException(str(e)) from e


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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

    The demo database (default ./truce-demo.db) is recreated on each run.

    Example:

        truce demo --db demo.db --out out/
    """
    from truce.demo import run_demo

    path = Path(db or "truce-demo.db")
    if "://" not in str(path):
        for suffix in ("", "-wal", "-shm", "-journal"):
            p = Path(str(path) + suffix)
            if p.exists():
                p.unlink()
    t0 = time.perf_counter()
    try:
        settings = _settings(ctx, db=str(path))
        c = _context(settings)
        with _open(settings) as database:
            summary, report = run_demo(database, c, Path(out_dir), progress=Progress())
    except PipelineError as e:
        _fail(e)
    secs = time.perf_counter() - t0
    _print_summary(summary)
    click.echo(f"report:    {report}")
    click.echo(f"database:  {path}   ({secs:.1f} s)")


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
    click.echo(f"ledger:    {s.ledger_entries} entries ({s.ledger_appended} appended)")
    for e in s.errors:
        click.echo(f"warning: {e}", err=True)


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@db_option
@click.option("--sources", "sources_file", multiple=True, type=click.Path(dir_okay=False),
              help="Extra sources YAML (outlets and their affiliation); repeatable.")
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[str, ...], db: str | None, sources_file: tuple[str, ...]) -> None:
    """Store reports from files or directories: .jsonl, .txt, .html, .xml/.rss feeds, ACLED .csv; '-' reads JSONL from stdin.

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
    click.echo(f"ingested {res.new} new report(s), {res.seen} already stored, from {res.files} file(s)"
               + (f"; {len(res.errors)} error(s)" if res.errors else ""))
    if res.errors:
        sys.exit(1)


@cli.command()
@db_option
@click.option("--extractor", type=click.Choice(["rules", "llm"]), default=None, help="Extractor backend (default rules).")
@click.option("--llm-url", default=None, help="OpenAI-compatible base URL for --extractor llm.")
@click.option("--author", default=None, help="Name recorded on ledger entries (default TRUCE_AUTHOR or the OS user).")
@click.pass_context
def run(ctx: click.Context, db: str | None, extractor: str | None, llm_url: str | None, author: str | None) -> None:
    """Run every stage over what is stored: extract new reports, fuse, grade, evaluate, record in the ledger.

    Incremental: reports already read by the same extractor are not read again;
    the ledger gets entries only for findings that are new or changed.

    Example:

        truce run --db truce.db
    """
    from truce.pipeline import run_pipeline

    try:
        settings = _settings(ctx, db=db, extractor=extractor, llm_url=llm_url, author=author)
        with _open(settings) as database:
            c = _context(settings, database)
            summary = run_pipeline(database, c, progress=Progress())
    except PipelineError as e:
        _fail(e)
    _print_summary(summary)


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
    from truce.extract import finalize
    from truce.ingest import read_reports_jsonl

    try:
        settings = _settings(ctx, extractor=extractor, llm_url=llm_url)
        c = _context(settings)
        ex = c.extractor
    except PipelineError as e:
        _fail(e)
    errors: list[str] = []
    n_reports = n_claims = 0
    try:
        src = sys.stdin if input_path == "-" else open(input_path, encoding="utf-8")
    except OSError as e:
        raise click.ClickException(f"{input_path}: cannot read file: {e.strerror}") from e
    out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")
    progress = Progress()
    try:
        for rep in read_reports_jsonl(src, "<stdin>" if input_path == "-" else input_path, c.sources, errors):
            try:
                claims = finalize(ex.extract(rep), rep, c.services)
            except PipelineError as e:
                errors.append(str(e))
                continue
            for cl in claims:
                out.write(json.dumps(cl.to_public(rep.external_id), ensure_ascii=False) + "\n")
            n_reports += 1
            n_claims += len(claims)
            if n_reports % 100 == 0:
                progress("extract", n_reports, n_reports)
    except UnicodeDecodeError as e:
        errors.append(f"{input_path}: not UTF-8 text (byte {e.start})")
    finally:
        if out is not sys.stdout:
            out.close()
        if src is not sys.stdin:
            src.close()
    for msg in errors:
        click.echo(f"error: {msg}", err=True)
    click.echo(f"extracted {n_claims} claim(s) from {n_reports} report(s)"
               + (f"; skipped {len(errors)} line(s)" if errors else ""), err=True)
    if errors:
        sys.exit(1)


# --- incidents / findings --------------------------------------------------------------

def _write(output: str | None) -> Any:
    return open(output, "w", encoding="utf-8", newline="") if output and output != "-" else sys.stdout


def _dump(out: Any, obj: Any) -> None:
    json.dump(obj, out, ensure_ascii=False, indent=1)
    out.write("\n")


@cli.command()
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "geojson"]), default="table", show_default=True)
@click.option("--output", "-o", default=None, help="Write to a file instead of stdout.")
@click.pass_context
def incidents(ctx: click.Context, db: str | None, fmt: str, output: str | None) -> None:
    """List incidents (claims fused into physical events) with their grades.

    json is EVAL-FORMAT.md section 4: each incident names the reports it rests on
    by the id they were ingested with.

    Example:

        truce incidents --format json > incidents.json
    """
    from truce.outputs.shapes import incidents_json

    try:
        settings = _settings(ctx, db=db)
        with _open(settings) as database:
            rows = incidents_json(database)
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
        w = csv.DictWriter(out, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({**{k: r.get(k) for k in cols}, "n_reports": len(r["reports"]),
                        "report_ids": "|".join(x["report_id"] for x in r["reports"])})
    else:
        _table(out, ["date", "id", "target", "type", "attacker", "grade", "reports"],
               [[r["date"] or "-", r["id"], r["facility_name"] or r["region"] or r["country"] or "-",
                 r["facility_type"] or "-", (r["attacker"] or "-") + ("*" if r["attacker_basis"] == "inferred" else ""),
                 r["grade"], str(len(r["reports"]))] for r in rows])
        out.write(f"{len(rows)} incident(s); * attacker inferred, not stated\n")
    if out is not sys.stdout:
        out.close()


def _table(out: Any, header: list[str], rows: list[list[str]]) -> None:
    widths = [min(60, max([len(h)] + [len(r[i]) for r in rows])) for i, h in enumerate(header)]
    out.write("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip() + "\n")
    for r in rows:
        out.write("  ".join((c if len(c) <= w else c[: w - 1] + "…").ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")


@cli.command()
@db_option
@click.option("--agreement", default=None, help="Only findings under this agreement id.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--output", "-o", default=None, help="Write to a file instead of stdout.")
@click.pass_context
def findings(ctx: click.Context, db: str | None, agreement: str | None, fmt: str, output: str | None) -> None:
    """Findings: each incident evaluated against each agreement, with a clause-by-clause trace.

    Example:

        truce findings --agreement moratorium-2025-03 --format json
    """
    from truce.outputs.shapes import findings_json

    try:
        settings = _settings(ctx, db=db)
        with _open(settings) as database:
            rows = findings_json(database, agreement)
            incs = {i.id: i for i in database.incidents()}
    except PipelineError as e:
        _fail(e)
    out = _write(output)
    if fmt == "json":
        _dump(out, rows)
    else:
        _table(out, ["date", "incident", "agreement", "verdict", "grade", "hinges on / review"],
               [[incs[r["incident_id"]].date or "-", r["incident_id"], r["agreement_id"], r["verdict"],
                 incs[r["incident_id"]].grade,
                 (r["hinges_on"] or "") + (f" [review: {r['review']['verdict']} by {r['review']['author']}]" if r["review"] else "")]
                for r in rows if r["incident_id"] in incs])
        out.write(f"{len(rows)} finding(s)\n")
    if out is not sys.stdout:
        out.close()


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

    try:
        settings = _settings(ctx, db=db, author=author)
        with _open(settings) as database:
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
            with open(file_, encoding="utf-8") as fh:
                v = lg.verify_export(fh, public_key)
        else:
            settings = _settings(ctx, db=db)
            with _open(settings) as database:
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
        with _open(settings) as database:
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

    if Path(out).exists():
        raise click.ClickException(f"{out}: exists; refusing to overwrite a key")
    click.echo(lg.generate_key(Path(out)))


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
    from truce.reference.registry import Registry
    from truce.ingest.facilities import apply_links, stored_facilities
    from truce.text import KeyMaker

    settings = _settings(ctx, db=db)
    if not (db or Path("truce.db").exists()):
        return Registry.load(KeyMaker(None), settings.registry)
    with _open(settings) as database:
        reg = Registry.load(KeyMaker(None), settings.registry, extra=stored_facilities(database))
        return apply_links(reg, database)


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
        close = sorted(i for i in reg.facilities if facility_id.split("-")[1:2] and facility_id.split("-")[1] in i)[:5]
        raise click.ClickException(f"no facility {facility_id!r}" + (f"; similar: {', '.join(close)}" if close else ""))
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
@click.option("--format", "fmt", type=click.Choice(["csv", "geojson", "parquet", "acled-csv"]), required=True)
@click.option("--output", "-o", required=True, help="File to write ('-' for stdout, not for parquet).")
@click.option("--from", "date_from", default=None, help="First day (YYYY-MM-DD).")
@click.option("--to", "date_to", default=None, help="Last day (YYYY-MM-DD).")
@click.pass_context
def export_cmd(ctx: click.Context, db: str | None, fmt: str, output: str, date_from: str | None, date_to: str | None) -> None:
    """Export incidents: CSV, GeoJSON (RFC 7946), Parquet, or ACLED's 31-column CSV.

    Example:

        truce export --format acled-csv -o truce-acled.csv --from 2025-03-18 --to 2025-04-16
    """
    from truce.outputs import export as ex
    from truce.outputs.shapes import incidents_json

    try:
        settings = _settings(ctx, db=db)
        with _open(settings) as database:
            rows = ex.in_period(incidents_json(database), date_from, date_to)
    except PipelineError as e:
        _fail(e)
    if fmt == "parquet":
        if output == "-":
            raise click.ClickException("parquet needs a file path (--output FILE.parquet)")
        n = ex.write_parquet(rows, output)
    else:
        out = _write(output)
        if fmt == "csv":
            n = ex.write_csv(rows, out)
        elif fmt == "geojson":
            _dump(out, ex.incidents_geojson(rows))
            n = len(rows)
        else:
            n = ex.write_acled(rows, out, int(time.time()))
        if out is not sys.stdout:
            out.close()
    click.echo(f"exported {n} incident(s) as {fmt}" + (f" to {output}" if output != "-" else ""), err=True)


@cli.command()
@db_option
@click.option("--agreement", default=None, help="Only this agreement's window and findings.")
@click.option("--from", "date_from", default=None, help="First day (YYYY-MM-DD) for capacity figures.")
@click.option("--to", "date_to", default=None, help="Last day (YYYY-MM-DD) for capacity figures.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def stats(ctx: click.Context, db: str | None, agreement: str | None, date_from: str | None, date_to: str | None,
          fmt: str) -> None:
    """Impact analytics: capacity hit, refining capacity hit in the last 30 days, strike rates
    before, during and after each agreement window (rate ratios with exact Poisson tests),
    findings by verdict.

    Example:

        truce stats --agreement moratorium-2025-03
    """
    from truce.outputs.stats import format_summary, summary

    try:
        settings = _settings(ctx, db=db)
        with _open(settings) as database:
            c = _context(settings, database)
            s = summary(database, c, agreement_id=agreement, date_from=date_from, date_to=date_to)
    except PipelineError as e:
        _fail(e)
    click.echo(json.dumps(s, ensure_ascii=False, indent=1) if fmt == "json" else format_summary(s))


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
@click.option("--agreement", default=None, help="Focus on one agreement id.")
@click.option("--from", "date_from", default=None, help="First day (YYYY-MM-DD).")
@click.option("--to", "date_to", default=None, help="Last day (YYYY-MM-DD).")
@click.option("--output", "-o", default="report.html", show_default=True, help="HTML file to write.")
@click.option("--pdf", is_flag=True, help="Also write a PDF next to it (needs WeasyPrint).")
@click.pass_context
def report(ctx: click.Context, db: str | None, agreement: str | None, date_from: str | None, date_to: str | None,
           output: str, pdf: bool) -> None:
    """Write the situation report: status history, map, timeline, findings with evidence, coverage.

    Example:

        truce report --agreement moratorium-2025-03 --from 2025-03-01 --to 2025-05-31 -o sitrep.html
    """
    from truce.outputs.report import write_pdf, write_report

    try:
        settings = _settings(ctx, db=db)
        c = _context(settings)
        with _open(settings) as database:
            path = write_report(database, c, Path(output), agreement_id=agreement, date_from=date_from, date_to=date_to)
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


def main() -> None:
    cli(prog_name="truce")


if __name__ == "__main__":  # pragma: no cover
    main()
