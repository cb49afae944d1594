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


def test_readme_names_every_command_in_full():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [" ".join(path) for path in _commands(cli) if path and f"truce {' '.join(path)}" not in readme]
    assert not missing, f"README.md does not show: {missing}"


def _readme_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return [b.split("\n", 1)[1] for b in readme.split("```")[1::2]]


# long-running or placeholder commands the docs show but a test cannot run as written
_NOT_RUN = ("truce demo", "truce serve", "truce watch", "truce backfill")


def test_readme_commands_run_as_written(demo, tmp_path, monkeypatch):
    """Every ``truce …`` line in README code blocks runs, from a directory holding the demo
    database, and exits 0; paths into the checkout resolve against it."""
    import shlex
    import shutil

    shutil.copy(demo[0], tmp_path / "truce.db")
    monkeypatch.chdir(tmp_path)
    ran = 0
    for block in _readme_blocks():
        for line in block.splitlines():
            cmd = line.split("  #", 1)[0].strip()
            if not cmd.startswith("truce ") or cmd.startswith(_NOT_RUN) or "…" in cmd:
                continue
            args = [str(ROOT / a) if a.startswith("src/") else a for a in shlex.split(cmd)[1:]]
            r = CliRunner().invoke(cli, args)
            assert r.exit_code == 0, (cmd, r.output)
            ran += 1
    assert ran >= 4


def test_readme_shows_the_demo_as_it_prints(demo):
    """The quick start quotes `truce demo`'s summary: it must be what the demo prints today."""
    shown = next(b for b in _readme_blocks() if b.startswith("reports:"))
    printed = demo[2]
    for line in shown.splitlines():
        if line.startswith(("report:", "database:")):
            continue  # paths and seconds differ from machine to machine
        assert line in printed.splitlines(), f"README shows {line!r}; the demo prints:\n{printed}"


def test_every_lexicon_list_is_documented():
    from truce.extract.lexicon import _REQUIRED

    doc = (ROOT / "docs" / "lexicons.md").read_text(encoding="utf-8")
    missing = [k for k in _REQUIRED if f"`{k}`" not in doc]
    assert not missing, f"docs/lexicons.md does not describe: {missing}"
