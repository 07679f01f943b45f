"""`policy check` and `policy explain`, called with argv lists."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from gateway.policy.cli import add_policy_commands, main

ROOT = Path(__file__).resolve().parents[3]
DEFAULT = ROOT / "policies" / "default.yaml"
CATALOG = ROOT / "config" / "models.yaml"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_check_prints_every_problem_with_position(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad file exits non-zero with file:line:column for each problem; a good one prints ok."""
    bad = write(tmp_path, "bad.yaml", "version: 1\nrules:\n  - id: a\n    match: {tenant: {regex: '('}}\n    route: {model: gpt-9}\n")
    empty = write(tmp_path, "empty.yaml", "")
    code = main(["check", "--catalog", str(CATALOG), str(bad), str(empty), str(DEFAULT)])
    out = capsys.readouterr().out.splitlines()
    assert code == 2
    assert out[0].startswith(f"{bad}:4:29: rules[0].match.tenant.regex: regex does not compile")
    assert out[1] == f"{empty}:1:1: the policy file is empty"
    assert out[2].startswith(f"{DEFAULT}: ok (3 rules, version ")
    assert len(out) == 3


def test_check_reports_unknown_model_after_schema_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Cross-checks (unknown model) run when the file is well-formed."""
    bad = write(tmp_path, "m.yaml", "version: 1\nrules:\n  - id: a\n    route: {model: gpt-9}\n")
    assert main(["check", "--catalog", str(CATALOG), str(bad)]) == 2
    assert capsys.readouterr().out.startswith(f"{bad}:4:20: rules[0].route.model: unknown model 'gpt-9'")


def test_check_uses_the_catalog_the_file_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --catalog, a relative `catalog:` in the file is used; a missing one is reported."""
    good = write(tmp_path, "g.yaml", f"version: 1\ncatalog: {CATALOG}\ndefaults: {{by_kind: {{realtime: {{model: gpt-realtime-2}}}}}}\n")
    broken = write(tmp_path, "b.yaml", "version: 1\ncatalog: nowhere/models.yaml\n")
    assert main(["check", str(good)]) == 0
    assert main(["check", str(broken)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{good}: ok (0 rules")
    assert out[1].startswith(f"{broken}:1:1: cannot load the model catalog:")


def test_check_combined_finds_cross_file_duplicates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--combined checks the files as one policy."""
    a = write(tmp_path, "a.yaml", "version: 1\nrules: [{id: x, match: {tenant: t}, deny: {reason: r}}]\n")
    b = write(tmp_path, "b.yaml", "version: 1\nrules: [{id: x, match: {tenant: u}, deny: {reason: r}}]\n")
    assert main(["check", "--catalog", str(CATALOG), str(a), str(b)]) == 0
    assert main(["check", "--combined", "--catalog", str(CATALOG), str(a), str(b)]) == 2
    assert f"{b}:2:14: rules[0].id: duplicate rule id 'x'" in capsys.readouterr().out


def test_explain_prints_rule_reason_and_route(capsys: pytest.CaptureFixture[str]) -> None:
    """explain names the rule, its source line, why it matched and the route."""
    code = main(["explain", str(DEFAULT), "--query", "intent=captions", "--key", "acme"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"decision: rule 'captions' ({DEFAULT}:30)" in out
    assert "reason: rule 'captions' matched: intent=transcription; kind transcription from declared intent 'captions'" in out
    assert "  model: gpt-realtime-whisper" in out and "max_cost_usd=2.000000" in out


def test_explain_budget_downgrade_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--budget-used above 0.8 picks the downgrade rule; --json prints the decision as data."""
    example = ROOT / "policies" / "examples" / "budget-downgrade.yaml"
    code = main(["explain", str(example), "--key", "acme", "--query", "model=gpt-realtime-2", "--budget-used", "0.85", "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert code == 0
    assert shown["rule_id"] == "budget-low-agent" and shown["matched"] == {"budget_used": "0.85", "intent": "realtime"}
    assert shown["route"]["model"] == "gpt-realtime-2.1-mini" and shown["route"]["caps"]["max_cost_usd"] == "0.750000"


def test_explain_denied_exits_one(capsys: pytest.CaptureFixture[str]) -> None:
    """A denied request prints the client-facing reason and exits 1."""
    example = ROOT / "policies" / "examples" / "deny.yaml"
    update = json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {"transcription": {"language": "ko"}}}}})
    code = main(["explain", str(example), "--query", "intent=captions", "--session-update", update])
    out = capsys.readouterr().out
    assert code == 1
    assert "holds for the first session.update: yes" in out
    assert "denied: Captions are available in English, Spanish, French and German." in out


def test_explain_headers_labels_and_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--header names are lower-cased, --label sets key labels, --path picks the endpoint."""
    policy = write(
        tmp_path,
        "p.yaml",
        "version: 1\nrules:\n  - id: t\n    match: {headers: {x-team: blue}, labels: {tier: gold}, endpoint: translations}\n"
        "    route: {model: gpt-realtime-translate}\n",
    )
    args = ["explain", str(policy), "--catalog", str(CATALOG), "--path", "/v1/realtime/translations"]
    assert main([*args, "--header", "X-Team=blue", "--label", "tier=gold"]) == 0
    assert "matched: endpoint=translations, label:tier=gold, header:x-team=blue" in capsys.readouterr().out


def test_explain_bad_input_exits_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed --header or a broken policy file is an error (exit 2) on stderr."""
    assert main(["explain", str(DEFAULT), "--header", "novalue"]) == 2
    assert "--header expects NAME=VALUE, got 'novalue'" in capsys.readouterr().err
    broken = write(tmp_path, "x.yaml", "version: 1\nrules: 5\n")
    assert main(["explain", str(broken), "--catalog", str(CATALOG)]) == 2
    assert f"{broken}:2:8: rules: Input should be a valid list" in capsys.readouterr().err


def test_add_policy_commands_registers_under_policy(capsys: pytest.CaptureFixture[str]) -> None:
    """The composition root's parser gets `policy check|explain|schema`."""
    parser = argparse.ArgumentParser(prog="voice-gateway")
    add_policy_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["policy", "check", str(DEFAULT)])
    assert args.func(args) == 0
    assert "ok (3 rules" in capsys.readouterr().out


def test_schema_command_writes_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`policy schema --write` writes the same text the freshness test compares."""
    target = tmp_path / "s.json"
    assert main(["schema", "--write", str(target)]) == 0
    assert target.read_text() == (ROOT / "policies" / "policy.schema.json").read_text()
    assert json.loads(target.read_text())["title"] == "voice-gateway routing policy"
