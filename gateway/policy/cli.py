"""``voice-gateway policy check|explain|schema``: validate policies and explain decisions without a server."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from gateway.core.catalog import Catalog
from gateway.core.kinds import EndpointKind
from gateway.core.money import micros_to_usd
from gateway.core.jsontypes import JsonObject
from gateway.core.routing import Route, RouteDecision, SessionRequest, ToolAllowlist
from gateway.policy.catalog import CatalogError, load_catalog
from gateway.policy.loader import PolicyError, load_policy_files
from gateway.policy.schema import render_schema
from gateway.policy.tools import toolsets_of
from gateway.policy.yamlpos import YamlProblem, parse_yaml
from routers import decide, wants_session_update
from routers.compiled import CompiledPolicy

_REPO_ROOT = Path(__file__).resolve().parents[2]
EXIT_OK, EXIT_DENIED, EXIT_ERROR = 0, 1, 2


def _default_file(relative: str) -> Path:
    """A path under the working directory when it exists there, else under the checkout."""
    local = Path(relative)
    return local if local.exists() else _REPO_ROOT / relative


def _referenced_catalog(policy_file: Path) -> Path | None:
    """The ``catalog:`` path a policy file names, relative to the file."""
    try:
        data = parse_yaml(policy_file.read_text(encoding="utf-8")).data
    except (OSError, UnicodeDecodeError, YamlProblem):
        return None
    ref = data.get("catalog") if isinstance(data, dict) else None
    return policy_file.parent / ref if isinstance(ref, str) and ref else None


def _catalog(explicit: Path | None, policy_file: Path | None) -> Catalog:
    path = explicit or (_referenced_catalog(policy_file) if policy_file else None) or _default_file("config/models.yaml")
    return load_catalog(path)


def _pairs(items: Sequence[str] | None, flag: str, *, lower: bool = False) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"{flag} expects NAME=VALUE, got '{item}'")
        found[name.strip().lower() if lower else name.strip()] = value
    return found


# --- check -------------------------------------------------------------------------------------


def run_check(args: argparse.Namespace) -> int:
    """Validate each file (or all together with ``--combined``); print every problem as file:line:col."""
    files: list[Path] = args.files
    groups = [files] if args.combined else [[f] for f in files]
    failed = False
    for group in groups:
        try:
            catalog = _catalog(args.catalog, group[0])
            policy = load_policy_files(group, catalog)
        except CatalogError as exc:
            print(f"{group[0]}:1:1: cannot load the model catalog: {exc}")
            failed = True
            continue
        except PolicyError as exc:
            print("\n".join(exc.problems))
            failed = True
            continue
        names = ", ".join(str(f) for f in group)
        print(f"{names}: ok ({len(policy.rules)} rules, version {policy.version})")
        if not args.offline:
            for warning in _tool_warnings(policy):
                print(f"{names}: warning: {warning}")
    return EXIT_ERROR if failed else EXIT_OK


def _tool_warnings(policy: CompiledPolicy) -> list[str]:
    """Tool servers the policy names that cannot be reached now (warnings: they may be up when serving)."""
    toolsets = toolsets_of(policy)
    if not toolsets:
        return []
    from gateway.tools.probe import tool_server_warnings  # network I/O only when a policy declares tools

    return asyncio.run(tool_server_warnings(toolsets))


# --- explain -----------------------------------------------------------------------------------


def _endpoint(path: str) -> EndpointKind:
    trimmed = path.rstrip("/")
    if trimmed.endswith("/realtime/translations"):
        return EndpointKind.TRANSLATIONS
    if trimmed.endswith("/realtime/calls"):
        return EndpointKind.CALLS
    if trimmed == "/sip":  # an incoming SIP call, as the SIP front door presents it
        return EndpointKind.SIP
    return EndpointKind.REALTIME


def _session_update(text: str | None) -> JsonObject | None:
    if text is None:
        return None
    value = json.loads(text)
    if isinstance(value, dict) and value.get("type") == "session.update":
        value = value.get("session")
    if not isinstance(value, dict):
        raise ValueError("--session-update expects a session.update event or its session object (JSON)")
    return value


def build_request(args: argparse.Namespace) -> SessionRequest:
    """The ``SessionRequest`` the inbound adapter would build for these flags."""
    headers = _pairs(args.header, "--header", lower=True)
    query = _pairs(args.query, "--query")
    endpoint = _endpoint(args.path)
    intent = query.get("intent") or headers.get("x-voice-intent")
    if endpoint is EndpointKind.TRANSLATIONS:
        intent = intent or "translation"
    if endpoint is EndpointKind.SIP:
        intent = intent or "realtime"
    return SessionRequest(
        endpoint=endpoint,
        path=args.path,
        requested_model=query.get("model") or None,
        declared_intent=intent,
        headers=headers,
        query=query,
        tenant=args.tenant or args.key,
        key_id=args.key,
        key_labels=_pairs(args.label, "--label"),
        first_session_update=_session_update(args.session_update),
        budget_used_ratio=args.budget_used,
    )


def _route_dict(route: Route) -> dict[str, object]:
    caps = route.caps
    overrides = route.overrides
    shown: dict[str, object] = {
        "name": route.name,
        "kind": route.kind.value,
        "model": route.model,
        "upstreams": list(route.upstreams),
        "caps": {
            "max_cost_usd": micros_to_usd(caps.max_cost_micros) if caps.max_cost_micros is not None else None,
            "max_duration_s": caps.max_duration_s,
            "idle_timeout_s": caps.idle_timeout_s,
            "warn_ratio": caps.warn_ratio,
        },
    }
    enforced: dict[str, object] = {
        "instructions_prefix": overrides.instructions_prefix,
        "voice": overrides.voice,
        "max_output_tokens": overrides.max_output_tokens,
        "tools": _tools_dict(overrides.tool_allowlist),
        "max_instructions_chars": overrides.max_instructions_chars,
    }
    if overrides.sets_turn_detection:
        enforced["turn_detection"] = overrides.turn_detection
    shown["overrides"] = {k: v for k, v in enforced.items() if v is not None or k == "turn_detection"}
    if route.gateway_tools is not None:
        shown["gateway_tools"] = {
            "http": [t.name for t in route.gateway_tools.http],
            "mcp": [{"server": m.name, "allow": sorted(m.allow) if m.allow is not None else None} for m in route.gateway_tools.mcp],
        }
    return shown


def _tools_dict(allow: ToolAllowlist | None) -> dict[str, object] | None:
    if allow is None:
        return None
    servers = [{k: v for k, v in (("server_url", r.server_url), ("server_label", r.server_label)) if v} for r in allow.mcp_servers]
    return {"functions": sorted(allow.functions), "mcp_servers": servers}


def explain_dict(decision: RouteDecision, holds: bool, version: str, source: str) -> dict[str, object]:
    """The explanation as plain data (``--json``)."""
    return {
        "policy_version": version,
        "holds_for_session_update": holds,
        "rule_id": decision.rule_id,
        "rule_source": source,
        "reason": decision.reason,
        "matched": dict(decision.matched),
        "denied": decision.denied,
        "deny_reason": decision.deny_reason,
        "route": _route_dict(decision.route) if decision.route is not None else None,
    }


def _print_text(shown: dict[str, object]) -> None:
    rule = f"rule '{shown['rule_id']}'" + (f" ({shown['rule_source']})" if shown["rule_source"] else "")
    print(f"policy version: {shown['policy_version']}")
    print(f"holds for the first session.update: {'yes' if shown['holds_for_session_update'] else 'no'}")
    print(f"decision: {rule}")
    print(f"reason: {shown['reason']}")
    matched = shown["matched"]
    if isinstance(matched, dict) and matched:
        print("matched: " + ", ".join(f"{k}={v}" for k, v in matched.items()))
    if shown["denied"]:
        print(f"denied: {shown['deny_reason']}")
        return
    route = shown["route"]
    assert isinstance(route, dict)
    print(f"route: {route['name']}")
    for key in ("kind", "model", "upstreams", "caps", "overrides"):
        value = route[key]
        if isinstance(value, dict):
            value = ", ".join(f"{k}={json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in value.items()) or "none"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        print(f"  {key}: {value}")


def run_explain(args: argparse.Namespace) -> int:
    """Print which rule matches a described request, why, and the resulting route."""
    files: list[Path] = args.files or [_default_file("policies/default.yaml")]
    try:
        request = build_request(args)
        policy = load_policy_files(files, _catalog(args.catalog, files[0]))
    except (ValueError, CatalogError) as exc:  # PolicyError and JSON errors are ValueErrors
        problems = exc.problems if isinstance(exc, PolicyError) else [str(exc)]
        print("\n".join(problems), file=sys.stderr)
        return EXIT_ERROR
    holds = wants_session_update(policy, replace(request, first_session_update=None))
    decision = decide(policy, request)
    source = next((r.source for r in policy.rules if r.id == decision.rule_id), "")
    shown = explain_dict(decision, holds, policy.version, source)
    if args.json:
        print(json.dumps(shown, indent=2))
    else:
        _print_text(shown)
    return EXIT_DENIED if decision.denied else EXIT_OK


# --- schema ------------------------------------------------------------------------------------


def run_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema, or write it (``--write``) where editors find it."""
    text = render_schema()
    if args.write is None:
        sys.stdout.write(text)
    else:
        args.write.write_text(text, encoding="utf-8")
        print(f"wrote {args.write}")
    return EXIT_OK


# --- wiring ------------------------------------------------------------------------------------


def _add_subcommands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    check = sub.add_parser("check", help="validate policy files; print file:line:column: message per problem")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.add_argument("--catalog", type=Path, help="model catalog (default: the file's catalog:, else config/models.yaml)")
    check.add_argument("--combined", action="store_true", help="check the files as one policy, as the server loads them")
    check.add_argument("--offline", action="store_true", help="do not probe the tool servers the policy names")
    check.set_defaults(func=run_check)

    explain = sub.add_parser("explain", help="show which rule a request matches, why, and the route")
    explain.add_argument("files", nargs="*", type=Path, metavar="FILE", help="policy files (default: policies/default.yaml)")
    explain.add_argument("--path", default="/v1/realtime", help="request path (/v1/realtime, /v1/realtime/translations, /v1/realtime/calls, /sip for an incoming SIP call)")
    explain.add_argument("--header", action="append", metavar="NAME=VALUE", help="request header (repeatable)")
    explain.add_argument("--query", action="append", metavar="NAME=VALUE", help="query parameter, e.g. model=… (repeatable)")
    explain.add_argument("--key", help="gateway API key id (also the tenant unless --tenant is given)")
    explain.add_argument("--tenant", help="tenant of the key")
    explain.add_argument("--label", action="append", metavar="NAME=VALUE", help="key label (repeatable)")
    explain.add_argument("--budget-used", type=float, help="share of today's budget spent, e.g. 0.85")
    explain.add_argument("--session-update", metavar="JSON", help="the client's first session.update (event or session)")
    explain.add_argument("--catalog", type=Path, help="model catalog (default: the file's catalog:, else config/models.yaml)")
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")
    explain.set_defaults(func=run_explain)

    schema = sub.add_parser("schema", help="print (or --write) the policy JSON Schema")
    schema.add_argument("--write", type=Path, metavar="PATH", help="write the schema to PATH")
    schema.set_defaults(func=run_schema)


def add_policy_commands(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register ``policy check|explain|schema`` under the main command line."""
    policy = subparsers.add_parser("policy", help="check routing policies and explain decisions")
    _add_subcommands(policy.add_subparsers(dest="policy_command", required=True))


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: ``python -m gateway.policy.cli check FILE...``."""
    parser = argparse.ArgumentParser(prog="voice-gateway policy", description="Routing policy tools.")
    _add_subcommands(parser.add_subparsers(dest="policy_command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
