"""RSS/Atom feeds followed by ``truce watch``: the feeds file, and one polite fetch.

The feeds file (YAML) lists the only URLs fetched — http(s) only; nothing else is ever
requested (no entry's link is followed)::

    defaults:            # optional; these are the defaults
      interval: 900      # seconds between polls of a feed
      timeout: 30        # seconds for the whole response
      max_bytes: 10485760
    feeds:
      - https://www.example.org/energy.atom
      - url: https://news.example.net/rss
        interval: 300
        source: Example News    # the outlet (default: the feed's title)

A fetch is a conditional GET (``If-None-Match`` / ``If-Modified-Since`` from the last
response's ``ETag`` / ``Last-Modified``); a 304 is "nothing new". The response is read
up to ``max_bytes`` and ``timeout`` seconds in all; redirects are followed to http(s)
URLs only. Errors raise :class:`truce.errors.FetchError` (one line); the watcher backs
off exponentially (:func:`backoff`).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from truce.errors import FetchError, IngestError

DEFAULT_INTERVAL = 900.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_BACKOFF = 6 * 3600.0
_KEYS = {"url", "interval", "timeout", "max_bytes", "source"}


@dataclass(frozen=True)
class FeedConfig:
    url: str
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES
    source: str | None = None


def load_feeds(path: str | Path) -> list[FeedConfig]:
    """The feeds listed in a YAML file; a bad entry is a one-line :class:`IngestError` naming
    the file and the entry."""
    import yaml

    from truce import yamlio

    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise IngestError(f"cannot read feeds file: {e.strerror}", path=name) from e
    except UnicodeDecodeError as e:
        raise IngestError("feeds file is not UTF-8 text", path=name) from e
    try:
        data = yamlio.load(text)
    except yaml.YAMLError as e:
        msg, line = yamlio.problem(e)
        raise IngestError(msg, path=name, line=line) from e
    if not isinstance(data, dict) or not isinstance(data.get("feeds"), list):
        raise IngestError("expected a mapping with a list 'feeds:' of URLs", path=name)
    unknown = set(data) - {"feeds", "defaults"}
    if unknown:
        raise IngestError(f"unknown key {sorted(unknown)[0]!r} (use feeds, defaults)", path=name)
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise IngestError("'defaults' must be a mapping", path=name)
    _entry(dict(defaults, url="http://defaults"), name, "defaults")  # checked once, named as such
    out: list[FeedConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(data["feeds"], start=1):
        where = f"feeds[{i}]"
        raw = {"url": item} if isinstance(item, str) else item
        if not isinstance(raw, dict):
            raise IngestError(f"{where}: expected a URL or a mapping with 'url'", path=name)
        cfg = _entry({**defaults, **raw}, name, where)
        if cfg.url in seen:
            raise IngestError(f"{where}: {cfg.url} is listed twice", path=name)
        seen.add(cfg.url)
        out.append(cfg)
    return out


def _entry(d: dict[str, Any], name: str, where: str) -> FeedConfig:
    unknown = set(d) - _KEYS
    if unknown:
        raise IngestError(f"{where}: unknown key {sorted(unknown)[0]!r} (use {', '.join(sorted(_KEYS))})", path=name)
    url = d.get("url")
    if not isinstance(url, str) or not url.strip():
        raise IngestError(f"{where}: 'url' must be a URL", path=name)
    url = url.strip()
    check_url(url, f"{where}: ", name)
    vals: dict[str, Any] = {}
    for key, kind, low in (("interval", float, 1.0), ("timeout", float, 0.1), ("max_bytes", int, 1)):
        if key in d:
            v = d[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < low or (kind is int and v != int(v)):
                raise IngestError(f"{where}: {key!r} must be a number of at least {low:g}", path=name)
            vals[key] = kind(v)
    src = d.get("source")
    if src is not None and (not isinstance(src, str) or not src.strip()):
        raise IngestError(f"{where}: 'source' must be the outlet's name", path=name)
    return FeedConfig(url=url, source=src.strip() if src else None, **vals)


def check_url(url: str, prefix: str = "", path: str | None = None) -> None:
    """Only absolute http(s) URLs with a host."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise IngestError(f"{prefix}{url[:200]!r} is not an http(s) URL", path=path)


@dataclass(frozen=True)
class Fetched:
    """A feed response: 200 with its body, or 304 (``body`` None)."""

    status: int
    body: bytes | None
    etag: str | None
    last_modified: str | None
    url: str


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise FetchError(f"{req.full_url}: redirected to a URL that is not http(s): {newurl[:200]!r}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_feed(cfg: FeedConfig, etag: str | None = None, last_modified: str | None = None,
               user_agent: str = "truce-monitor") -> Fetched:
    """One conditional GET of ``cfg.url`` within its time and size limits."""
    check_url(cfg.url)
    headers = {"User-Agent": user_agent, "Accept-Encoding": "identity",
               "Accept": "application/atom+xml, application/rss+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    opener = urllib.request.build_opener(_HttpOnlyRedirects(), urllib.request.ProxyHandler())
    deadline = time.monotonic() + cfg.timeout
    req = urllib.request.Request(cfg.url, headers=headers, method="GET")
    try:
        resp = opener.open(req, timeout=cfg.timeout)
    except urllib.error.HTTPError as e:
        if e.code == 304:
            return Fetched(304, None, e.headers.get("ETag") or etag, e.headers.get("Last-Modified") or last_modified,
                           cfg.url)
        raise FetchError(f"{cfg.url}: HTTP {e.code} {e.reason}") from None
    except FetchError:
        raise
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise FetchError(f"{cfg.url}: cannot fetch: {' '.join(str(reason).split())[:200]}") from None
    with resp:
        length = resp.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > cfg.max_bytes:
            raise FetchError(f"{cfg.url}: response is {int(length):,} bytes; the limit is {cfg.max_bytes:,} (max_bytes)")
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                if time.monotonic() > deadline:
                    raise FetchError(f"{cfg.url}: response took longer than {cfg.timeout:g} s (timeout)")
                chunk = resp.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > cfg.max_bytes:
                    raise FetchError(f"{cfg.url}: response is over the limit of {cfg.max_bytes:,} bytes (max_bytes)")
                chunks.append(chunk)
        except (OSError, ValueError) as e:
            raise FetchError(f"{cfg.url}: reading the response failed: {' '.join(str(e).split())[:200]}") from None
        return Fetched(resp.status, b"".join(chunks), resp.headers.get("ETag"), resp.headers.get("Last-Modified"),
                       cfg.url)


def backoff(interval: float, failures: int, cap: float = MAX_BACKOFF) -> float:
    """Seconds until the next poll after ``failures`` failures in a row: the interval,
    doubled for each failure, at most ``cap`` (and never less than the interval)."""
    if failures <= 0:
        return interval
    return max(interval, min(cap, interval * 2.0 ** min(failures, 30)))
