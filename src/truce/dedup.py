"""Syndicated copies: the same wire text republished under another outlet's name.

Candidates come from MinHash LSH over character 5-gram shingles (datasketch);
each candidate pair is verified with a string similarity (rapidfuzz). Copies
form groups (connected components); a group counts as one source in
corroboration, represented by its earliest report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from truce.records import Report

SHINGLE = 5
NUM_PERM = 64
LSH_THRESHOLD = 0.6
VERIFY_RATIO = 85.0  # rapidfuzz ratio (0-100) on the normalised texts
MIN_CHARS = 200


@dataclass(frozen=True)
class SyndicationGroup:
    canonical: str  # report id of the earliest copy
    members: tuple[str, ...]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.casefold())).strip()


def _shingles(text: str) -> set[bytes]:
    t = _norm(text)
    return {t[i:i + SHINGLE].encode("utf-8") for i in range(max(1, len(t) - SHINGLE + 1))}


def syndication_groups(reports: Sequence[Report]) -> dict[str, str]:
    """report id → canonical report id of its syndication group (itself when unique)."""
    from datasketch import MinHash, MinHashLSH
    from rapidfuzz import fuzz

    items = sorted((r for r in reports if len(r.text) >= MIN_CHARS), key=lambda r: r.id)
    parent = {r.id: r.id for r in reports}
    if len(items) < 2:
        return parent
    shingle_sets = [_shingles(r.text) for r in items]
    hashes = MinHash.bulk(shingle_sets, num_perm=NUM_PERM, seed=1)
    lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
    for r, h in zip(items, hashes):
        lsh.insert(r.id, h)
    norm = {r.id: _norm(r.text) for r in items}
    by_id = {r.id: r for r in items}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for r, h in zip(items, hashes):
        for other in sorted(lsh.query(h)):
            if other <= r.id:
                continue
            a, b = norm[r.id], norm[other]
            # a copy may drop or change a sentence at either end: compare the shorter
            # against the longer, also as a partial (substring) alignment
            if fuzz.ratio(a, b) >= VERIFY_RATIO or (
                    min(len(a), len(b)) / max(len(a), len(b)) > 0.7 and fuzz.partial_ratio(a, b) >= 95):
                ra, rb = find(r.id), find(other)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = {}
    for rid in parent:
        groups.setdefault(find(rid), []).append(rid)
    out: dict[str, str] = {}
    for members in groups.values():
        canon = min(members, key=lambda i: (_pub(by_id.get(i)), i))
        for m in members:
            out[m] = canon
    return out


def _pub(r: Report | None) -> str:
    return (r.published or "9999") if r is not None else "9999"


def groups_of(mapping: dict[str, str]) -> list[SyndicationGroup]:
    g: dict[str, list[str]] = {}
    for rid, canon in mapping.items():
        g.setdefault(canon, []).append(rid)
    return [SyndicationGroup(c, tuple(sorted(m))) for c, m in sorted(g.items()) if len(m) > 1]


