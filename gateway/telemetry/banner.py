"""The start-up banner: where the gateway listens, what it talks to, and where to look next.

Pure: :class:`BannerFacts` in, lines (for a person) or fields (for a JSON log line) out. In JSON
mode the generated key is not a field (log collectors keep lines for ever); it is printed once on
stdout instead, as it always was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import IO, Sequence

log = logging.getLogger("voice_gateway")

_BOLD, _DIM, _CYAN, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[36m", "\x1b[0m"


@dataclass(frozen=True, slots=True)
class BannerFacts:
    """What a new user needs to know right after ``make serve``."""

    url: str
    #: the key generated at start (embedded defaults only), else ``None``
    generated_key: str | None
    #: where keys come from when none was generated
    keys_source: str
    upstream: str
    store: str
    demo_url: str | None
    admin_url: str | None
    metrics_url: str
    policy_files: Sequence[str] = field(default_factory=tuple)
    jaeger_ui_url: str | None = None


def banner_rows(facts: BannerFacts, *, with_key: bool) -> list[tuple[str, str]]:
    """(label, value) rows in display order; the key row only when ``with_key``."""
    if facts.generated_key is not None:
        key = facts.generated_key if with_key else "generated at start (printed once on stdout)"
    else:
        key = facts.keys_source
    rows = [
        ("url", facts.url),
        ("key", key),
        ("upstream", facts.upstream),
        ("store", facts.store),
        ("demo", facts.demo_url or "off (VOICE_GATEWAY_DEMO=1 turns it on)"),
        ("admin", facts.admin_url or "off (set VOICE_GATEWAY_ADMIN_TOKEN)"),
        ("metrics", facts.metrics_url),
        ("policies", ", ".join(facts.policy_files) or "none"),
    ]
    if facts.jaeger_ui_url:
        rows.append(("traces", facts.jaeger_ui_url))
    return rows


def _ws(url: str) -> str:
    return "ws" + url[4:] if url.startswith("http") else url


def render_banner(facts: BannerFacts, *, color: bool = False) -> str:
    """The banner as a block of aligned lines (coloured for a terminal)."""

    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    rows = banner_rows(facts, with_key=True)
    width = max(len(label) for label, _ in rows)
    lines = [paint(_BOLD, "voice-gateway is ready")]
    lines += [f"  {paint(_DIM, label.ljust(width))}  {paint(_CYAN, value) if label in ('url', 'key') else value}" for label, value in rows]
    lines.append(paint(_DIM, f"  next: open the demo link, or point an OpenAI Realtime client at {_ws(facts.url)}/v1 with the key"))
    return "\n".join(lines)


def emit_banner(facts: BannerFacts, *, human: bool, color: bool, stream: IO[str], stdout: IO[str]) -> None:
    """Write the banner: a block on the log stream for a person, else one JSON log line (+ key on stdout)."""
    if human:
        stream.write(render_banner(facts, color=color) + "\n")
        stream.flush()
        return
    log.info("voice-gateway is ready", extra={"banner": dict(banner_rows(facts, with_key=False))})
    if facts.generated_key is not None:
        # printed once, on purpose: the embedded default has no other way to hand the key over
        stdout.write(f"voice-gateway: no VOICE_GATEWAY_API_KEYS set; generated a local key: {facts.generated_key}\n")
        stdout.flush()
