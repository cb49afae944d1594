"""Read queries for lists and lookups (the web app, read commands): a mixin of
:class:`truce.db.Database`, apart so the class's writes and its reads each fit
one screenful of modules."""

from __future__ import annotations

import dataclasses
import json
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, NamedTuple, Sequence, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from truce.records import Claim, Finding, Incident, LedgerEntry, LedgerRow, Report, StatusObservation
from truce.schema import (
    DAY_KEY, agreement_status, in_chunks, claims, findings, incident_claims, incidents, ledger, now, published_findings,
    report_inputs, reports, user_tokens, users,
)

T = TypeVar("T")


class ReportRef(NamedTuple):
    """What a list shows of a report: no text, no title (:meth:`ReadQueries.report_refs`)."""

    id: str
    url: str | None
    source: str | None
    affiliation: str | None
    published: str | None


class Quote(NamedTuple):
    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class ClaimQuote:
    """What a list shows of a claim: its kind, index and first quote (:meth:`ReadQueries.claim_quotes`)."""

    kind: str
    index: int
    evidence: tuple[Quote, ...]


class ReadQueries:
    """Paged lists and lookups; every method reads in one read transaction."""

    if TYPE_CHECKING:
        def atomic(self, write: bool = True) -> AbstractContextManager[Connection]: ...
        def reports(self, ids: Iterable[str] | None = None, *, text: bool = True) -> list[Report]: ...
        def _upsert(self, conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
                    keys: Sequence[str], update: bool = True) -> None: ...

    # Lists are selected and paged in SQL (keyset pagination on the sort key), so a page costs
    # the same with 100 or 100,000 incidents. ``where`` is the keyword form of
    # ``truce.outputs.query.Filters.where()``.

    def _incident_where(self, where: dict[str, Any], published_only: bool = False) -> list[Any]:
        conds: list[Any] = []
        # the period bounds the sort key (day, undated last), so one index both selects the period
        # and orders it; a period leaves out the undated ones
        if where.get("start"):
            conds.append(DAY_KEY >= sa.literal(where["start"]))
        if where.get("end"):
            conds.append(DAY_KEY <= sa.literal(where["end"]))
        elif where.get("start"):
            conds.append(incidents.c.date.is_not(None))
        for key, col in (("countries", incidents.c.country), ("regions", incidents.c.region_code),
                         ("facilities", incidents.c.facility_id), ("types", incidents.c.facility_type),
                         ("grades", incidents.c.grade)):
            if where.get(key):
                conds.append(col.in_(list(where[key])))
        if where.get("verdicts"):
            sub = sa.select(findings.c.incident_id).where(findings.c.incident_id == incidents.c.id,
                                                          findings.c.verdict.in_(list(where["verdicts"])))
            if where.get("agreements"):
                sub = sub.where(findings.c.agreement_id.in_(list(where["agreements"])))
            if published_only:
                sub = sub.where(sa.exists().where(published_findings.c.incident_id == findings.c.incident_id,
                                                  published_findings.c.agreement_id == findings.c.agreement_id))
            conds.append(sa.exists(sub))
        if published_only:
            conds.append(sa.exists().where(published_findings.c.incident_id == incidents.c.id))
        return conds

    def incident_page(self, where: dict[str, Any], *, after: tuple[str, str] | None = None, limit: int = 50,
                      descending: bool = False, published_only: bool = False) -> list[Incident]:
        """One page of incidents in date order (undated last), then id; ``after`` is the sort key
        (date or "9999", id) of the last incident of the previous page."""
        return [Incident.from_dict(d) for d in self.incident_page_data(where, after=after, limit=limit,
                                                                       descending=descending, published_only=published_only)]

    def incident_page_data(self, where: dict[str, Any], *, after: tuple[str, str] | None = None, limit: int = 50,
                           descending: bool = False, published_only: bool = False,
                           stamps: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """:meth:`incident_page` as stored: each incident's ``to_dict()``, not decoded into records;
        ``stamps``, when given, gets each incident's id → updated_at from the same rows."""
        key = DAY_KEY
        q = sa.select(incidents.c.data, incidents.c.id, incidents.c.updated_at).where(
            *self._incident_where(where, published_only))
        if after is not None:
            d, i = after
            q = q.where(sa.or_(key < d, sa.and_(key == d, incidents.c.id < i)) if descending else
                        sa.or_(key > d, sa.and_(key == d, incidents.c.id > i)))
        q = q.order_by(key.desc(), incidents.c.id.desc()) if descending else q.order_by(key, incidents.c.id)
        with self.atomic(write=False) as conn:
            rows = conn.execute(q.limit(limit)).all()
        if stamps is not None:
            stamps.update((r[1], r[2]) for r in rows)
        return [json.loads(r[0]) for r in rows]

    def incident_count(self, where: dict[str, Any] | None = None, published_only: bool = False) -> int:
        q = sa.select(sa.func.count()).select_from(incidents).where(*self._incident_where(where or {}, published_only))
        with self.atomic(write=False) as conn:
            return int(conn.execute(q).scalar_one())

    def incident(self, incident_id: str) -> Incident | None:
        with self.atomic(write=False) as conn:
            r = conn.execute(sa.select(incidents.c.data).where(incidents.c.id == incident_id)).first()
            return Incident.from_dict(json.loads(r[0])) if r else None

    def incidents_by_id(self, ids: Sequence[str]) -> dict[str, Incident]:
        """incident id → the incident, for the given ids (those that exist)."""
        return self._decoded_by_id(incidents, Incident.from_dict, ids)

    def _decoded_by_id(self, table: sa.Table, decode: Callable[[dict[str, Any]], T], ids: Sequence[str]) -> dict[str, T]:
        """id → the record a table's ``data`` column holds, for the given ids (those that exist)."""
        out: dict[str, T] = {}
        with self.atomic(write=False) as conn:
            for chunk in in_chunks(list(dict.fromkeys(ids)), 500):
                for r in conn.execute(sa.select(table.c.id, table.c.data).where(table.c.id.in_(chunk))):
                    out[r[0]] = decode(json.loads(r[1]))
        return out

    def incidents_updated_since(self, stamp: str, limit: int = 50) -> list[tuple[Incident, str]]:
        """Incidents added or changed after ``stamp`` (an ``updated_at``), oldest first: what a
        monitor page has not shown yet."""
        q = (sa.select(incidents.c.data, incidents.c.updated_at).where(incidents.c.updated_at > stamp)
             .order_by(incidents.c.updated_at, incidents.c.id).limit(limit))
        with self.atomic(write=False) as conn:
            return [(Incident.from_dict(json.loads(r[0])), r[1]) for r in conn.execute(q)]

    def incident_stamps(self, ids: Sequence[str]) -> dict[str, str]:
        """incident id → updated_at, for the given ids."""
        out: dict[str, str] = {}
        with self.atomic(write=False) as conn:
            for chunk in in_chunks(list(ids), 500):
                out.update({r[0]: r[1] for r in conn.execute(
                    sa.select(incidents.c.id, incidents.c.updated_at).where(incidents.c.id.in_(chunk)))})
        return out

    def last_update(self) -> str | None:
        """The latest ``updated_at`` of any incident (None when there are none)."""
        with self.atomic(write=False) as conn:
            v = conn.execute(sa.select(sa.func.max(incidents.c.updated_at))).scalar_one_or_none()
            return str(v) if v is not None else None

    def grade_counts(self, published_only: bool = False) -> dict[str, int]:
        q = (sa.select(incidents.c.grade, sa.func.count()).where(*self._incident_where({}, published_only))
             .group_by(incidents.c.grade))
        with self.atomic(write=False) as conn:
            return {r[0]: int(r[1]) for r in conn.execute(q)}

    def _finding_where(self, where: dict[str, Any], published_only: bool, joined: bool = False) -> list[Any]:
        """Conditions on findings; ``joined``: the query joins each finding's incident already."""
        conds: list[Any] = []
        if where.get("agreements"):
            conds.append(findings.c.agreement_id.in_(list(where["agreements"])))
        if where.get("verdicts"):
            conds.append(findings.c.verdict.in_(list(where["verdicts"])))
        if published_only:
            conds.append(sa.exists().where(published_findings.c.incident_id == findings.c.incident_id,
                                           published_findings.c.agreement_id == findings.c.agreement_id))
        inc = {k: v for k, v in where.items() if k not in ("verdicts", "agreements")}
        inc_conds = self._incident_where(inc)
        if inc_conds and joined:
            conds += inc_conds
        elif inc_conds:
            conds.append(sa.exists(sa.select(incidents.c.id).where(incidents.c.id == findings.c.incident_id, *inc_conds)
                                   .correlate_except(incidents)))
        return conds

    def verdict_counts(self, where: dict[str, Any] | None = None, published_only: bool = False) -> dict[str, dict[str, int]]:
        """agreement id → {verdict: number of findings}."""
        q = (sa.select(findings.c.agreement_id, findings.c.verdict, sa.func.count())
             .where(*self._finding_where(where or {}, published_only))
             .group_by(findings.c.agreement_id, findings.c.verdict))
        out: dict[str, dict[str, int]] = {}
        with self.atomic(write=False) as conn:
            for aid, verdict, n in conn.execute(q):
                out.setdefault(aid, {})[verdict] = int(n)
        return out

    def _finding_order(self, where: dict[str, Any], order: Sequence[str], published_only: bool) -> tuple[Any, Any, Any]:
        """The select of findings in the mediator's order, and its rank and day keys."""
        rank = sa.case({v: i for i, v in enumerate(order)}, value=findings.c.verdict, else_=len(order))
        q = (sa.select(findings.c.data, findings.c.evaluated_at, incidents.c.date)
             .select_from(findings.join(incidents, incidents.c.id == findings.c.incident_id))
             .where(*self._finding_where(where, published_only, joined=True)))
        return q, rank, DAY_KEY

    def finding_page(self, where: dict[str, Any], order: Sequence[str], *, after: tuple[int, str, str, str] | None = None,
                     limit: int = 50, published_only: bool = False) -> list[tuple[Finding, str, str | None]]:
        """One page of findings as a mediator reads them: by the rank of the verdict in ``order``,
        then the incident's date (undated last), incident and agreement; each with when it was
        evaluated and its incident's date. ``after`` is the sort key of the previous page's last."""
        q, rank, day = self._finding_order(where, order, published_only)
        if after is not None:
            r0, d0, i0, a0 = after
            q = q.where(sa.or_(rank > r0, sa.and_(rank == r0, day > d0),
                               sa.and_(rank == r0, day == d0, findings.c.incident_id > i0),
                               sa.and_(rank == r0, day == d0, findings.c.incident_id == i0, findings.c.agreement_id > a0)))
        q = q.order_by(rank, day, findings.c.incident_id, findings.c.agreement_id).limit(limit)
        with self.atomic(write=False) as conn:
            return [(Finding.from_dict(json.loads(r[0])), r[1], r[2]) for r in conn.execute(q)]

    def finding_stream(self, where: dict[str, Any], order: Sequence[str], *,
                       page: int = 2_000) -> Iterator[list[tuple[Finding, str, str | None]]]:
        """Every finding :meth:`finding_page` would page through, in its order, from one query
        sorted once and fetched ``page`` rows at a time (paging by keyset sorts the selection
        again for every page: 420,000 findings took minutes)."""
        q, rank, day = self._finding_order(where, order, False)
        q = q.order_by(rank, day, findings.c.incident_id, findings.c.agreement_id)
        with self.atomic(write=False) as conn:
            for part in conn.execute(q.execution_options(stream_results=True, yield_per=page)).partitions(page):
                yield [(Finding.from_dict(json.loads(r[0])), r[1], r[2]) for r in part]

    def agreement_status_pages(self, agreement_id: str, page: int = 2_000) -> Iterator[list[StatusObservation]]:
        """The agreement's status rows a page at a time, in claim-id order (the primary key's: each
        page one index range, whatever the history's length)."""
        after = ""
        while rows := self.agreement_status_page(agreement_id, after, page):
            yield [s for s, _ in rows]
            after = rows[-1][1]

    def agreement_status_page(self, agreement_id: str, after: str, limit: int) -> list[tuple[StatusObservation, str]]:
        """(observation, claim id) of up to ``limit`` status rows after claim id ``after``."""
        a = agreement_status
        q = (sa.select(a.c.data, a.c.claim_id).where(a.c.agreement_id == agreement_id, a.c.claim_id > after)
             .order_by(a.c.claim_id).limit(limit))
        with self.atomic(write=False) as conn:
            return [(StatusObservation.from_dict(json.loads(r[0])), r[1]) for r in conn.execute(q)]

    def agreement_ids(self) -> list[str]:
        """The agreements the stored findings are under (the findings themselves left unread)."""
        with self.atomic(write=False) as conn:
            return [r[0] for r in conn.execute(sa.select(findings.c.agreement_id).distinct().order_by(findings.c.agreement_id))]

    def verdicts(self) -> list[tuple[str, str, str]]:
        """(incident id, agreement id, verdict) of every finding (the findings' traces left unread)."""
        with self.atomic(write=False) as conn:
            q = sa.select(findings.c.incident_id, findings.c.agreement_id, findings.c.verdict)
            return [(r[0], r[1], r[2]) for r in conn.execute(q)]

    def verdicts_of(self, incident_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """(incident id, agreement id, verdict) of the given incidents' findings."""
        out: list[tuple[str, str, str]] = []
        with self.atomic(write=False) as conn:
            for chunk in in_chunks(list(incident_ids), 500):
                q = sa.select(findings.c.incident_id, findings.c.agreement_id, findings.c.verdict).where(
                    findings.c.incident_id.in_(chunk))
                out += [(r[0], r[1], r[2]) for r in conn.execute(q)]
        return out

    def findings_of(self, incident_ids: Sequence[str]) -> list[tuple[Finding, str]]:
        """Findings of the given incidents (every agreement), with when each was evaluated."""
        out: list[tuple[Finding, str]] = []
        with self.atomic(write=False) as conn:
            for chunk in in_chunks(list(incident_ids), 500):
                q = (sa.select(findings.c.data, findings.c.evaluated_at).where(findings.c.incident_id.in_(chunk))
                     .order_by(findings.c.incident_id, findings.c.agreement_id))
                out += [(Finding.from_dict(json.loads(r[0])), r[1]) for r in conn.execute(q)]
        return out

    def finding_verdicts(self, incident_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """(incident id, agreement id, verdict) of the given incidents' findings (no trace decoded)."""
        out: list[tuple[str, str, str]] = []
        with self.atomic(write=False) as conn:
            for chunk in in_chunks(sorted(set(incident_ids)), 500):
                q = (sa.select(findings.c.incident_id, findings.c.agreement_id, findings.c.verdict)
                     .where(findings.c.incident_id.in_(chunk)).order_by(findings.c.incident_id, findings.c.agreement_id))
                out += [(r[0], r[1], r[2]) for r in conn.execute(q)]
        return out

    def reports_by_external(self, external_ids: Sequence[str], *, text: bool = True) -> dict[str, Report]:
        """external id → the report ingested with it (the Report carries that external id);
        ``text=False``: without its text (as :meth:`Database.reports`)."""
        pairs: list[tuple[str, str]] = []
        with self.atomic(write=False) as conn:
            for chunk in in_chunks(list(dict.fromkeys(external_ids)), 500):
                pairs += [(r[0], r[1]) for r in conn.execute(
                    sa.select(report_inputs.c.external_id, report_inputs.c.report_id)
                    .where(report_inputs.c.external_id.in_(chunk)))]
        by_id = {r.id: r for r in self.reports([rid for _, rid in pairs], text=text)} if pairs else {}
        return {eid: dataclasses.replace(by_id[rid], external_id=eid) for eid, rid in pairs if rid in by_id}

    def report_refs(self, external_ids: Sequence[str]) -> dict[str, ReportRef]:
        """external id → the report ingested with it, as lists show it (:class:`ReportRef`): the fields
        of :meth:`reports_by_external` that lists read, without building whole reports."""
        q = (sa.select(report_inputs.c.external_id, reports.c.id, reports.c.url, reports.c.source, reports.c.affiliation,
                       reports.c.published)
             .select_from(report_inputs.join(reports, reports.c.id == report_inputs.c.report_id)))
        out: dict[str, ReportRef] = {}
        with self.atomic(write=False) as conn:
            for chunk in in_chunks(list(dict.fromkeys(external_ids)), 500):
                for r in conn.execute(q.where(report_inputs.c.external_id.in_(chunk))):
                    out[r[0]] = ReportRef(*r[1:])
        return out

    def claim_quotes(self, claim_ids: Sequence[str], kinds: Sequence[str]) -> dict[str, ClaimQuote]:
        """claim id → its kind, index and first quote (:class:`ClaimQuote`), for the claims of these kinds."""
        out: dict[str, ClaimQuote] = {}
        sqlite = getattr(self, "dialect", None) == "sqlite"
        data = claims.c.data
        # SQLite reads the three fields out of the stored JSON itself; elsewhere each claim is decoded here
        cols = ([claims.c.id, sa.func.json_extract(data, "$.kind"), sa.func.json_extract(data, "$.index"),
                 sa.func.json_extract(data, "$.evidence[0].text")] if sqlite else [claims.c.id, data])
        with self.atomic(write=False) as conn:
            for chunk in in_chunks(list(dict.fromkeys(claim_ids)), 500):
                for r in conn.execute(sa.select(*cols).where(claims.c.id.in_(chunk))):
                    if sqlite:
                        cid, kind, index, text = r
                    else:
                        d = json.loads(r[1])
                        cid, kind, index = r[0], d["kind"], d["index"]
                        text = d["evidence"][0]["text"] if d.get("evidence") else None
                    if kind in kinds:
                        out[cid] = ClaimQuote(kind, index, (Quote(text),) if text is not None else ())
        return out

    def claims_by_id(self, claim_ids: Sequence[str]) -> dict[str, Claim]:
        return self._decoded_by_id(claims, Claim.from_dict, claim_ids)

    def claims_of_report(self, report_id: str) -> list[Claim]:
        with self.atomic(write=False) as conn:
            q = sa.select(claims.c.data).where(claims.c.report_id == report_id).order_by(claims.c.idx)
            return [Claim.from_dict(json.loads(r[0])) for r in conn.execute(q)]

    def incidents_of_claims(self, claim_ids: Sequence[str]) -> dict[str, str]:
        """claim id → the incident it belongs to."""
        out: dict[str, str] = {}
        with self.atomic(write=False) as conn:
            for chunk in in_chunks(list(claim_ids), 500):
                out.update({r[0]: r[1] for r in conn.execute(
                    sa.select(incident_claims.c.claim_id, incident_claims.c.incident_id)
                    .where(incident_claims.c.claim_id.in_(chunk)))})
        return out

    def report_page(self, *, after: str | None = None, limit: int = 50) -> list[Report]:
        with self.atomic(write=False) as conn:
            q = sa.select(reports.c.id).order_by(reports.c.id).limit(limit)
            if after:
                q = q.where(reports.c.id > after)
            ids = [r[0] for r in conn.execute(q)]
        return self.reports(ids) if ids else []

    def ledger_about(self, subjects: Sequence[str], kinds: Sequence[str] | None = None) -> list[LedgerEntry]:
        """Ledger entries about the given subjects ("agreement/incident"), in order."""
        rows: list[LedgerRow] = []
        with self.atomic(write=False) as conn:
            for chunk in in_chunks(list(dict.fromkeys(subjects)), 500):
                q = sa.select(ledger).where(ledger.c.subject.in_(chunk))
                if kinds:
                    q = q.where(ledger.c.kind.in_(list(kinds)))
                rows += [LedgerRow(**dict(r)) for r in conn.execute(q).mappings()]
        return [r.decoded() for r in sorted(rows, key=lambda r: r.seq)]

    def ledger_recent(self, kinds: Sequence[str], *, before: int | None = None, limit: int = 50) -> list[LedgerEntry]:
        """The latest entries of the given kinds, newest first (``before``: a seq, for paging)."""
        q = sa.select(ledger).where(ledger.c.kind.in_(list(kinds)))
        if before is not None:
            q = q.where(ledger.c.seq < before)
        with self.atomic(write=False) as conn:
            return [LedgerRow(**dict(r)).decoded() for r in
                    conn.execute(q.order_by(ledger.c.seq.desc()).limit(limit)).mappings()]

    def ledger_page(self, after: int, limit: int) -> list[LedgerRow]:
        """Entries after seq ``after`` in order, as stored (payload text untouched), at most ``limit``."""
        c = ledger.c  # the columns in LedgerRow's order: rows built from tuples, not mappings (half the time)
        q = (sa.select(c.seq, c.kind, c.subject, c.payload, c.author, c.created_at, c.prev_hash, c.hash)
             .where(c.seq > after).order_by(c.seq).limit(limit))
        with self.atomic(write=False) as conn:
            return [LedgerRow(*r) for r in conn.execute(q)]

    def ledger_entry(self, seq: int) -> LedgerEntry | None:
        with self.atomic(write=False) as conn:
            r = conn.execute(sa.select(ledger).where(ledger.c.seq == seq)).mappings().first()
            return LedgerRow(**dict(r)).decoded() if r else None

    # --- accounts and publications (truce.web) -------------------------------------------------

    def users(self) -> list[dict[str, Any]]:
        with self.atomic(write=False) as conn:
            q = sa.select(users.c.name, users.c.role, users.c.created_at,
                          users.c.password_hash.is_not(None).label("has_password")).order_by(users.c.name)
            return [dict(r) for r in conn.execute(q).mappings()]

    def user(self, name: str) -> dict[str, Any] | None:
        with self.atomic(write=False) as conn:
            r = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
            return dict(r) if r else None

    def save_user(self, name: str, role: str, password_hash: str | None = None) -> None:
        """Add a user or change its role (and password hash, when given)."""
        with self.atomic() as conn:
            old = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
            row = dict(name=name, role=role, password_hash=password_hash if password_hash is not None else
                       (old["password_hash"] if old else None), created_at=old["created_at"] if old else now())
            self._upsert(conn, users, [row], ["name"])

    def remove_user(self, name: str) -> bool:
        with self.atomic() as conn:
            conn.execute(user_tokens.delete().where(user_tokens.c.user_name == name))
            return bool(conn.execute(users.delete().where(users.c.name == name)).rowcount)

    def add_token(self, name: str, token_hash: str, *, replace: bool = False) -> None:
        with self.atomic() as conn:
            if replace:
                conn.execute(user_tokens.delete().where(user_tokens.c.user_name == name))
            conn.execute(user_tokens.insert().values(token_hash=token_hash, user_name=name, created_at=now()))

    def user_by_token(self, token_hash: str) -> dict[str, Any] | None:
        with self.atomic(write=False) as conn:
            r = conn.execute(sa.select(users.c.name, users.c.role).select_from(
                users.join(user_tokens, user_tokens.c.user_name == users.c.name))
                .where(user_tokens.c.token_hash == token_hash)).mappings().first()
            return dict(r) if r else None

    def publish(self, incident_id: str, agreement_id: str, seq: int, by: str) -> None:
        with self.atomic() as conn:
            self._upsert(conn, published_findings, [dict(incident_id=incident_id, agreement_id=agreement_id, seq=seq,
                                                         published_by=by, published_at=now())],
                         ["incident_id", "agreement_id"])

    def published(self, incident_ids: Sequence[str] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
        """(incident id, agreement id) → its publication (seq, by, at)."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        with self.atomic(write=False) as conn:
            q = sa.select(published_findings)
            chunks = [q] if incident_ids is None else [q.where(published_findings.c.incident_id.in_(c))
                                                       for c in in_chunks(list(incident_ids), 500)]
            for qq in chunks:
                for r in conn.execute(qq).mappings():
                    out[(r["incident_id"], r["agreement_id"])] = {"seq": r["seq"], "by": r["published_by"],
                                                                  "at": r["published_at"]}
        return out

