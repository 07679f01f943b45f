"""``voice-gateway keys create | list | revoke``: manage gateway API keys stored in Redis.

Keys live in the Redis named by ``VOICE_GATEWAY_REDIS_URL`` (under ``VOICE_GATEWAY_REDIS_KEY_PREFIX``).
Without a Redis URL the gateway's store is per process, so a key created here could never reach
a running gateway: the commands refuse instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Awaitable, Callable, TextIO

from gateway.directory.ports import DirectoryBoard
from gateway.directory.service import publish_end
from gateway.keys.keyring import Keyring, StoredKey, limits_view
from gateway.store.connect import redis_client
from gateway.store.directory import RedisDirectoryBoard
from gateway.store.keyring import RedisKeyRecords
from gateway.store.keyspace import KeySpace
from gateway.core.money import micros_to_usd
from gateway.keys.generate import budget_micros, build_record, new_key_id, new_secret, parse_labels, parse_routes
from gateway.settings import Settings

NO_REDIS = (
    "voice-gateway keys: VOICE_GATEWAY_REDIS_URL is not set. Keys are stored in Redis and read by every "
    "gateway replica; without Redis each gateway keeps an in-process store that this command cannot reach. "
    "Set VOICE_GATEWAY_REDIS_URL (the same value the gateway uses), or use VOICE_GATEWAY_API_KEYS for local keys."
)

Command = Callable[[argparse.Namespace, Keyring, DirectoryBoard, TextIO], Awaitable[int]]


def add_key_commands(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register ``keys create/list/revoke`` on the ``voice-gateway`` command line."""
    keys = subparsers.add_parser("keys", help="create, list and revoke gateway API keys (Redis)")
    sub = keys.add_subparsers(dest="keys_command", required=True)

    create = sub.add_parser("create", help="create a key; its secret is printed once")
    create.add_argument("--tenant", required=True, help="tenant the key bills to (budgets are per tenant)")
    create.add_argument("--label", action="append", default=[], help="label NAME or NAME=VALUE (repeatable)")
    create.add_argument("--daily-budget-usd", default=None, help="tenant daily spend budget in USD")
    create.add_argument("--monthly-budget-usd", default=None, help="tenant monthly spend budget in USD")
    create.add_argument("--max-sessions", type=int, default=None, help="max concurrent sessions")
    create.add_argument("--sessions-per-minute", type=int, default=None, help="new sessions per minute")
    create.add_argument("--routes", default=None, help="comma-separated routes or models this key may use")
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(func=_run(_create))

    listing = sub.add_parser("list", help="list keys (never secrets)")
    listing.add_argument("--tenant", default=None, help="only this tenant's keys")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=_run(_list))

    revoke = sub.add_parser("revoke", help="revoke a key: new sessions are refused within a second")
    revoke.add_argument("key_id")
    revoke.add_argument("--end-sessions", action="store_true", help="also end the key's live sessions now")
    revoke.set_defaults(func=_run(_revoke))


def _run(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        settings = Settings()
        if not settings.redis_url:
            print(NO_REDIS, file=sys.stderr)
            return 2
        return asyncio.run(_with_keyring(command, args, settings.redis_url, settings.redis_key_prefix))

    return run


async def _with_keyring(command: Command, args: argparse.Namespace, url: str, prefix: str) -> int:
    client = redis_client(url)
    try:
        keys = KeySpace(prefix)
        keyring = Keyring(RedisKeyRecords(client, keys), cache_ttl_s=0.0)
        return await command(args, keyring, RedisDirectoryBoard(client, keys), sys.stdout)
    except ValueError as exc:
        print(f"voice-gateway keys: {exc}", file=sys.stderr)
        return 2
    finally:
        await client.aclose()


async def _create(args: argparse.Namespace, keyring: Keyring, board: DirectoryBoard, out: TextIO) -> int:
    record = build_record(
        new_key_id(),
        args.tenant,
        labels=parse_labels(args.label),
        allowed_routes=parse_routes(args.routes),
        daily_budget_micros=budget_micros(args.daily_budget_usd),
        monthly_budget_micros=budget_micros(args.monthly_budget_usd),
        max_concurrent_sessions=args.max_sessions,
        sessions_per_minute=args.sessions_per_minute,
    )
    secret = new_secret()
    stored = await keyring.create(record, secret, time.time())
    if args.json:
        print(json.dumps({**key_view(stored), "secret": secret}), file=out)
    else:
        print(f"key_id: {record.key_id}\ntenant: {record.tenant}\nsecret: {secret}", file=out)
        print("Store the secret now: it is not kept and cannot be shown again.", file=out)
    return 0


async def _list(args: argparse.Namespace, keyring: Keyring, board: DirectoryBoard, out: TextIO) -> int:
    keys = [k for k in await keyring.list() if args.tenant is None or k.record.tenant == args.tenant]
    if args.json:
        print(json.dumps([key_view(k) for k in keys]), file=out)
        return 0
    print(f"{'KEY ID':22} {'TENANT':16} {'STATUS':8} {'CREATED':20} {'LABELS':24} LIMITS", file=out)
    for key in keys:
        print(
            f"{key.record.key_id:22} {key.record.tenant:16} {'active' if key.active else 'revoked':8} "
            f"{_time(key.created_at):20} {_labels(key):24} {_limits(key)}",
            file=out,
        )
    return 0


async def _revoke(args: argparse.Namespace, keyring: Keyring, board: DirectoryBoard, out: TextIO) -> int:
    stored = await keyring.revoke(args.key_id, time.time())
    if stored is None:
        print(f"voice-gateway keys: no key {args.key_id!r}", file=sys.stderr)
        return 1
    print(f"revoked {args.key_id} (tenant {stored.record.tenant})", file=out)
    if args.end_sessions:
        listeners = await publish_end(board, key_id=args.key_id)
        print(f"asked {listeners} gateway replica(s) to end the key's live sessions", file=out)
    return 0


def key_view(key: StoredKey) -> dict[str, object]:
    """A key for listings: never the secret, never its hash."""
    return {
        "key_id": key.record.key_id,
        "tenant": key.record.tenant,
        "labels": dict(key.record.labels),
        **limits_view(key.record),
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
        "active": key.active,
    }


def _time(wall: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(wall))


def _labels(key: StoredKey) -> str:
    return ",".join(k if v == "true" else f"{k}={v}" for k, v in sorted(key.record.labels.items())) or "-"


def _limits(key: StoredKey) -> str:
    r = key.record
    parts = []
    if r.daily_budget_micros is not None:
        parts.append(f"daily ${micros_to_usd(r.daily_budget_micros)}")
    if r.monthly_budget_micros is not None:
        parts.append(f"monthly ${micros_to_usd(r.monthly_budget_micros)}")
    if r.max_concurrent_sessions is not None:
        parts.append(f"max {r.max_concurrent_sessions} sessions")
    if r.sessions_per_minute is not None:
        parts.append(f"{r.sessions_per_minute}/min")
    if r.allowed_routes:
        parts.append("routes " + ",".join(sorted(r.allowed_routes)))
    return "; ".join(parts) or "-"
