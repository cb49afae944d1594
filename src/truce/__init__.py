"""Truce Monitor: strikes on energy infrastructure, checked against the agreements meant to stop them.

The library API, in pipeline order (see DESIGN.md)::

    from truce import Database, load_context, ingest_paths, run_pipeline
    ctx = load_context()
    with Database("sqlite:///truce.db") as db:
        ingest_paths(db, ["reports.jsonl"], ctx)
        summary = run_pipeline(db, ctx)
"""

__version__ = "0.1.0"

# Public names and the module each lives in; imported on first use so that
# ``import truce`` stays cheap (the NLP stack loads only when needed).
_EXPORTS = {
    "PipelineError": "truce.errors",
    "FetchError": "truce.errors",
    "IngestError": "truce.errors",
    "ExtractionError": "truce.errors",
    "GeoparseError": "truce.errors",
    "RegistryError": "truce.errors",
    "TermsError": "truce.errors",
    "StorageError": "truce.errors",
    "LedgerError": "truce.errors",
    "Settings": "truce.config",
    "Context": "truce.context",
    "load_context": "truce.context",
    "Database": "truce.db",
    "ingest_paths": "truce.ingest",
    "read_reports_jsonl": "truce.ingest",
    "run_pipeline": "truce.pipeline",
    "extract_reports": "truce.pipeline",
    "run_demo": "truce.demo",
    "verify_ledger": "truce.ledger",
    "add_review": "truce.ledger",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'truce' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
