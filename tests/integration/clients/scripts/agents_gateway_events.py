"""openai-agents realtime session held until the gateway's duration cap cuts it (run by test_third_party_clients.py).

The URL is ``GATEWAY_WS/realtime`` plus ``GATEWAY_QUERY`` (``?gateway_events=off`` for the opt-out).
The session stays idle; the gateway sends ``gateway.cap_warning`` at 80% of its duration cap (unless
the client opted out) and then the ``error`` that ends the session. Prints one JSON summary line:
the SDK's error events and the ERROR log records it wrote.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os

from agents.realtime import RealtimeAgent, RealtimeRunner

records: list[str] = []


class Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        records.append(f"{record.name}: {record.getMessage()}"[:300])


async def main() -> dict[str, object]:
    logging.getLogger().addHandler(Collect(level=logging.ERROR))
    url = os.environ["GATEWAY_WS"] + "/realtime?model=gpt-realtime-2" + os.environ.get("GATEWAY_QUERY", "")
    runner = RealtimeRunner(RealtimeAgent(name="Idle", instructions="Say nothing."))
    session = await runner.run(model_config={"url": url, "api_key": os.environ["GATEWAY_KEY"]})
    errors: list[str] = []
    cut = False
    async with session:
        try:
            async with asyncio.timeout(float(os.environ.get("HOLD_S", "30"))):
                async for event in session:
                    if event.type == "error":
                        text = str(event.error)[:300]
                        errors.append(text)
                        if "cap_reached" in text:
                            cut = True
                            break
        except TimeoutError:
            pass
    return {"errors": errors, "error_logs": records, "cut": cut}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())), flush=True)
