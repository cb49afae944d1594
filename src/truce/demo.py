"""The demo: the bundled reports through every stage, and the situation report."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from truce.config import database_url
from truce.context import Context
from truce.db import Database, sqlite_path
from truce.errors import StorageError
from truce.ingest import ingest_paths
from truce.outputs.report import write_report
from truce.pipeline import Progress, RunSummary, run_pipeline

DEMO_MARK = ("created_by", "truce demo")  # a meta row: this database holds the demo and may be rebuilt


def demo_paths() -> list[Path]:
    return [Path(str(resources.files("truce").joinpath("data", "demo")))]


def open_demo_database(url: str) -> Database:
    """The database the demo builds in, empty and marked as the demo's.

    A new database is created; a previous demo database (or an empty Truce database) starts
    afresh: a SQLite file is deleted, a server database (PostgreSQL) has every Truce table
    emptied. Anything else is refused, so the demo never overwrites an analyst's data."""
    target = database_url(url)
    path = sqlite_path(target)
    refuse = "the demo will not overwrite it: pass --db to build the demo elsewhere (e.g. --db truce-demo.db)"
    if path is not None and os.path.exists(path):
        try:
            old = Database(url, create=False)
        except StorageError as e:
            raise StorageError(f"{path} exists and is not a Truce database; {refuse}") from e
        with old:
            _check_demo(old, path, refuse)
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
        db = Database(url)
    else:
        db = Database(url)
        if path is None:
            try:
                _check_demo(db, db.url, refuse)
            except StorageError:
                db.close()
                raise
            db.reset()
    db.set_meta(*DEMO_MARK)
    return db


def _check_demo(db: Database, where: str, refuse: str) -> None:
    if db.get_meta(DEMO_MARK[0]) == DEMO_MARK[1]:
        return
    n = db.report_count()
    if n or db.ledger_count():
        raise StorageError(f"{where} holds {n} report(s) that are not the demo's; {refuse}")


def run_demo(db: Database, ctx: Context, out_dir: Path, *, progress: Progress | None = None) -> tuple[RunSummary, Path]:
    """Ingest the bundled demo reports, run every stage, write ``out_dir/report.html``."""
    res = ingest_paths(db, demo_paths(), ctx)
    summary = run_pipeline(db, ctx, progress=progress, author="truce-demo")
    summary.errors = res.errors + summary.errors
    out_dir.mkdir(parents=True, exist_ok=True)
    path = write_report(db, ctx, out_dir / "report.html")
    return summary, path
