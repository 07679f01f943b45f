"""Per-frame cost of the session core's hot path: µs per audio append (client → upstream) and delta (upstream → client).

``python -m bench.core_frames``: one GA realtime :class:`SessionCore`, no sockets; the frames are
the benchmark's own (20 ms PCM16 appends, and the echo upstream's deltas), plus an append with an
``event_id`` and one in Python's default spacing. Best of many short rounds (robust on a busy machine), to be read before/after
a change on the same machine.
"""

from __future__ import annotations

import argparse
import base64
import json
import timeit

from gateway.core.kinds import Dialect, SessionKind
from gateway.core.session import SessionCore

AUDIO = base64.b64encode(bytes((i * 37) & 0xFF for i in range(960))).decode()
FRAMES = {
    "append": '{"type":"input_audio_buffer.append","audio":"%s"}' % AUDIO,
    "append+event_id": '{"type":"input_audio_buffer.append","event_id":"evt_0123456789","audio":"%s"}' % AUDIO,
    "append (json.dumps)": json.dumps({"type": "input_audio_buffer.append", "audio": AUDIO}),
}
DELTA = ('{"type":"response.output_audio.delta","event_id":"event_bench","response_id":"resp_bench",'
         '"item_id":"item_bench","output_index":0,"content_index":0,"delta":"%s"}' % AUDIO)


def measure(rounds: int, number: int) -> dict[str, float]:
    """Best µs per call of ``from_client``/``from_upstream`` for each frame."""
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, max_frames_per_second=10**9)
    results: dict[str, float] = {}
    for name, frame in FRAMES.items():
        best = min(timeit.repeat(lambda: core.from_client(frame, 1.0), number=number, repeat=rounds))
        results[f"from_client {name}"] = best / number * 1e6
    best = min(timeit.repeat(lambda: core.from_upstream(DELTA, 1.0), number=number, repeat=rounds))
    results["from_upstream delta"] = best / number * 1e6
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--number", type=int, default=200)
    args = parser.parse_args()
    for name, us in measure(args.rounds, args.number).items():
        print(f"{name:>34}: {us:6.2f} µs per frame")


if __name__ == "__main__":
    main()
