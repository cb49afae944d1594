"""Commands that follow sources as they publish: watch, health."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from truce.cli import common
from truce.cli.common import _fail, _open, _settings, _workers, cli, db_option, workers_option
from truce.errors import PipelineError


@cli.command()
@click.argument("folders", nargs=-1, type=click.Path(file_okay=False, exists=True))
@db_option
@click.option("--feeds", "feeds_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="YAML file listing the RSS/Atom feeds to poll (http(s) only; none unless given).")
@click.option("--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Seconds between scans of the folders (each feed has its own interval).")
@click.option("--settle", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="A file last modified this many seconds ago is read at once; a newer one once it stops changing.")
@click.option("--once", is_flag=True, help="One round (folders, feeds, stages), then exit.")
@click.option("--health-file", type=click.Path(dir_okay=False), default=None,
              help="Also write the watcher's health (JSON) to this file after every round.")
@click.option("--author", default=None, help="Name recorded on ledger entries (default TRUCE_AUTHOR or the OS user).")
@click.option("--provisional-over", type=click.IntRange(min=0), default=None,
              help="A block of more claims than this (default 5000) takes a new report's claims provisionally: "
                   "fused with the incidents of their days only, re-decided exactly once the watcher is quiet.")
@click.option("--exact-after", type=click.FloatRange(min=0), default=None,
              help="Quiet seconds (no new report) after which provisional blocks are re-decided exactly (default 30).")
@click.option("--exact", is_flag=True, help="Re-decide every block exactly at once (slower on large databases).")
@workers_option
@click.pass_context
def watch(ctx: click.Context, folders: tuple[str, ...], db: str | None, feeds_file: str | None, interval: float,
          settle: float, once: bool, health_file: str | None, author: str | None, provisional_over: int | None,
          exact_after: float | None, exact: bool, workers: int | None) -> None:
    """Follow folders and feeds: ingest what is new, run the stages, log one JSON line per report.

    Each line on stdout is one report run through the stages: its claims, the incidents
    they joined, the findings of those incidents, and timings (ingest, extract, the run's
    stages, latency from the file's arrival). Other events (files, feed polls, errors)
    are JSON lines on stderr. The database remembers what was ingested (files by path,
    size, time and SHA-256; feeds by ETag / Last-Modified), so a restart resumes, and
    several watchers on one database store each file once. SIGTERM or Ctrl-C stops
    between files and extraction batches; `truce health` shows how watchers are doing.

    On a large database a new report's claims are fused with the stored incidents of
    their block dated within three days of them (provisional: the date clustering of a
    busy region can chain further), and the block is re-decided exactly once no report
    has arrived for --exact-after seconds; `truce run` always decides exactly.
    The feeds file and the log line are described in docs/data-formats.md (section 8).

    Example:

        truce watch incoming/ --feeds feeds.yaml --db postgresql://monitor@db/truce
    """
    from truce.ingest.feeds import load_feeds
    from truce.parallel import ExtractionPool
    from truce.watch import WatchOptions, Watcher, json_line

    if not folders and not feeds_file:
        common._usage("nothing to watch: name a folder, or --feeds FILE")
    try:
        feeds = tuple(load_feeds(feeds_file)) if feeds_file else ()
        settings = _settings(ctx, db=db, author=author)
        with _open(settings) as database:
            c = common._context(settings, database)
            opts = WatchOptions(folders=tuple(Path(f) for f in folders), feeds=feeds, interval=interval,
                                settle=settle, once=once, health_file=Path(health_file) if health_file else None)
            if exact:
                opts.provisional_over = None
            elif provisional_over is not None:
                opts.provisional_over = provisional_over
            if exact_after is not None:
                opts.exact_after = exact_after
            with ExtractionPool(c, _workers(workers)) as pool:
                w = Watcher(database, c, opts, pool=pool, author=settings.who, log=json_line(sys.stdout),
                            events=json_line(sys.stderr))
                w.run()
    except PipelineError as e:
        _fail(e)
    except KeyboardInterrupt:
        click.echo('{"event": "stop", "error": "stopped at once (second signal)"}', err=True)
        sys.exit(130)


@cli.command()
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--stale-after", type=click.FloatRange(min=0), default=None,
              help="Seconds without a heartbeat after which a watcher counts as down (default 5 intervals, at least 60).")
@click.pass_context
def health(ctx: click.Context, db: str | None, fmt: str, stale_after: float | None) -> None:
    """How the watchers of a database are doing: last poll, backlog, errors, feeds' state.

    Exit status 0 when at least one watcher is running and polled recently, 1 otherwise
    (for a container's health check).

    Example:

        truce health --db truce.db --format json
    """
    import json

    from truce.watch import health_report

    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            ok, rep = health_report(database, stale_after=stale_after)
    except PipelineError as e:
        _fail(e)
    if fmt == "json":
        click.echo(json.dumps(rep, ensure_ascii=False, indent=1))
    else:
        if not rep["watchers"]:
            click.echo("no watcher has run on this database")
        for w in rep["watchers"]:
            state = "alive" if w["alive"] else w["state"] if w["state"] != "running" else "not responding"
            click.echo(f"{w['watcher']}: {state}; last poll {w['last_poll'] or 'never'} "
                       f"({w['seconds_since_beat']:.0f} s ago); backlog {w['backlog']}; "
                       f"{w.get('unsettled', 0)} block(s) provisional; {w['reports']} report(s) "
                       f"logged, {w['files']} file(s); {w['error_count']} error(s)")
            for err in w["errors"][-3:]:
                click.echo(f"  error at {err['at']}: {err['error']}")
        for f in rep["feeds"]:
            click.echo(f"feed {f['url']}: {f['last_status'] or 'not polled yet'} at {f['last_poll'] or '-'}; "
                       f"next {f['next_poll'] or '-'}; {f['failures']} failure(s) in a row"
                       + (f"; {f['last_error']}" if f["last_error"] else ""))
    sys.exit(0 if ok else 1)
