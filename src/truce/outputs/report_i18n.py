"""The situation report in Ukrainian or Russian (``truce report --lang``): its title, contents,
section headings, table headings, summary figures and the names of grades and verdicts are
translated from the same catalogs as the web app; quoted evidence stays as reported, and the
explanatory sentences are in English for now (docs/web.md)."""

from __future__ import annotations

import re

from truce.outputs.i18n import gettext_for

TITLE = "Situation report: strikes on energy infrastructure"
SECTIONS = ("Summary", "Map", "Timeline", "Findings", "Not covered", "Impact", "Coverage", "Contents",
            "Status history and evidence")
HEADERS = ("date", "status", "source", "reading of the day", "evidence", "date, incident", "target", "attacker",
           "grade", "agreement: verdict", "incident", "why not covered", "affiliation", "sources", "reports")
CARDS = ("reports", "claims", "incidents", "confirmed", "fair", "weak", "contested", "discounted")


def localise_report(html: str, lang: str) -> str:
    """``html`` (the English report) with its structure in ``lang``."""
    if lang == "en":
        return html
    _ = gettext_for(lang)
    html = html.replace("<html lang='en'>", f"<html lang='{lang}'>", 1)
    html = html.replace(f"<h1>{TITLE}</h1>", f"<h1>{_(TITLE)}</h1>", 1)
    html = html.replace("<title>Truce Monitor situation report</title>", f"<title>{_(TITLE)}</title>", 1)
    for s in SECTIONS:
        said = _(s).replace("\\", "\\\\")
        html = re.sub(rf"(<h[23][^>]*>){re.escape(s)}((?: \(\d+\))?</h[23]>)", rf"\g<1>{said}\g<2>", html)
        html = re.sub(rf"(<li><a href='#[^']*'>){re.escape(s)}((?: \(\d+\))?</a></li>)", rf"\g<1>{said}\g<2>", html)
    for h in HEADERS:
        html = html.replace(f"<th>{h}</th>", f"<th>{_(h)}</th>")
    for c in CARDS:
        html = html.replace(f"</b>{c}</div>", f"</b>{_(c)}</div>")
    html = html.replace("<b>Status:</b>", f"<b>{_('Status')}:</b>")
    return html
