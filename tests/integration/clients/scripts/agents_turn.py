"""openai-agents realtime agent through the gateway (run in its own venv by test_third_party_clients.py).

Only the URL is changed from the SDK's defaults: ``model_config={"url": GATEWAY_WS/realtime, "api_key": KEY}``
(no ``?model=``: the agent names ``gpt-realtime-2.1`` in its first ``session.update``). One spoken
question calls the function tool, the SDK sends its output and the agent speaks the answer; speech
during that answer barges in (the SDK stops playback and truncates). Prints one JSON summary line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner

CHUNK = 960  # 20 ms of PCM16 24 kHz
calls: list[str] = []


@function_tool
def lookup_order(order_id: str) -> str:
    """Look up the shipping status of an order by its ID."""
    calls.append(order_id)
    return json.dumps({"order_id": order_id, "status": "shipped"})


async def speak(session: object, pcm: bytes) -> None:
    for i in range(0, len(pcm), CHUNK):
        await session.send_audio(pcm[i : i + CHUNK])  # type: ignore[attr-defined]
        if i % (CHUNK * 10) == 0:
            await asyncio.sleep(0.01)


async def main() -> dict[str, object]:
    question, barge = (open(path, "rb").read() for path in sys.argv[1:3])
    agent = RealtimeAgent(name="Support", instructions="You help customers with their orders.", tools=[lookup_order])
    runner = RealtimeRunner(agent)
    session = await runner.run(model_config={"url": os.environ["GATEWAY_WS"] + "/realtime", "api_key": os.environ["GATEWAY_KEY"]})
    seen: list[str] = []
    raw: list[str] = []
    errors: list[str] = []
    barged = False
    async with session:
        asked = False
        async with asyncio.timeout(40):
            async for event in session:
                seen.append(event.type)
                if event.type == "raw_model_event":
                    data = getattr(event.data, "data", None)
                    kind = data.get("type") if isinstance(data, dict) else getattr(event.data, "type", None)
                    raw.append(str(kind))
                    if kind == "session.updated" and (data.get("session") or {}).get("tools"):
                        raw.append("session.updated+tools")
                    if kind == "error":
                        errors.append(json.dumps(data)[:300])
                if not asked and "session.updated+tools" in raw:
                    asked = True  # speak once the agent's tools and turn detection are in place
                    asyncio.get_running_loop().create_task(speak(session, question))
                if event.type == "error":
                    errors.append(str(event.error)[:300])
                if event.type == "audio" and "tool_end" in seen and not barged:
                    barged = True  # the answer to the tool result is playing: talk over it
                    asyncio.get_running_loop().create_task(speak(session, barge))
                if barged and "audio_interrupted" in seen and "conversation.item.truncated" in raw:
                    break
    return {"calls": calls, "events": sorted(set(seen)), "raw": sorted(set(raw)), "errors": errors}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())), flush=True)
