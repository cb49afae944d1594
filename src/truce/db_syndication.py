"""Stored syndication groups and LSH band keys (:mod:`truce.dedup`): a mixin of
:class:`truce.db.Database`. A report is deduped once: its band keys and its group are
stored; a new report finds its candidates by an indexed lookup of its band keys; every
read command reads the stored groups instead of recomputing them."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from truce.schema import dedup_bands, in_chunks, report_inputs, reports, syndication


class SyndicationStore:
    """Reads and writes of the ``syndication`` and ``dedup_bands`` tables."""

    if TYPE_CHECKING:
        dialect: str

        def atomic(self, write: bool = True) -> AbstractContextManager[Connection]: ...
        def _upsert_many(self, conn: Connection, table: sa.Table, rows: Sequence[dict[str, object]],
                         keys: Sequence[str], update: bool = True) -> None: ...

    def reports_to_dedup(self, among: Sequence[str] | None = None) -> list[str]:
        """Ids of the reports not yet deduped (of ``among``, when given), in order."""
        with self.atomic(write=False) as conn:
            j = reports.outerjoin(syndication, reports.c.id == syndication.c.report_id)
            q = sa.select(reports.c.id).select_from(j).where(syndication.c.report_id.is_(None)).order_by(reports.c.id)
            if among is None:
                return [r[0] for r in conn.execute(q)]
            out: list[str] = []
            for chunk in in_chunks(sorted(set(among)), 500):
                out += [r[0] for r in conn.execute(q.where(reports.c.id.in_(chunk)))]
            return sorted(out)

    def group_members_of(self, ids: Sequence[str]) -> dict[str, str]:
        """report id → canonical, for every member of the syndication groups these reports are in."""
        gids = sorted(set(self.syndication_groups_of(sorted(set(ids))).values()))
        return {rid: canon for _, rid, _, canon in self.syndication_members(gids)}

    def report_texts(self, ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """report id → (text, published)."""
        out: dict[str, tuple[str, str | None]] = {}
        with self.atomic(write=False) as conn:
            for chunk in in_chunks(list(ids), 500):
                q = sa.select(reports.c.id, reports.c.text, reports.c.published).where(reports.c.id.in_(chunk))
                out.update((r[0], (r[1], r[2])) for r in conn.execute(q))
        return out

    def band_members(self, keys: Sequence[int]) -> dict[int, list[str]]:
        """band key → the stored reports with that key (an index lookup per key)."""
        out: dict[int, list[str]] = {}
        with self.atomic(write=False) as conn:
            for chunk in in_chunks(list(keys), 500):
                q = sa.select(dedup_bands.c.band_key, dedup_bands.c.report_id).where(dedup_bands.c.band_key.in_(chunk))
                for k, rid in conn.execute(q):
                    out.setdefault(int(k), []).append(rid)
        return out

    def syndication_groups_of(self, ids: Sequence[str]) -> dict[str, str]:
        """report id → its stored group id."""
        out: dict[str, str] = {}
        with self.atomic(write=False) as conn:
            for chunk in in_chunks(list(ids), 500):
                q = sa.select(syndication.c.report_id, syndication.c.group_id).where(syndication.c.report_id.in_(chunk))
                out.update((r[0], r[1]) for r in conn.execute(q))
        return out

    def syndication_members(self, group_ids: Sequence[str]) -> list[tuple[str, str, str | None, str]]:
        """(group id, report id, published, canonical) of every member of these groups."""
        out: list[tuple[str, str, str | None, str]] = []
        with self.atomic(write=False) as conn:
            j = syndication.join(reports, reports.c.id == syndication.c.report_id)
            for chunk in in_chunks(list(group_ids), 500):
                q = sa.select(syndication.c.group_id, syndication.c.report_id, reports.c.published,
                              syndication.c.canonical).select_from(j).where(syndication.c.group_id.in_(chunk))
                out += [(r[0], r[1], r[2], r[3]) for r in conn.execute(q)]
        return out

    def store_syndication(self, groups: Sequence[tuple[str, str, str]], bands: Sequence[tuple[int, str]]) -> None:
        """Store (report id, group id, canonical) rows (new or changed) and (band key, report id) rows."""
        with self.atomic() as conn:
            self._upsert_many(conn, syndication, [dict(report_id=r, group_id=g, canonical=c) for r, g, c in groups],
                              ["report_id"])
            self._upsert_many(conn, dedup_bands, [dict(band_key=k, report_id=r) for k, r in bands],
                              ["band_key", "report_id"], update=False)

    def clear_syndication(self) -> bool:
        """Forget every stored group and band key (parameters changed); True if any was stored."""
        with self.atomic() as conn:
            had = conn.execute(sa.select(syndication.c.report_id).limit(1)).first() is not None
            conn.execute(dedup_bands.delete())
            conn.execute(syndication.delete())
        return had

    def syndication(self, ids: Iterable[str] | None = None) -> dict[str, str]:
        """report id → canonical report id of its syndication group, for the reports that are
        copies of an earlier one (every other report is its own canonical: ``.get(id, id)``)."""
        q = sa.select(syndication.c.report_id, syndication.c.canonical).where(
            syndication.c.canonical != syndication.c.report_id)
        with self.atomic(write=False) as conn:
            if ids is None:
                return {r[0]: r[1] for r in conn.execute(q)}
            out: dict[str, str] = {}
            for chunk in in_chunks(list(dict.fromkeys(ids)), 500):
                out.update((r[0], r[1]) for r in conn.execute(q.where(syndication.c.report_id.in_(chunk))))
            return out

    def external_ids(self, ids: Iterable[str]) -> dict[str, str]:
        """report id → the external id it is shown with (the smallest it was ingested with)."""
        out: dict[str, str] = {}
        with self.atomic(write=False) as conn:
            for chunk in in_chunks(list(dict.fromkeys(ids)), 500):
                q = (sa.select(report_inputs.c.report_id, sa.func.min(report_inputs.c.external_id))
                     .where(report_inputs.c.report_id.in_(chunk)).group_by(report_inputs.c.report_id))
                out.update((r[0], r[1]) for r in conn.execute(q))
        return out

    def syndication_group_count(self) -> int:
        """Syndication groups of more than one report."""
        with self.atomic(write=False) as conn:
            sub = (sa.select(syndication.c.group_id).group_by(syndication.c.group_id)
                   .having(sa.func.count() > 1).subquery())
            return int(conn.execute(sa.select(sa.func.count()).select_from(sub)).scalar_one())

    def syndicated_groups(self) -> list[tuple[str, list[str]]]:
        """(canonical, member report ids) of every group of more than one report."""
        with self.atomic(write=False) as conn:
            multi = sa.select(syndication.c.group_id).group_by(syndication.c.group_id).having(sa.func.count() > 1)
            q = (sa.select(syndication.c.canonical, syndication.c.report_id)
                 .where(syndication.c.group_id.in_(multi)).order_by(syndication.c.canonical, syndication.c.report_id))
            out: dict[str, list[str]] = {}
            for canon, rid in conn.execute(q):
                out.setdefault(canon, []).append(rid)
        return list(out.items())
