"""Storage tests: run on SQLite always and on PostgreSQL when TRUCE_TEST_POSTGRES_URL is set."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truce.db import MIGRATIONS, Database
from truce.records import Claim, Effects, Evidence, Finding, Incident, Reading, Report, TraceStep


def _report(i: int) -> Report:
    return Report(id=f"{i:064d}", text=f"text {i}", external_id=f"ext-{i}", source="Reuters", source_kind="wire",
                  affiliation="neutral", url=f"https://r/{i}", title="t", published="2024-04-11", language="en")


def test_migrations_are_recorded_and_idempotent(db):
    assert db.migrations() == [name for name, _ in MIGRATIONS]
    assert db.migrate() == []


def test_reports_upsert_once_and_keep_every_external_id(db):
    r = _report(1)
    assert db.add_reports([r]) == (1, 0)
    from dataclasses import replace
    assert db.add_reports([replace(r, external_id="another-name"), r]) == (0, 2)
    assert db.report_count() == 1
    (back,) = db.reports()
    assert back.external_id == "another-name"  # the smallest id it was ingested with
    assert back.text == r.text and back.affiliation == "neutral"


claims_st = st.builds(
    Claim, report_id=st.just("0" * 64), index=st.integers(0, 50), kind=st.sampled_from(["strike", "negotiation"]),
    date=st.one_of(st.none(), st.dates().map(lambda d: d.isoformat())), country=st.sampled_from([None, "UA", "RU"]),
    facility_type=st.sampled_from([None, "refinery", "chp"]), attacker=st.sampled_from([None, "UA", "RU"]),
    effects=st.builds(Effects, fire=st.sampled_from([None, True]), killed=st.one_of(st.none(), st.integers(0, 99))),
    evidence=st.lists(st.builds(Evidence, start=st.integers(0, 5), end=st.integers(5, 9), text=st.text(max_size=20)),
                      max_size=3).map(tuple),
    parties=st.lists(st.sampled_from(["UA", "RU"]), max_size=2).map(tuple), confidence=st.floats(0, 1),
    place=st.one_of(st.none(), st.text(max_size=30)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claim=claims_st)
def test_claim_round_trips_through_the_database_unchanged(db, claim):
    db.add_reports([_report(0)])
    db.replace_claims("0" * 64, "rules/test", [claim])
    (back,) = db.claims()
    assert back == claim


def test_replace_claims_is_transactional_and_incremental(db):
    db.add_reports([_report(1), _report(2)])
    assert db.reports_to_extract("rules/1") == [_report(1).id, _report(2).id]
    db.replace_claims(_report(1).id, "rules/1", [Claim(report_id=_report(1).id, index=0, kind="strike")])
    assert db.reports_to_extract("rules/1") == [_report(2).id]
    assert db.reports_to_extract("rules/2") == [_report(1).id, _report(2).id]  # a new extractor re-reads
    assert db.reports_to_extract("rules/0") == [_report(1).id, _report(2).id]  # so does an older one
    db.add_reports([_report(1), _report(3)])  # one stored before: not queued again
    assert db.reports_to_extract("rules/1") == [_report(2).id, _report(3).id]


def test_a_database_from_before_the_extraction_queue_queues_its_unread_reports(db):
    import sqlalchemy as sa

    db.add_reports([_report(1), _report(2), _report(3)])
    db.replace_claims(_report(2).id, "rules/1", [])
    with db.atomic() as conn:  # as the database was before migration 070
        conn.execute(sa.text("DROP TABLE extract_queue"))
        conn.execute(sa.text("DROP INDEX ix_extractions_extractor"))
        conn.execute(sa.text("DELETE FROM schema_migrations WHERE name = '070_extract_queue'"))
    assert db.migrate() == ["070_extract_queue"]
    assert db.reports_to_extract("rules/1") == [_report(1).id, _report(3).id]


def test_claims_of_one_kind_are_read_in_date_order_by_index(db):
    import sqlalchemy as sa

    with db.atomic() as conn:  # as the database was before migration 080
        conn.execute(sa.text("DROP INDEX ix_claims_kind_date"))
        conn.execute(sa.text("DELETE FROM schema_migrations WHERE name = '080_claims_by_kind'"))
    assert db.migrate() == ["080_claims_by_kind"]
    names = {ix["name"]: ix["column_names"] for ix in sa.inspect(db.engine).get_indexes("claims")}
    assert names["ix_claims_kind_date"] == ["kind", "date", "id"]
    db.add_reports([_report(1)])
    db.replace_claims(_report(1).id, "rules/1", [
        Claim(report_id=_report(1).id, index=i, kind=k, date=d)
        for i, (k, d) in enumerate([("negotiation", "2025-03-02"), ("strike", "2025-03-01"),
                                    ("negotiation", "2025-03-01"), ("negotiation", None), ("negotiation", "2025-03-02")])])
    pages = [[c.index for c in page] for page in db.negotiation_days(page=1)]
    assert pages == [[2], [0, 4], [3]]  # whole days, then the undated
    if db.engine.dialect.name == "sqlite":
        with db.atomic(write=False) as conn:
            plan = " ".join(str(r[-1]) for r in conn.execute(sa.text(
                "EXPLAIN QUERY PLAN SELECT id FROM claims WHERE kind = 'negotiation' AND date > '2025-01-01' "
                "ORDER BY date, id LIMIT 10")))
        assert "ix_claims_kind_date" in plan and "TEMP B-TREE" not in plan


def test_a_report_snapshot_reads_claims_by_report_not_by_kind(tmp_path):
    """SQLite without statistics chose the (kind, date) index for "this chunk's negotiation
    claims" and read every negotiation claim per chunk (quadratic in a first run)."""
    seen: list[tuple[str, object]] = []
    with Database(str(tmp_path / "x.db"), tracer=lambda stmt, params: seen.append((stmt, params))) as d:
        d.add_reports([_report(1), _report(2)])
        d.replace_claims(_report(1).id, "rules/1", [Claim(report_id=_report(1).id, index=i, kind=k, date="2025-03-01")
                                                    for i, k in enumerate(["negotiation", "strike", "negotiation"])])
        d.replace_claims(_report(2).id, "rules/1", [])
        seen.clear()
        snap = d.report_snapshot([_report(i).id for i in range(1, 501)])  # a whole chunk of ids, as a run asks
        assert snap[_report(1).id]["negotiation"] == 2 and snap[_report(2).id]["negotiation"] == 0
        on_claims = [(s, p) for s, p in seen if "FROM claims" in s]
        assert on_claims
        with d.atomic(write=False) as conn:
            for stmt, params in on_claims:
                plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + stmt, params))
                assert "ix_claims_report_id" in plan, plan


def test_incidents_and_findings_replace_and_report_changes(db):
    inc = Incident(id="inc-1", kind="facility", date="2024-04-11", date_precision="day", country="UA",
                   region_code="UA-32", region="Kyiv Oblast", facility_id="ua-trypillia-tpp", facility_name="Trypillia TPP",
                   facility_type="thermal_plant", attacker="RU", attacker_basis="stated", weapon="missile", outcome="hit")
    changed, removed = db.replace_incidents([inc])
    assert (changed, removed) == (["inc-1"], [])
    assert db.replace_incidents([inc]) == ([], [])
    assert db.incidents() == [inc]
    f = Finding("inc-1", "a", "alleged", (TraceStep("a/c", "cond", "fact", "pass"),), (Reading({"start": "x"}, "alleged"),))
    db.replace_findings([(f, "d1")])
    assert db.findings()[0][0] == f and db.finding_digests() == {("inc-1", "a"): "d1"}
    assert db.replace_incidents([]) == ([], ["inc-1"])
    db.replace_findings([])
    assert db.findings() == []


def test_ledger_rows_and_head(db):
    from truce import ledger
    ledger.append(db, [("finding", "a/inc-1", {"x": 1}), ("review", "a/inc-1", {"y": "ü"})], "tester")
    rows = db.ledger_raw()
    assert [r.seq for r in rows] == [1, 2]
    assert json.loads(rows[1].payload) == {"y": "ü"}
    assert db.ledger_head() == (2, rows[1].hash)
    assert ledger.verify(db).ok


def test_in_memory_database():
    with Database(memory=True) as d:
        d.add_reports([_report(5)])
        assert d.report_count() == 1


def test_sql_tracer_sees_statements(tmp_path):
    seen = []
    with Database(str(tmp_path / "x.db"), tracer=lambda stmt, params: seen.append(stmt)) as d:
        d.report_count()
    assert any("reports" in s for s in seen)


def test_claims_written_in_batches_are_those_written_one_report_at_a_time(db, tmp_path):
    reps = [_report(k) for k in range(10, 16)]
    db.add_reports(reps)

    def claims_of(k, n):
        return [Claim(report_id=reps[k].id, index=i, kind="strike", date=f"2025-03-{10 + i:02d}") for i in range(n)]

    db.replace_claims_many([(reps[k].id, claims_of(k, k % 3 + 1), None) for k in range(5)] + [(reps[5].id, [], "too long")],
                           "rules/1")
    batched = (db.claims(), db.skipped_reports(), db.reports_to_extract("rules/1"))
    # again, fewer claims for some reports: the ones they no longer have are removed
    db.replace_claims_many([(reps[k].id, claims_of(k, 1), None) for k in range(5)], "rules/1")
    fewer = db.claims()
    one = Database(str(tmp_path / "one.db"))
    one.add_reports(reps)
    for k in range(5):
        one.replace_claims(reps[k].id, "rules/1", claims_of(k, k % 3 + 1))
    one.replace_claims(reps[5].id, "rules/1", [], skipped="too long")
    assert batched == (one.claims(), one.skipped_reports(), one.reports_to_extract("rules/1"))
    for k in range(5):
        one.replace_claims(reps[k].id, "rules/1", claims_of(k, 1))
    assert fewer == one.claims() and len(fewer) == 5


def test_upsert_statements_are_built_once(db):
    statements = []
    for k in range(20, 26):
        db.add_reports([_report(k)])
        statements.append(dict(db._statements))
    assert statements[0] and all(s == statements[0] for s in statements)  # the same statement objects


def test_tables_changed_by_a_tenth_are_analysed_on_postgresql(db):
    """Autovacuum may be off or late after a bulk load: the planner must still see the rows."""
    import sqlalchemy as sa

    import time

    db.add_reports([_report(i) for i in range(300)])
    if db.dialect != "postgresql":
        assert db.refresh_statistics() == []
        return
    modified = sa.text("SELECT coalesce(sum(n_mod_since_analyze), 0) FROM pg_stat_user_tables "
                       "WHERE schemaname = current_schema() AND relname = 'reports'")
    t = time.monotonic()
    while time.monotonic() - t < 20:  # a backend reports its counts when idle, at most once a second
        with db.atomic() as conn:
            if conn.execute(modified).scalar_one() >= 300:
                break
        time.sleep(0.2)
    got = db.refresh_statistics()
    assert {"reports", "report_inputs", "extract_queue"} <= set(got)
    assert db.refresh_statistics() == []  # nothing changed since
    with db.atomic() as conn:
        n = conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('reports')")).scalar_one()
    assert n == 300
