"""The optional model backend, against a fake OpenAI-compatible server on 127.0.0.1."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from truce.errors import ExtractionError
from truce.extract import finalize
from truce.extract.llm import LLMExtractor, anchor
from truce.ingest import make_report

TEXT = ("Overnight on 11 April Russian missiles destroyed the Trypillia thermal power plant in Kyiv region, "
        "Centrenergo said.  A grocery store in Kharkiv was also hit.")

ANSWER = {"claims": [
    {"kind": "strike", "date": "2024-04-11", "country": "UA", "region": "Kyiv Oblast",
     "facility_name": "Trypillia TPP", "facility_type": "thermal_plant", "attacker": "RU", "weapon": "missile",
     "outcome": "hit", "salience": "main",
     # quoted with different spacing and case: must be re-anchored
     "evidence": ["overnight on 11 April Russian missiles destroyed the Trypillia   thermal power plant in Kyiv region"]},
    {"kind": "strike", "facility_type": "power_station_of_dreams", "evidence": ["A grocery store"]},  # invalid type
    {"kind": "strike", "facility_type": "chp", "evidence": ["a sentence that is not in the text at all"]},  # unanchorable
]}


class Fake(BaseHTTPRequestHandler):
    reply: str = json.dumps(ANSWER)
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Fake.seen.append(body)
        out = json.dumps({"choices": [{"message": {"role": "assistant", "content": Fake.reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    srv = HTTPServer(("127.0.0.1", 0), Fake)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


def test_model_claims_are_validated_and_re_anchored(server, ctx):
    ex = LLMExtractor(ctx.services, server, "fake-model")
    rep = make_report(text=TEXT, external_id="r1", sources=ctx.sources, published="2024-04-11", language="en")
    claims = finalize(ex.extract(rep), rep, ctx.services)
    assert len(claims) == 1
    c = claims[0]
    assert (c.facility_id, c.region_code, c.attacker, c.attacker_basis) == ("ua-trypillia-tpp", "UA-32", "RU", "stated")
    e = c.evidence[0]
    assert rep.text[e.start:e.end] == e.text and e.text.startswith("Overnight on 11 April")
    assert c.extractor == "llm/fake-model/p2"
    sent = Fake.seen[-1]
    assert sent["model"] == "fake-model" and sent["response_format"] == {"type": "json_object"}
    assert json.loads(sent["messages"][1]["content"])["published"] == "2024-04-11"


def test_non_json_output_is_a_clear_error(server, ctx):
    Fake.reply = "Sure! Here are the claims: none"
    try:
        ex = LLMExtractor(ctx.services, server)
        rep = make_report(text=TEXT, external_id="r2", sources=ctx.sources)
        with pytest.raises(ExtractionError, match=r"^r2: model output is not JSON"):
            ex.extract(rep)
    finally:
        Fake.reply = json.dumps(ANSWER)


def test_unreachable_endpoint_is_a_clear_error(ctx):
    ex = LLMExtractor(ctx.services, "http://127.0.0.1:9/v1", timeout=2)
    rep = make_report(text=TEXT, external_id="r3", sources=ctx.sources)
    with pytest.raises(ExtractionError, match=r"^r3: cannot reach model endpoint http://127.0.0.1:9/v1"):
        ex.extract(rep)


def test_anchor():
    t = "Line one.\nThe  Burshtyn TPP was hit."
    assert anchor(t, "the burshtyn tpp was hit").text == "The  Burshtyn TPP was hit"
    assert anchor(t, "nothing like it") is None


def test_cli_uses_the_llm_backend(server, tmp_path):
    from click.testing import CliRunner

    from truce.cli import cli

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "x", "text": TEXT, "published": "2024-04-11"}) + "\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["extract", str(src), "-o", "-", "--extractor", "llm", "--llm-url", server])
    assert r.exit_code == 0, r.output
    (line,) = [l for l in r.stdout.splitlines() if l.startswith("{")]
    assert json.loads(line)["facility_id"] == "ua-trypillia-tpp"
