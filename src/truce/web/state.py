"""What every part of the web app shares: the state a request reads, the error it raises, the
one error shape and who is asking. The base of ``truce.web`` (app, api, pages and views
import it; it imports none of them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request

from truce.db import Database
from truce.reference.terms import Agreement
from truce.web.auth import OPEN_READER, PUBLIC, User, user_from_name, user_from_token

HERE = Path(__file__).resolve().parent  # templates/ and static/

class WebError(Exception):
    """An answer other than 200: its status and one line saying why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class WebState:
    """What every request reads: the database, the reference data (loaded once) and the
    server's options."""

    db: Database
    agreements: list[Agreement]
    registry: Any
    regions: list[dict[str, str]]
    open_access: bool = False
    tile_url: str | None = None
    poll_seconds: float = 5.0
    cache: dict[str, Any] = field(default_factory=dict)

    def agreement(self, agreement_id: str) -> Agreement | None:
        return next((a for a in self.agreements if a.id == agreement_id), None)

    @property
    def agreement_ids(self) -> list[str]:
        return [a.id for a in self.agreements]

    def region_label(self, code: str | None, lang: str) -> str:
        if not code:
            return ""
        row = next((r for r in self.regions if r["code"] == code), None)
        if row is None:
            return code
        return row.get(f"name_{lang}") or row["name_en"]


def error_body(status: int, message: str) -> dict[str, Any]:
    """The one error shape: ``{"ok": false, "error": …, "status": …}``."""
    return {"ok": False, "error": message, "status": status}


def current_user(request: Request) -> User:
    """The bearer token's user, else the session's, else the public (a reader of everything
    with ``--open``)."""
    cached = getattr(request.state, "user", None)
    if cached is not None:
        return cached
    state: WebState = request.app.state.truce
    auth = request.headers.get("authorization") or ""
    user: User | None = None
    if auth.lower().startswith("bearer "):
        user = user_from_token(state.db, auth[7:])
        if user is None:
            raise WebError(401, "invalid or revoked token")
    elif "session" in request.scope:
        user = user_from_name(state.db, request.session.get("user"))
    if user is None:
        user = OPEN_READER if state.open_access else PUBLIC
    request.state.user = user
    return user
