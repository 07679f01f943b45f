"""A throw-away network namespace with a veth pair (10.213.0.1/24 ⇄ 10.213.0.2/24), both ends inside it.

Chromium never uses loopback for ICE, so the browser and the gateway share a namespace the test
creates, where the only non-loopback addresses are the ones made here; nothing leaves it.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
from typing import Iterator

ADDRESSES = ("10.213.0.1/24", "10.213.0.2/24")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextlib.contextmanager
def network_namespace() -> Iterator[str]:
    """Create the namespace, yield its name, always delete it."""
    name = f"vgw-rtc-{secrets.token_hex(3)}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "link", "add", "rtc-a", "type", "veth", "peer", "name", "rtc-b")
        for dev, address in zip(("rtc-a", "rtc-b"), ADDRESSES):
            _ip("-n", name, "addr", "add", address, "dev", dev)
            _ip("-n", name, "link", "set", dev, "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def namespaces_permitted() -> str | None:
    """``None`` when this process may create namespaces, else why not."""
    try:
        with network_namespace():
            return None
    except FileNotFoundError:
        return "the 'ip' command is missing"
    except subprocess.CalledProcessError as exc:
        return f"'ip {' '.join(exc.cmd[1:])}' failed: {exc.stderr.decode(errors='replace').strip()}"
