"""The web app and its accounts: settings, serve, users."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from truce.errors import PipelineError

if TYPE_CHECKING:
    pass

from truce.cli.common import _fail, _open, _settings, _table, cli, db_option


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
