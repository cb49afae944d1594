"""Issue #13, integrity: no crash point duplicates or loses ledger entries, the ledger
covers the stored findings and status observations, concurrent writers do not collide,
ACLED rows keep their own identity. SQLite always, PostgreSQL when configured."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import Stores, strip_at
from truce import ledger
from truce.db import Database
from truce.ingest import ingest_paths
from truce.outputs.shapes import findings_json, incidents_json
from truce.pipeline import run_pipeline

DEMO = Path(__file__).parents[1] / "src" / "truce" / "data" / "demo" / "reports.jsonl"
LINES = DEMO.read_text(encoding="utf-8").splitlines()[:20]


def state(db: Database) -> str:
    """Everything a run leaves, less times, authors and hashes (which carry times)."""
    entries = [(e.seq, e.kind, e.subject, e.payload) for e in db.ledger_entries()]
    return json.dumps([strip_at(incidents_json(db)), strip_at(findings_json(db, None)), entries,
                       [r.to_dict() for r in db.agreement_status()]], sort_keys=True, default=str)


class Crash(BaseException):
    """A process killed at a commit: the transaction being committed never lands."""


def crash_at(db: Database, k: int) -> dict[str, int]:
    seen = {"commits": 0}

    def on_commit(conn):
        seen["commits"] += 1
        if seen["commits"] == k:
            raise Crash(k)

    sa.event.listen(db.engine, "commit", on_commit)
    seen["remove"] = lambda: sa.event.remove(db.engine, "commit", on_commit)  # type: ignore[assignment]
    return seen


def _ingested(stores: Stores, tmp_path: Path, ctx) -> tuple[Database, str]:
    p = tmp_path / "r.jsonl"
    p.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    db, key = stores.new()
    ingest_paths(db, [p], ctx)
    return db, key


def _crash_and_rerun(stores, tmp_path, ctx, which) -> None:
    ref_db, _ = _ingested(stores, tmp_path, ctx)
    counter = crash_at(ref_db, 10**9)
    run_pipeline(ref_db, ctx, author="test")
    counter["remove"]()
    reference = state(ref_db)
    assert ledger.verify(ref_db).ok
    n_commits = counter["commits"]
    assert n_commits >= 3
    for k in which(n_commits):
        db, _ = _ingested(stores, tmp_path, ctx)
        hook = crash_at(db, k)
        with pytest.raises(Crash):
            run_pipeline(db, ctx, author="test")
        hook["remove"]()
        run_pipeline(db, ctx, author="test")
        v = ledger.verify(db)
        assert v.ok, (k, v.reason)
        assert state(db) == reference, f"crash before commit {k} of {n_commits}"
        run_pipeline(db, ctx, author="test")  # and a third run adds nothing
        assert state(db) == reference


def test_a_crash_at_the_evaluation_commit_neither_duplicates_nor_loses_ledger_entries(stores, tmp_path, ctx):
    """Defect 1: a crash between the ledger commit and the findings commit duplicated the whole
    ledger on the next run; one inside the ledger transaction lost the status observations.
    Now they are one commit: the run's last write commit (its last commit is a read)."""
    _crash_and_rerun(stores, tmp_path, ctx, lambda n: [n - 1, n])


@pytest.mark.slow
def test_a_crash_at_every_commit_boundary_neither_duplicates_nor_loses_ledger_entries(stores, tmp_path, ctx):
    """Defect 1: kill `truce run` before each of its commits in turn (reads included), run
    again, and compare with an uninterrupted run: identical incidents, findings, status
    observations and ledger."""
    _crash_and_rerun(stores, tmp_path, ctx, lambda n: range(1, n + 1))


def test_a_lost_findings_table_is_rebuilt_from_the_ledger_without_logging_twice(stores, tmp_path, ctx):
    """Defect 1, the other way round: the rerun reconciles from the ledger."""
    db, _ = _ingested(stores, tmp_path, ctx)
    run_pipeline(db, ctx, author="test")
    before = state(db)
    from truce.schema import agreement_status, findings
    with db.atomic() as conn:
        conn.execute(findings.delete())
        conn.execute(agreement_status.delete())
    assert not ledger.verify(db).ok
    run_pipeline(db, ctx, author="test")
    assert state(db) == before and ledger.verify(db).ok


@pytest.fixture
def run_db(db, tmp_path, ctx):
    p = tmp_path / "r.jsonl"
    p.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    ingest_paths(db, [p], ctx)
    run_pipeline(db, ctx, author="test")
    assert ledger.verify(db).ok
    return db


def _finding_row(db, verdict=None):
    from truce.schema import findings
    with db.atomic() as conn:
        q = sa.select(findings).order_by(findings.c.agreement_id, findings.c.incident_id)
        rows = [dict(r) for r in conn.execute(q).mappings()]
    return next(r for r in rows if verdict is None or r["verdict"] == verdict)


def test_a_forged_verdict_in_the_findings_table_fails_verify_and_is_named(run_db):
    """Defect 2: UPDATE findings SET verdict=… no longer passes `ledger verify`."""
    from truce.schema import findings
    r = _finding_row(run_db, "not_covered")
    with run_db.atomic() as conn:
        conn.execute(findings.update().where(sa.and_(findings.c.incident_id == r["incident_id"],
                                                     findings.c.agreement_id == r["agreement_id"]))
                     .values(verdict="consistent_with_violation"))
    v = ledger.verify(run_db)
    assert not v.ok and f"{r['agreement_id']}/{r['incident_id']}" in v.reason and "altered" in v.reason


def test_a_forged_finding_with_a_recomputed_digest_fails_verify(run_db):
    from truce.schema import findings
    from truce.records import Finding, canonical_json
    r = _finding_row(run_db, "not_covered")
    f = Finding.from_dict(json.loads(r["data"]))
    import dataclasses
    forged = dataclasses.replace(f, verdict="consistent_with_violation")
    where = sa.and_(findings.c.incident_id == r["incident_id"], findings.c.agreement_id == r["agreement_id"])
    with run_db.atomic() as conn:
        conn.execute(findings.update().where(where).values(verdict=forged.verdict, digest=forged.digest(),
                                                            data=canonical_json(forged.to_dict())))
    v = ledger.verify(run_db)
    assert not v.ok and "'consistent_with_violation' is not what ledger entry" in v.reason
    assert f"{r['agreement_id']}/{r['incident_id']}" in v.reason
    assert ledger.verify(run_db, page=3) == v  # read a few entries and rows at a time: the same verdict


def test_verify_reads_the_ledger_a_page_at_a_time_and_says_the_same(run_db):
    """Pages of 1, 2, 7 entries (and finding rows) find what one big page finds, tampered or not."""
    from truce.schema import findings
    assert all(ledger.verify(run_db, page=n) == ledger.verify(run_db) for n in (1, 2, 7))
    r = _finding_row(run_db, "not_covered")
    where = sa.and_(findings.c.incident_id == r["incident_id"], findings.c.agreement_id == r["agreement_id"])
    with run_db.atomic() as conn:  # the row names an older entry than its subject's latest
        conn.execute(findings.update().where(where).values(ledger_seq=1))
    v = ledger.verify(run_db)
    assert not v.ok and "names ledger entry 1, which is not its entry" in v.reason
    assert all(ledger.verify(run_db, page=n) == v for n in (1, 2, 7))


def test_a_deleted_finding_and_a_forged_status_fail_verify(run_db, ctx):
    from truce.schema import agreement_status, findings
    r = _finding_row(run_db)
    with run_db.atomic() as conn:
        conn.execute(findings.delete().where(sa.and_(findings.c.incident_id == r["incident_id"],
                                                     findings.c.agreement_id == r["agreement_id"])))
    v = ledger.verify(run_db)
    assert not v.ok and "missing from the findings table" in v.reason
    run_pipeline(run_db, ctx, author="test")
    assert ledger.verify(run_db).ok
    with run_db.atomic() as conn:
        last = (agreement_status.c.agreement_id.desc(), agreement_status.c.claim_id.desc())  # past the first pages
        row = conn.execute(sa.select(agreement_status).order_by(*last).limit(1)).mappings().first()
        other = "agreed" if row["status"] == "collapsed" else "collapsed"
        conn.execute(agreement_status.update().where(sa.and_(agreement_status.c.agreement_id == row["agreement_id"],
                                                             agreement_status.c.claim_id == row["claim_id"]))
                     .values(data=row["data"].replace(f'"status":"{row["status"]}"', f'"status":"{other}"')))
    v = ledger.verify(run_db)
    assert not v.ok and f"status {row['agreement_id']}/{row['claim_id']}" in v.reason and "altered" in v.reason
    assert all(ledger.verify(run_db, page=n) == v for n in (1, 2, 7))
    with run_db.atomic() as conn:
        conn.execute(agreement_status.update().where(sa.and_(agreement_status.c.agreement_id == row["agreement_id"],
                                                             agreement_status.c.claim_id == row["claim_id"]))
                     .values(data=row["data"], claim_id=row["claim_id"] + "x"))
    v = ledger.verify(run_db, page=2)
    assert not v.ok and f"status {row['agreement_id']}/{row['claim_id']}x: not recorded" in v.reason


def test_concurrent_reviews_and_appends_all_land_in_one_intact_chain(stores, tmp_path, ctx):
    """Defect 3: the ledger tail was read and seq+1 inserted without a lock (IntegrityError)."""
    db, key = _ingested(stores, tmp_path, ctx)
    run_pipeline(db, ctx, author="test")
    (f, _), *_ = db.findings()
    n0 = db.ledger_count()
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        mine = stores.open(key)
        try:
            for j in range(5):
                ledger.add_review(mine, f.incident_id, f.agreement_id, "alleged", f"note {i}.{j}", f"analyst-{i}")
        except BaseException as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert db.ledger_count() == n0 + 40 and ledger.verify(db).ok
    notes = sorted(e.payload["note"] for e in db.ledger_entries() if e.kind == "review")
    assert notes == sorted(f"note {i}.{j}" for i in range(8) for j in range(5))


def test_claims_are_upserted_so_two_writers_of_one_report_do_not_collide(stores, tmp_path, ctx):
    """Defect 3: replace_claims deleted then inserted; two writers collided on the claim ids."""
    db, key = _ingested(stores, tmp_path, ctx)
    rep = db.reports()[0]
    claims = ctx.extractor.extract(rep)
    assert claims
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        mine = stores.open(key)
        try:
            barrier.wait()
            for _ in range(10):
                mine.replace_claims(rep.id, "x", claims)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and db.claims() == claims
    db.replace_claims(rep.id, "x", claims[:1])
    assert db.claims() == claims[:1]


def test_one_run_at_a_time_names_the_holder_or_waits(stores, tmp_path, ctx):
    from truce.db import LockedError
    db, key = _ingested(stores, tmp_path, ctx)
    other = stores.open(key)
    with db.run_lock("alice"):
        with pytest.raises(LockedError, match=r"another `truce run` is working on this database: alice \(pid \d+"):
            run_pipeline(other, ctx, author="bob")
        with pytest.raises(LockedError, match="alice"):
            with other.run_lock("bob", wait=0.3):
                pass
    done = threading.Event()

    def hold() -> None:
        with db.run_lock("alice"):
            done.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    import time
    time.sleep(0.3)
    threading.Timer(0.5, done.set).start()
    s = run_pipeline(other, ctx, author="bob", wait=30)  # waits its turn
    t.join()
    assert s.incidents > 0 and ledger.verify(other).ok


def test_acled_rows_with_the_same_notes_stay_apart(tmp_path, sqlite_db, ctx):
    """Defect 4: the report id hashed only source + notes: rows collapsed into one chimera."""
    src = (Path(__file__).parent / "data" / "acled_sample.csv").read_text(encoding="utf-8").splitlines()
    import csv
    import io
    rows = list(csv.DictReader(io.StringIO("\n".join(src))))
    a, b = dict(rows[0]), dict(rows[1])
    b["notes"] = a["notes"]
    assert (a["event_id_cnty"], a["event_date"], a["location"]) != (b["event_id_cnty"], b["event_date"], b["location"])
    # with their event ids, and without (the row's fields are its identity)
    for name, pair in (("ids", [a, b]), ("no-ids", [{**a, "event_id_cnty": ""}, {**b, "event_id_cnty": ""}])):
        p = tmp_path / f"acled-{name}.csv"
        with p.open("w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(a))
            w.writeheader()
            w.writerows(pair)
        res = ingest_paths(sqlite_db, [p], ctx)
        assert (res.new, res.errors) == (2, []), name
    reps = sqlite_db.reports()
    assert len(reps) == 4
    assert sorted(r.published for r in reps) == sorted([ledger_date(a), ledger_date(b)] * 2)


def ledger_date(row):
    from truce.ingest.acled import _acled_date
    return _acled_date(row["event_date"])
