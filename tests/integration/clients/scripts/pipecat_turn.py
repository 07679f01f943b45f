"""Pipecat's OpenAIRealtimeLLMService in a minimal pipeline through the gateway (own venv).

Only the URL is changed: ``base_url=GATEWAY_WS/realtime`` (pipecat appends ``?model=gpt-realtime-2.1``).
Pipeline: user context aggregator → realtime LLM → recorder → assistant context aggregator, no
transport: the test feeds ``InputAudioRawFrame``s (a spoken question, then a barge-in while the
answer to the tool result plays) and records what comes out. Prints one JSON summary line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from pipecat.adapters.schemas.function_schema import FunctionSchema
from pipecat.adapters.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import (
    EndFrame,
    ErrorFrame,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMRunFrame,
    TTSAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.openai.realtime import llm as realtime_llm
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService

CHUNK = 960  # 20 ms of PCM16 24 kHz
server_events: list[str] = []
client_events: list[str] = []
calls: list[str] = []
errors: list[str] = []

_parse = realtime_llm.events.parse_server_event


def _recording_parse(message: str | bytes) -> object:
    """Observe every server event type the service parses (no behaviour change)."""
    kind = json.loads(message).get("type")
    server_events.append(str(kind))
    if kind == "error":
        errors.append(str(message)[:300])
    return _parse(message)


realtime_llm.events.parse_server_event = _recording_parse  # type: ignore[assignment]


class ObservedService(OpenAIRealtimeLLMService):
    async def send_client_event(self, event: object) -> None:  # type: ignore[override]
        client_events.append(str(getattr(event, "type", "?")))
        await super().send_client_event(event)  # type: ignore[arg-type]


class Recorder(FrameProcessor):
    """Notes frames; once the answer to the tool result is audible, talks over it."""

    def __init__(self, barge: bytes) -> None:
        super().__init__()
        self.barge = barge
        self.frames: set[str] = set()
        self.task: PipelineTask | None = None
        self.barged = asyncio.Event()
        self.interrupted = asyncio.Event()

    async def process_frame(self, frame: object, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)  # type: ignore[arg-type]
        self.frames.add(type(frame).__name__)
        if isinstance(frame, FunctionCallResultFrame):
            self.frames.add("tool_result")
        if isinstance(frame, ErrorFrame):
            errors.append(str(frame.error)[:300])
        if isinstance(frame, TTSAudioRawFrame) and "tool_result" in self.frames and not self.barged.is_set():
            self.barged.set()
            assert self.task is not None
            await self.task.queue_frames(audio_frames(self.barge))
        if isinstance(frame, InterruptionFrame) and self.barged.is_set():
            self.interrupted.set()
        await self.push_frame(frame, direction)  # type: ignore[arg-type]


def audio_frames(pcm: bytes) -> list[InputAudioRawFrame]:
    return [InputAudioRawFrame(audio=pcm[i : i + CHUNK], sample_rate=24000, num_channels=1) for i in range(0, len(pcm), CHUNK)]


async def lookup_order(params: object) -> None:
    arguments = getattr(params, "arguments")
    calls.append(str(arguments.get("order_id")))
    await getattr(params, "result_callback")({"order_id": arguments.get("order_id"), "status": "shipped"})


async def main() -> dict[str, object]:
    question, barge = (open(path, "rb").read() for path in sys.argv[1:3])
    llm = ObservedService(api_key=os.environ["GATEWAY_KEY"], base_url=os.environ["GATEWAY_WS"] + "/realtime")
    llm.register_function("lookup_order", lookup_order)
    tools = ToolsSchema(standard_tools=[FunctionSchema(
        name="lookup_order", description="Look up the shipping status of an order by its ID.",
        properties={"order_id": {"type": "string"}}, required=["order_id"])])
    context = LLMContext(messages=[{"role": "system", "content": "You help customers with their orders."}], tools=tools)
    aggregators = LLMContextAggregatorPair(context)
    recorder = Recorder(barge)
    task = PipelineTask(Pipeline([aggregators.user(), llm, recorder, aggregators.assistant()]),
                        params=PipelineParams(audio_in_sample_rate=24000, audio_out_sample_rate=24000))
    recorder.task = task
    runner = PipelineRunner(handle_sigint=False)
    running = asyncio.create_task(runner.run(task))
    await task.queue_frames([LLMRunFrame()])
    for _ in range(600):  # speak once the session (tools, turn detection) is set up: its first response.create
        if "response.create" in client_events:
            break
        await asyncio.sleep(0.05)
    await task.queue_frames(audio_frames(question))
    try:
        await asyncio.wait_for(recorder.interrupted.wait(), 40)
        deadline = asyncio.get_running_loop().time() + 10
        while "conversation.item.truncated" not in server_events and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await task.queue_frames([EndFrame()])
        await asyncio.wait_for(running, 20)
    return {"calls": calls, "frames": sorted(recorder.frames), "server": sorted(set(server_events)),
            "client": sorted(set(client_events)), "errors": errors}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())), flush=True)
