"""Run the project's emulator with echo as its server-wide mode (the gateway forwards no ``emu_*``)."""

from __future__ import annotations

import argparse
import asyncio

import uvloop

from gateway.emulator.server import start_emulator


async def serve(host: str, port: int) -> None:
    """Start the emulator in echo mode and run until killed."""
    handle = await start_emulator(host, port, mode="echo")
    print(f"emulator ready {handle.url}", flush=True)
    await asyncio.Future()


def main() -> None:
    """``python -m bench.echo_upstream --port N``."""
    parser = argparse.ArgumentParser(prog="python -m bench.echo_upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
