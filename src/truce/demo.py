"""The demo: the bundled reports through every stage, and the situation report."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from truce.context import Context
from truce.db import Database
from truce.ingest import ingest_paths
from truce.outputs.report import write_report
from truce.pipeline import Progress, RunSummary, run_pipeline


def demo_paths() -> list[Path]:
    return [Path(str(resources.files("truce").joinpath("data", "demo")))]


def run_demo(db: Database, ctx: Context, out_dir: Path, *, progress: Progress | None = None) -> tuple[RunSummary, Path]:
    """Ingest the bundled demo reports, run every stage, write ``out_dir/report.html``."""
    res = ingest_paths(db, demo_paths(), ctx)
    summary = run_pipeline(db, ctx, progress=progress, author="truce-demo")
    summary.errors = res.errors + summary.errors
    out_dir.mkdir(parents=True, exist_ok=True)
    path = write_report(db, ctx, out_dir / "report.html")
    return summary, path
