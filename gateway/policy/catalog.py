"""Load ``config/models.yaml`` into the pure :class:`gateway.core.catalog.Catalog`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.core.catalog import Catalog, ModelSpec, UpstreamEndpoint
from gateway.core.kinds import SessionKind
from gateway.core.money import Pricing, PricingUnit, TokenRates, usd_to_micros

EMULATOR_ENDPOINT = "emulator"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RatesModel(_Strict):
    input: str
    cached_input: str = "0"
    output: str = "0"

    def compile(self) -> TokenRates:
        # USD per 1M tokens → micro-dollars per 1M tokens
        return TokenRates(
            input=usd_to_micros(self.input),
            cached_input=usd_to_micros(self.cached_input),
            output=usd_to_micros(self.output),
        )


class PricingModel(_Strict):
    unit: Literal["tokens", "minutes"]
    text: RatesModel | None = None
    audio: RatesModel | None = None
    image: RatesModel | None = None
    per_minute: str | None = None

    def compile(self) -> Pricing:
        return Pricing(
            unit=PricingUnit(self.unit),
            text=self.text.compile() if self.text else None,
            audio=self.audio.compile() if self.audio else None,
            image=self.image.compile() if self.image else None,
            per_minute=usd_to_micros(self.per_minute) if self.per_minute else 0,
        )


class EndpointModel(_Strict):
    url: str
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    auth_env: str | None = "OPENAI_API_KEY"
    deployments: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    #: unset → the gateway-wide ``VOICE_GATEWAY_UPSTREAM_CONNECT_TIMEOUT_S``
    connect_timeout_s: float | None = Field(None, gt=0)
    #: HTTP base of the calls API; unset → ``url`` with ws(s) turned into http(s)
    calls_url: str | None = None
    #: the endpoint serves WebRTC calls and sidebands (direct media); false → WebRTC is terminated by the gateway
    webrtc: bool = True


class ModelModel(_Strict):
    kind: SessionKind
    family: str | None = None
    aliases: list[str] = Field(default_factory=list)
    snapshots: list[str] = Field(default_factory=list)
    upstreams: list[str] = Field(min_length=1)
    pricing: PricingModel
    #: announced shutdown day (OpenAI's deprecations page / the SDK's model docstrings)
    shutdown: date | None = None
    #: the catalog model recommended instead; a policy's ``model_map`` may route the old name to it
    successor: str | None = None


class CatalogFile(_Strict):
    version: Literal[1]
    endpoints: dict[str, EndpointModel]
    models: dict[str, ModelModel] = Field(min_length=1)
    fallback_pricing: PricingModel | None = None


class CatalogError(ValueError):
    """The catalog file is unreadable or inconsistent."""


def parse_catalog(text: str, source: str = "<catalog>") -> CatalogFile:
    try:
        raw = yaml.safe_load(text)
        return CatalogFile.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        raise CatalogError(f"{source}: {exc}") from exc


def compile_catalog(
    parsed: CatalogFile,
    *,
    upstream_url: str | None = None,
    emulator_url: str | None = None,
    fallback_pricing: Pricing | None = None,
    connect_timeout_s: float = 10.0,
    upstream_calls_url: str | None = None,
    emulator_calls_url: str | None = None,
) -> Catalog:
    """Compile and cross-check; ``upstream_url`` re-points every endpoint, ``emulator_url`` serves all models."""
    endpoints: dict[str, UpstreamEndpoint] = {}
    for name, ep in parsed.endpoints.items():
        endpoints[name] = UpstreamEndpoint(
            name=name,
            url=upstream_url or ep.url,
            auth_header=ep.auth_header,
            auth_scheme=ep.auth_scheme,
            auth_env=ep.auth_env,
            deployments=dict(ep.deployments),
            query=dict(ep.query),
            connect_timeout_s=ep.connect_timeout_s or connect_timeout_s,
            calls_url=upstream_calls_url or (None if upstream_url else ep.calls_url),
            webrtc=ep.webrtc,
        )
    if emulator_url is not None:
        endpoints[EMULATOR_ENDPOINT] = UpstreamEndpoint(
            name=EMULATOR_ENDPOINT, url=emulator_url, auth_env=None, connect_timeout_s=connect_timeout_s,
            calls_url=emulator_calls_url,
        )
    models: dict[str, ModelSpec] = {}
    _check_successors(parsed)
    for name, model in parsed.models.items():
        missing = [u for u in model.upstreams if u not in endpoints]
        if missing and emulator_url is None:
            raise CatalogError(f"model {name!r} names unknown upstream endpoint(s): {', '.join(missing)}")
        upstreams = (EMULATOR_ENDPOINT,) if emulator_url is not None else tuple(model.upstreams)
        models[name] = ModelSpec(
            name=name,
            kind=model.kind,
            family=model.family or name,
            pricing=model.pricing.compile(),
            upstreams=upstreams,
            aliases=tuple(model.aliases),
            snapshots=tuple(model.snapshots),
            shutdown=model.shutdown,
            successor=model.successor,
        )
    fallback = fallback_pricing or (parsed.fallback_pricing.compile() if parsed.fallback_pricing else None)
    return Catalog(models=models, endpoints=endpoints, fallback_pricing=fallback)


def _check_successors(parsed: CatalogFile) -> None:
    """A successor is another catalog model of the same kind."""
    for name, model in parsed.models.items():
        if model.successor is None:
            continue
        target = parsed.models.get(model.successor)
        if target is None or model.successor == name:
            raise CatalogError(f"model {name!r}: successor {model.successor!r} is not another catalog model")
        if target.kind is not model.kind:
            raise CatalogError(f"model {name!r}: successor {model.successor!r} serves {target.kind.value}, not {model.kind.value}")


def read_catalog(path: Path) -> CatalogFile:
    """Read and validate a catalog file (compile it with :func:`compile_catalog`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read catalog: {exc.strerror}") from exc
    return parse_catalog(text, str(path))


def load_catalog(path: Path) -> Catalog:
    """Read, validate and compile a catalog file as it stands (no endpoint re-pointing)."""
    return compile_catalog(read_catalog(path))
