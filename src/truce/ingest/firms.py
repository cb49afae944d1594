"""NASA FIRMS active-fire files, as users download them, read as :class:`FireDetection` records.

Forms read (docs/data-formats.md, "Satellite fire detections"):

- CSV from the FIRMS map, area API or archive download: VIIRS S-NPP, NOAA-20 and NOAA-21
  (``bright_ti4``/``bright_ti5``, 375 m) and MODIS Terra/Aqua (``brightness``/``bright_t31``,
  1 km); the archive's ``instrument`` and ``type`` columns are read when present;
- the archive's JSON: an array of objects with the same fields, a GeoJSON FeatureCollection
  whose features carry them as properties, or JSON Lines.

Columns are checked once per file (a file without them is not a FIRMS file and says which
are missing); a bad row (unreadable number, impossible coordinate, date or time, unknown
confidence) is reported as ``file:line: problem`` and skipped, and the rest of the file is
still read. VIIRS confidence is ``l``/``n``/``h`` (the archive writes ``low``/``nominal``/
``high``); MODIS confidence is 0–100, kept as is and binned like VIIRS's (<30 low, <80
nominal, else high) so both instruments compare.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from truce.errors import IngestError
from truce.ingest.files import record_error
from truce.records import FireDetection

FIRMS_SUFFIXES = {".csv", ".json", ".geojson", ".jsonl"}
REQUIRED = ("latitude", "longitude", "acq_date", "acq_time", "satellite", "confidence", "frp")
BRIGHTNESS = ("bright_ti4", "brightness")  # VIIRS I-4, MODIS channel 21/22: one of them

SATELLITES = {
    "n": "S-NPP", "npp": "S-NPP", "snpp": "S-NPP", "s-npp": "S-NPP", "suomi npp": "S-NPP", "suomi-npp": "S-NPP",
    "n20": "NOAA-20", "1": "NOAA-20", "j1": "NOAA-20", "noaa-20": "NOAA-20", "noaa20": "NOAA-20",
    "n21": "NOAA-21", "2": "NOAA-21", "j2": "NOAA-21", "noaa-21": "NOAA-21", "noaa21": "NOAA-21",
    "t": "Terra", "terra": "Terra", "a": "Aqua", "aqua": "Aqua",
}
VIIRS_CONFIDENCE = {"l": "low", "low": "low", "n": "nominal", "nominal": "nominal", "h": "high", "high": "high"}


def looks_like_firms(path: Path) -> bool:
    """Does the file start like a FIRMS file (its header or first object names FIRMS's fields)?"""
    if path.suffix.lower() not in FIRMS_SUFFIXES:
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).decode("utf-8-sig", errors="replace").lower()
    except OSError:
        return False
    return all(k in head for k in ("latitude", "longitude", "acq_date", "acq_time")) and any(
        b in head for b in BRIGHTNESS)


def read_firms(path: Path, errors: list[str] | None = None) -> Iterator[FireDetection]:
    """Detections in one FIRMS file (CSV or JSON by content), streamed; bad rows go to ``errors``."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            head = fh.read(64).lstrip()[:1]
            fh.seek(0)
            if head in ("[", "{"):
                rows: Iterable[tuple[int, dict[str, Any]]] = list(_json_rows(fh.read(), path))
            else:
                rows = _csv_rows(fh, path)
            yield from parse_rows(rows, path.name, str(path), errors)
    except UnicodeDecodeError as e:
        raise IngestError(f"not UTF-8 text (byte {e.start})", path=str(path)) from e
    except OSError as e:
        raise IngestError(f"cannot read file: {e.strerror}", path=str(path)) from e


def parse_rows(rows: Iterable[tuple[int, dict[str, Any]]], name: str, shown: str,
               errors: list[str] | None = None) -> Iterator[FireDetection]:
    """(line, row) pairs → detections; ``name`` is what a detection records as its source."""
    checked = False
    for line, raw in rows:
        row = raw if getattr(rows, "lowercase", False) else {str(k).strip().lower(): v for k, v in raw.items()}
        if not checked:
            missing = [c for c in REQUIRED if c not in row]
            if not any(b in row for b in BRIGHTNESS):
                missing.append("bright_ti4 or brightness")
            if missing:
                raise IngestError(f"not a FIRMS active-fire file: missing columns {', '.join(missing)}",
                                  path=shown, line=line)
            checked = True
        try:
            yield _detection(row, name, line)
        except ValueError as e:
            record_error(errors, IngestError(str(e), path=shown, line=line))


class _CsvRows:
    """(line, row) pairs of a CSV file, keys lower-cased once from the header (``lowercase``)."""

    lowercase = True

    def __init__(self, stream: IO[str], path: Path):
        self.reader = csv.reader(stream)
        try:
            self.header = [h.strip().lower() for h in next(self.reader)]
        except StopIteration:
            raise IngestError("empty file", path=str(path)) from None

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        header, reader = self.header, self.reader
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            yield reader.line_num, dict(zip(header, values))


def _csv_rows(stream: IO[str], path: Path) -> _CsvRows:
    return _CsvRows(stream, path)


def _json_rows(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if data is None:  # JSON Lines: one object a line
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise IngestError(f"malformed JSON: {e.msg} (column {e.colno})", path=str(path), line=n) from e
            if not isinstance(obj, dict):
                raise IngestError("expected a JSON object", path=str(path), line=n)
            yield n, obj
        return
    if isinstance(data, dict) and isinstance(data.get("features"), list):
        items = []
        for f in data["features"]:
            props = dict((f or {}).get("properties") or {})
            coords = ((f or {}).get("geometry") or {}).get("coordinates")
            if isinstance(coords, list) and len(coords) >= 2:
                props.setdefault("longitude", coords[0])
                props.setdefault("latitude", coords[1])
            items.append(props)
    elif isinstance(data, dict) and isinstance(data.get("data"), list):
        items = data["data"]
    elif isinstance(data, list):
        items = data
    else:
        raise IngestError("expected a JSON array of detections or a GeoJSON FeatureCollection", path=str(path))
    for n, obj in enumerate(items, start=1):  # an array has no lines: the item's number stands for it
        if not isinstance(obj, dict):
            raise IngestError(f"item {n} is not a JSON object", path=str(path))
        yield n, obj


def _num(row: dict[str, Any], key: str, *, required: bool = True) -> float | None:
    v = row.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise ValueError(f"empty {key}")
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{key} is not a number: {v!r}") from None
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError(f"{key} is not a finite number: {v!r}")
    return x


def _acquired(date_s: Any, time_s: Any) -> str:
    ds = str(date_s or "").strip()[:10]
    try:
        day = dt.date.fromisoformat(ds)
    except ValueError:
        raise ValueError(f"acq_date is not a date (YYYY-MM-DD): {date_s!r}") from None
    ts = str(time_s if time_s is not None else "").strip().replace(":", "")
    if ts.endswith(".0"):
        ts = ts[:-2]
    if not ts.isdigit() or len(ts) > 4:
        raise ValueError(f"acq_time is not HHMM: {time_s!r}")
    ts = ts.zfill(4)  # FIRMS writes 52 for 00:52
    hh, mm = int(ts[:2]), int(ts[2:])
    if hh > 23 or mm > 59:
        raise ValueError(f"acq_time is not HHMM: {time_s!r}")
    return f"{day.isoformat()}T{hh:02d}:{mm:02d}Z"


def _detection(row: dict[str, Any], source: str, line: int) -> FireDetection:
    lat, lon = _num(row, "latitude"), _num(row, "longitude")
    assert lat is not None and lon is not None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"impossible coordinate {lat}, {lon}")
    acquired = _acquired(row.get("acq_date"), row.get("acq_time"))
    sat_raw = str(row.get("satellite") or "").strip()
    satellite = SATELLITES.get(sat_raw.lower())
    if satellite is None:
        raise ValueError(f"unknown satellite {sat_raw!r} (FIRMS writes N, N20, N21, 1, 2, Terra, Aqua, T, A)")
    instrument = str(row.get("instrument") or "").strip().upper() or (
        "MODIS" if satellite in ("Terra", "Aqua") else "VIIRS")
    if instrument not in ("VIIRS", "MODIS"):
        raise ValueError(f"unknown instrument {instrument!r}")
    if (instrument == "MODIS") != (satellite in ("Terra", "Aqua")):
        raise ValueError(f"satellite {satellite} does not carry {instrument}")
    conf_raw = str(row.get("confidence") if row.get("confidence") is not None else "").strip().lower()
    pct: int | None = None
    if instrument == "VIIRS":
        conf = VIIRS_CONFIDENCE.get(conf_raw)
        if conf is None:
            raise ValueError(f"VIIRS confidence must be l, n or h: {conf_raw!r}")
    else:
        try:
            pct = int(float(conf_raw))
        except ValueError:
            raise ValueError(f"MODIS confidence must be 0-100: {conf_raw!r}") from None
        if not 0 <= pct <= 100:
            raise ValueError(f"MODIS confidence must be 0-100: {conf_raw!r}")
        conf = "low" if pct < 30 else ("nominal" if pct < 80 else "high")
    bright = _num(row, "bright_ti4", required=False) if "bright_ti4" in row else _num(row, "brightness", required=False)
    frp = _num(row, "frp", required=False)
    if frp is not None and frp < 0:
        raise ValueError(f"frp is negative: {frp}")
    dn = str(row.get("daynight") or "").strip().upper()[:1] or None
    if dn is not None and dn not in ("D", "N"):
        raise ValueError(f"daynight must be D or N: {row.get('daynight')!r}")
    ftype: int | None = None
    if str(row.get("type") if row.get("type") is not None else "").strip():
        try:
            ftype = int(float(row["type"]))
        except ValueError:
            raise ValueError(f"type is not 0-3: {row['type']!r}") from None
    return FireDetection(id=detection_id(satellite, lat, lon, acquired), lat=round(lat, 5), lon=round(lon, 5),
                         acquired=acquired, satellite=satellite, instrument=instrument, confidence=conf,
                         brightness=round(bright, 2) if bright is not None else None,
                         frp=round(frp, 2) if frp is not None else None, daynight=dn, confidence_pct=pct,
                         fire_type=ftype, source=source, line=line)


def detection_id(satellite: str, lat: float, lon: float, acquired: str) -> str:
    """Stable id: the same pixel of the same overpass, read from any file or form, is one detection.
    It starts with the overpass time, so a file (FIRMS sorts by time) is stored in key order."""
    key = f"{satellite}|{lat:.4f}|{lon:.4f}|{acquired}"
    when = acquired[:16].replace("-", "").replace("T", "").replace(":", "")
    return f"fd-{when}-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def write_firms_csv(detections: Iterable[FireDetection], out: io.TextIOBase | Any, *, instrument: str = "VIIRS") -> int:
    """Detections in FIRMS's CSV layout (for tests, benchmarks and exports)."""
    viirs = instrument == "VIIRS"
    cols = ["latitude", "longitude", "bright_ti4" if viirs else "brightness", "scan", "track", "acq_date", "acq_time",
            "satellite", "instrument", "confidence", "version", "bright_ti5" if viirs else "bright_t31", "frp",
            "daynight", "type"]
    code = {"S-NPP": "N", "NOAA-20": "N20", "NOAA-21": "N21", "Terra": "Terra", "Aqua": "Aqua"}
    w = csv.writer(out, lineterminator="\n")
    w.writerow(cols)
    n = 0
    for d in detections:
        conf: Any = d.confidence[:1] if viirs else (d.confidence_pct if d.confidence_pct is not None else 50)
        w.writerow([d.lat, d.lon, d.brightness, 0.39 if viirs else 1.0, 0.36 if viirs else 1.0, d.acquired[:10],
                    d.acquired[11:13] + d.acquired[14:16], code[d.satellite], d.instrument, conf,
                    "2.0NRT" if viirs else "6.1NRT", 290.0, d.frp, d.daynight or "N",
                    "" if d.fire_type is None else d.fire_type])
        n += 1
    return n
