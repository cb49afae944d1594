"""``truce backfill``: archives extracted on a Dask cluster, then every stage once (docs/backfill.md)."""

from __future__ import annotations

import sys
import time

import click

from truce.cli import common
from truce.cli.common import Progress, _fail, _open, _settings, cli, db_option
from truce.errors import PipelineError


@cli.command()
@click.argument("archives", nargs=-1, required=True)
@click.option("--engine", type=click.Choice(["dask"]), default="dask", show_default=True,
              help="Distributed engine that extracts the archives' partitions.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="A running Dask scheduler (tcp://host:8786); default: a LocalCluster on this machine.")
@click.option("--workers", type=click.IntRange(1, 512), default=None,
              help="Worker processes of the LocalCluster (default: the cores); not with --scheduler.")
@click.option("--partition-size", type=click.IntRange(1, 1_000_000), default=250, show_default=True,
              help="Lines (JSONL), rows (ACLED CSV) or HTML pages (WARC) per partition.")
@click.option("--retries", type=click.IntRange(0, 10), default=2, show_default=True,
              help="Times Dask retries a failed partition before it is reported.")
@db_option
@click.option("--author", default=None, help="Name recorded on ledger entries (default TRUCE_AUTHOR or the OS user).")
@click.option("--wait", is_flag=True, help="If another `truce run` holds the database, wait for it instead of exiting.")
@click.option("--no-stages", is_flag=True, help="Store reports and claims only; a later `truce run` fuses and evaluates them.")
@click.pass_context
def backfill(ctx: click.Context, archives: tuple[str, ...], engine: str, scheduler: str | None, workers: int | None,
             partition_size: int, retries: int, db: str | None, author: str | None, wait: bool, no_stages: bool) -> None:
    """Backfill archives on a Dask cluster: JSONL reports, WARC web archives, ACLED CSV exports.

    Each archive is split into partitions at record boundaries; the workers read their
    partitions from the archive paths themselves and extract them (the same extractor as
    `truce run`); then fusion, grading, evaluation and the ledger run once here. With
    PostgreSQL the workers write reports and claims to the database; with SQLite they return
    them and this process writes them. Reruns store nothing twice and do not extract again
    what the extractor has read. Other files (HTML pages, text, feeds, FIRMS) are read here
    as `truce ingest` reads them. Bad lines are named and skipped, a partition that fails
    after its retries is named (exit status 1). On several machines: docs/backfill.md.

    Example:

        truce backfill archive/2024-*.jsonl crawl.warc.gz acled.csv --db postgresql://truce@db/truce
    """
    from truce.backfill import backfill as run_backfill

    if scheduler and workers:
        common._usage("--workers sizes a LocalCluster; a cluster at --scheduler has the workers it has")
    t0 = time.perf_counter()
    progress = Progress()
    try:
        settings = _settings(ctx, db=db, author=author)
        with _open(settings) as database:
            s = run_backfill(database, lambda: common._context(settings, database), archives, scheduler=scheduler,
                             workers=workers, partition_size=partition_size, retries=retries, progress=progress,
                             wait=float("inf") if wait else None, stages=not no_stages, settings=settings)
    except PipelineError as e:
        _fail(e)
    finally:
        progress.close()
    for msg in s.errors:
        click.echo(f"error: {msg}", err=True)
    for msg in s.failed:
        click.echo(f"error: partition {msg}", err=True)
    where = f"{s.workers} Dask worker(s)" + (f" at {scheduler}" if scheduler else " (LocalCluster)")
    click.echo(f"backfill:  {s.reports} report(s) read from {s.files} file(s) in {s.partitions} partition(s) on {where}: "
               f"{s.new} new, {s.seen} already stored; {s.extracted} extracted ({s.claims} claims), {s.already} read "
               f"before; written by the {s.write}" + (f"; {len(s.failed)} partition(s) failed" if s.failed else ""))
    if s.run is not None:
        from truce.cli.stages import _print_summary

        _print_summary(s.run)
    for msg in s.skipped:
        click.echo(f"error: {msg}", err=True)
    secs = s.seconds
    click.echo(f"time:      {time.perf_counter() - t0:.1f} s (extract on the cluster {secs.get('extract', 0):.1f} s, "
               f"of which starting the workers {secs.get('cluster', 0) + secs.get('context', 0):.1f} s; "
               f"stages {secs.get('stages', 0):.1f} s); worker CPU {s.worker_cpu:.1f} s")
    if not s.ok:
        sys.exit(1)
