"""Accounts, roles, tokens and CSRF for the web app.

Roles: ``viewer`` sees published findings only (as the public does); ``analyst`` sees
everything and may propose a review; ``lead`` also signs reviews and publishes findings.
Secrets are never stored: passwords as argon2id hashes (argon2-cffi), API tokens (256
random bits, shown once) as their SHA-256. A browser signs in with a password or a token
and gets a signed session cookie; every form that writes carries the session's CSRF token.
API writes need ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from truce.db import Database
from truce.errors import PipelineError

ROLES = ("viewer", "analyst", "lead")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


class AuthError(PipelineError):
    """A user that cannot be added, found or signed in."""


@dataclass(frozen=True)
class User:
    """Who is asking: a signed-in account, or the public (``name`` None)."""

    name: str | None
    role: str  # viewer | analyst | lead; the public is a viewer (an analyst-reader with --open)
    can_write: bool = False

    @property
    def sees_all(self) -> bool:
        """Sees unpublished findings too."""
        return self.role in ("analyst", "lead")

    @property
    def may_review(self) -> bool:
        return self.can_write and self.role in ("analyst", "lead")

    @property
    def may_sign(self) -> bool:
        return self.can_write and self.role == "lead"


PUBLIC = User(None, "viewer")
OPEN_READER = User(None, "analyst")  # `truce serve --open`: anyone reads everything, nobody writes unsigned


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    return str(PasswordHasher().hash(password))


def check_password(stored: str | None, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    if not stored or not password:
        return False
    try:
        return bool(PasswordHasher().verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return "truce_" + secrets.token_urlsafe(32)


def add_user(db: Database, name: str, role: str, password: str | None = None) -> str:
    """Add (or re-role) a user; returns a new API token (shown once, stored as its hash)."""
    if not NAME_RE.match(name or ""):
        raise AuthError(f"bad user name {name!r}: letters, digits and . _ @ - (at most 100)")
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    if password is not None and len(password) < 8:
        raise AuthError("a password needs at least 8 characters")
    db.save_user(name, role, hash_password(password) if password else None)
    token = new_token()
    db.add_token(name, token_hash(token))
    return token


def remove_user(db: Database, name: str) -> None:
    if not db.remove_user(name):
        raise AuthError(f"unknown user {name!r}; known: {', '.join(u['name'] for u in db.users()) or 'none'}")


def renew_token(db: Database, name: str) -> str:
    """A new token for ``name``; the old ones stop working."""
    if db.user(name) is None:
        raise AuthError(f"unknown user {name!r}; known: {', '.join(u['name'] for u in db.users()) or 'none'}")
    token = new_token()
    db.add_token(name, token_hash(token), replace=True)
    return token


def user_from_token(db: Database, token: str | None) -> User | None:
    if not token:
        return None
    row = db.user_by_token(token_hash(token.strip()))
    return User(row["name"], row["role"], True) if row else None


def user_from_name(db: Database, name: str | None) -> User | None:
    if not name:
        return None
    row = db.user(name)
    return User(row["name"], row["role"], True) if row else None


def sign_in(db: Database, name: str, secret: str) -> User:
    """A user for a name and a password or token; one message for every failure."""
    row = db.user(name) if name else None
    if row is not None:
        if check_password(row.get("password_hash"), secret):
            return User(row["name"], row["role"], True)
        by_token = user_from_token(db, secret)
        if by_token is not None and by_token.name == row["name"]:
            return by_token
    raise AuthError("unknown user or wrong password/token")


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
