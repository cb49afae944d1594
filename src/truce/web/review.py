"""The review workflow in the browser and the API, all of it in the ledger.

1. An analyst (or a lead) proposes a review of a finding: :func:`truce.ledger.add_review`,
   a ``review`` entry authored by that user.
2. A lead other than its author signs it off: a ``signoff`` entry naming the review's
   sequence number and hash (four eyes: nobody signs their own review).
3. A lead publishes a finding: a ``publish`` entry with the finding's digest and verdict
   (and the signed review it rests on, if any); the public and viewers see it from then on.
"""

from __future__ import annotations

from typing import Any

from truce.db import Database
from truce.errors import LedgerError
from truce.ledger import add_review, append
from truce.web.auth import User


class ReviewError(LedgerError):
    """A review action that is not allowed or names nothing that exists."""


def propose(db: Database, user: User, incident_id: str, agreement_id: str, verdict: str, note: str) -> dict[str, Any]:
    if not user.may_review or not user.name:
        raise ReviewError("only an analyst or a lead may propose a review")
    if not (note or "").strip():
        raise ReviewError("a review needs a note: the reasoning shown beside the machine trace")
    return add_review(db, incident_id, agreement_id, verdict, note.strip(), user.name)


def sign(db: Database, user: User, review_seq: int) -> dict[str, Any]:
    if not user.may_sign or not user.name:
        raise ReviewError("only a lead may sign a review")
    entry = db.ledger_entry(review_seq)
    if entry is None or entry.kind != "review":
        raise ReviewError(f"no review at ledger entry {review_seq}")
    if entry.author == user.name:
        raise ReviewError("a review is signed by a lead other than its author")
    done = [e for e in db.ledger_about([entry.subject], ["signoff"]) if e.payload.get("review_seq") == review_seq]
    if done:
        raise ReviewError(f"review {review_seq} was signed by {done[0].author} (entry {done[0].seq})")
    payload = {"review_seq": entry.seq, "review_hash": entry.hash, "incident_id": entry.payload.get("incident_id"),
               "agreement_id": entry.payload.get("agreement_id"), "verdict": entry.payload.get("verdict"),
               "review_author": entry.author}
    with db.atomic():
        rows = append(db, [("signoff", entry.subject, payload)], user.name)
    return rows[0].to_dict()


def publish(db: Database, user: User, incident_id: str, agreement_id: str) -> dict[str, Any]:
    if not user.may_sign or not user.name:
        raise ReviewError("only a lead may publish a finding")
    found = [f for f, _ in db.findings_of([incident_id]) if f.agreement_id == agreement_id]
    if not found:
        raise ReviewError(f"no finding for incident {incident_id} under agreement {agreement_id}")
    f = found[0]
    subject = f"{agreement_id}/{incident_id}"
    about = db.ledger_about([subject], ["review", "signoff"])
    signed = {e.payload.get("review_seq") for e in about if e.kind == "signoff"}
    reviews = [e for e in about if e.kind == "review" and e.seq in signed]
    payload = {"incident_id": incident_id, "agreement_id": agreement_id, "verdict": f.verdict,
               "finding_digest": f.digest(), "signed_review_seq": reviews[-1].seq if reviews else None,
               "reviewed_verdict": reviews[-1].payload.get("verdict") if reviews else None}
    with db.atomic():
        rows = append(db, [("publish", subject, payload)], user.name)
        db.publish(incident_id, agreement_id, rows[0].seq, user.name)
    return rows[0].to_dict()


def reviews_with_state(db: Database, subjects: list[str]) -> list[dict[str, Any]]:
    """Every review of these findings with its sign-off (or None) and the finding's publications."""
    about = db.ledger_about(subjects, ["review", "signoff", "publish"])
    signoffs = {e.payload.get("review_seq"): e for e in about if e.kind == "signoff"}
    out = []
    for e in about:
        if e.kind != "review":
            continue
        s = signoffs.get(e.seq)
        out.append({**e.payload, "seq": e.seq, "hash": e.hash, "subject": e.subject, "author": e.author,
                    "created_at": e.created_at,
                    "signoff": {"seq": s.seq, "by": s.author, "at": s.created_at, "hash": s.hash} if s else None})
    return out
