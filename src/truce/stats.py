"""Analytics over stored incidents: coverage of sources, capacity affected,
strike rates around agreement windows (see :func:`rate_change`)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any


def coverage(db: Any, date_from: str | None = None, date_to: str | None = None) -> dict[str, Any]:
    """Sources and reports per affiliation in a period, days without reports, syndication."""
    from truce import dedup

    reports = db.reports()

    def day(r: Any) -> str | None:
        return (r.published or "")[:10] or None

    inside = [r for r in reports if (day(r) or "") >= (date_from or "") and (date_to is None or (day(r) or "9999") <= date_to)]
    by_aff: dict[str, dict[str, Any]] = defaultdict(lambda: {"sources": set(), "reports": 0})
    for r in inside:
        row = by_aff[r.affiliation or "unknown"]
        row["sources"].add(r.source or "unknown")
        row["reports"] += 1
    days = sorted(d for d in {day(r) for r in inside} if d)
    gaps: list[str] = []
    if days:
        d0 = dt.date.fromisoformat(date_from or days[0])
        d1 = dt.date.fromisoformat(date_to or days[-1])
        have = set(days)
        cur = d0
        while cur <= d1:
            if cur.isoformat() not in have:
                gaps.append(cur.isoformat())
            cur += dt.timedelta(days=1)
    synd = dedup.syndication_groups(inside)
    by_ext = {r.id: f"{r.source} ({r.external_id})" for r in inside}
    groups = ["; ".join(by_ext[m] for m in g.members) for g in dedup.groups_of(synd)]
    return {"by_affiliation": {k: {"sources": sorted(v["sources"]), "reports": v["reports"]} for k, v in by_aff.items()},
            "gaps": gaps, "syndicated": groups, "reports": len(inside)}
