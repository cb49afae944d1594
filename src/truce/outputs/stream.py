"""Incidents read and written a page at a time, so `truce incidents` and `truce export` hold one
page in memory whatever the size of the database.

:func:`iter_incidents` reads the selected incidents in the order of
:func:`truce.outputs.shapes.incidents_json` (date, undated last, then id) by keyset on that
stored key, each page's reports, claims and verdicts by query, and yields them in
:func:`truce.outputs.shapes.incident_shape`. :func:`write_json_list` and :func:`write_geojson`
write what ``json.dump(..., indent=1)`` of the whole list would, byte for byte, as they go.
"""

from __future__ import annotations

import dataclasses
import json
from json.encoder import encode_basestring as _str  # C, when it is there
from typing import Any, Iterable, Iterator

from truce.db import Database
from truce.outputs.export import PAGE
from truce.outputs.query import VERDICT_ORDER, Filters, where
from truce.outputs.shapes import finding_page_json, incident_page_json
from truce.records import Effects, Incident



def iter_incidents(database: Database, filters: Filters | None = None, *,
                   page: int | None = None) -> Iterator[dict[str, Any]]:
    """Every selected incident in :func:`~truce.outputs.shapes.incident_shape`, one page of
    ``page`` (default :data:`PAGE`) incidents read at a time, all from one read snapshot."""
    page = page or PAGE
    if page < 1:
        raise ValueError("page must be at least 1")
    w = where(filters or Filters())
    with database.atomic(write=False):
        after: tuple[str, str] | None = None
        while True:
            stamps: dict[str, str] = {}  # read with the page: no second lookup of its incidents
            data = database.incident_page_data(w, after=after, limit=page, stamps=stamps)
            if not data:
                return
            yield from incident_page_json(database, [record_order(d) for d in data], updated=stamps)
            if len(data) < page:
                return
            after = (data[-1]["date"] or "9999", data[-1]["id"])


def iter_findings(database: Database, filters: Filters | None = None, *,
                  page: int | None = None) -> Iterator[tuple[dict[str, Any], Incident]]:
    """Every selected finding in :func:`~truce.outputs.shapes.finding_shape` with its incident, in
    the order a mediator reads them (:data:`VERDICT_ORDER`, then the incident's date, undated last),
    from one sorted query read ``page`` (default :data:`PAGE`) findings at a time, in one read snapshot."""
    page = page or PAGE
    if page < 1:
        raise ValueError("page must be at least 1")
    with database.atomic(write=False):
        for rows in database.finding_stream(where(filters or Filters()), VERDICT_ORDER, page=page):
            incs = database.incidents_by_id(list(dict.fromkeys(f.incident_id for f, _, _ in rows)))
            for (f, _, _), d in zip(rows, finding_page_json(database, [(f, at) for f, at, _ in rows])):
                yield d, incs[f.incident_id]


_FIELDS = tuple(f.name for f in dataclasses.fields(Incident))
_EFFECTS = tuple(f.name for f in dataclasses.fields(Effects))


def record_order(d: dict[str, Any]) -> dict[str, Any]:
    """A stored incident (its keys sorted) with its keys in the order of ``Incident.to_dict()``, which
    the shapes keep: the same as ``Incident.from_dict(d).to_dict()`` without building the record (the
    claim links, the one other nested record, are reshaped by :func:`incident_shape`). Anything
    stored with other keys goes through the record."""
    eff = d.get("effects")
    if len(d) != len(_FIELDS) or not all(k in d for k in _FIELDS) or not (
            isinstance(eff, dict) and len(eff) == len(_EFFECTS) and all(k in eff for k in _EFFECTS)):
        return Incident.from_dict(d).to_dict()
    out = {k: d[k] for k in _FIELDS}
    out["effects"] = {k: eff[k] for k in _EFFECTS}
    return out


_INF = float("inf")


def _float(o: float) -> str:
    if o != o:
        return "NaN"
    if o in (_INF, -_INF):
        return "Infinity" if o > 0 else "-Infinity"
    return float.__repr__(o)


def _put(o: Any, pad: str, out: list[str]) -> None:
    """``o`` as ``json.dumps(o, ensure_ascii=False, indent=1)`` writes it with its closing bracket after
    ``pad`` (a newline and the indentation), appended to ``out``: the standard library's encoder
    without its generators (it has no C implementation with an indent), twice as fast."""
    if isinstance(o, str):
        out.append(_str(o))
    elif o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif isinstance(o, int):
        out.append(int.__repr__(o))
    elif isinstance(o, float):
        out.append(_float(o))
    elif isinstance(o, dict):
        if not o:
            out.append("{}")
            return
        inner = pad + " "
        sep = "," + inner
        out.append("{")
        for n, (k, v) in enumerate(o.items()):
            if not isinstance(k, str):
                raise TypeError("not a string key")
            out.append(sep if n else inner)
            out.append(_str(k))
            out.append(": ")
            _put(v, inner, out)
        out.append(pad)
        out.append("}")
    elif isinstance(o, (list, tuple)):
        if not o:
            out.append("[]")
            return
        inner = pad + " "
        sep = "," + inner
        out.append("[")
        for n, v in enumerate(o):
            out.append(sep if n else inner)
            _put(v, inner, out)
        out.append(pad)
        out.append("]")
    else:
        raise TypeError(f"not JSON: {type(o).__name__}")


def _encode(obj: Any, pad: str) -> str:
    out: list[str] = []
    try:
        _put(obj, "\n" + pad, out)
    except TypeError:  # anything else (a number key): the standard library's encoding of it
        return json.dumps(obj, ensure_ascii=False, indent=1).replace("\n", "\n" + pad)
    return "".join(out)


def write_json_list(out: Any, items: Iterable[Any], depth: int = 0) -> int:
    """A JSON array as ``json.dump(list(items), out, ensure_ascii=False, indent=1)`` writes it at
    nesting ``depth``, one item at a time (JSON strings hold no raw newline, so indenting every line
    of an item's own encoding by one more space is its nested encoding); returns the items written."""
    pad = " " * (depth + 1)
    n = 0
    for item in items:
        out.write(("[\n" if n == 0 else ",\n") + pad + _encode(item, pad))
        n += 1
    out.write("[]" if n == 0 else "\n" + " " * depth + "]")
    return n


def write_geojson(out: Any, rows: Iterable[dict[str, Any]]) -> int:
    """:func:`truce.outputs.export.incidents_geojson` of ``rows`` as ``json.dump(..., indent=1)``
    writes it, one feature at a time; returns the features written."""
    from truce.outputs.export import incident_feature

    out.write('{\n "type": "FeatureCollection",\n "features": ')
    n = write_json_list(out, (incident_feature(r) for r in rows), depth=1)
    out.write("\n}")
    return n
