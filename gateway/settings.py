"""Gateway settings: the only reader of the environment.

Every setting comes from an environment variable with the prefix ``VOICE_GATEWAY_`` (or a
``.env`` file), except the upstream credential, which keeps OpenAI's own name
(``OPENAI_API_KEY``). Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_dir(name: str) -> Path:
    """The repo's ``config/`` or ``policies/`` when running from a checkout, else the working dir's."""
    candidate = _REPO_ROOT / name
    return candidate if candidate.is_dir() else Path(name)


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VOICE_GATEWAY_", env_file=".env", extra="ignore", frozen=True
    )

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    #: serve HTTPS/WSS directly (PEM files); usually TLS ends at the ingress instead
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None

    # --- credentials (never logged) -------------------------------------------------------------
    #: gateway API keys accepted for local use (comma-separated); empty → one is generated at start
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "VOICE_GATEWAY_OPENAI_API_KEY")
    )
    admin_token: SecretStr | None = None

    # --- upstream -------------------------------------------------------------------------------
    #: base URL for every model at once, in the form ``wss://api.openai.com/v1``
    upstream_url: str | None = None
    #: HTTP base of the upstream calls API (WebRTC offers, accept/hangup); unset → ``upstream_url`` as http(s)
    upstream_calls_url: str | None = None
    #: force the embedded emulator even when an OpenAI key is set
    use_emulator: bool = False
    #: WebSocket client library for upstream connections (``picows``: Cython, the fast default)
    upstream_connector: Literal["picows", "websockets"] = "picows"
    upstream_connect_timeout_s: float = Field(10.0, gt=0)
    #: no upstream frame for this long while a response is in flight → the session is ended
    upstream_stall_s: float = Field(30.0, gt=0)

    # --- files ----------------------------------------------------------------------------------
    config_dir: Path = Field(default_factory=lambda: _default_dir("config"))
    catalog_file: Path | None = None
    policy_files: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    policy_watch_interval_s: float = Field(1.0, gt=0)

    # --- relay ----------------------------------------------------------------------------------
    max_message_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    ping_interval_s: float = Field(20.0, gt=0)
    ping_timeout_s: float = Field(20.0, gt=0)
    #: WebSocket server for the realtime session paths (``picows``: Cython frames; ``uvicorn``: websockets' sans-I/O)
    inbound_ws: Literal["picows", "uvicorn"] = "picows"
    #: seconds a client may stay behind on output audio before it is cut off
    slow_client_seconds: float = Field(5.0, gt=0)
    #: how long routing may hold the first client events waiting for ``session.update``
    classify_hold_ms: int = Field(300, ge=0, le=5000)
    classify_hold_bytes: int = Field(256 * 1024, ge=0)
    max_frames_per_second: int = Field(500, ge=1)
    #: new sessions a second per client address / per API key (token buckets, per process; 0 = off)
    handshake_rate_per_address: float = Field(20.0, ge=0)
    handshake_burst_per_address: int = Field(40, ge=1)
    handshake_rate_per_key: float = Field(50.0, ge=0)
    handshake_burst_per_key: int = Field(100, ge=1)
    #: one request head's size and header count (nginx: 4 × 8 KiB buffers); more → 431 before parsing on
    max_header_bytes: int = Field(32 * 1024, ge=1024)
    max_header_count: int = Field(100, ge=8)
    #: one HTTP request body's size (SDP offers, webhooks, client-secret and admin requests); more → 413 unread
    max_request_body_bytes: int = Field(1024 * 1024, ge=1024)
    #: seconds a whole HTTP request body may take to arrive (a trickled body holds a connection); later → 408
    request_body_timeout_s: float = Field(30.0, gt=0)

    # --- caps, budgets, store ---------------------------------------------------------------------
    redis_url: str | None = None
    #: prefix of every Redis key, so deployments (and test runs) can share one server
    redis_key_prefix: str = Field("vg", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    max_session_usd: str | None = None
    max_session_seconds: float | None = Field(None, gt=0)
    idle_timeout_seconds: float | None = Field(None, gt=0)
    cap_warn_ratio: float = Field(0.8, gt=0, le=1)
    store_failure_mode: Literal["open", "closed"] = "closed"
    flush_interval_ms: int = Field(250, ge=20)
    #: a concurrency slot not renewed for this long (its replica died) is reclaimed
    lease_ttl_s: float = Field(30.0, ge=1)
    #: session records (the usage reports' source) older than this are trimmed from the stream
    records_retention_days: float = Field(35.0, gt=0)
    #: price for served models the catalog does not know (USD per minute); empty → refuse them
    fallback_usd_per_minute: str | None = None

    # --- calls (WebRTC direct media, SIP) ---------------------------------------------------------
    #: WebRTC media path for routes that do not choose: ``auto`` = direct where the upstream serves WebRTC
    webrtc_media: Literal["auto", "direct", "terminate"] = "auto"
    #: a direct call whose sideband is lost: ``hangup`` (fail-closed) or ``continue`` (fail-open, recorded)
    sideband_loss: Literal["hangup", "continue"] = "hangup"
    #: attempts to re-attach a lost sideband before ``sideband_loss`` applies
    sideband_reattach_attempts: int = Field(2, ge=0, le=10)
    #: OpenAI webhook signing secret (``whsec_…``) for the SIP front door; unset → the endpoint answers 404
    webhook_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("VOICE_GATEWAY_WEBHOOK_SECRET", "OPENAI_WEBHOOK_SECRET")
    )
    #: webhooks older or newer than this are replays and refused
    webhook_tolerance_s: int = Field(300, ge=10, le=300)
    #: tenant that SIP calls' spend and budgets are counted against
    sip_tenant: str = Field("sip", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    #: daily budget of the SIP tenant (USD); unset → no budget
    sip_daily_budget_usd: str | None = Field(None, pattern=r"^\d+(\.\d{1,6})?$")

    #: STUN/TURN URLs for the terminating bridge's peer connections (comma-separated); empty → host candidates only
    webrtc_ice_servers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webrtc_turn_username: str | None = None
    webrtc_turn_password: SecretStr | None = None
    #: local addresses to offer host candidates on (comma-separated); empty → every interface
    webrtc_host_addresses: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: public address written over host candidates in answers (1:1 NAT, e.g. a node's external IP)
    webrtc_announced_address: str | None = None
    #: bind host candidates on UDP ports of this inclusive range only ("40000-40999"); unset → ephemeral ports
    webrtc_udp_ports: str | None = Field(None, pattern=r"^\d{4,5}-\d{4,5}$")
    #: libopus complexity of the bridge's encoder for the model's audio (0..10); unset → the bridge's default (docs/webrtc.md)
    webrtc_opus_complexity: int | None = Field(None, ge=0, le=10)

    # --- browsers -------------------------------------------------------------------------------
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    jaeger_ui_url: str | None = None
    #: serve the /demo page and its backend (always on with the embedded defaults)
    demo: bool = False

    # --- lifecycle and logs -----------------------------------------------------------------------
    drain_seconds: float = Field(30.0, ge=0)
    log_level: str = "INFO"
    #: ``auto``: readable coloured lines on a terminal, JSON lines otherwise; or force ``json`` / ``text``
    log_format: Literal["auto", "json", "text"] = "auto"
    #: per-session telemetry (spans, session metrics, session log lines); off only to measure its cost
    tracing: bool = True
    #: opt-in: put transcripts on spans (debugging only)
    trace_transcripts: bool = False

    @field_validator("api_keys", "allowed_origins", "policy_files", "webrtc_ice_servers", "webrtc_host_addresses", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("webrtc_udp_ports")
    @classmethod
    def _port_range(cls, value: str | None) -> str | None:
        if value is not None:
            low, high = (int(part) for part in value.split("-"))
            if not 1024 <= low <= high <= 65535:
                raise ValueError("webrtc_udp_ports must be LOW-HIGH with 1024 <= LOW <= HIGH <= 65535")
        return value

    @property
    def resolved_catalog_file(self) -> Path:
        return self.catalog_file or self.config_dir / "models.yaml"

    @property
    def resolved_policy_files(self) -> list[Path]:
        return self.policy_files or [_default_dir("policies") / "default.yaml"]

    @property
    def emulator_upstream(self) -> bool:
        """Use the embedded emulator: no OpenAI key and no explicit upstream URL, or forced."""
        return self.use_emulator or (self.openai_api_key is None and self.upstream_url is None)
