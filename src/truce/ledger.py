"""The ledger: an append-only, hash-chained record of findings, status changes
and analyst reviews.

Entry ``n`` stores ``hash_n = SHA-256(canonical JSON of {seq, kind, subject,
payload, author, created_at, prev_hash})`` with ``prev_hash = hash_{n-1}``
(64 zeros for the first). The payload is stored as canonical JSON text and
hashed byte for byte, so any edit changes a hash; removing, inserting or
reordering entries breaks a ``prev_hash`` link or the sequence; truncating
the tail leaves the stored head pointer (and any exported, signed head)
disagreeing with the last entry.

Independent verification of an export (``truce ledger export``): for every
line after the first, recompute the hash as above and compare it with the
line's ``hash`` and the next line's ``prev_hash``; the last hash must equal
the head; with a public key, check the Ed25519 signature over the head line's
``signed`` string. docs/ledger.md gives a 20-line script that does this.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Sequence

from truce.db import Database, now
from truce.errors import LedgerError
from truce.records import VERDICTS, Finding, LedgerRow, StatusObservation, canonical_json
from truce.safeio import create_secret

Item = tuple[str, str, dict[str, Any]]  # (kind, subject, payload) of an entry to append

GENESIS = "0" * 64
FORMAT = "truce-ledger/1"
_ROW_FIELDS = ("seq", "kind", "subject", "payload", "author", "created_at", "prev_hash", "hash")


def entry_hash(seq: int, kind: str, subject: str, payload_text: str, author: str, created_at: str, prev_hash: str) -> str:
    body = canonical_json({"seq": seq, "kind": kind, "subject": subject, "payload": payload_text,
                           "author": author, "created_at": created_at, "prev_hash": prev_hash})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


_SPLICE = "\x00finding\x00"  # stands for a finding's own canonical JSON while the rest is written


def _payload_text(payload: dict[str, Any]) -> str:
    """A payload's canonical JSON; a Finding in it (``finding_entries``) is written as its own
    canonical JSON, made once per finding, instead of being turned into a dict and encoded again."""
    f = payload.get("finding")
    if not isinstance(f, Finding):
        return canonical_json(payload)
    return canonical_json({**payload, "finding": _SPLICE}).replace(canonical_json(_SPLICE), f.canonical(), 1)


def prepare(tail: tuple[int, str] | None, items: Sequence[Item], author: str, created_at: str) -> list[LedgerRow]:
    """Rows for ``items`` = (kind, subject, payload), chained after ``tail``."""
    seq, prev = tail if tail else (0, GENESIS)
    rows = []
    for kind, subject, payload in items:
        seq += 1
        text = _payload_text(payload)
        h = entry_hash(seq, kind, subject, text, author, created_at, prev)
        rows.append(LedgerRow(seq=seq, kind=kind, subject=subject, payload=text, author=author,
                              created_at=created_at, prev_hash=prev, hash=h))
        prev = h
    return rows


def append(db: Database, items: Sequence[Item], author: str) -> list[LedgerRow]:
    """Append entries in one transaction, serialised with every other writer's appends."""
    if not items:
        return []
    with db.atomic():
        db.lock_ledger()
        rows = prepare(db.ledger_tail(), items, author, now())
        db.ledger_append(rows)
    return rows


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    reason: str = ""
    first_bad: int | None = None
    head: str | None = None


class _Chain:
    """The chain checked one entry at a time: sequence, link, hash and JSON payload; ``start``: the
    (seq, hash) of an entry already checked, to go on from."""

    def __init__(self, start: tuple[int, str] | None = None) -> None:
        self.n, self.prev = start if start else (0, GENESIS)
        self.last: tuple[int, str] | None = start
    def step(self, r: LedgerRow) -> tuple[str, int] | None:
        """(reason, entry) when ``r`` breaks the chain, else None."""
        self.n += 1
        i, seq = self.n, r.seq
        if seq != i:
            what = "removed" if seq > i else "inserted or duplicated"
            return f"entry {i}: sequence jumps to {seq} (an entry was {what}, or entries reordered)", i
        if r.prev_hash != self.prev:
            return (f"entry {seq}: link to the previous entry is broken "
                    "(an entry before it was altered, removed, inserted or reordered)"), seq
        h = entry_hash(seq, r.kind, r.subject, r.payload, r.author, r.created_at, r.prev_hash)
        if h != r.hash:
            return f"entry {seq}: content does not match its hash (the entry was altered)", seq
        try:
            if json.loads(r.payload) is None:
                raise ValueError
        except ValueError:
            return f"entry {seq}: payload is not valid JSON", seq
        self.prev = h
        self.last = (seq, h)
        return None

    def end(self, head: tuple[int, str] | None, entries: int) -> Verification:
        """The head pointer against the last entry, once every entry has passed."""
        last = self.last
        if head is not None:
            if last is None:
                return Verification(False, 0, f"ledger is empty but its head points at entry {head[0]} (entries were removed)", 1)
            if last != tuple(head):
                return Verification(False, entries, f"head points at entry {head[0]} but the last entry is {last[0]} "
                                                    "(entries were removed from the end, or the head was altered)", last[0])
        elif last is not None:
            return Verification(False, entries, "ledger has entries but no head pointer (the head was removed)", 1)
        return Verification(True, entries, "intact", None, self.prev if last is not None else None)


def verify_rows(rows: Sequence[LedgerRow], head: tuple[int, str] | None) -> Verification:
    chain = _Chain()
    for r in rows:
        bad = chain.step(r)
        if bad is not None:
            return Verification(False, len(rows), bad[0], bad[1])
    return chain.end(head, len(rows))


def verify_chain(db: Database, page: int = 5000, *, start: tuple[int, str] | None = None,
                 visit: Callable[[LedgerRow], None] | None = None) -> Verification:
    """The hash chain alone (sequence, links, hashes, JSON payloads, head pointer), read ``page``
    entries at a time from one snapshot: memory bounded by the page, whatever the ledger's length.
    ``start``: (seq, hash) of an entry verified before (:func:`verified_mark`); the entries after it
    are checked, and it must still have that hash. Unlike :func:`verify` it does not check the
    stored findings and statuses against the ledger; ``visit`` sees each entry that passed."""
    with db.atomic(write=False):
        head = db.ledger_head()
        entries = db.ledger_count()
        after = 0
        if start is not None:
            anchor = db.ledger_page(start[0] - 1, 1)
            if not anchor or (anchor[0].seq, anchor[0].hash) != tuple(start):
                return Verification(False, entries, f"entry {start[0]} no longer has the hash `truce ledger verify` "
                                                    "recorded (it was altered or removed since)", start[0])
            after = start[0]
        chain = _Chain(start)
        while True:
            rows = db.ledger_page(after, page)
            for r in rows:
                bad = chain.step(r)
                if bad is not None:
                    return Verification(False, entries, bad[0], bad[1])
                if visit is not None:
                    visit(r)
            if len(rows) < page:
                break
            after = rows[-1].seq
    return chain.end(head, entries)


def _chain_of(url: str, start: tuple[int, str] | None) -> Verification:
    with Database(url, create=False) as db:
        return verify_chain(db, start=start)


ASIDE_OVER = 20_000  # entries to check: more, and the chain is checked in another process


class ChainAside:
    """:func:`verify_chain` in another process, started at once, while the caller does other work
    (a report is made on one core, the chain checked on another). A short chain (up to
    ``ASIDE_OVER`` entries to check), or a database only this process can open (SQLite in
    memory), is checked here when the result is asked for."""

    def __init__(self, db: Database, start: tuple[int, str] | None = None) -> None:
        self._db, self._start = db, start
        self._pool: Any = None
        self._future: Any = None
        if (db.ledger_count() - (start[0] if start else 0) > ASIDE_OVER
                and not (db.dialect == "sqlite" and db.engine.url.database in (None, "", ":memory:"))):
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"))
            self._future = self._pool.submit(_chain_of, db.engine.url.render_as_string(hide_password=False), start)

    def result(self) -> Verification:
        if self._future is None:
            return verify_chain(self._db, start=self._start)
        try:
            return self._future.result()
        finally:
            self.close()

    def close(self) -> None:
        """Stop waiting (the check still running ends on its own)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


VERIFIED = "ledger_verified"  # meta key: the last entry `truce ledger verify` found intact, and when


def record_verified(db: Database, v: Verification) -> None:
    """Remember an intact :func:`verify` (its last entry and the time), so that a later check of the
    chain (:func:`verify_chain` from :func:`verified_mark`) need only read the entries added since."""
    if v.ok and v.head and v.entries:
        db.set_meta(VERIFIED, json.dumps({"seq": v.entries, "hash": v.head, "at": now()}))


def verified_mark(db: Database) -> dict[str, Any] | None:
    """What :func:`record_verified` stored: {"seq", "hash", "at"}, or None."""
    raw = db.get_meta(VERIFIED)
    try:
        d = json.loads(raw) if raw else None
    except ValueError:
        return None
    ok = isinstance(d, dict) and isinstance(d.get("seq"), int) and isinstance(d.get("hash"), str)
    return d if ok else None


def verify(db: Database, page: int = 5000) -> Verification:
    """The chain, then the current state against it: every stored finding must be the
    content of the latest ledger entry about it (named by its ``ledger_seq``/``ledger_hash``),
    every finding the ledger holds as current must be stored, and every stored status
    observation must be the one the ledger logged last.

    Read ``page`` entries (and finding rows) at a time from one snapshot: what is held is one
    small record per subject (its latest entry's seq, kind, hash and digest), not the ledger."""
    latest: dict[str, tuple[int, str, str, Any]] = {}  # finding subject → (seq, kind, hash, digest)
    logged: dict[str, tuple[int, bytes]] = {}  # status subject → (seq, payload's digest)

    def visit(r: LedgerRow) -> None:
        if r.kind == "finding":
            payload = json.loads(r.payload)
            latest[r.subject] = (r.seq, r.kind, r.hash, payload.get("digest") if isinstance(payload, dict) else None)
        elif r.kind == "retired":
            latest[r.subject] = (r.seq, r.kind, r.hash, None)
        elif r.kind == "status":
            logged[r.subject] = (r.seq, _digest_text(r.payload))

    with db.atomic(write=False):
        v = verify_chain(db, page, visit=visit)
        if not v.ok:
            return v
        bad = _check_state_paged(db, latest, logged, page)
    if bad is not None:
        return Verification(False, v.entries, bad[0], bad[1], v.head)
    return v


def _entry(db: Database, seq: int) -> LedgerRow | None:
    rows = db.ledger_page(seq - 1, 1) if seq > 0 else []
    return rows[0] if rows and rows[0].seq == seq else None


def _check_state_paged(db: Database, latest: dict[str, tuple[int, str, str, Any]], logged: dict[str, tuple[int, bytes]],
                       page: int) -> tuple[str, int | None] | None:
    """The stored findings and statuses against the ledger, their rows read a page at a time,
    with the latest entries' records instead of the ledger; an entry a row names that is not the
    latest about it is read by its seq."""
    stored: set[str] = set()
    after: tuple[str, str] | None = None
    while True:
        found = db.findings_raw_page(after, page)
        for r in found:
            subject = f"{r['agreement_id']}/{r['incident_id']}"
            stored.add(subject)
            bad = _check_finding_row(db, r, subject, latest)
            if bad is not None:
                return bad
        if len(found) < page:
            break
        after = (found[-1]["incident_id"], found[-1]["agreement_id"])
    for subject, (seq, kind, _, _) in latest.items():
        if kind == "finding" and subject not in stored:
            entry = _entry(db, seq)
            if entry is not None and _finding_of(entry) is not None:
                return f"finding {subject}: recorded in ledger entry {seq} but missing from the findings table", seq
    status_after: tuple[str, str] | None = None
    while rows := db.agreement_status_raw_page(status_after, page):
        for r in rows:
            subject = f"{r['agreement_id']}/{r['claim_id']}"
            got = logged.get(subject)
            if got is None:
                return f"status {subject}: not recorded in the ledger (the row was forged)", None
            if got[1] != _digest_text(r["data"]):
                return (f"status {subject}: stored observation differs from ledger entry {got[0]} (the row was altered)",
                        got[0])
        status_after = (rows[-1]["agreement_id"], rows[-1]["claim_id"])
    return None


def _digest_text(text: str) -> bytes:
    """What the state check keeps of a status entry's payload (16 bytes, not the text)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _check_finding_row(db: Database, r: dict[str, Any], subject: str,
                       latest: dict[str, tuple[int, str, str, Any]]) -> tuple[str, int | None] | None:
    where = f"finding {subject}"
    try:
        f = Finding.from_dict(json.loads(r["data"]))
    except (ValueError, KeyError, TypeError):
        return f"{where}: stored data is not a finding (the row was altered)", None
    if (f.incident_id, f.agreement_id, f.verdict) != (r["incident_id"], r["agreement_id"], r["verdict"]):
        return f"{where}: stored verdict {r['verdict']!r} disagrees with its own data (the row was altered)", None
    if f.digest() != r["digest"]:
        return f"{where}: stored data does not match its digest (the row was altered)", None
    seq = r.get("ledger_seq")
    if seq is None:
        return f"{where}: not recorded in the ledger (run `truce run` to record it, or the row was forged)", None
    last = latest.get(subject)
    if last is not None and last[0] == seq:
        kind, h, digest, entry_subject = last[1], last[2], last[3], subject
    else:
        entry = _entry(db, seq)
        if entry is None:
            return f"{where}: names ledger entry {seq}, which is not its entry (the row was altered)", seq
        payload = json.loads(entry.payload)
        kind, h, entry_subject = entry.kind, entry.hash, entry.subject
        digest = payload.get("digest") if isinstance(payload, dict) else None
    if h != r.get("ledger_hash") or kind != "finding" or entry_subject != subject:
        return f"{where}: names ledger entry {seq}, which is not its entry (the row was altered)", seq
    if digest != r["digest"]:
        entry = _entry(db, seq)
        old = ((json.loads(entry.payload).get("finding") or {}).get("verdict")) if entry is not None else None
        return (f"{where}: stored verdict {r['verdict']!r} is not what ledger entry {seq} recorded ({old!r}); "
                "the row was altered"), seq
    if last is not None and last[0] != seq:
        return f"{where}: ledger entry {last[0]} superseded entry {seq}, which the row still shows (the row was altered)", seq
    return None


def verify_ledger(db: Database) -> Verification:
    """Library name for :func:`verify`."""
    return verify(db)


# --- findings and reviews -----------------------------------------------------------------

def finding_entries(findings: Sequence[tuple[Finding, str]], previous: dict[tuple[str, str], str],
                    verdict_of: dict[tuple[str, str], str]) -> list[Item]:
    """Ledger items for findings that are new or whose content changed (``previous``: key → digest)."""
    items: list[Item] = []
    for f, digest in findings:
        key = (f.incident_id, f.agreement_id)
        if previous.get(key) == digest:
            continue
        payload = {"finding": f, "digest": digest,  # written as the finding's canonical JSON (prepare)
                   "previous_verdict": verdict_of.get(key), "change": "new" if key not in previous else "updated"}
        items.append(("finding", f"{f.agreement_id}/{f.incident_id}", payload))
    return items


def retired_entries(removed: Iterable[tuple[str, str]], absorbed_by: dict[str, list[str]]) -> list[Item]:
    """Findings whose incident no longer exists (its claims now belong to other incidents)."""
    return [("retired", f"{aid}/{iid}", {"incident_id": iid, "agreement_id": aid,
                                          "claims_now_in": sorted(absorbed_by.get(iid, []))})
            for iid, aid in sorted(removed)]


def _finding_of(row: LedgerRow) -> Finding | None:
    """The finding a ``finding`` entry records (None for an entry of another shape)."""
    try:
        payload = json.loads(row.payload)
        if not isinstance(payload.get("digest"), str):
            return None
        return Finding.from_dict(payload["finding"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _append(db: Database, current: dict[tuple[str, str], tuple[Finding, LedgerRow]],
            items: list[tuple[str, str, dict[str, Any]]], author: str) -> tuple[list[LedgerRow], dict[tuple[str, str], tuple[int, str]]]:
    """Append ``items`` to the ledger; the (seq, hash) of the entry that now records each finding
    (the new entry where one was appended, else the current one)."""
    appended = prepare(db.ledger_tail(), items, author, now())
    db.ledger_append(appended)
    entries = {k: (row.seq, row.hash) for k, (_, row) in current.items()}
    for row, (kind, _, payload) in zip(appended, items):
        if kind == "finding":
            entries[(payload["finding"].incident_id, payload["finding"].agreement_id)] = (row.seq, row.hash)
    return appended, entries


def record_changes(db: Database, results: Sequence[tuple[Finding, str]], removed: Sequence[str],
                   agreement_ids: Sequence[str], author: str) -> list[LedgerRow]:
    """Log and store the findings of the incidents of some blocks: ``results``
    are the findings of the blocks' incidents, ``removed`` the ids of the blocks' incidents that
    no longer exist (stored incidents already replaced, in the caller's transaction). Reads the
    ledger only about these subjects (by its subject index); appends new or changed findings and
    retires the findings of removed incidents; writes only the finding rows that differ."""
    with db.atomic():
        db.lock_ledger()
        subjects = [f"{f.agreement_id}/{f.incident_id}" for f, _ in results]
        subjects += [f"{aid}/{iid}" for iid in removed for aid in agreement_ids]
        current: dict[tuple[str, str], tuple[Finding, LedgerRow]] = {}
        for row in db.ledger_latest_about(subjects, ("finding", "retired")).values():
            f = _finding_of(row) if row.kind == "finding" else None
            if f is not None:
                current[(f.incident_id, f.agreement_id)] = (f, row)
        previous = {k: json.loads(row.payload)["digest"] for k, (_, row) in current.items()}
        prev_verdicts = {k: f.verdict for k, (f, _) in current.items()}
        items = finding_entries(results, previous, prev_verdicts)
        gone = set(removed)
        removed_keys = sorted(k for k in current if k[0] in gone)
        absorbed: dict[str, list[str]] = {}
        if removed_keys:
            old_claims = {k[0]: [e.claim for e in current[k][0].evidence] for k in removed_keys}
            home = db.incidents_of_claims(sorted({c for cs in old_claims.values() for c in cs}))
            absorbed = {iid: sorted({home[c] for c in cs if c in home}) for iid, cs in old_claims.items()}
        items += retired_entries(removed_keys, absorbed)
        appended, entries = _append(db, current, items, author)
        stored = db.finding_digests_of(sorted({f.incident_id for f, _ in results} | gone))
        logged = {(p["finding"].incident_id, p["finding"].agreement_id) for k, _, p in items if k == "finding"}
        write = [(f, d) for f, d in results
                 if stored.get((f.incident_id, f.agreement_id)) != d or (f.incident_id, f.agreement_id) in logged]
        drop = sorted(k for k in stored if k[0] in gone)
        db.write_findings(write, entries, drop)
    return appended


def retire_agreements(db: Database, agreement_ids: Sequence[str], author: str) -> list[LedgerRow]:
    """Retire the findings stored under agreements that are no longer loaded, and drop them."""
    with db.atomic():
        db.lock_ledger()
        keys = db.finding_keys_of_agreements(agreement_ids)
        latest = db.ledger_latest_about([f"{aid}/{iid}" for iid, aid in keys], ("finding", "retired"))
        live = [k for k in keys if (row := latest.get(f"{k[1]}/{k[0]}")) is not None and row.kind == "finding"]
        appended = prepare(db.ledger_tail(), retired_entries(live, {}), author, now())
        db.ledger_append(appended)
        db.write_findings([], {}, keys)
    return appended


def record_status(db: Database, batches: Iterable[Sequence[StatusObservation]], author: str,
                  scope: Iterable[tuple[str, str]] | None = None) -> int:
    """Log the status observations that are new or changed and store them, a batch at a time,
    then drop the stored rows no batch held: every row, or those of ``scope`` ((agreement id,
    claim id): the rows the batches recomputed). One transaction; returns the entries appended."""
    appended = 0
    with db.atomic():
        db.lock_ledger()
        tail, created, seen = db.ledger_tail(), now(), set()
        for status in batches:
            keys = [(r.agreement_id, r.claim_id) for r in status]
            seen.update(keys)
            logged = db.ledger_latest_about([f"{k[0]}/{k[1]}" for k in keys], ("status",))
            stored = db.agreement_status_data(keys)
            items: list[Item] = []
            changed = []
            for key, r in zip(keys, status):
                text = canonical_json(r.to_dict())
                if (row := logged.get(f"{key[0]}/{key[1]}")) is None or row.payload != text:
                    items.append(("status", f"{key[0]}/{key[1]}", r.to_dict()))
                if stored.get(key) != text:
                    changed.append(r)
            rows = prepare(tail, items, author, created)
            db.ledger_append(rows)
            tail = (rows[-1].seq, rows[-1].hash) if rows else tail
            appended += len(rows)
            db.write_agreement_status(changed)
        db.write_agreement_status([], drop=[k for k in (db.agreement_status_keys() if scope is None else scope)
                                            if k not in seen])
    return appended


def add_review(db: Database, incident_id: str, agreement_id: str, verdict: str, note: str, author: str) -> dict[str, Any]:
    """Append an analyst's signed-off review beside the machine finding (never replacing it)."""
    if verdict not in VERDICTS:
        raise LedgerError(f"unknown verdict {verdict!r} (use one of {', '.join(VERDICTS)})")
    if not author or not author.strip():
        raise LedgerError("a review needs an author (--author or TRUCE_AUTHOR)")
    current = {f.incident_id + "/" + f.agreement_id: (f, _) for f, _ in db.findings(agreement_id)}
    key = f"{incident_id}/{agreement_id}"
    if key not in current:
        raise LedgerError(f"no finding for incident {incident_id} under agreement {agreement_id}")
    f = current[key][0]
    payload = {"incident_id": incident_id, "agreement_id": agreement_id, "verdict": verdict, "note": note,
               "machine_verdict": f.verdict, "finding_digest": f.digest()}
    rows = append(db, [("review", f"{agreement_id}/{incident_id}", payload)], author)
    return rows[0].to_dict()


def latest_reviews(db: Database) -> dict[str, dict[str, Any]]:
    """subject → latest review entry (payload plus author and time)."""
    out: dict[str, dict[str, Any]] = {}
    for subject, row in db.ledger_latest(("review",)).items():  # only review entries are read and decoded
        e = row.decoded()
        out[subject] = {**e.payload, "author": e.author, "created_at": e.created_at, "seq": e.seq}
    return out


# --- export and signatures ---------------------------------------------------------------

def _load_key() -> Any | None:
    """The Ed25519 signing key from TRUCE_LEDGER_KEY: a PEM file path or a base64 32-byte seed."""
    val = os.environ.get("TRUCE_LEDGER_KEY")
    if not val:
        return None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if os.path.exists(val):
        data = Path(val).read_bytes()
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise LedgerError("TRUCE_LEDGER_KEY is not an Ed25519 private key", path=val)
        return key
    try:
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(val))
    except ValueError as e:
        raise LedgerError("TRUCE_LEDGER_KEY is neither a key file nor a base64 32-byte seed") from e


def generate_key(path: Path) -> str:
    """Write a new Ed25519 private key (PEM) and return the public key (base64)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    # 0600 from the first byte, O_EXCL|O_NOFOLLOW: never through a (dangling) symbolic link
    create_secret(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return _public_b64(key)


def _public_b64(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return base64.b64encode(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                          serialization.PublicFormat.Raw)).decode()


def export(db: Database, out: IO[str]) -> dict[str, Any]:
    """Write the ledger as JSON Lines: a head line, then one line per entry."""
    v = verify(db)
    if not v.ok:
        raise LedgerError(f"refusing to export a broken ledger: {v.reason}")
    rows = db.ledger_raw()
    head = {"format": FORMAT, "entries": len(rows), "head_seq": rows[-1].seq if rows else 0,
            "head_hash": rows[-1].hash if rows else GENESIS}
    signed = canonical_json(head)
    line: dict[str, Any] = {"head": head, "signed": signed}
    key = _load_key()
    if key is not None:
        line["signature"] = base64.b64encode(key.sign(signed.encode())).decode()
        line["public_key"] = _public_b64(key)
        line["algorithm"] = "Ed25519"
    out.write(json.dumps(line, ensure_ascii=False) + "\n")
    for r in rows:
        out.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
    return line


_ROW_TYPES = {"seq": int, "kind": str, "subject": str, "payload": str, "author": str, "created_at": str,
              "prev_hash": str, "hash": str}


def _json_line(line: str | bytes) -> Any:
    if isinstance(line, bytes):
        line = line.decode("utf-8")  # UnicodeDecodeError is a ValueError
    return json.loads(line)


def verify_export(lines: Iterable[str | bytes], public_key: str | None = None) -> Verification:
    """Check an exported ledger file without the database. Total: any malformed line is
    a failed verification naming the line, never an exception."""
    it = iter(lines)
    try:
        first = _json_line(next(it))
    except StopIteration:
        return Verification(False, 0, "line 1: not a ledger export (missing head line)", 1)
    except (ValueError, RecursionError):
        return Verification(False, 0, "line 1: not a ledger export (the head line is not JSON)", 1)
    if not isinstance(first, dict) or not isinstance(first.get("head"), dict) or not isinstance(first.get("signed"), str):
        return Verification(False, 0, "line 1: not a ledger export (no head object and signed form)", 1)
    head = first["head"]
    if first["signed"] != canonical_json(head):
        return Verification(False, 0, "line 1: head does not match its signed form", 1)
    head_seq, head_hash = head.get("head_seq", 0), head.get("head_hash", GENESIS)
    if not isinstance(head_seq, int) or isinstance(head_seq, bool) or not isinstance(head_hash, str):
        return Verification(False, 0, "line 1: head_seq must be a number and head_hash a string", 1)
    rows: list[LedgerRow] = []
    for n, line in enumerate(it, start=2):
        try:
            d = _json_line(line)
        except (ValueError, RecursionError):
            return Verification(False, len(rows), f"line {n}: not valid JSON", n - 1)
        if not isinstance(d, dict) or any(not isinstance(d.get(k), t) or isinstance(d.get(k), bool)
                                          for k, t in _ROW_TYPES.items()):
            return Verification(False, len(rows), f"line {n}: not a ledger entry (fields {', '.join(_ROW_FIELDS)} "
                                                  "with their types)", n - 1)
        rows.append(LedgerRow(**{k: d[k] for k in _ROW_FIELDS}))
    pk = public_key or first.get("public_key")
    signature = first.get("signature")
    if signature or public_key:
        if not signature:
            return Verification(False, len(rows), "head is not signed but a public key was given", None)
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            if not isinstance(pk, str) or not isinstance(signature, str):
                raise ValueError
            Ed25519PublicKey.from_public_bytes(base64.b64decode(pk, validate=True)).verify(
                base64.b64decode(signature, validate=True), first["signed"].encode("utf-8", "surrogatepass"))
        except (InvalidSignature, ValueError, TypeError):
            return Verification(False, len(rows), "head signature does not verify with the public key", None)
    head_t = (head_seq, head_hash) if rows or head_seq else None
    try:
        return verify_rows(rows, head_t)
    except (UnicodeEncodeError, RecursionError):  # a lone surrogate in a field, a payload nested too deeply
        return Verification(False, len(rows), "an entry holds text that cannot be hashed (invalid Unicode)", None)
