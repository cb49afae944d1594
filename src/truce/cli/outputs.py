"""Commands that read what is stored: incidents, candidates, findings, export, stats, outlook, report."""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import click

from truce.errors import PipelineError

if TYPE_CHECKING:
    pass

from truce.cli import common
from truce.cli.common import (
    DayType,
    _agreement_ids,
    _dump,
    _fail,
    _filters,
    _open,
    _settings,
    _table,
    _usage,
    _write,
    cli,
    db_option,
    filter_options,
)


@cli.command()
@db_option
@filter_options
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "geojson"]), default="table", show_default=True)
@click.option("--output", "-o", default=None, help="Write to a file instead of stdout.")
@click.pass_context
def incidents(ctx: click.Context, db: str | None, fmt: str, output: str | None, **kw: Any) -> None:
    """List incidents (claims fused into physical events) with their grades.

    json is EVAL-FORMAT.md section 4: each incident names the reports it rests on
    by the id they were ingested with, and the role of each claim (claim,
    counter-claim, corroboration).

    Example:

        truce incidents --country RU --type refinery --from 2025-03-18 --to 2025-04-16 --format json
    """
    from truce.outputs.stream import iter_incidents

    out = None
    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            filters = _filters(settings, database, kw)
            # json, csv and geojson are written a page of incidents at a time (the file appears whole
            # when done); the table is measured before it is drawn, so it keeps its rows' text
            rows = iter_incidents(database, filters)
            out = _write(output)
            if fmt == "table":
                _incident_table(out, rows)
            else:
                _write_incidents(out, fmt, rows)
    except PipelineError as e:
        _fail(e)
    if out is not None and out is not sys.stdout:
        out.close()


INCIDENT_CSV = ["id", "date", "country", "region_code", "region", "facility_id", "facility_name", "facility_type",
                "attacker", "attacker_basis", "weapon", "outcome", "grade", "lat", "lon", "n_reports", "report_ids"]


def _write_incidents(out: Any, fmt: str, rows: Any) -> None:
    from truce.outputs.stream import write_geojson, write_json_list

    if fmt == "json":
        write_json_list(out, rows)
        out.write("\n")
    elif fmt == "geojson":
        write_geojson(out, rows)
        out.write("\n")
    else:
        from truce.safeio import csv_row

        cols = INCIDENT_CSV
        w = csv.DictWriter(out, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow(csv_row({**{k: r.get(k) for k in cols}, "n_reports": len(r["reports"]),
                                "report_ids": "|".join(x["report_id"] for x in r["reports"])}))


def _incident_table(out: Any, rows: Iterable[dict[str, Any]]) -> None:
    table = [[r["date"] or "-", r["id"], r["facility_name"] or r["region"] or r["country"] or "-",
              r["facility_type"] or "-", (r["attacker"] or "-") + ("*" if r["attacker_basis"] == "inferred" else ""),
              r["grade"], str(len(r["reports"]))] for r in rows]  # the rows' text only, a page read at a time
    _table(out, ["date", "id", "target", "type", "attacker", "grade", "reports"], table,
           f"{len(table)} incident(s); * attacker inferred, not stated")


@cli.command()
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--output", "-o", default=None, help="Write to a file instead of stdout.")
@click.pass_context
def candidates(ctx: click.Context, db: str | None, fmt: str, output: str | None) -> None:
    """Candidate incidents from satellite fire detections: fires above a facility's background with no
    reported incident at it. For an analyst to review; never a finding by themselves.

    Needs NASA FIRMS files ingested (`truce ingest fire_archive.csv`) and `truce run`.

    Example:

        truce candidates --format json -o candidates.json
    """
    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            found = database.fire_candidates()
            n = database.fire_detection_count()
    except PipelineError as e:
        _fail(e)
    out = _write(output)
    if fmt == "json":
        _dump(out, [c.to_dict() for c in found])
    else:
        rows = [[c.date, c.id, c.facility_name, c.facility_type, c.region_code, str(len(c.detections)),
                 f"{max((m.detection.frp or 0.0) for m in c.detections):.1f}"] for c in found]
        _table(out, ["date", "candidate", "facility", "type", "region", "detections", "max FRP MW"], rows,
               f"{len(found)} candidate(s) from {n} stored satellite fire detection(s); for review, never findings")
    if out is not sys.stdout:
        out.close()


@cli.command()
@db_option
@filter_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--output", "-o", default=None, help="Write to a file instead of stdout.")
@click.pass_context
def findings(ctx: click.Context, db: str | None, fmt: str, output: str | None, **kw: Any) -> None:
    """Findings: each incident evaluated against each agreement, with a clause-by-clause trace.

    Ordered as a mediator reads them: consistent with violation, contested, alleged,
    indeterminate, not covered; then by date.

    Example:

        truce findings --agreement moratorium-2025-03 --verdict consistent_with_violation --verdict contested
    """
    from truce.outputs.stream import iter_findings, write_json_list

    out = None
    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            # json is written a page of findings at a time; the table is measured before it is
            # drawn, so it keeps its rows (text only, not the findings)
            rows = iter_findings(database, _filters(settings, database, kw))
            out = _write(output)
            if fmt == "json":
                write_json_list(out, (d for d, _ in rows))
                out.write("\n")
            else:
                table = [[i.date or "-", r["incident_id"], _target(i), r["agreement_id"], r["verdict"], i.grade,
                          _roles(r["evidence"]), (r["hinges_on"] or "") + (
                              f" [review: {r['review']['verdict']} by {r['review']['author']}]" if r["review"] else "")]
                         for r, i in rows]
                _table(out, ["date", "incident", "target", "agreement", "verdict", "grade", "sources", "hinges on / review"],
                       table, f"{len(table)} finding(s)")
    except PipelineError as e:
        _fail(e)
    if out is not None and out is not sys.stdout:
        out.close()


def _target(i: Any) -> str:
    return str(i.facility_name or i.region or i.country or "-")


def _roles(evidence: list[dict[str, Any]]) -> str:
    """How many reports are the claim, counter-claims and corroboration ("2 claim, 1 counter")."""
    by: dict[str, set[str]] = {}
    for e in evidence:
        by.setdefault(e.get("role") or "claim", set()).add(e["report_id"])
    short = {"claim": "claim", "counter-claim": "counter", "corroboration": "corr"}
    return ", ".join(f"{len(by[k])} {v}" for k, v in short.items() if by.get(k))


@cli.command("export")
@db_option
@filter_options
@click.option("--format", "fmt", type=click.Choice(["csv", "geojson", "parquet", "acled-csv"]), required=True)
@click.option("--output", "-o", required=True, help="File to write ('-' for stdout, not for parquet).")
@click.pass_context
def export_cmd(ctx: click.Context, db: str | None, fmt: str, output: str, **kw: Any) -> None:
    """Export incidents: CSV, GeoJSON (RFC 7946), Parquet, or ACLED's 31-column CSV.

    CSV and Parquet carry location precision, the verdict under each agreement, the first
    evidence quote with its source URL (Parquet dates are typed). ACLED rows need a date and a
    place: incidents without them are left out, counted on stderr with the reason; `truce
    ingest` reads the file back.

    Example:

        truce export --format acled-csv -o truce-acled.csv --from 2025-03-18 --to 2025-04-16
    """
    from truce.outputs import export as ex
    from truce.outputs.stream import iter_incidents, write_geojson

    if fmt == "parquet" and output == "-":
        _usage("parquet needs a file path (--output FILE.parquet)")
    left_out: dict[str, int] = {}
    out = None
    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            rows = iter_incidents(database, _filters(settings, database, kw))  # a page at a time
            agreements = _agreement_ids(settings, database)
            if fmt == "parquet":
                n = ex.write_parquet(rows, output, agreements)
            else:
                out = _write(output)
                if fmt == "csv":
                    n = ex.write_csv(rows, out, agreements)
                elif fmt == "geojson":
                    n = write_geojson(out, rows)
                    out.write("\n")
                else:
                    n, left_out = ex.write_acled(rows, out, int(time.time()))
    except PipelineError as e:
        _fail(e)
    if out is not None and out is not sys.stdout:
        out.close()
    click.echo(f"exported {n} incident(s) as {fmt}" + (f" to {output}" if output != "-" else ""), err=True)
    for reason, count in left_out.items():
        click.echo(f"left out {count} incident(s): {reason}", err=True)


@cli.command()
@db_option
@filter_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def stats(ctx: click.Context, db: str | None, fmt: str, **kw: Any) -> None:
    """Impact analytics: capacity hit, refining capacity hit in the last 30 days, strike rates
    before, during and after each agreement window (rate ratios with exact Poisson tests),
    findings by verdict.

    --from/--to bound the capacity figures (the rates compare periods around each window);
    the other filters select the incidents counted.

    Example:

        truce stats --agreement moratorium-2025-03 --country UA
    """
    from truce.outputs.stats import format_summary, summary

    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            filters = _filters(settings, database, kw)
            c = common._context(settings, database)
            s = summary(database, c, filters=filters)
    except PipelineError as e:
        _fail(e)
    click.echo(json.dumps(s, ensure_ascii=False, indent=1) if fmt == "json" else format_summary(s))


@cli.command()
@db_option
@click.option("--date", "day", type=DayType(), default=None,
              help="The day: YYYY-MM-DD or 01.03.2025, 2025-03, yesterday (default: the latest incident's date).")
@click.option("--country", default="UA", show_default=True, type=click.Choice(["UA", "RU"], case_sensitive=False),
              help="Whose grid (assumptions ship for UA).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def outlook(ctx: click.Context, db: str | None, day: Any, country: str, fmt: str) -> None:
    """The grid outlook: available generation by type (registry capacity minus what is occupied, destroyed
    or damaged and not yet repaired), imports, against the month's evening-peak demand: the deficit in MW
    and the hours a day without power, low / central / high, with the incidents behind each loss and
    every assumption with its source (data/outlook/ua.yaml; TRUCE_OUTLOOK to replace it).

    Example:

        truce outlook --date 2025-01-15 --country UA --format json
    """
    from truce.outputs.outlook import for_database, format_table, load_assumptions

    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            c = common._context(settings, database)
            o = for_database(database, c.registry, day, country.upper(), load_assumptions(country.upper(), settings.outlook))
    except PipelineError as e:
        _fail(e)
    if fmt == "json":
        _dump(sys.stdout, o.to_dict())
    else:
        click.echo(format_table(o))


# --- evaluation ------------------------------------------------------------------------

@cli.command()
@db_option
@filter_options
@click.option("--output", "-o", default="report.html", show_default=True, help="HTML file to write.")
@click.option("--pdf", is_flag=True, help="Also write a PDF (A4, page numbers, contents) next to it (needs WeasyPrint).")
@click.option("--lang", type=click.Choice(["en", "uk", "ru"]), default="en", show_default=True,
              help="Language of the report's headings, tables and labels.")
@click.option("--top", type=click.IntRange(min=1), default=500, show_default=True,
              help="List at most this many findings (and not-covered findings); over it, add aggregates and say how many are left out.")
@click.option("--appendix", is_flag=True, help="List every finding, however many (the file may be large).")
@click.pass_context
def report(ctx: click.Context, db: str | None, output: str, pdf: bool, lang: str, top: int, appendix: bool,
           **kw: Any) -> None:
    """Write the situation report: status history, map, timeline, findings with evidence, coverage.

    The first --agreement is the report's focus; findings come violations and contested first.
    Over --top findings it lists the first ones in that order, with counts by verdict, grade, asset
    type, region and month over the whole selection; --appendix lists them all. The ledger's hash
    chain is checked as the report is made (`truce ledger verify` also checks the findings against it).

    Example:

        truce report --agreement moratorium-2025-03 --from 2025-03-01 --to 2025-05-31 -o sitrep.html --pdf
    """
    from truce.outputs.report import write_pdf, write_report

    try:
        settings = _settings(ctx, db=db)
        with _open(settings, create=False) as database:
            filters = _filters(settings, database, kw)
            c = common._context(settings, database)
            path = write_report(database, c, Path(output), filters=filters, lang=lang, top=top, appendix=appendix)
        click.echo(f"wrote {path}")
        if pdf:
            click.echo(f"wrote {write_pdf(path, path.with_suffix('.pdf'))}")
    except PipelineError as e:
        _fail(e)
