"""Helpers shared by the web tests: a copy of the demo database with accounts, an app over
it, and a report whose text and URL try to run script."""

from __future__ import annotations

import shutil
from pathlib import Path

from truce.db import Database
from truce.records import Claim, Evidence, Report
from truce.web.auth import add_user

HOSTILE_TEXT = ("Officials said a drone hit the Kremenchuk refinery overnight. "
                "<script>document.title='pwned';window.__pwned=1</script> "
                "<img src=x onerror=\"window.__pwned=2\"> "
                "<a href=\"javascript:window.__pwned=3\">click here</a> and the fire was put out by morning.")
HOSTILE_URL = "javascript:window.__pwned=4"


def web_database(demo_db: Path, tmp: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the demo database with users viewer, analyst, lead (and lead2) and their tokens."""
    path = tmp / "web.db"
    shutil.copy(demo_db, path)
    tokens = {}
    with Database(str(path)) as db:
        for name, role in (("vera", "viewer"), ("olena", "analyst"), ("lev", "lead"), ("lida", "lead")):
            tokens[name] = add_user(db, name, role, password=f"{name}-password")
    return path, tokens


def add_hostile_report(db: Database) -> str:
    """A report whose text holds a script, an event handler and a javascript: link, with one
    claim quoting the script; returns the report id."""
    r = Report(id="f" * 64, text=HOSTILE_TEXT, external_id="hostile-001", source="Example Wire", source_kind="wire",
               affiliation="neutral", url=HOSTILE_URL, title="<b>Refinery</b> <script>window.__pwned=5</script>",
               published="2025-03-20T08:00:00+00:00", language="en")
    db.add_reports([r])
    start = HOSTILE_TEXT.index("<script>")
    end = HOSTILE_TEXT.index("</script>") + len("</script>")
    c = Claim(report_id=r.id, index=0, kind="strike", date="2025-03-20", country="UA",
              evidence=(Evidence(0, 58, HOSTILE_TEXT[:58]), Evidence(start, end, HOSTILE_TEXT[start:end])))
    db.replace_claims(r.id, "test", [c])
    return r.id
