"""The model catalog as pure data: which models exist, their kind, prices and upstream pool."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import date
from typing import Mapping

from gateway.core.kinds import SessionKind
from gateway.core.money import Pricing


@dataclass(frozen=True, slots=True)
class UpstreamEndpoint:
    """One model endpoint that can serve sessions (OpenAI, an Azure deployment, the emulator)."""

    name: str
    #: base URL in the form of OpenAI's ``wss://api.openai.com/v1``; ``embedded`` = in-process emulator
    url: str
    #: header that carries the credential (``Authorization`` with ``Bearer``, or Azure's ``api-key``)
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    #: environment variable holding the secret; read once at start-up, never logged
    auth_env: str | None = "OPENAI_API_KEY"
    #: model name → deployment name sent upstream (Azure deployments)
    deployments: Mapping[str, str] = field(default_factory=dict)
    #: extra query parameters appended to the upstream URL (for example Azure's api-version)
    query: Mapping[str, str] = field(default_factory=dict)
    connect_timeout_s: float = 10.0
    #: HTTP base of the calls API (``https://api.openai.com/v1``); unset → derived from ``url``
    calls_url: str | None = None
    #: the endpoint answers WebRTC offers and sidebands (``/realtime/calls``, ``?call_id=``)
    webrtc: bool = True

    @property
    def calls_base(self) -> str:
        """Where ``/realtime/calls`` lives: ``calls_url``, or ``url`` with ws(s) turned into http(s)."""
        if self.calls_url:
            return self.calls_url.rstrip("/")
        base = self.url.rstrip("/")
        return "https" + base[3:] if base.startswith("wss:") else "http" + base[2:] if base.startswith("ws:") else base


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One servable model."""

    name: str
    kind: SessionKind
    family: str
    pricing: Pricing
    #: endpoint names, in failover order
    upstreams: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    #: glob patterns of dated snapshot names that bill as this model (``gpt-realtime-2-2026-*``)
    snapshots: tuple[str, ...] = ()
    #: day OpenAI stops serving the model (announced on its deprecations page); ``None`` = none announced
    shutdown: date | None = None
    #: the catalog model OpenAI recommends instead (what a policy may map the retired name to)
    successor: str | None = None

    def retired(self, today: date) -> bool:
        """Whether the model's announced shutdown day has come."""
        return self.shutdown is not None and today >= self.shutdown


@dataclass(frozen=True, slots=True)
class Catalog:
    models: Mapping[str, ModelSpec]
    endpoints: Mapping[str, UpstreamEndpoint]
    #: price used for a served model the catalog does not know; ``None`` = refuse such sessions
    fallback_pricing: Pricing | None = None

    def resolve(self, name: str) -> ModelSpec | None:
        """Find a model by name, alias or dated snapshot name."""
        spec = self.models.get(name)
        if spec is not None:
            return spec
        for spec in self.models.values():
            if name in spec.aliases:
                return spec
        for spec in self.models.values():
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in spec.snapshots):
                return spec
        return None

    def served_names(self) -> list[str]:
        """Every name a client may ask for: models and aliases (snapshot globs are listed as patterns)."""
        names: list[str] = []
        for spec in self.models.values():
            names.append(spec.name)
            names.extend(spec.aliases)
            names.extend(spec.snapshots)
        return names

    def default_for(self, kind: SessionKind) -> ModelSpec | None:
        """The first model of a kind in catalog order."""
        return next((m for m in self.models.values() if m.kind is kind), None)
