"""Exports of incidents: GeoJSON (RFC 7946), CSV, Parquet and ACLED-compatible CSV."""

from __future__ import annotations

from typing import Any


def incidents_geojson(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A FeatureCollection of incidents (``truce incidents --format json`` rows); incidents
    without coordinates get a null geometry, as RFC 7946 allows."""
    feats = []
    for r in rows:
        geom = ({"type": "Point", "coordinates": [r["lon"], r["lat"]]}
                if r.get("lat") is not None and r.get("lon") is not None else None)
        props = {k: v for k, v in r.items() if k not in ("lat", "lon", "claims")}
        props["n_reports"] = len(r.get("reports", []))
        props["n_claims"] = len(r.get("claims", []))
        feats.append({"type": "Feature", "id": r["id"], "geometry": geom, "properties": props})
    return {"type": "FeatureCollection", "features": feats}
