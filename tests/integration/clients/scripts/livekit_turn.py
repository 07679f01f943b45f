"""LiveKit Agents' OpenAI RealtimeModel through the gateway, without a LiveKit server (own venv).

Only the URL is changed: ``RealtimeModel(base_url=GATEWAY_HTTP, api_key=KEY)`` keeps the plugin's
default model (``gpt-realtime``). With no room, this script plays AgentSession's part on the
plugin's RealtimeSession: it pushes ``rtc.AudioFrame``s, runs the function tool and returns its
output (``update_chat_ctx`` + ``generate_reply``), "plays" the answer in real time, and on the
server's ``input_speech_started`` interrupts and truncates at the position played. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from livekit import rtc
from livekit.agents import llm
from livekit.plugins import openai

CHUNK = 480  # 20 ms of 24 kHz samples
calls: list[str] = []
server_events: list[str] = []
errors: list[str] = []


@llm.function_tool
async def lookup_order(order_id: str) -> str:
    """Look up the shipping status of an order by its ID."""
    calls.append(order_id)
    return json.dumps({"order_id": order_id, "status": "shipped"})


def frames(pcm: bytes) -> list[rtc.AudioFrame]:
    step = CHUNK * 2
    return [rtc.AudioFrame(pcm[i : i + step], 24000, 1, len(pcm[i : i + step]) // 2) for i in range(0, len(pcm), step)]


async def push(session: object, pcm: bytes) -> None:
    for n, frame in enumerate(frames(pcm)):
        session.push_audio(frame)  # type: ignore[attr-defined]
        if n % 10 == 0:
            await asyncio.sleep(0.005)


async def main() -> dict[str, object]:
    question, barge = (open(path, "rb").read() for path in sys.argv[1:3])
    model = openai.realtime.RealtimeModel(base_url=os.environ["GATEWAY_HTTP"], api_key=os.environ["GATEWAY_KEY"])
    session = model.session()
    loop = asyncio.get_running_loop()
    playing: dict[str, object] = {}
    interrupted = asyncio.Event()
    truncated = asyncio.Event()
    tool_done = asyncio.Event()

    def on_server_event(event: dict) -> None:
        server_events.append(str(event.get("type")))
        if event.get("type") == "error":
            errors.append(json.dumps(event)[:300])
        if event.get("type") == "conversation.item.truncated":
            truncated.set()

    async def play(message: object) -> None:
        started = None
        async for _frame in message.audio_stream:  # type: ignore[attr-defined]
            if started is None:
                started = time.monotonic()
                playing.update(message_id=message.message_id, started=started)  # type: ignore[attr-defined]
                if tool_done.is_set() and not playing.get("barged"):
                    playing["barged"] = True
                    loop.create_task(push(session, barge))

    async def run_generation(ev: llm.GenerationCreatedEvent) -> None:
        async def messages() -> None:
            async for message in ev.message_stream:
                loop.create_task(play(message))

        async def functions() -> None:
            async for call in ev.function_stream:
                output = await lookup_order(**json.loads(call.arguments))
                ctx = session.chat_ctx.copy()
                ctx.items.append(llm.FunctionCallOutput(call_id=call.call_id, name=call.name, output=output, is_error=False))
                await session.update_chat_ctx(ctx)
                tool_done.set()
                session.generate_reply()

        await asyncio.gather(messages(), functions())

    def on_speech_started(_ev: object) -> None:
        # AgentSession's barge-in: stop playback, cancel, truncate at what was heard
        if playing.get("barged") and not interrupted.is_set():
            interrupted.set()
            session.interrupt()
            played_ms = int((time.monotonic() - float(playing["started"])) * 1000)  # type: ignore[arg-type]
            session.truncate(message_id=str(playing["message_id"]), modalities=["audio"], audio_end_ms=max(1, played_ms))

    session.on("openai_server_event_received", on_server_event)
    session.on("generation_created", lambda ev: loop.create_task(run_generation(ev)))
    session.on("input_speech_started", on_speech_started)
    session.on("error", lambda ev: errors.append(str(ev)[:300]))
    await session.update_instructions("You help customers with their orders.")
    await session.update_tools([lookup_order])
    await push(session, question)
    try:
        await asyncio.wait_for(truncated.wait(), 40)
    finally:
        await session.aclose()
        await model.aclose()
    return {"calls": calls, "server": sorted(set(server_events)), "errors": errors,
            "model": model.model, "interrupted": interrupted.is_set()}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())), flush=True)
