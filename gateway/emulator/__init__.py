"""Protocol-faithful stand-in for OpenAI's realtime models (voice agent, transcription, translation).

Start it in-process with ``handle = await start_emulator(port=0, ttfa_ms=0, pace=False)`` and point a
client at ``handle.url`` (``ws://127.0.0.1:PORT/v1``), or run ``main_emulator(host, port)``.
Per-connection behaviour is scripted with ``emu_*`` query parameters or ``X-Emulator-*`` headers
(see ``gateway.emulator.script``); function calls follow the rule in ``gateway.emulator.tools``.
``handle.sessions`` lists a ``SessionRecord`` per connection (audio bytes in/out, usage totals).
"""

from gateway.emulator.script import Script, ScriptError
from gateway.emulator.server import EmulatorHandle, main_emulator, run, serve_emulator, start_emulator
from gateway.emulator.stats import SessionRecord, UsageTotals

__all__ = ["EmulatorHandle", "Script", "ScriptError", "SessionRecord", "UsageTotals", "main_emulator",
           "run", "serve_emulator", "start_emulator"]
