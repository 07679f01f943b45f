"""Compile a route's ``gateway_tools`` block: schemas checked, names unique, secret headers present."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from gateway.core.gateway_tools import (
    DEFAULT_FILLER_INSTRUCTIONS,
    GatewayToolSet,
    HeaderSpec,
    HttpToolSpec,
    McpServerSpec,
    ToolLimits,
)
from gateway.core.tool_arguments import compiled_schema
from gateway.policy.models import GatewayToolsModel, HeaderModel, HttpToolModel, McpServerModel
from routers.compiled import CompiledPolicy, RouteTarget

Loc = tuple[int | str, ...]
Report = Callable[[Loc, str], None]

_DEFAULT_ERROR = "The tool is not answering right now."


def _headers(headers: Mapping[str, str | HeaderModel], loc: Loc, report: Report, env: Mapping[str, str]) -> tuple[HeaderSpec, ...]:
    out: list[HeaderSpec] = []
    for name, spec in headers.items():
        if isinstance(spec, str):
            out.append(HeaderSpec(name, value=spec))
            continue
        if spec.env is not None and spec.env not in env:
            report((*loc, "headers", name, "env"), f"environment variable '{spec.env}' is not set")
        out.append(HeaderSpec(name, value=spec.value, env=spec.env))
    return tuple(out)


def _limits(model: HttpToolModel | McpServerModel) -> ToolLimits:
    return ToolLimits(
        timeout_s=model.timeout_ms / 1000,
        filler_after_ms=model.filler_after_ms,
        cache_ttl_s=model.cache_ttl_s,
        max_concurrency=model.max_concurrency,
        error_message=model.error_message or _DEFAULT_ERROR,
    )


def _schema(parameters: Mapping[str, object], loc: Loc, report: Report) -> None:
    try:
        Draft202012Validator.check_schema(dict(parameters))
    except SchemaError as exc:
        report(loc, f"not a valid JSON Schema: {exc.message}")
        return
    if parameters.get("type") != "object":
        report(loc, "the arguments schema must have type: object")
        return
    compiled_schema(parameters)  # compiled once now, at load: sessions and calls reuse the validator


def compile_gateway_tools(
    model: GatewayToolsModel | None, loc: Loc, report: Report, env: Mapping[str, str] | None = None
) -> GatewayToolSet | None:
    """The route's compiled tool set (None when it declares none); problems go to ``report``."""
    if model is None or (not model.http and not model.mcp):
        return None
    environ = os.environ if env is None else env
    names: dict[str, Loc] = {}
    http: list[HttpToolSpec] = []
    for index, tool in enumerate(model.http):
        here: Loc = (*loc, "http", index)
        if tool.name in names:
            report((*here, "name"), f"tool name '{tool.name}' is declared twice")
        names[tool.name] = here
        _schema(tool.parameters, (*here, "parameters"), report)
        headers = _headers(tool.headers, here, report, environ)
        http.append(
            HttpToolSpec(tool.name, tool.description, tool.parameters, tool.url, tool.method, headers, _limits(tool))
        )
    servers: list[McpServerSpec] = []
    for index, server in enumerate(model.mcp):
        here = (*loc, "mcp", index)
        if any(s.name == server.name for s in servers):
            report((*here, "name"), f"MCP server name '{server.name}' is declared twice")
        headers = _headers(server.headers, here, report, environ)
        allow = frozenset(server.allow) if server.allow is not None else None
        servers.append(McpServerSpec(
            server.name, server.url, headers, allow, _limits(server), server.list_timeout_ms / 1000, float(server.tools_ttl_s),
        ))
    return GatewayToolSet(
        http=tuple(http),
        mcp=tuple(servers),
        max_concurrent_calls=model.max_concurrent_calls,
        max_result_bytes=model.max_result_bytes,
        filler_instructions=model.filler_instructions or DEFAULT_FILLER_INSTRUCTIONS,
    )


def toolsets_of(policy: CompiledPolicy) -> list[GatewayToolSet]:
    """Every gateway tool set any route of a compiled policy declares (to list MCP servers at start-up)."""
    targets: list[object] = [rule.outcome for rule in policy.rules]
    targets += [*policy.by_kind.values(), *policy.by_endpoint.values(), policy.otherwise]
    out: list[GatewayToolSet] = []
    for target in targets:
        if isinstance(target, RouteTarget):
            for route in (target.route, *target.alternatives.values()):
                if route.gateway_tools is not None and route.gateway_tools not in out:
                    out.append(route.gateway_tools)
    return out
