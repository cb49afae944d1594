"""What ``truce serve`` runs: one request answered without a server (``--get``, after
datasette's ``serve --get``), or uvicorn over :func:`truce.web.create_app`."""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

from truce.config import Settings


def get_once(settings: Settings, path: str, *, open_access: bool = False, token: str | None = None) -> tuple[int, str]:
    """(status, body) of one GET, answered in-process; JSON bodies are pretty-printed."""
    from starlette.testclient import TestClient

    from truce.web.app import create_app

    app = create_app(settings.db, open_access=open_access, settings=settings)
    with TestClient(app) as client:
        r = client.get(path, headers={"Authorization": f"Bearer {token}"} if token else {})
    if "json" in r.headers.get("content-type", ""):
        return r.status_code, json.dumps(r.json(), ensure_ascii=False, indent=2)
    return r.status_code, r.text


def app_factory() -> Any:
    """uvicorn's factory (each worker process builds its app from the environment ``serve`` set)."""
    from truce.web.app import create_app

    settings = Settings.load(os.environ.get("TRUCE_CONFIG") or None, db=os.environ["TRUCE_SERVE_DB"])
    return create_app(settings.db, open_access=os.environ.get("TRUCE_SERVE_OPEN") == "1",
                      tile_url=os.environ.get("TRUCE_TILE_URL") or None, settings=settings,
                      secret_key=os.environ["TRUCE_SECRET_KEY"])


def run_server(settings: Settings, *, host: str, port: int, open_access: bool, tile_url: str | None,
               workers: int = 1) -> None:
    import uvicorn

    os.environ["TRUCE_SERVE_DB"] = settings.db
    os.environ["TRUCE_SERVE_OPEN"] = "1" if open_access else "0"
    if tile_url:
        os.environ["TRUCE_TILE_URL"] = tile_url
    # one session key for every worker of this server (sessions end when it stops, unless set)
    os.environ.setdefault("TRUCE_SECRET_KEY", secrets.token_hex(32))
    print(f"Truce Monitor on http://{host}:{port}/  (database {settings.db}; "
          f"{'open reading' if open_access else 'public view: published findings only'}; Ctrl+C stops)", flush=True)
    uvicorn.run("truce.web.cli:app_factory", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False)
