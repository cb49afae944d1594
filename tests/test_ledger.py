import io
import json

import pytest

from truce import ledger
from truce.schema import ledger as ledger_table
from truce.schema import ledger_head
from truce.errors import LedgerError


@pytest.fixture
def filled(db):
    ledger.append(db, [("finding", f"a/inc-{i}", {"verdict": "alleged", "n": i}) for i in range(5)], "tester")
    assert ledger.verify(db).ok
    return db


def _exec(db, stmt):
    with db.atomic() as conn:
        conn.execute(stmt)


def test_altered_payload_is_detected(filled):
    _exec(filled, ledger_table.update().where(ledger_table.c.seq == 3).values(payload='{"n":3,"verdict":"not_covered"}'))
    v = ledger.verify(filled)
    assert not v.ok and v.first_bad == 3 and "altered" in v.reason


def test_altered_author_and_rehashed_entry_breaks_the_next_link(filled):
    rows = filled.ledger_raw()
    r = rows[1]
    new_hash = ledger.entry_hash(2, r.kind, r.subject, r.payload, "mallory", r.created_at, r.prev_hash)
    _exec(filled, ledger_table.update().where(ledger_table.c.seq == 2).values(author="mallory", hash=new_hash))
    v = ledger.verify(filled)
    assert not v.ok and v.first_bad == 3 and "link" in v.reason


def test_removed_entry_is_detected(filled):
    _exec(filled, ledger_table.delete().where(ledger_table.c.seq == 2))
    v = ledger.verify(filled)
    assert not v.ok and v.first_bad == 2 and "removed" in v.reason


def test_removed_tail_is_detected_by_the_head(filled):
    _exec(filled, ledger_table.delete().where(ledger_table.c.seq == 5))
    v = ledger.verify(filled)
    assert not v.ok and "removed from the end" in v.reason


def test_reordered_entries_are_detected(filled):
    _exec(filled, ledger_table.update().where(ledger_table.c.seq == 2).values(seq=99))
    _exec(filled, ledger_table.update().where(ledger_table.c.seq == 3).values(seq=2))
    _exec(filled, ledger_table.update().where(ledger_table.c.seq == 99).values(seq=3))
    v = ledger.verify(filled)
    assert not v.ok and v.first_bad == 2


def test_inserted_entry_is_detected(filled):
    rows = filled.ledger_raw()
    _exec(filled, ledger_table.update().where(ledger_table.c.seq >= 3).values(seq=ledger_table.c.seq + 100))
    fake = ledger.prepare((2, rows[1].hash), [("finding", "a/x", {"forged": True})], "mallory", "2025-01-01T00:00:00+00:00")[0]
    _exec(filled, ledger_table.insert().values(**fake.to_dict()))
    _exec(filled, ledger_table.update().where(ledger_table.c.seq >= 100).values(seq=ledger_table.c.seq - 99))
    v = ledger.verify(filled)
    assert not v.ok and v.first_bad == 4


def test_removed_head_is_detected(filled):
    _exec(filled, ledger_head.delete())
    assert not ledger.verify(filled).ok


def test_reviews_sit_beside_findings(db):
    from truce.records import Finding, TraceStep
    f = Finding("inc-1", "moratorium-2025-03", "alleged", (TraceStep("c", "cond", "fact", "pass"),))
    db.replace_findings([(f, "d")])
    with pytest.raises(LedgerError, match="unknown verdict"):
        ledger.add_review(db, "inc-1", "moratorium-2025-03", "guilty", "n", "ana")
    with pytest.raises(LedgerError, match="no finding for incident inc-2"):
        ledger.add_review(db, "inc-2", "moratorium-2025-03", "alleged", "n", "ana")
    row = ledger.add_review(db, "inc-1", "moratorium-2025-03", "contested", "operator denies damage", "ana")
    rv = ledger.latest_reviews(db)["moratorium-2025-03/inc-1"]
    assert (rv["verdict"], rv["machine_verdict"], rv["author"], rv["seq"]) == ("contested", "alleged", "ana", row["seq"])
    assert db.findings()[0][0].verdict == "alleged"  # the machine finding is untouched


def test_export_verifies_independently_and_signatures_check(filled, tmp_path, monkeypatch):
    key = tmp_path / "k.pem"
    pub = ledger.generate_key(key)
    monkeypatch.setenv("TRUCE_LEDGER_KEY", str(key))
    buf = io.StringIO()
    head = ledger.export(filled, buf)
    assert head["public_key"] == pub and head["algorithm"] == "Ed25519"
    lines = buf.getvalue().splitlines()
    assert ledger.verify_export(lines, pub).ok
    # tamper with one exported entry
    e = json.loads(lines[2])
    e["payload"] = e["payload"].replace("alleged", "contested")
    bad = lines[:2] + [json.dumps(e)] + lines[3:]
    assert not ledger.verify_export(bad, pub).ok
    other = ledger.generate_key(tmp_path / "other.pem")
    v = ledger.verify_export(lines, other)
    assert not v.ok and "signature" in v.reason
