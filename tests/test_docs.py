"""The CLI reference in docs/cli.md is generated from --help and must be current.

Regenerate with: TRUCE_UPDATE_DOCS=1 python -m pytest tests/test_docs.py
"""

import os
from pathlib import Path

from click.testing import CliRunner

from truce.cli import cli

ROOT = Path(__file__).parents[1]


def _commands(group, prefix=()):
    yield prefix
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,)


def render() -> str:
    out = ["# Command-line reference", "", "Generated from `truce --help`; do not edit by hand.", ""]
    for path in _commands(cli):
        r = CliRunner().invoke(cli, [*path, "--help"], terminal_width=100, prog_name="truce")
        out += [f"## truce {' '.join(path)}".rstrip(), "", "```", r.output.rstrip(), "```", ""]
    return "\n".join(out)


def test_cli_reference_is_current():
    doc = ROOT / "docs" / "cli.md"
    text = render()
    if os.environ.get("TRUCE_UPDATE_DOCS"):
        doc.write_text(text, encoding="utf-8")
    assert doc.read_text(encoding="utf-8") == text, "docs/cli.md is stale: TRUCE_UPDATE_DOCS=1 python -m pytest tests/test_docs.py"


def test_readme_mentions_every_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in _commands(cli):
        if path:
            assert f"truce {' '.join(path)}" in readme or f"{path[-1]} " in readme, path


def test_every_lexicon_list_is_documented():
    from truce.extract.lexicon import _REQUIRED

    doc = (ROOT / "docs" / "lexicons.md").read_text(encoding="utf-8")
    missing = [k for k in _REQUIRED if f"`{k}`" not in doc]
    assert not missing, f"docs/lexicons.md does not describe: {missing}"
