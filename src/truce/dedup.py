"""Syndicated copies: the same wire text republished under another outlet's name.

Candidates come from MinHash LSH over character 5-gram shingles: a report's
signature (datasketch, 64 permutations) is cut into ``BANDS`` bands of
``ROWS`` values, each band hashed to one 64-bit *band key*; two reports are
candidates when they share a band key (datasketch's ``MinHashLSH`` at
threshold 0.6 uses the same 10 × 6 bands). Each candidate pair is verified
by :func:`similar`, bounded by ``VERIFY_CHARS``: the rapidfuzz ratio of the
normalised texts, or, for texts of similar length, how much of the shorter
one's shingle set the longer one contains (a copy that drops or adds a
sentence at either end). Copies form groups (connected components); a group
counts as one source in corroboration, represented by its earliest report.

Two ways to the same groups:

- :func:`syndication_groups` — a full pass over reports in memory (``truce
  eval``, tests);
- :func:`update` — incremental, over a :class:`~truce.db.Database`: a report
  is deduped once, when it is first seen; its band keys are stored, it is
  compared only with the stored reports that share a band key (an indexed
  lookup), and the syndication group of every report is stored and merged
  when a new report links two groups. The stored groups are what every
  reader uses (``Database.syndication``).

Both verify exactly the pairs that share a band key and are not already in
one group, so any batching gives the groups of one full pass (a property
test checks it).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from truce.db import Database
from truce.records import Report

if TYPE_CHECKING:
    import numpy as np

SHINGLE = 5
SHINGLE_HASH = "poly1"  # how a shingle becomes the 32-bit value MinHash permutes (in VERSION)
NUM_PERM = 64
LSH_THRESHOLD = 0.6
BANDS, ROWS = 10, 6  # datasketch's optimal (bands, rows) for LSH_THRESHOLD with NUM_PERM permutations
VERIFY_RATIO = 85.0  # rapidfuzz ratio (0-100) on the normalised texts
VERIFY_CHARS = 20_000  # the verifier reads at most this much of each normalised text
CONTAIN_LENGTHS = 0.7  # the containment test applies when the shorter text is over 70% of the longer
CONTAINMENT = 0.9  # share of the shorter text's shingles found in the longer one
MIN_CHARS = 200

def _version() -> str:
    """The parameters, stored with the groups: a database deduped with others (or with another
    datasketch, whose MinHash permutations may differ) is deduped again."""
    from importlib.metadata import version

    return (f"minhash{NUM_PERM}-seed1-datasketch{version('datasketch')}-shingle{SHINGLE}{SHINGLE_HASH}-bands{BANDS}x{ROWS}-"
            f"ratio{VERIFY_RATIO:g}-contain{CONTAINMENT:g}@{CONTAIN_LENGTHS:g}-cap{VERIFY_CHARS}-min{MIN_CHARS}")


VERSION = _version()
BATCH = 1000  # reports deduped per transaction by :func:`update`
CACHE = 2000  # stored candidates' texts a batch keeps at most


@dataclass(frozen=True)
class SyndicationGroup:
    canonical: str  # report id of the earliest copy
    members: tuple[str, ...]


def _norm(text: str) -> str:
    """Case-folded words joined by single spaces (punctuation counts as space): the text's word
    runs found in one pass, which is what replacing punctuation and collapsing spaces leaves."""
    return " ".join(_WORD.findall(text.casefold()))


_WORD = re.compile(r"\w+")


def _shingle_set(norm: str) -> set[str]:
    return {norm[i:i + SHINGLE] for i in range(max(1, len(norm) - SHINGLE + 1))}


_MULT, _MIX = 1_000_003, 0x9E3779B97F4A7C15


def _shingle_hashes(text: str) -> "np.ndarray":
    """The 32-bit hashes MinHash permutes: one per position of the normalised text's shingles."""
    return _hashes32(_norm(text))


def _hashes32(norm: str) -> "np.ndarray":
    import numpy as np

    return _position_hashes(norm) >> np.uint64(32)  # repeated shingles left in: a minimum is the same with them


def _norm_hashes(norm: str) -> "np.ndarray":
    """The distinct 64-bit hashes of a normalised text's shingles, sorted."""
    import numpy as np

    h = np.sort(_position_hashes(norm))  # sort and drop repeats: np.unique hashed, at twice the cost
    return h[np.concatenate(([True], h[1:] != h[:-1]))]


def _position_hashes(norm: str) -> "np.ndarray":
    """A 64-bit hash of each position's 5-gram shingle, made at once with numpy (a polynomial
    over the code points, mixed): what hashing each shingle in Python cost was most of the
    dedup stage (1.8 ms of a 1,600-character report)."""
    import numpy as np

    cps = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = max(1, len(cps) - SHINGLE + 1)
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64 on purpose
        for k in range(min(SHINGLE, len(cps))):
            h = h * np.uint64(_MULT) + cps[k:k + n]
        h ^= h >> np.uint64(31)
        h *= np.uint64(_MIX)
        h ^= h >> np.uint64(29)
    return h


def _identity(x: Any) -> Any:
    return x


class _Text:
    """A report's text as the verifier reads it: normalised (when first needed) and capped,
    its shingles made once."""

    __slots__ = ("length", "_text", "_full", "_norm", "_set", "_hashes")

    def __init__(self, text: str):
        self.length = len(text)
        self._text = text
        self._full: str | None = None  # most new reports have no candidate to be compared with
        self._norm: str | None = None
        self._set: set[str] | None = None
        self._hashes: "np.ndarray | None" = None

    @property
    def full(self) -> str:
        """The whole text normalised (what its MinHash signature is made of)."""
        if self._full is None:
            self._full = _norm(self._text)
            self._text = ""
        return self._full

    @property
    def norm(self) -> str:
        """The normalised text as far as the verifier reads it."""
        if self._norm is None:
            self._norm = self.full[:VERIFY_CHARS]
        return self._norm

    @property
    def shingles(self) -> set[str]:
        if self._set is None:
            self._set = _shingle_set(self.norm)
        return self._set

    @property
    def hashes(self) -> "np.ndarray":
        """The distinct 64-bit hashes of its shingles, sorted."""
        if self._hashes is None:
            self._hashes = _norm_hashes(self.norm)
        return self._hashes

    def forget(self) -> None:
        """Drop the shingle set (made again when needed): a batch holds texts, not their sets."""
        self._set = None
        self._hashes = None


def _may_contain(short: _Text, long_: _Text) -> bool:
    """False only when the containment test must fail, from the shingles' hashes (numpy; a tenth
    of the cost of the sets): every hash of ``short``'s shingles missing from ``long_`` stands
    for at least one of its shingles missing there, and ``short`` has at most one shingle per
    position, so more missing hashes than the share allowed of its positions (one to spare,
    for rounding) rules it out whatever the hashes collide on."""
    import numpy as np

    hs, hl = short.hashes, long_.hashes
    at = np.minimum(np.searchsorted(hl, hs), len(hl) - 1)  # both sorted: where each would be in the other
    missing = len(hs) - int(np.count_nonzero(hl[at] == hs))
    positions = max(1, len(short.norm) - SHINGLE + 1)
    return missing <= (1 - CONTAINMENT) * positions + 1


def similar(a: str | _Text, b: str | _Text) -> bool:
    """Is one text a copy of the other? The rapidfuzz ratio of the normalised texts is at least
    ``VERIFY_RATIO``, or (a copy that drops or changes a sentence at either end) the texts'
    lengths are within ``CONTAIN_LENGTHS`` and at least ``CONTAINMENT`` of the shorter one's
    5-gram shingles occur in the longer one. Both read at most ``VERIFY_CHARS`` characters of
    each text: bounded time whatever the input."""
    from rapidfuzz import fuzz

    ta = a if isinstance(a, _Text) else _Text(a)
    tb = b if isinstance(b, _Text) else _Text(b)
    if fuzz.ratio(ta.norm, tb.norm, score_cutoff=VERIFY_RATIO):
        return True
    short, long_ = sorted((ta, tb), key=lambda t: len(t.norm))
    if not long_.norm or len(short.norm) / len(long_.norm) <= CONTAIN_LENGTHS:
        return False
    if not _may_contain(short, long_):
        return False
    s = short.shingles
    return len(s & long_.shingles) >= CONTAINMENT * len(s)


def preload() -> None:
    """Import what deduplicating needs now (datasketch imports scipy: about a second), so that a
    long-running watcher's first report does not wait for it."""
    import datasketch  # noqa: F401
    import rapidfuzz  # noqa: F401


def band_keys(texts: Sequence[str | _Text]) -> list[list[int]]:
    """Each text's LSH band keys (signed 64-bit integers; none for a text under ``MIN_CHARS``)."""
    from datasketch import MinHash

    out: list[list[int]] = [[] for _ in texts]
    todo = [k for k, t in enumerate(texts) if (t.length if isinstance(t, _Text) else len(t)) >= MIN_CHARS]
    proto = MinHash(num_perm=NUM_PERM, seed=1, hashfunc=_identity)  # its permutations, made once
    for k in todo:
        h = MinHash(num_perm=NUM_PERM, seed=1, hashfunc=_identity, permutations=proto.permutations, scheme=proto.scheme)
        # the whole array as the batch's one value: datasketch turns its batch into one array of
        # hashes and permutes that, and each value's own Python call was a quarter of the stage;
        # test_dedup checks the signature equals datasketch's value by value
        t = texts[k]
        h.update_batch([_hashes32(t.full) if isinstance(t, _Text) else _shingle_hashes(t)])
        hv = h.hashvalues.astype("<u8")
        out[k] = [int.from_bytes(hashlib.blake2b(bytes([b]) + hv[b * ROWS:(b + 1) * ROWS].tobytes(),
                                                 digest_size=8).digest(), "big", signed=True)
                  for b in range(BANDS)]
    return out


def _canonical(members: Iterable[str], published: Mapping[str, str | None]) -> str:
    return min(members, key=lambda i: (published.get(i) or "9999", i))


class _Groups:
    """Union-find over report ids; a root is the smallest id of its group."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        p = self.parent.setdefault(x, x)
        while p != x:
            self.parent[x] = self.parent.setdefault(p, p)
            x, p = p, self.parent[p]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def syndication_groups(reports: Sequence[Report]) -> dict[str, str]:
    """report id → canonical report id of its syndication group (itself when unique): one
    full pass in memory, the groups :func:`update` stores."""
    items = sorted({r.id: r for r in reports}.values(), key=lambda r: r.id)
    text_of = {r.id: r.text for r in items}
    texts: dict[str, _Text] = {}
    buckets: dict[int, list[str]] = {}
    groups = _Groups()
    for r, ks in zip(items, band_keys([r.text for r in items])):
        for other in sorted({o for k in ks for o in buckets.get(k, ())}):
            if groups.find(other) != groups.find(r.id) and similar(
                    texts.setdefault(r.id, _Text(r.text)), texts.setdefault(other, _Text(text_of[other]))):
                groups.union(r.id, other)
        for k in ks:
            buckets.setdefault(k, []).append(r.id)
    members: dict[str, list[str]] = {}
    for r in items:
        members.setdefault(groups.find(r.id), []).append(r.id)
    published = {r.id: r.published for r in items}
    out: dict[str, str] = {}
    for ms in members.values():
        canon = _canonical(ms, published)
        for m in ms:
            out[m] = canon
    return out


def groups_of(mapping: dict[str, str]) -> list[SyndicationGroup]:
    g: dict[str, list[str]] = {}
    for rid, canon in mapping.items():
        g.setdefault(canon, []).append(rid)
    return [SyndicationGroup(c, tuple(sorted(m))) for c, m in sorted(g.items()) if len(m) > 1]


# --- incremental, in the database ----------------------------------------------------------

@dataclass
class DedupSummary:
    deduped: int = 0  # reports deduped by this update (each once in its life)
    candidates: int = 0  # candidate pairs verified
    linked: int = 0  # verified copies that joined two groups
    groups: int = 0  # syndication groups (over one member) stored after the update
    redone: bool = False  # the stored groups were made with other parameters and were rebuilt
    touched: set[str] = field(default_factory=set)  # reports whose stored group or canonical was written


def update(db: Database, *, batch: int = BATCH, progress: Callable[[str, int, int], None] | None = None,
           among: Sequence[str] | None = None, count: bool = True) -> DedupSummary:
    """Dedup the reports not yet deduped, ``batch`` at a time (one transaction each), against
    the stored band keys; store their band keys and groups, merging groups they link.
    ``among``: only these reports may be new (the pipeline's reports new to fusion), so the
    others are not scanned; ``count=False`` leaves ``groups`` at 0 (a count over every group)."""
    s = DedupSummary()
    if db.get_meta("dedup_version") != VERSION:
        s.redone = db.clear_syndication()
        db.set_meta("dedup_version", VERSION)
        among = None
    pending = db.reports_to_dedup(among)
    for start in range(0, len(pending), batch):
        _update_batch(db, pending[start:start + batch], s)
        if progress:
            progress("dedup", min(start + batch, len(pending)), len(pending))
    s.deduped = len(pending)
    s.groups = db.syndication_group_count() if count else 0
    return s


def _update_batch(db: Database, ids: Sequence[str], s: DedupSummary) -> None:
    with db.atomic():
        new = db.report_texts(ids)  # id → (text, published)
        order = sorted(new)
        texts: dict[str, _Text] = {rid: _Text(text) for rid, (text, _) in new.items()}
        keys = dict(zip(order, band_keys([texts[i] for i in order])))
        stored = db.band_members(sorted({k for ks in keys.values() for k in ks}))  # key → stored report ids
        old_group = db.syndication_groups_of(sorted({rid for rids in stored.values() for rid in rids}))
        groups = _Groups()
        for rid, gid in old_group.items():  # a stored report stands for its stored group
            groups.union(rid, gid)
        cache: dict[str, _Text] = {}  # stored candidates' texts
        wanted = sorted({c for rid in order for k in keys[rid] for c in stored.get(k, ())} - texts.keys())
        if len(wanted) <= CACHE:  # the batch's stored candidates read at once, not a statement per report
            cache.update((c, _Text(text)) for c, (text, _) in db.report_texts(wanted).items())
        batch_buckets: dict[int, list[str]] = {}
        for rid in order:
            cands = sorted({c for k in keys[rid] for c in (*stored.get(k, ()), *batch_buckets.get(k, ()))})
            cands = [c for c in cands if groups.find(c) != groups.find(rid)]
            need = [c for c in cands if c not in texts and c not in cache]
            if len(cache) + len(need) > CACHE:  # stored texts read again if needed again: bounded memory
                cache.clear()
                need = [c for c in cands if c not in texts]
            for c, (text, _) in (db.report_texts(need) if need else {}).items():
                cache[c] = _Text(text)
            for other in cands:
                if groups.find(other) == groups.find(rid):
                    continue
                s.candidates += 1
                tb = texts.get(other) or cache[other]
                if similar(texts[rid], tb):
                    groups.union(rid, other)
                    s.linked += 1
                tb.forget()
            texts[rid].forget()
            for k in keys[rid]:
                batch_buckets.setdefault(k, []).append(rid)
        # every group a new report is in: its new members and the stored groups it absorbed
        roots = {groups.find(rid) for rid in order}
        absorbed = sorted({gid for gid in old_group.values() if groups.find(gid) in roots})
        published: dict[str, str | None] = {rid: pub for rid, (_, pub) in new.items()}
        before: dict[str, tuple[str, str]] = {}  # stored report id → (group id, canonical) as stored
        members: dict[str, list[str]] = {}
        for gid, rid, pub, canon in db.syndication_members(absorbed):
            published[rid] = pub
            before[rid] = (gid, canon)
            members.setdefault(groups.find(gid), []).append(rid)
        for rid in order:
            members.setdefault(groups.find(rid), []).append(rid)
        rows: list[tuple[str, str, str]] = []  # (report id, group id, canonical) of what is new or changed
        for root, ms in members.items():
            canon = _canonical(ms, published)
            rows += [(m, root, canon) for m in ms if before.get(m) != (root, canon)]
        db.store_syndication(rows, [(k, rid) for rid in order for k in keys[rid]])
        s.touched.update(r[0] for r in rows)
