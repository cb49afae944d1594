"""Commands that run the pipeline's stages: demo, ingest, run, extract, eval."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from truce.errors import PipelineError

if TYPE_CHECKING:
    from truce.db import Database
    from truce.pipeline import RunSummary

from truce.cli import common
from truce.cli.common import Progress, _fail, _open, _settings, _workers, _write, cli, db_option, workers_option


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
        c = common._context(settings)
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
    click.echo(f"claims:    {s.claims}" + (f" ({kinds})" if kinds else ""))
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
    """Store reports from files or directories: .jsonl, .txt, .html, .xml/.rss feeds, ACLED .csv, WARC; '-' reads JSONL from stdin.

    NASA FIRMS active-fire files (VIIRS or MODIS, CSV or JSON, recognised by their columns) are
    stored as satellite fire detections; `truce run` weighs them as physical evidence.

    The same content from the same source is stored once. Reports are stored as they are
    read, 1,000 per transaction, so an input of any size is read in bounded memory. Bad lines
    are named and skipped (exit status 1); everything else is stored.

    Example:

        truce ingest reports.jsonl articles/ --db truce.db
    """
    from truce.ingest import ingest_paths

    try:
        settings = _settings(ctx, db=db, sources=sources_file or None)
        c = common._context(settings)
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
@workers_option
@click.pass_context
def run(ctx: click.Context, db: str | None, extractor: str | None, llm_url: str | None, author: str | None,
        wait: bool, workers: int | None) -> None:
    """Run every stage over what is stored: extract new reports, fuse, grade, evaluate, record in the ledger.

    Incremental: reports already read by the same extractor are not read again;
    fusion re-decides only the blocks (a region, or a country) that new or changed
    claims touch, and evaluates only their incidents (all of them when the terms,
    registry or gazetteer changed); the ledger gets entries only for findings that
    are new or changed. A run with nothing new reads no claim. One run
    per database at a time: a second one exits naming the holder (or waits,
    with --wait). A report the extractor cannot read (too long, over its time
    budget) is recorded as skipped with its reason; exit status 1 names it.
    New reports are read by --workers processes (the same claims as one).

    Example:

        truce run --db truce.db --workers 2
    """
    from truce.pipeline import run_pipeline

    progress = Progress()
    try:
        settings = _settings(ctx, db=db, extractor=extractor, llm_url=llm_url, author=author)
        with _open(settings, create=False) as database:
            c = common._context(settings, database)
            summary = run_pipeline(database, c, progress=progress, wait=float("inf") if wait else None,
                                   workers=_workers(workers))
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
@workers_option
@click.pass_context
def extract(ctx: click.Context, input_path: str, output: str, extractor: str | None, llm_url: str | None,
            workers: int | None) -> None:
    """Reports JSONL in, claims JSONL out (EVAL-FORMAT.md), no database. '-' is stdin/stdout.

    Malformed lines are reported on stderr with their line number and skipped;
    the exit status is 1 if any line was skipped. With --workers N the reports are
    read by N processes, in batches; the output is the same, in the same order.

    Example:

        truce extract reports.jsonl --output claims.jsonl --workers 2
    """
    from truce.ingest import Limits, read_reports_jsonl
    from truce.parallel import ExtractionPool

    from truce.reference.sources import SourceBook

    try:
        settings = _settings(ctx, extractor=extractor, llm_url=llm_url)
        sources = SourceBook.load(settings.sources)
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
    # the reference data is loaded here only when this process reads (workers load their own)
    pool = ExtractionPool(lambda: common._context(settings), _workers(workers), settings=settings)
    try:
        reports = ((rep, None) for rep in read_reports_jsonl(src, name, sources, errors, Limits.of(settings)))
        for x in pool.map(reports):
            rep = x.report
            if x.error is not None:
                errors.append(x.error)
                continue
            if x.skipped:
                errors.append(f"{name}: report {rep.external_id!r} ({rep.origin}): skipped: {x.skipped}")
                continue
            for cl in x.claims:
                out.write(json.dumps(cl.to_public(rep.external_id), ensure_ascii=False) + "\n")
            n_reports += 1
            n_claims += len(x.claims)
            if n_reports % 100 == 0:
                progress("extract", n_reports, n_reports)
    except PipelineError as e:
        _fail(e)
    finally:
        pool.close()
        progress.close()
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
        c = common._context(settings)
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
