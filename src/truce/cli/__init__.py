"""The ``truce`` command: a thin layer over the library, one module per group of
commands (``stages``, ``backfill``, ``outputs``, ``ledger``, ``facilities``, ``server``, ``watch``)
registered on the group defined in ``common``."""

from __future__ import annotations

from truce.cli import backfill, facilities, ledger, outputs, server, stages, watch  # noqa: F401  (register the commands)
from truce.cli.common import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli(prog_name="truce")
