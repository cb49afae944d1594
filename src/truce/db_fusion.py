"""Storage of incremental fusion: a mixin of :class:`truce.db.Database`.

Four tables (migration ``040_fusion_blocks``):

- ``claim_blocks``: the block (:func:`truce.fuse.block_of`) each claim fusion reads was
  fused in, indexed by block and by report: a block's claims are one indexed query;
- ``incident_blocks``: the block each stored incident belongs to;
- ``fused_reports``: what fusion last saw of each report (its extraction, the external id
  it is shown by, its syndication group's canonical report, whether it has negotiation
  claims): a report whose extraction or group differs is new to fusion;
- ``dirty_blocks``: blocks waiting to be re-decided, a durable work queue written in the
  same transaction as the claim blocks, cleared in the transaction that stores each block's
  incidents, findings and ledger entries (a crash anywhere leaves the work queued).

The tables are in :mod:`truce.schema`.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Iterable, Iterator, NamedTuple, Sequence

import sqlalchemy as sa

import truce.schema as _s

from truce.records import (Claim, FireCandidate, Finding, Incident, LedgerRow, PhysicalEvidence, StatusObservation,
                           canonical_json)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

CHUNK = 500


def _chunks(seq: Sequence[Any], n: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


class PlacedClaim(NamedTuple):
    """A stored claim's id, report, kind and place columns (what decides its fusion block), with
    its JSON undecoded until :meth:`claim`."""

    id: str
    report_id: str
    kind: str
    facility_id: str | None
    region_code: str | None
    country: str | None
    data: str

    def claim(self) -> Claim:
        return Claim.from_dict(json.loads(self.data))


class FusionStore:
    """Incremental fusion's queries and writes (mixed into ``Database``)."""

    if TYPE_CHECKING:
        def atomic(self, write: bool = True) -> AbstractContextManager[Connection]: ...
        def _upsert(self, conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
                    keys: Sequence[str], update: bool = True) -> None: ...

    # --- what is new to fusion -------------------------------------------------------------

    def fusion_changed_reports(self, among: Sequence[str] | None = None) -> list[str]:
        """Reports whose extraction, or the external id they are shown by, differs from what
        fusion last saw (new reports included); of ``among`` only, when given. Indexed joins;
        no claim or text is read."""
        t = _s
        ex, fr = t.extractions, t.fused_reports
        ext_q = sa.select(t.report_inputs.c.report_id.label("rid"),
                          sa.func.min(t.report_inputs.c.external_id).label("eid")).group_by(t.report_inputs.c.report_id)

        def query(ids: Sequence[str] | None) -> Any:
            sub = (ext_q if ids is None else ext_q.where(t.report_inputs.c.report_id.in_(ids))).subquery()
            j = ex.outerjoin(fr, fr.c.report_id == ex.c.report_id).outerjoin(sub, sub.c.rid == ex.c.report_id)
            q = sa.select(ex.c.report_id).select_from(j).where(sa.or_(
                fr.c.report_id.is_(None), fr.c.extractor != ex.c.extractor, fr.c.extracted_at != ex.c.extracted_at,
                fr.c.n_claims != ex.c.n_claims, fr.c.external_id != sa.func.coalesce(sub.c.eid, ex.c.report_id)))
            return q if ids is None else q.where(ex.c.report_id.in_(ids))

        with self.atomic(write=False) as conn:
            if among is None:
                return sorted(r[0] for r in conn.execute(query(None)))
            out: list[str] = []
            for chunk in _chunks(sorted(set(among))):
                out += [r[0] for r in conn.execute(query(list(chunk)))]
            return sorted(out)

    def fused_canonicals(self, ids: Sequence[str] | None = None) -> dict[str, str]:
        """report id → the canonical report of its syndication group, as fusion last used it
        (of ``ids``, when given)."""
        fr = _s.fused_reports
        q = sa.select(fr.c.report_id, fr.c.canonical)
        with self.atomic(write=False) as conn:
            if ids is None:
                return {r[0]: r[1] for r in conn.execute(q)}
            out: dict[str, str] = {}
            for chunk in _chunks(sorted(set(ids))):
                out.update((r[0], r[1]) for r in conn.execute(q.where(fr.c.report_id.in_(chunk))))
            return out

    def syndicated_count(self) -> int:
        """Syndication groups (of two or more reports) as fusion last used them."""
        fr = _s.fused_reports
        q = sa.select(sa.func.count(sa.distinct(fr.c.canonical))).where(fr.c.canonical != fr.c.report_id)
        with self.atomic(write=False) as conn:
            return int(conn.execute(q).scalar_one())

    def report_snapshot(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """For each report: its extraction (extractor, extracted_at, n_claims), the external id it is
        shown by (the smallest it was ingested with) and how many negotiation claims it has."""
        t = _s
        out: dict[str, dict[str, Any]] = {}
        with self.atomic(write=False) as conn:
            for chunk in _chunks(list(ids)):
                for r in conn.execute(sa.select(t.extractions.c.report_id, t.extractions.c.extractor,
                                                t.extractions.c.extracted_at, t.extractions.c.n_claims)
                                      .where(t.extractions.c.report_id.in_(chunk))):
                    out[r[0]] = dict(report_id=r[0], extractor=r[1], extracted_at=r[2], n_claims=r[3],
                                     external_id=r[0], negotiation=0)
                for rid, eid in conn.execute(sa.select(t.report_inputs.c.report_id, sa.func.min(t.report_inputs.c.external_id))
                                             .where(t.report_inputs.c.report_id.in_(chunk))
                                             .group_by(t.report_inputs.c.report_id)):
                    if rid in out:
                        out[rid]["external_id"] = eid
                # counted by report (the report index), not filtered by kind: SQLite without
                # statistics read every negotiation claim through the (kind, date) index instead
                for rid, n in conn.execute(sa.select(t.claims.c.report_id, sa.func.count(sa.case((t.claims.c.kind == "negotiation", 1))))
                                           .where(t.claims.c.report_id.in_(chunk))
                                           .group_by(t.claims.c.report_id)):
                    if rid in out and n:
                        out[rid]["negotiation"] = int(n)
        return out

    def with_negotiation(self, ids: Sequence[str]) -> set[str]:
        """Those of these reports in which fusion last saw negotiation claims."""
        fr = _s.fused_reports
        out: set[str] = set()
        with self.atomic(write=False) as conn:
            for chunk in _chunks(list(ids)):
                out.update(r[0] for r in conn.execute(sa.select(fr.c.report_id).where(
                    sa.and_(fr.c.report_id.in_(chunk), fr.c.negotiation > 0))))
        return out

    def report_metas(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """What grading needs of each report (no text): external id (the smallest it was ingested
        with), source, kind, affiliation, url, published, and the syndication canonical fusion uses."""
        t = _s
        r, fr = t.reports, t.fused_reports
        out: dict[str, dict[str, Any]] = {}
        with self.atomic(write=False) as conn:
            for chunk in _chunks(sorted(set(ids))):
                q = sa.select(r.c.id, r.c.source, r.c.source_kind, r.c.affiliation, r.c.url, r.c.published,
                              fr.c.canonical).select_from(r.outerjoin(fr, fr.c.report_id == r.c.id)).where(r.c.id.in_(chunk))
                for row in conn.execute(q):
                    out[row[0]] = dict(report_id=row[0], external_id=row[0], source=row[1],
                                       source_kind=row[2] or "unknown", affiliation=row[3], url=row[4],
                                       published=row[5], canonical=row[6] or row[0])
                for rid, eid in conn.execute(sa.select(t.report_inputs.c.report_id, sa.func.min(t.report_inputs.c.external_id))
                                             .where(t.report_inputs.c.report_id.in_(chunk))
                                             .group_by(t.report_inputs.c.report_id)):
                    if rid in out:
                        out[rid]["external_id"] = eid
        return out

    def placed_claims_of_reports(self, ids: Sequence[str]) -> list[PlacedClaim]:
        """The claims of these reports as their place columns, each claim's JSON read only when
        asked: what filing claims into blocks needs (a claim decoded costs more than the rest)."""
        c = _s.claims
        out: list[PlacedClaim] = []
        with self.atomic(write=False) as conn:
            for chunk in _chunks(list(ids)):
                q = sa.select(c.c.id, c.c.report_id, c.c.kind, c.c.facility_id, c.c.region_code, c.c.country,
                              c.c.data).where(c.c.report_id.in_(chunk)).order_by(c.c.report_id, c.c.idx)
                out += [PlacedClaim(*r) for r in conn.execute(q)]
        return out

    def claims_of_reports(self, ids: Sequence[str]) -> list[Claim]:
        return [p.claim() for p in self.placed_claims_of_reports(ids)]

    # --- the plan: claims into blocks, blocks queued ---------------------------------------

    def queue_blocks(self, report_blocks: dict[str, list[tuple[str, str]]], snapshot: Sequence[dict[str, Any]],
                     extra: Iterable[str] = (), *, everything: bool = False) -> set[str]:
        """In one transaction: the claims of these reports now lie in these blocks
        (``report id → [(claim id, block)]``), fusion has seen these reports (``snapshot`` rows of
        ``fused_reports``), and every block a claim leaves or enters, plus ``extra``, is queued
        (``extra`` marked to have ``everything`` evaluated, when asked). Returns the blocks queued."""
        cb, fr, db_ = _s.claim_blocks, _s.fused_reports, _s.dirty_blocks
        queued: set[str] = set()
        ids = list(report_blocks)
        with self.atomic() as conn:
            for chunk in _chunks(ids):
                queued |= {r[0] for r in conn.execute(sa.select(cb.c.block).where(cb.c.report_id.in_(chunk)).distinct())}
                conn.execute(cb.delete().where(cb.c.report_id.in_(chunk)))
            rows = [dict(claim_id=cid, report_id=rid, block=b) for rid in ids for cid, b in report_blocks[rid]]
            queued |= {r["block"] for r in rows}
            for chunk in _chunks(rows, 5000):
                conn.execute(cb.insert(), list(chunk))
            self._upsert(conn, fr, list(snapshot), ["report_id"])
            self._upsert(conn, db_, [dict(block=b, everything=0) for b in sorted(queued)], ["block"], update=False)
            extra = sorted(set(extra))
            self._upsert(conn, db_, [dict(block=b, everything=int(everything)) for b in extra], ["block"],
                         update=everything)
        return queued | set(extra)

    def queued_blocks(self) -> dict[str, bool]:
        """Blocks waiting to be re-decided → whether every incident of it is to be evaluated."""
        db_ = _s.dirty_blocks
        with self.atomic(write=False) as conn:
            return {r[0]: bool(r[1]) for r in conn.execute(sa.select(db_.c.block, db_.c.everything).order_by(db_.c.block))}

    def fusion_blocks(self) -> set[str]:
        """Every block that holds claims or incidents."""
        t = _s
        with self.atomic(write=False) as conn:
            return ({r[0] for r in conn.execute(sa.select(t.claim_blocks.c.block).distinct())}
                    | {r[0] for r in conn.execute(sa.select(t.incident_blocks.c.block).distinct())})

    def block_sizes(self, blocks: Sequence[str]) -> dict[str, int]:
        cb = _s.claim_blocks
        out = dict.fromkeys(blocks, 0)
        with self.atomic(write=False) as conn:
            for chunk in _chunks(list(blocks)):
                out.update({r[0]: int(r[1]) for r in conn.execute(
                    sa.select(cb.c.block, sa.func.count()).where(cb.c.block.in_(chunk)).group_by(cb.c.block))})
        return out

    def block_claims(self, blocks: Sequence[str]) -> list[Claim]:
        """The stored claims of these blocks (one indexed query per 500 blocks)."""
        return self._claims_linked(_s.claim_blocks, _s.claim_blocks.c.block, blocks)

    def _claims_linked(self, link: sa.Table, key: sa.Column, keys: Sequence[str]) -> list[Claim]:
        """The stored claims a link table (with a ``claim_id`` column) ties to these keys."""
        c = _s.claims
        out: list[Claim] = []
        with self.atomic(write=False) as conn:
            for chunk in _chunks(list(keys)):
                q = sa.select(c.c.data).select_from(c.join(link, link.c.claim_id == c.c.id)).where(key.in_(chunk))
                out += [Claim.from_dict(json.loads(r[0])) for r in conn.execute(q)]
        return out

    def block_incidents_between(self, block: str, first: str, last: str, *, undated: bool = False) -> list[str]:
        """Ids of the stored incidents of ``block`` dated ``first``..``last`` (ISO days), and its
        undated ones when asked."""
        t = _s
        ib, inc = t.incident_blocks, t.incidents
        when = sa.and_(inc.c.date >= first, inc.c.date <= last)
        q = sa.select(inc.c.id).select_from(inc.join(ib, ib.c.incident_id == inc.c.id)).where(
            sa.and_(ib.c.block == block, sa.or_(when, inc.c.date.is_(None)) if undated else when))
        with self.atomic(write=False) as conn:
            return sorted(r[0] for r in conn.execute(q))

    def blocks_of_reports(self, ids: Sequence[str]) -> set[str]:
        """The blocks the claims of these reports are filed in now."""
        cb = _s.claim_blocks
        out: set[str] = set()
        with self.atomic(write=False) as conn:
            for chunk in _chunks(list(ids)):
                out |= {r[0] for r in conn.execute(sa.select(cb.c.block).where(cb.c.report_id.in_(chunk)).distinct())}
        return out

    def claims_of_incidents(self, ids: Sequence[str]) -> list[Claim]:
        """The stored claims linked to these incidents."""
        return self._claims_linked(_s.incident_claims, _s.incident_claims.c.incident_id, ids)

    def incident_ids_stored(self, ids: Sequence[str]) -> set[str]:
        """Which of these incident ids are stored."""
        inc = _s.incidents
        out: set[str] = set()
        with self.atomic(write=False) as conn:
            for chunk in _chunks(sorted(set(ids))):
                out |= {r[0] for r in conn.execute(sa.select(inc.c.id).where(inc.c.id.in_(chunk)))}
        return out

    # --- storing re-decided blocks -----------------------------------------------------------

    def store_block_incidents(self, blocks: Sequence[str], items: Sequence[tuple[str, Incident]],
                              replacing: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
        """Make the stored incidents of ``blocks`` exactly ``items`` ((block, incident));
        incidents of other blocks are untouched. With ``replacing`` (incident ids), only those
        are replaced by ``items`` (a time slice of a block: :func:`truce.pipeline.fuse_slice`).
        Returns (ids added or changed, ids removed)."""
        t = _s
        ib, inc, links = t.incident_blocks, t.incidents, t.incident_claims
        with self.atomic() as conn:
            old_ids: list[str] = list(replacing or ())
            for chunk in _chunks(list(blocks) if replacing is None else []):
                old_ids += [r[0] for r in conn.execute(sa.select(ib.c.incident_id).where(ib.c.block.in_(chunk)))]
            old: dict[str, str] = {}
            new = {i.id: canonical_json(i.to_dict()) for _, i in items}
            for chunk in _chunks(sorted(set(old_ids) | set(new))):
                old.update({r[0]: r[1] for r in conn.execute(sa.select(inc.c.id, inc.c.data).where(inc.c.id.in_(chunk)))})
            removed = sorted(set(old_ids) - set(new))
            changed = sorted(k for k, v in new.items() if old.get(k) != v)
            for chunk in _chunks(removed):
                conn.execute(links.delete().where(links.c.incident_id.in_(chunk)))
                conn.execute(inc.delete().where(inc.c.id.in_(chunk)))
                conn.execute(ib.delete().where(ib.c.incident_id.in_(chunk)))
            for chunk in _chunks(changed):
                conn.execute(links.delete().where(links.c.incident_id.in_(chunk)))
            stamp = t.now()
            by_id = {i.id: (b, i) for b, i in items}
            rows, link_rows, block_rows = [], [], []
            for iid in changed:
                b, i = by_id[iid]
                rows.append(dict(id=i.id, date=i.date, country=i.country, region_code=i.region_code,
                                 facility_id=i.facility_id, facility_type=i.facility_type, grade=i.grade,
                                 data=new[iid], updated_at=stamp))
                link_rows += [dict(incident_id=i.id, claim_id=c.claim_id, joined_because=c.joined_because) for c in i.claims]
                block_rows.append(dict(incident_id=i.id, block=b))
            self._upsert(conn, inc, rows, ["id"])
            self._upsert(conn, links, link_rows, ["incident_id", "claim_id"])
            self._upsert(conn, ib, block_rows, ["incident_id"])
        return changed, removed

    def store_block_physical(self, incident_ids: Sequence[str], facility_ids: Sequence[str],
                             evidence: Sequence[PhysicalEvidence], candidates: Sequence[FireCandidate]) -> None:
        """Replace the physical evidence of these incidents and the candidates at these facilities."""
        t = _s
        pe, fc = t.physical_evidence, t.fire_candidates
        with self.atomic() as conn:
            for chunk in _chunks(list(incident_ids)):
                conn.execute(pe.delete().where(pe.c.incident_id.in_(chunk)))
            for chunk in _chunks(list(facility_ids)):
                conn.execute(fc.delete().where(fc.c.facility_id.in_(chunk)))
            self._upsert(conn, pe, [dict(incident_id=e.incident_id, verdict=e.verdict, data=canonical_json(e.to_dict()))
                                    for e in evidence], ["incident_id"])
            self._upsert(conn, fc, [dict(id=c.id, facility_id=c.facility_id, date=c.date, data=canonical_json(c.to_dict()))
                                    for c in candidates], ["id"])

    def done_blocks(self, blocks: Sequence[str]) -> None:
        db_ = _s.dirty_blocks
        with self.atomic() as conn:
            for chunk in _chunks(list(blocks)):
                conn.execute(db_.delete().where(db_.c.block.in_(chunk)))

    # --- findings of some incidents -------------------------------------------------------------

    def finding_digests_of(self, incident_ids: Sequence[str]) -> dict[tuple[str, str], str]:
        f = _s.findings
        out: dict[tuple[str, str], str] = {}
        with self.atomic(write=False) as conn:
            for chunk in _chunks(list(incident_ids)):
                out.update({(r[0], r[1]): r[2] for r in conn.execute(
                    sa.select(f.c.incident_id, f.c.agreement_id, f.c.digest).where(f.c.incident_id.in_(chunk)))})
        return out

    def agreement_status_count(self) -> int:
        a = _s.agreement_status
        with self.atomic(write=False) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(a)).scalar_one())

    def negotiation_days(self, page: int = 2_000) -> Iterator[list[Claim]]:
        """Every negotiation claim, a page of whole days at a time: dated claims in date order
        (a page ends with the whole of its last day), then the undated ones by id."""
        c = _s.claims
        base = sa.select(c.c.id, c.c.date, c.c.data).where(c.c.kind == "negotiation")
        after: tuple[str, str] | None = None
        while True:
            q = base.where(c.c.date.is_not(None)).order_by(c.c.date, c.c.id).limit(page)
            if after is not None:
                q = q.where(sa.or_(c.c.date > after[0], sa.and_(c.c.date == after[0], c.c.id > after[1])))
            with self.atomic(write=False) as conn:
                rows = list(conn.execute(q).all())
                if not rows:
                    break
                last_day, last_id = rows[-1][1], rows[-1][0]
                rows += conn.execute(base.where(c.c.date == last_day, c.c.id > last_id).order_by(c.c.id)).all()
            after = (last_day, rows[-1][0])
            yield [Claim.from_dict(json.loads(r[2])) for r in rows]
        last = ""
        while True:
            with self.atomic(write=False) as conn:
                rows = list(conn.execute(base.where(c.c.date.is_(None), c.c.id > last).order_by(c.c.id).limit(page)))
            if not rows:
                return
            last = rows[-1][0]
            yield [Claim.from_dict(json.loads(r[2])) for r in rows]

    def agreement_status_data(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """(agreement id, claim id) → the stored status row's JSON, for those of ``keys`` stored."""
        a = _s.agreement_status
        by_agreement: dict[str, set[str]] = {}
        for aid, cid in keys:
            by_agreement.setdefault(aid, set()).add(cid)
        out: dict[tuple[str, str], str] = {}
        with self.atomic(write=False) as conn:
            # per agreement: the primary key (agreement, claim) finds the rows; claim ids alone
            # scanned the whole table for every chunk (half of the status stage at 100,000 reports)
            for aid, cids in sorted(by_agreement.items()):
                for chunk in _chunks(sorted(cids)):
                    out.update({(r[0], r[1]): r[2] for r in conn.execute(
                        sa.select(a.c.agreement_id, a.c.claim_id, a.c.data).where(
                            a.c.agreement_id == aid, a.c.claim_id.in_(chunk)))})
        return out

    def write_agreement_status(self, rows: Sequence[StatusObservation], drop: Sequence[tuple[str, str]] = ()) -> None:
        """Store ``rows`` (replacing the stored rows of their keys) and delete the rows of ``drop``."""
        a = _s.agreement_status
        values = [dict(agreement_id=r.agreement_id, claim_id=r.claim_id, status=r.status, date=r.date,
                       data=canonical_json(r.to_dict())) for r in rows]
        _s.check_rows(a, values)
        with self.atomic() as conn:
            gone: dict[str, list[str]] = {}
            for aid, cid in sorted({(r.agreement_id, r.claim_id) for r in rows} | set(drop)):
                gone.setdefault(aid, []).append(cid)
            for aid, cids in gone.items():
                for chunk in _chunks(cids):
                    conn.execute(a.delete().where(a.c.agreement_id == aid, a.c.claim_id.in_(chunk)))
            for chunk in _chunks(values, 2_000):
                conn.execute(a.insert(), list(chunk))

    def agreement_status_keys(self, days: Sequence[str] | None = None) -> list[tuple[str, str]]:
        """(agreement id, claim id) of the stored status rows (of those ``days`` only, when given)."""
        a = _s.agreement_status
        q = sa.select(a.c.agreement_id, a.c.claim_id)
        with self.atomic(write=False) as conn:
            if days is None:
                return [(r[0], r[1]) for r in conn.execute(q)]
            return [(r[0], r[1]) for chunk in _chunks(sorted(days)) for r in conn.execute(q.where(a.c.date.in_(chunk)))]

    def agreement_status_of_reports(self, report_ids: Sequence[str]) -> list[tuple[str, str, str | None]]:
        """(agreement id, claim id, date) of the stored status rows of these reports' claims
        (claim ids are ``report:index``: a range of the primary key per agreement)."""
        a = _s.agreement_status
        out: list[tuple[str, str, str | None]] = []
        with self.atomic(write=False) as conn:
            aids = [r[0] for r in conn.execute(sa.select(a.c.agreement_id).distinct())]
            for aid in aids:
                for chunk in _chunks(sorted(report_ids), 100):
                    ranges = [sa.and_(a.c.claim_id >= f"{rid}:", a.c.claim_id < f"{rid};") for rid in chunk]
                    out += [(r[0], r[1], r[2]) for r in conn.execute(
                        sa.select(a.c.agreement_id, a.c.claim_id, a.c.date).where(a.c.agreement_id == aid, sa.or_(*ranges)))]
        return out

    def negotiation_claims_on(self, days: Sequence[str]) -> list[Claim]:
        """The negotiation claims dated on any of these days."""
        c = _s.claims
        with self.atomic(write=False) as conn:
            return [Claim.from_dict(json.loads(r[0])) for chunk in _chunks(sorted(days)) for r in conn.execute(
                sa.select(c.c.data).where(c.c.kind == "negotiation", c.c.date.in_(chunk)).order_by(c.c.id))]

    def finding_count(self) -> int:
        f = _s.findings
        with self.atomic(write=False) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(f)).scalar_one())

    def incomplete_finding_blocks(self, per_incident: int) -> set[str]:
        """Blocks holding an incident without its ``per_incident`` findings (a findings table
        damaged or lost: re-deciding the block restores them from the ledger)."""
        t = _s
        ib, f = t.incident_blocks, t.findings
        n = sa.select(f.c.incident_id, sa.func.count().label("n")).group_by(f.c.incident_id).subquery()
        q = sa.select(ib.c.block).select_from(ib.outerjoin(n, n.c.incident_id == ib.c.incident_id)).where(
            sa.func.coalesce(n.c.n, 0) != per_incident).distinct()
        with self.atomic(write=False) as conn:
            return {r[0] for r in conn.execute(q)}

    def orphan_finding_incidents(self) -> list[str]:
        """Incident ids that findings name but no stored incident has."""
        t = _s
        f, inc = t.findings, t.incidents
        q = sa.select(f.c.incident_id).select_from(f.outerjoin(inc, inc.c.id == f.c.incident_id)).where(
            inc.c.id.is_(None)).distinct()
        with self.atomic(write=False) as conn:
            return sorted(r[0] for r in conn.execute(q))

    def finding_agreements(self) -> dict[str, int]:
        """agreement id → how many findings are stored under it."""
        f = _s.findings
        with self.atomic(write=False) as conn:
            return {r[0]: int(r[1]) for r in conn.execute(sa.select(f.c.agreement_id, sa.func.count()).group_by(f.c.agreement_id))}

    def finding_keys_of_agreements(self, agreement_ids: Sequence[str]) -> list[tuple[str, str]]:
        f = _s.findings
        with self.atomic(write=False) as conn:
            return [(r[0], r[1]) for r in conn.execute(sa.select(f.c.incident_id, f.c.agreement_id)
                                                       .where(f.c.agreement_id.in_(list(agreement_ids))))]

    def write_findings(self, items: Sequence[tuple[Finding, str]], entries: dict[tuple[str, str], tuple[int, str]],
                       removed: Sequence[tuple[str, str]]) -> None:
        """Upsert these findings (each with its digest and, in ``entries``, the (seq, hash) of the
        ledger entry that recorded it) and delete the findings ``removed`` names."""
        t = _s
        f = t.findings
        with self.atomic() as conn:
            for iid, aid in removed:
                conn.execute(f.delete().where(sa.and_(f.c.incident_id == iid, f.c.agreement_id == aid)))
            stamp = t.now()
            rows = []
            for x, d in items:
                seq, h = entries.get((x.incident_id, x.agreement_id), (None, None))
                rows.append(dict(incident_id=x.incident_id, agreement_id=x.agreement_id, verdict=x.verdict, digest=d,
                                 data=x.canonical(), evaluated_at=stamp, ledger_seq=seq, ledger_hash=h))
            self._upsert(conn, f, rows, ["incident_id", "agreement_id"])

    def ledger_latest_about(self, subjects: Sequence[str], kinds: Sequence[str]) -> dict[str, LedgerRow]:
        """subject → the latest entry of one of ``kinds`` about it (indexed by subject)."""
        lg = _s.ledger
        out: dict[str, LedgerRow] = {}
        with self.atomic(write=False) as conn:
            for chunk in _chunks(sorted(set(subjects))):
                # by subject alone, kinds and order here: with the kind in the query SQLite walked
                # the (kind, seq) index over every entry instead of looking the subjects up
                q = sa.select(lg).where(lg.c.subject.in_(chunk))
                rows = (LedgerRow(**dict(r)) for r in conn.execute(q).mappings())
                for row in sorted((r for r in rows if r.kind in kinds), key=lambda x: x.seq):
                    out[row.subject] = row
        return out

    # --- counts for the run's summary ----------------------------------------------------------

    def claim_kind_counts(self) -> dict[str, int]:
        c = _s.claims
        with self.atomic(write=False) as conn:
            return {r[0]: int(r[1]) for r in conn.execute(sa.select(c.c.kind, sa.func.count()).group_by(c.c.kind))}
