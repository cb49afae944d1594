"""The facility registry: facilities export/show/import."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from truce.errors import PipelineError

if TYPE_CHECKING:
    pass

from truce.cli.common import _dump, _fail, _open, _registry_of, _settings, _usage, _write, cli, db_option


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
