"""Barge-in in a real browser over the gateway's terminating WebRTC bridge (run by ``browser_run`` inside its namespace).

The /demo page calls the agent route; the fake microphone asks a question, then speaks over the
answer. Three page behaviours, scripted through ``window.demoHook``: forgetful (does nothing),
correct (``response.cancel`` + ``output_audio_buffer.clear`` on ``speech_started``) and late (the
same 500 ms later); the last two turn server VAD's ``interrupt_response`` off first. For each, what
the page saw (event times on its clock) and the gateway's own talk-over histogram (``/metrics``).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from gateway.emulator import start_emulator
from tests.integration.webrtc.browser_run import start_gateway, write_wav
from tests.integration.webrtc.cdp import Browser
from tests.support.audio import silence, speech
from tests.support.barge_in import TalkOver, talk_over

#: the page's reaction, by behaviour: JS run on speech_started while an answer plays (``send`` is the channel)
REACTIONS = {
    "forgetful": "",
    "correct": "send({type: 'response.cancel'}); send({type: 'output_audio_buffer.clear'});",
    "late": "setTimeout(() => { send({type: 'response.cancel'}); send({type: 'output_audio_buffer.clear'}); }, 500);",
}

HOOK = """
window.bargeSeen = [];
// audio the page received from the network so far (ms): RTP packets in, 20 ms each (the bridge sends one 20 ms frame
// per packet, silence included; counted before the jitter buffer), and how long after ``at`` getStats sampled them
window.bargeReceived = async (pc, at) => {
  let out = null;
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      out = {ms: (s.packetsReceived + (s.packetsLost || 0)) * 20, lag: s.timestamp - (performance.timeOrigin + at)};
    }
  });
  return out;
};
window.demoHook = (ev, send, pc) => {
  const keep = {type: ev.type, at: performance.now()};
  if (pc && ev.type.startsWith('output_audio_buffer.')) window.bargeReceived(pc, keep.at).then((r) => { keep.received = r; });
  for (const k of ['audio_end_ms', 'item_id', 'sent', 'response_id']) if (ev[k] !== undefined) keep[k] = ev[k];
  if (ev.type === 'error') keep.code = (ev.error || {}).code;
  if (ev.type === 'response.done') keep.status = (ev.response || {}).status;
  window.bargeSeen.push(keep);
  const types = window.bargeSeen.map((e) => e.type);
  if (ev.type === 'session.created' && %(no_interrupt)s) {
    send({type: 'session.update', session: {type: 'realtime',
          audio: {input: {turn_detection: {type: 'server_vad', interrupt_response: false}}}}});
  }
  const playing = types.lastIndexOf('output_audio_buffer.started') > Math.max(
    types.lastIndexOf('output_audio_buffer.stopped'), types.lastIndexOf('output_audio_buffer.cleared'));
  // the bridge forwards speech_started before it cuts: an answer is still playing when the page hears of the speech
  if (ev.type === 'input_audio_buffer.speech_started' && playing && !types.includes('conversation.item.truncated')) {
    %(reaction)s
  }
};
"""


def _delta(before: dict[str, TalkOver], after: dict[str, TalkOver]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for who, now in after.items():
        was = before.get(who, TalkOver(0, 0.0))
        if now.count > was.count:
            out[who] = {"n": now.count - was.count, "mean_ms": round(1000 * (now.sum_s - was.sum_s) / (now.count - was.count), 1)}
    return out


async def scenario_barge_in(chromium: str, workdir: Path, results: dict[str, Any]) -> None:
    """Forgetful, correct and late pages against one gateway (terminating bridge) and a bursty emulator."""
    # bursts ahead of the player; 20 s answers are still generating when the page barges in
    emulator = await start_emulator("127.0.0.1", 0, ttfa_ms=50, reply_ms=20000, asr_ms=50)
    gateway = start_gateway(workdir, "barge-in", emulator.url)
    browser: Browser | None = None
    try:
        # question, a pause the answer starts in, then speech over the answer; looped by Chromium's fake capture
        wav = write_wav(workdir / "barge-in.wav", silence(800) + speech(1400) + silence(1700) + speech(700) + silence(4000))
        browser = await Browser.launch(chromium, wav, workdir / "browser-barge-in")
        await browser.goto(f"{gateway.http_url}/demo")
        runs: dict[str, Any] = {}
        for behaviour, reaction in REACTIONS.items():
            before = await asyncio.to_thread(talk_over, gateway.http_url)
            await browser.evaluate(HOOK % {"no_interrupt": json.dumps(behaviour != "forgetful"), "reaction": reaction})
            await browser.evaluate("window.demoStart('agent')", timeout=30)
            reached = await browser.wait_for("window.bargeSeen.some((e) => e.type === 'conversation.item.truncated')", 40)
            await asyncio.sleep(1.5)  # the grace period, a late client's reaction and the answers to it
            seen = await browser.evaluate("window.bargeSeen")
            demo = await browser.evaluate("window.demo")
            await browser.evaluate("window.demoStop()")
            await asyncio.sleep(0.5)
            after = await asyncio.to_thread(talk_over, gateway.http_url)
            runs[behaviour] = {"reached": reached, "seen": seen, "errors": demo["errors"], "output": demo["output"],
                               "gateway_measured": _delta(before, after)}
        results["barge_in"] = runs
    finally:
        if browser is not None:
            await browser.close()
        gateway.stop()
        await emulator.close()
        results["barge_in_gateway_log_tail"] = gateway.log_text()[-3000:]
