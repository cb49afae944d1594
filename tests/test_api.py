"""The library's public surface: what README.md documents is what ``truce`` exports."""

import re
from pathlib import Path

import pytest

import truce

ROOT = Path(__file__).parents[1]

# The public names, written out here (README "Library" and the errors hierarchy in
# errors.py), each with the kind of object it must be.
PUBLIC = {
    "Database": type, "Settings": type, "Context": type, "load_context": "function",
    "ingest_paths": "function", "read_reports_jsonl": "function", "run_pipeline": "function",
    "extract_reports": "function", "run_demo": "function", "verify_ledger": "function", "add_review": "function",
    "PipelineError": type, "FetchError": type, "IngestError": type, "ExtractionError": type, "GeoparseError": type,
    "RegistryError": type, "TermsError": type, "StorageError": type, "LedgerError": type,
}


def test_exports_are_exactly_the_documented_api():
    assert set(truce.__all__) == {"__version__", *PUBLIC}
    for name, kind in PUBLIC.items():
        obj = getattr(truce, name)
        assert isinstance(obj, type) if kind is type else callable(obj), name
    for name in ("FetchError", "IngestError", "ExtractionError", "GeoparseError", "RegistryError", "TermsError",
                 "StorageError", "LedgerError"):
        assert issubclass(getattr(truce, name), truce.PipelineError), name
    with pytest.raises(AttributeError):
        truce.not_a_public_name  # noqa: B018


def test_readme_library_example_uses_only_public_names():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Library", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    imported = re.search(r"from truce import ([\w, ]+)", block).group(1).split(", ")
    assert imported and set(imported) <= set(PUBLIC)


@pytest.mark.slow
def test_library_round_trip_without_the_cli(tmp_path):
    ctx = truce.load_context()
    with truce.Database(str(tmp_path / "lib.db")) as db:
        res = truce.ingest_paths(db, [ROOT / "tests" / "data" / "reports.jsonl"], ctx)
        assert res.new == 9
        s = truce.run_pipeline(db, ctx, author="library-test")
        assert s.incidents >= 5 and s.ledger_entries == s.ledger_appended
        assert truce.verify_ledger(db).ok
