"""The analyst's review and the ledger: review, ledger verify/export/keygen."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from truce.errors import PipelineError

if TYPE_CHECKING:
    pass

from truce.cli.common import _agreement_ids, _fail, _open, _settings, _write, cli, db_option


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
                try:  # lets `truce report` check only the entries added since; a read-only database keeps none
                    lg.record_verified(database, v)
                except PipelineError:
                    pass
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
