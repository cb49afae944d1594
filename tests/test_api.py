import truce


def test_public_names_resolve_and_nothing_else_is_exported():
    assert truce.__all__[0] == "__version__"
    for name in truce.__all__[1:]:
        assert getattr(truce, name) is not None, name
    assert set(truce.__all__) == {"__version__", *truce._EXPORTS}


def test_library_round_trip_without_the_cli(tmp_path):
    from pathlib import Path

    ctx = truce.load_context()
    with truce.Database(str(tmp_path / "lib.db")) as db:
        res = truce.ingest_paths(db, [Path(__file__).parent / "data" / "reports.jsonl"], ctx)
        assert res.new == 9
        s = truce.run_pipeline(db, ctx, author="library-test")
        assert s.incidents >= 5 and s.ledger_entries == s.ledger_appended
        assert truce.verify_ledger(db).ok
