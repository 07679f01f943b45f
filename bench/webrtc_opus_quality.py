"""The bridge's Opus encoder by complexity: speech quality (PESQ) against libopus's instructions.

The terminating bridge encodes the model's speech for the caller (``gateway.webrtc.codecs``: mono,
24 kHz, VoIP mode, 32 kbit/s, unconstrained VBR). libopus's complexity (0..10; 10 is its x86 default
and FFmpeg's) trades encoder instructions for quality. This measures both, per complexity, on real
speech, so the bridge's default can be chosen on figures:

* speech: espeak-ng (``apt-get install espeak-ng``) says the Harvard sentences below in several
  voices, at its 22.05 kHz; each utterance is resampled to the bridge's 24 kHz (PyAV's swresample);
* quality: each utterance is encoded by :class:`~gateway.webrtc.codecs.Pcm24OpusEncoder` at the
  complexity, decoded by :class:`~gateway.webrtc.codecs.Pcm24OpusDecoder` (the caller's side, at
  24 kHz), the encoder's look-ahead trimmed, and both reference and decoded audio resampled to
  16 kHz the same way for ITU-T P.862.2 wideband PESQ (``pip install pesq``): MOS-LQO per
  utterance, mean and worst per complexity, and the packets' bitrate;
* cost: the same encoding of a fifth of the utterances (joined; every voice) under ``valgrind --tool=callgrind``,
  the instructions of libopus's object summed from ``callgrind_annotate`` (the encoder's set-up
  included, ≈ 0): libopus's instructions per 20 ms frame, ×50 per second of the model speaking (no
  Python in the figure). ``--no-callgrind`` skips it.

Deterministic: the same espeak-ng, libopus and pesq give the same figures (the bench's input and
libopus are deterministic). Not a timed test. Run::

    .venv/bin/python -m bench.webrtc_opus_quality [--complexities 0-10] [--out bench/results/webrtc_opus_quality.json]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np
from av import AudioFrame, AudioResampler

from gateway.webrtc.codecs import FRAME_SAMPLES, MAX_COMPLEXITY, Pcm24OpusDecoder, Pcm24OpusEncoder, libopus
from gateway.webrtc.audio_in import RATE

ROOT = Path(__file__).resolve().parents[1]
#: Harvard sentences (IEEE 1969), list 1: phonetically balanced English
SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
)
#: espeak-ng voices: two accents, male and female variants
VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb+f4")
PESQ_RATE = 16_000
#: callgrind encodes every this-many-th utterance (a fifth of the corpus: ≈ 1 000 frames, every voice)
CALLGRIND_EVERY = 5
_OPUS_GET_LOOKAHEAD = 4027


def say(text: str, voice: str) -> np.ndarray:
    """One utterance from espeak-ng, PCM16 mono at 24 kHz."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as wav_file:
        subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", wav_file.name, text], check=True)
        with wave.open(wav_file.name) as wav:
            assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
            rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
    return resample(np.frombuffer(pcm, "<i2"), rate, RATE)


def resample(pcm: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """PCM16 mono from one rate to another by swresample (flushed: no tail lost)."""
    resampler = AudioResampler(format="s16", layout="mono", rate=rate_out)
    frame = AudioFrame.from_ndarray(pcm.reshape(1, -1).astype("<i2"), format="s16", layout="mono")
    frame.sample_rate = rate_in
    out = [f.to_ndarray().reshape(-1) for f in (*resampler.resample(frame), *resampler.resample(None))]
    return np.concatenate(out)


def frames_of(pcm: np.ndarray) -> list[bytes]:
    """20 ms frames, the last padded with silence, plus one frame of silence to flush the look-ahead."""
    padded = np.concatenate([pcm, np.zeros(-len(pcm) % FRAME_SAMPLES + FRAME_SAMPLES, "<i2")])
    return [padded[i : i + FRAME_SAMPLES].tobytes() for i in range(0, len(padded), FRAME_SAMPLES)]


def lookahead(encoder: Pcm24OpusEncoder) -> int:
    """The encoder's look-ahead in samples (the decoded audio lags the input by this much)."""
    lib = libopus()
    assert lib is not None
    value = ctypes.c_int32()
    if lib.opus_multistream_encoder_ctl(ctypes.c_void_p(encoder._state), ctypes.c_int(_OPUS_GET_LOOKAHEAD), ctypes.byref(value)) != 0:
        raise RuntimeError("OPUS_GET_LOOKAHEAD failed")
    return value.value


def code(pcm: np.ndarray, complexity: int) -> tuple[np.ndarray, int]:
    """Encode → decode at 24 kHz: the decoded audio aligned with ``pcm``, and the packets' bytes."""
    lib = libopus()
    assert lib is not None
    encoder, decoder = Pcm24OpusEncoder(lib, complexity), Pcm24OpusDecoder(lib)
    decoded, size = bytearray(), 0
    for frame in frames_of(pcm):
        packet = encoder.encode(frame)
        size += len(packet)
        out = decoder.decode(packet)
        assert out is not None
        decoded += out
    delay = lookahead(encoder)
    return np.frombuffer(bytes(decoded), "<i2")[delay : delay + len(pcm)], size


def corpus() -> list[tuple[str, np.ndarray]]:
    return [(f"{voice}/{i}", say(text, voice)) for voice in VOICES for i, text in enumerate(SENTENCES)]


def quality(utterances: list[tuple[str, np.ndarray]], complexities: list[int]) -> dict[int, dict[str, float]]:
    from pesq import pesq  # type: ignore[import-untyped]  # an optional tool of this bench only: pip install pesq

    refs = [resample(pcm, RATE, PESQ_RATE) for _, pcm in utterances]
    seconds = sum(len(pcm) for _, pcm in utterances) / RATE
    figures: dict[int, dict[str, float]] = {}
    by_utterance: dict[int, list[float]] = {}
    for complexity in complexities:
        scores, size = [], 0
        for (_, pcm), ref in zip(utterances, refs):
            decoded, nbytes = code(pcm, complexity)
            size += nbytes
            deg = resample(decoded, RATE, PESQ_RATE)
            n = min(len(ref), len(deg))
            scores.append(float(pesq(PESQ_RATE, ref[:n].astype(np.float32), deg[:n].astype(np.float32), "wb")))
        by_utterance[complexity] = scores
        figures[complexity] = {
            "pesq_mean": statistics.fmean(scores),
            "pesq_min": min(scores),
            "pesq_stdev": statistics.stdev(scores),
            "kbit_s": size * 8 / seconds / 1000,
        }
        print(f"complexity {complexity:2}: PESQ-WB mean {figures[complexity]['pesq_mean']:.3f} "
              f"(worst {figures[complexity]['pesq_min']:.3f}), {figures[complexity]['kbit_s']:.1f} kbit/s", flush=True)
    if MAX_COMPLEXITY in by_utterance:  # paired by utterance: how much each complexity loses against the most expensive
        for complexity, scores in by_utterance.items():
            drops = [top - own for top, own in zip(by_utterance[MAX_COMPLEXITY], scores)]
            figures[complexity] |= {"drop_mean": statistics.fmean(drops), "drop_max": max(drops)}
            print(f"complexity {complexity:2}: against {MAX_COMPLEXITY}, MOS lost per utterance: mean {statistics.fmean(drops):.3f}, "
                  f"most {max(drops):.3f}", flush=True)
    return figures


def encode_only(pcm_file: str, complexity: int) -> None:
    """The callgrind child: encode every utterance at ``complexity`` (its count is taken inside libopus only)."""
    lib = libopus()
    assert lib is not None
    pcm = np.load(pcm_file)
    encoder = Pcm24OpusEncoder(lib, complexity)
    for frame in frames_of(pcm):
        encoder.encode(frame)


def instructions(utterances: list[tuple[str, np.ndarray]], complexities: list[int]) -> dict[int, float]:
    """libopus's instructions per 20 ms frame of speech, per complexity (callgrind, inside opus_multistream_encode only)."""
    if shutil.which("valgrind") is None:
        print("valgrind not found: no instruction counts", file=sys.stderr)
        return {}
    per_frame: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        pcm_file = os.path.join(tmp, "speech.npy")
        joined = np.concatenate([pcm for _, pcm in utterances[::CALLGRIND_EVERY]])
        np.save(pcm_file, joined)
        frames = len(frames_of(joined))
        for complexity in complexities:
            out = os.path.join(tmp, f"cg.{complexity}")
            subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                 sys.executable, "-m", "bench.webrtc_opus_quality", "--encode-only", pcm_file, "--complexities", str(complexity)],
                check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            per_frame[complexity] = libopus_instructions(out) / frames
            print(f"complexity {complexity:2}: {per_frame[complexity] / 1e6:.3f} M instructions a frame "
                  f"({per_frame[complexity] * 50 / 1e6:.1f} M per second of speech)", flush=True)
    return per_frame


def libopus_instructions(callgrind_out: str) -> int:
    """The instructions counted inside libopus's object (PyAV's copy is stripped: no function names to toggle on)."""
    listing = subprocess.run(["callgrind_annotate", "--threshold=100", callgrind_out], check=True, capture_output=True, text=True).stdout
    return sum(int(m.group(1).replace(",", "")) for m in re.finditer(r"^\s*([\d,]+) .*libopus[^/\n]*$", listing, re.M))


def parse_range(text: str) -> list[int]:
    if "-" in text:
        low, high = (int(part) for part in text.split("-"))
        return list(range(low, high + 1))
    return [int(part) for part in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--complexities", default=f"0-{MAX_COMPLEXITY}", help="e.g. 0-10 or 5,10")
    parser.add_argument("--no-callgrind", action="store_true", help="quality only")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "webrtc_opus_quality.json"))
    parser.add_argument("--encode-only", metavar="NPY", help=argparse.SUPPRESS)  # the callgrind child
    args = parser.parse_args()
    complexities = parse_range(args.complexities)
    if args.encode_only:
        encode_only(args.encode_only, complexities[0])
        return
    utterances = corpus()
    seconds = sum(len(pcm) for _, pcm in utterances) / RATE
    print(f"{len(utterances)} utterances, {seconds:.1f} s of speech", flush=True)
    figures = quality(utterances, complexities)
    counts = {} if args.no_callgrind else instructions(utterances, complexities)
    result = {
        "corpus": {"voices": VOICES, "sentences": len(SENTENCES), "seconds": seconds, "rate": RATE, "pesq_rate": PESQ_RATE},
        "espeak_ng": subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip(),
        "by_complexity": {
            str(c): {**figures[c], **({"instructions_per_frame": counts[c], "instructions_per_second": counts[c] * 50} if c in counts else {})}
            for c in complexities
        },
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
