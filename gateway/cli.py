"""The ``voice-gateway`` command line: serve, emulator, policy, keys."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence


def _serve(args: argparse.Namespace) -> int:
    from gateway.server import serve

    return serve(host=args.host, port=args.port, workers=args.workers)


def _emulator(args: argparse.Namespace) -> int:
    from gateway.emulator.server import main_emulator

    knobs = dict(item.split("=", 1) for item in args.knob or [] if "=" in item)
    main_emulator(args.host, args.port, calls_port=args.calls_port, knobs=knobs)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voice-gateway", description="One URL for realtime voice AI.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--host", default=None, help="bind address (default VOICE_GATEWAY_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default VOICE_GATEWAY_PORT or 8080)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes sharing the port")
    serve.set_defaults(func=_serve)

    emu = sub.add_parser("emulator", help="run the realtime model emulator alone")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8090)
    emu.add_argument("--calls-port", type=int, default=None, help="HTTP port of the calls API (default: --port + 1)")
    emu.add_argument("--knob", action="append", metavar="NAME=VALUE", help="server-wide script default, e.g. mode=echo (repeatable)")
    emu.set_defaults(func=_emulator)

    _add_optional_commands(sub)
    return parser


def _add_optional_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from gateway.keys.cli import add_key_commands
    from gateway.policy.cli import add_policy_commands
    from gateway.reports.cli import add_usage_command

    add_policy_commands(sub)
    add_key_commands(sub)
    add_usage_command(sub)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
