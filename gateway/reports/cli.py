"""``voice-gateway usage``: spend, sessions, audio minutes and cap cut-offs by tenant, key, route, model.

Reads the session records from the Redis named by ``VOICE_GATEWAY_REDIS_URL``, or, with
``--gateway URL``, asks a running gateway's ``GET /admin/usage`` (``VOICE_GATEWAY_ADMIN_TOKEN``);
the latter also works for a gateway on its in-process store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TextIO

from gateway.store.connect import redis_client
from gateway.store.keyspace import KeySpace
from gateway.core.errors import StoreError
from gateway.store.accounting_store import AccountingStore
from gateway.core.usage import UsageReport, parse_group_by, parse_period, summarize
from gateway.settings import Settings

NO_SOURCE = (
    "voice-gateway usage: VOICE_GATEWAY_REDIS_URL is not set and no --gateway was given. Session records "
    "live in Redis (set VOICE_GATEWAY_REDIS_URL to the gateway's value) or, on the in-process store, only "
    "inside the running gateway: pass --gateway http://HOST:PORT with VOICE_GATEWAY_ADMIN_TOKEN set."
)


def add_usage_command(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register ``usage`` on the ``voice-gateway`` command line."""
    usage = subparsers.add_parser("usage", help="spend report from the session records (JSON or CSV)")
    usage.add_argument("--since", default="30d", help="start: ISO date/time or a duration back from now (24h, 7d); default 30d")
    usage.add_argument("--until", default="now", help="end: ISO date/time, a duration back from now, or now (default)")
    usage.add_argument("--by", default="tenant", help="group by any of tenant,key,route,model,kind (default tenant)")
    usage.add_argument("--format", choices=("json", "csv"), default="json")
    usage.add_argument("--gateway", default=None, help="ask a running gateway's /admin/usage instead of Redis")
    usage.set_defaults(func=run_usage)


def run_usage(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    settings = Settings()
    try:
        start, end = parse_period(args.since, args.until, time.time())
        dimensions = parse_group_by(args.by)
    except ValueError as exc:
        print(f"voice-gateway usage: {exc}", file=sys.stderr)
        return 2
    if args.gateway:
        return _from_gateway(args, settings, out)
    if not settings.redis_url:
        print(NO_SOURCE, file=sys.stderr)
        return 2
    try:
        report = asyncio.run(_from_redis(settings.redis_url, settings.redis_key_prefix, start, end, dimensions))
    except StoreError as exc:
        print(f"voice-gateway usage: the store did not answer ({exc.__cause__ or exc})", file=sys.stderr)
        return 1
    out.write(report.to_csv() if args.format == "csv" else json.dumps(report.as_dict(), indent=2) + "\n")
    return 0


async def _from_redis(url: str, prefix: str, start: float, end: float, dimensions: tuple[str, ...]) -> UsageReport:
    store = AccountingStore(redis_client(url), KeySpace(prefix))
    try:
        return summarize(await store.records_between(start, end), start, end, dimensions)
    finally:
        await store.close()


def _from_gateway(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if settings.admin_token is None:
        print("voice-gateway usage: --gateway needs VOICE_GATEWAY_ADMIN_TOKEN", file=sys.stderr)
        return 2
    query = urllib.parse.urlencode({"since": args.since, "until": args.until, "group_by": args.by, "format": args.format})
    request = urllib.request.Request(
        f"{args.gateway.rstrip('/')}/admin/usage?{query}",
        headers={"authorization": f"Bearer {settings.admin_token.get_secret_value()}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            out.write(response.read().decode())
    except urllib.error.HTTPError as exc:
        print(f"voice-gateway usage: the gateway answered {exc.code}: {exc.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"voice-gateway usage: cannot reach {args.gateway}: {exc}", file=sys.stderr)
        return 1
    return 0
