"""Opus for voice: the bridge's encoder and decoder, mono at the rates the Realtime API speaks.

aiortc's Opus codec is built for music. Its decoder produces 48 kHz **stereo**, which the bridge
then mixes down and resamples to 24 kHz mono; its encoder resamples the playout's 24 kHz mono up to
48 kHz stereo and encodes stereo at 96 kbit/s. A voice call needs none of that:

* :class:`Pcm24OpusDecoder` decodes the microphone with libopus itself, straight to PCM16 mono
  24 kHz, the API's format (:func:`libopus` loads PyAV's own copy); where it cannot be loaded,
  :class:`VoiceOpusDecoder` decodes mono through FFmpeg (whose libopus wrapper always outputs
  48 kHz; the bridge's resampler then halves the rate, with no channel mix), as aiortc's receivers
  do for anything that is not the bridge's microphone;
* :class:`VoiceOpusEncoder` feeds the playout's 24 kHz mono frames to libopus as they are (libopus
  encodes at 24 kHz natively; RTP timestamps stay on Opus's 48 kHz clock, RFC 7587), mono, VoIP
  mode, 32 kbit/s (wideband speech; the model's audio is 24 kHz), at the configured complexity
  (:func:`set_encoder_complexity`; default :data:`DEFAULT_COMPLEXITY`), by libopus called directly where it
  loads (:class:`Pcm24OpusEncoder`: FFmpeg's packets, byte for byte). Frames in any other shape go
  through a resampler first. Digital silence costs libopus as much as speech (≈ 1.45 M instructions
  a frame after speech in VoIP mode), and a call is mostly silence on the way out: once libopus's packet for silence
  has settled, the encoder sends that packet again without encoding (:meth:`VoiceOpusEncoder.encode_pcm`;
  a decoder given the settled packet again stays where it was, so the speech after the silence
  decodes exactly as after an encoded silence). The microphone decoder likewise answers a settled
  silence packet without decoding it (a muted caller's track).

Both are legal on an ``opus/48000/2`` line: the channel count there is the maximum, and a mono
Opus stream decodes on any receiver (RFC 7587 §7). :func:`install` makes aiortc build these for
Opus (process-wide: aiortc looks codecs up through one function per direction); other codecs are
aiortc's own.

aiortc also hands every 20 ms frame to a thread each way (a decoder thread fed by a ``queue.Queue``,
the encoder through ``run_in_executor``): two thread wake-ups and two loop wake-ups per frame cost
more than the codec work for mono voice. So the bridge decodes on the event loop as the jitter
buffer completes a frame (:func:`decode_inline`), and its track hands the sender ready Opus packets
(``gateway.webrtc.track``), which aiortc sends without the executor.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import fractions
import functools
import glob
import logging
import os
import threading
import weakref
from typing import Callable, Final

import av
from aiortc import RTCRtpReceiver, rtcrtpreceiver, rtcrtpsender
from aiortc.codecs import get_decoder, get_encoder
from aiortc.codecs.base import Decoder, Encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import convert_timebase
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av import AudioFrame, AudioResampler, CodecContext
from av.frame import Frame
from av.packet import Packet

from gateway.webrtc.audio_in import RATE

log = logging.getLogger("voice_gateway.webrtc")

OPUS: Final = "audio/opus"
_DECODER_QUEUE: Final = "_RTCRtpReceiver__decoder_queue"
#: Opus's RTP clock (RFC 7587), whatever rate the audio is coded at
RTP_RATE: Final = 48_000
RTP_TIME_BASE: Final = fractions.Fraction(1, RTP_RATE)
FRAME_SAMPLES: Final = RATE * 20 // 1000
#: speech at 24 kHz: libopus's own recommendation for fullband VoIP mono is 24–32 kbit/s
BIT_RATE: Final = 32_000
#: one 20 ms frame of digital silence, PCM16 mono 24 kHz
SILENCE: Final = bytes(FRAME_SAMPLES * 2)
#: libopus's packet for silence has settled once this many silent frames in a row gave the same packet
#: (it takes a few frames: the tail of the speech before rings out first)
SETTLED_REPEATS: Final = 3
_TIME_BASE: Final = fractions.Fraction(1, RATE)


class VoiceOpusDecoder(Decoder):
    """Opus → PCM16 mono 48 kHz frames."""

    def __init__(self) -> None:
        self.codec = CodecContext.create("libopus", "r")
        self.codec.format = "s16"
        self.codec.layout = "mono"
        self.codec.sample_rate = RTP_RATE

    def decode(self, encoded_frame: JitterFrame) -> list[Frame]:
        packet = Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.time_base = RTP_TIME_BASE
        return list(self.codec.decode(packet))


#: the longest Opus packet (120 ms) at 24 kHz
_MAX_PACKET_SAMPLES: Final = RATE * 120 // 1000


@functools.cache
def libopus() -> ctypes.CDLL | None:
    """libopus itself, for decoding straight to 24 kHz: PyAV's own copy (its wheel's), else the system's; None if neither loads.

    FFmpeg's libopus wrapper always decodes to 48 kHz, which the microphone path then resamples
    to 24 kHz through PyAV's filter graph: about twice the instructions of libopus's own 24 kHz
    output (libopus decodes at any of its rates natively).
    """
    wheel_libs = os.path.join(os.path.dirname(os.path.dirname(av.__file__)), "av.libs")
    candidates = sorted(glob.glob(os.path.join(wheel_libs, "libopus*.so*")))
    system = ctypes.util.find_library("opus")
    for path in [*candidates, *([system] if system else [])]:
        try:
            lib = ctypes.CDLL(path)
            lib.opus_decoder_create.restype = ctypes.c_void_p
            lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
            lib.opus_decode.restype = ctypes.c_int
            lib.opus_decode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
            lib.opus_decoder_destroy.restype = None
            lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
            # the encoder through the multistream API, as FFmpeg's libopus wrapper calls it (the same packets)
            lib.opus_multistream_encoder_create.restype = ctypes.c_void_p
            lib.opus_multistream_encoder_create.argtypes = [
                ctypes.c_int32, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int),
            ]
            lib.opus_multistream_encode.restype = ctypes.c_int
            lib.opus_multistream_encode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int32]
            lib.opus_multistream_encoder_ctl.restype = ctypes.c_int  # variadic: (state, request, int value)
            lib.opus_multistream_encoder_destroy.restype = None
            lib.opus_multistream_encoder_destroy.argtypes = [ctypes.c_void_p]
        except (OSError, AttributeError):
            continue
        return lib
    log.info("libopus not loadable directly: microphone audio decodes at 48 kHz and is resampled")
    return None


class Pcm24OpusDecoder:
    """Opus → PCM16 mono 24 kHz bytes, by libopus directly (what the Realtime API takes: no resampling).

    Settled silence is not decoded again and again (the mirror of :meth:`VoiceOpusEncoder.encode_pcm`):
    once the same packet has decoded to digital silence :data:`SETTLED_REPEATS` times in a row, libopus
    is at rest on it (the packet moves its state nowhere), and that packet again gets the same silence
    without calling libopus, until any other packet comes. A caller sends such packets while its
    track is muted (WebRTC sends zeros for a disabled track) or its source is digital silence; a live
    microphone's room noise never repeats a packet, so there it saves nothing.
    """

    def __init__(self, lib: ctypes.CDLL) -> None:
        error = ctypes.c_int()
        state = lib.opus_decoder_create(RATE, 1, ctypes.byref(error))
        if error.value != 0 or not state:
            raise RuntimeError(f"opus_decoder_create failed ({error.value})")
        self._state = state
        self._decode = lib.opus_decode
        self._out = ctypes.create_string_buffer(_MAX_PACKET_SAMPLES * 2)
        self._silent_packet: bytes | None = None
        self._silent_repeats = 0
        self._settled: bytes | None = None
        self._settled_pcm = b""
        #: packets answered with the settled silence, libopus not called
        self.frames_skipped = 0
        weakref.finalize(self, lib.opus_decoder_destroy, state)

    def decode(self, payload: bytes) -> bytes | None:
        """One packet's PCM (``None``: libopus refused the packet)."""
        if payload == self._settled:
            self.frames_skipped += 1
            return self._settled_pcm
        samples = self._decode(self._state, payload, len(payload), self._out, _MAX_PACKET_SAMPLES, 0)
        if samples < 0:
            self._silent_packet, self._silent_repeats, self._settled = None, 0, None
            return None
        pcm = ctypes.string_at(self._out, samples * 2)
        if pcm.count(0) != len(pcm):
            self._silent_packet, self._silent_repeats, self._settled = None, 0, None
        elif payload == self._silent_packet:
            self._silent_repeats += 1
            if self._silent_repeats >= SETTLED_REPEATS:
                self._settled, self._settled_pcm = payload, pcm
        else:
            self._silent_packet, self._silent_repeats, self._settled = payload, 1, None
        return pcm


#: libopus's constants (opus_defines.h)
_OPUS_APPLICATION_VOIP: Final = 2048
_OPUS_SET_BITRATE: Final = 4002
_OPUS_SET_VBR: Final = 4006
_OPUS_SET_COMPLEXITY: Final = 4010
_OPUS_SET_VBR_CONSTRAINT: Final = 4020
#: FFmpeg's libopus wrapper's default ``compression_level`` (libopus's own default on x86): the most expensive
MAX_COMPLEXITY: Final = 10
#: the bridge's default: the lowest complexity whose speech quality (PESQ-WB on espeak-ng speech) is within
#: 0.1 MOS of complexity 10 (``bench/webrtc_opus_quality.py``, docs/webrtc.md). At the bridge's settings 8 gives
#: complexity 10's packets byte for byte (libopus's top SILK settings start at 8): it changes nothing and saves nothing
DEFAULT_COMPLEXITY: Final = 8
_complexity = DEFAULT_COMPLEXITY


def set_encoder_complexity(complexity: int | None) -> None:
    """The complexity of the encoders built from now on (process-wide, as aiortc's codec lookup is); ``None``: the default."""
    global _complexity
    if complexity is not None and not 0 <= complexity <= MAX_COMPLEXITY:
        raise ValueError(f"Opus complexity must be 0..{MAX_COMPLEXITY}, not {complexity}")
    _complexity = DEFAULT_COMPLEXITY if complexity is None else complexity


def encoder_complexity() -> int:
    """The complexity new encoders get."""
    return _complexity
#: FFmpeg's libopus wrapper's packet buffer for one 20 ms frame (1275 × 3 + 7 bytes per stream)
_MAX_PACKET_BYTES: Final = 1275 * 3 + 7


class Pcm24OpusEncoder:
    """PCM16 mono 24 kHz 20 ms frames → Opus packets, by libopus directly: the packets FFmpeg's wrapper makes of them.

    libopus set up as :class:`VoiceOpusEncoder`'s ``CodecContext`` sets it up (FFmpeg's ``libopusenc``: a
    one-stream multistream encoder, VoIP, 32 kbit/s, unconstrained VBR, the given complexity — FFmpeg's
    ``compression_level``; FFmpeg's other settings are libopus's defaults), without PyAV's frame,
    codec-context and packet objects per frame.
    """

    def __init__(self, lib: ctypes.CDLL, complexity: int) -> None:
        if not 0 <= complexity <= MAX_COMPLEXITY:
            raise ValueError(f"Opus complexity must be 0..{MAX_COMPLEXITY}, not {complexity}")
        error = ctypes.c_int()
        state = lib.opus_multistream_encoder_create(RATE, 1, 1, 0, b"\x00", _OPUS_APPLICATION_VOIP, ctypes.byref(error))
        if error.value != 0 or not state:
            raise RuntimeError(f"opus_multistream_encoder_create failed ({error.value})")
        weakref.finalize(self, lib.opus_multistream_encoder_destroy, state)
        ctl = lib.opus_multistream_encoder_ctl
        for request, value in ((_OPUS_SET_BITRATE, BIT_RATE), (_OPUS_SET_COMPLEXITY, complexity), (_OPUS_SET_VBR, 1), (_OPUS_SET_VBR_CONSTRAINT, 0)):
            if ctl(ctypes.c_void_p(state), ctypes.c_int(request), ctypes.c_int32(value)) != 0:
                raise RuntimeError(f"opus_multistream_encoder_ctl({request}) failed")
        self._state = state
        self._encode = lib.opus_multistream_encode
        self._out = ctypes.create_string_buffer(_MAX_PACKET_BYTES)

    def encode(self, pcm: bytes) -> bytes:
        """One 20 ms frame's packet."""
        size = self._encode(self._state, pcm, FRAME_SAMPLES, self._out, _MAX_PACKET_BYTES)
        if size < 0:
            raise RuntimeError(f"opus_multistream_encode failed ({size})")
        return self._out.raw[:size]


class VoiceOpusEncoder(Encoder):
    """PCM16 mono 24 kHz 20 ms frames → mono Opus packets, timestamps on the 48 kHz RTP clock.

    ``complexity``: libopus's (0..10); by default :func:`encoder_complexity`, the gateway's setting.
    """

    def __init__(self, complexity: int | None = None) -> None:
        complexity = encoder_complexity() if complexity is None else complexity
        self.codec = CodecContext.create("libopus", "w")
        self.codec.bit_rate = BIT_RATE
        self.codec.format = "s16"
        self.codec.layout = "mono"
        self.codec.sample_rate = RATE
        self.codec.time_base = fractions.Fraction(1, RATE)
        self.codec.options = {"application": "voip", "compression_level": str(complexity)}
        self._resampler: AudioResampler | None = None
        self._first_pts: int | None = None
        self._next_pts = 0
        self._silent_packet: bytes | None = None
        self._silent_repeats = 0
        self._settled: bytes | None = None
        #: silent frames answered with the settled packet, libopus not called
        self.frames_skipped = 0
        lib = libopus()
        #: :meth:`encode_pcm`'s libopus, called directly (PyAV's ``codec`` where it cannot be loaded)
        self._direct = Pcm24OpusEncoder(lib, complexity) if lib is not None else None

    def encode_pcm(self, pcm: bytes) -> tuple[list[bytes], int]:
        """One 20 ms frame of PCM16 mono 24 kHz (the playout's) → its packets and the RTP timestamp of the first.

        Digital silence after libopus's silence packet has settled gets that packet without encoding.
        The timestamps count frames (960 RTP ticks each), skipped or not; use either this or
        :meth:`encode` on one encoder, not both.
        """
        pts = self._next_pts
        self._next_pts = pts + FRAME_SAMPLES
        silent = pcm == SILENCE
        if silent and self._settled is not None:
            self.frames_skipped += 1
            return [self._settled], pts * (RTP_RATE // RATE)
        if self._direct is not None:
            packets = [self._direct.encode(pcm)]
        else:
            frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
            frame.planes[0].update(pcm)
            frame.sample_rate, frame.time_base, frame.pts = RATE, _TIME_BASE, pts
            packets = [bytes(p) for p in self.codec.encode(frame)]
        if not silent or len(packets) != 1:
            self._silent_packet, self._silent_repeats = None, 0
        elif packets[0] == self._silent_packet:
            self._silent_repeats += 1
            if self._silent_repeats >= SETTLED_REPEATS:
                self._settled = self._silent_packet
        else:
            self._silent_packet, self._silent_repeats = packets[0], 1
        if not silent:
            self._settled = None  # speech moved libopus on: its next silence settles afresh
        if not packets:
            return [], None  # type: ignore[return-value]  # aiortc's Encoder contract: no timestamp without packets
        return packets, pts * (RTP_RATE // RATE)

    def encode(self, frame: Frame, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        assert isinstance(frame, AudioFrame)
        if frame.samples == FRAME_SAMPLES and frame.sample_rate == RATE and frame.layout.nb_channels == 1 and frame.format.name == "s16":
            packets = list(self.codec.encode(frame))
        else:
            if self._resampler is None:
                self._resampler = AudioResampler(format="s16", layout="mono", rate=RATE, frame_size=FRAME_SAMPLES)
            packets = [p for f in self._resampler.resample(frame) for p in self.codec.encode(f)]
        if not packets:
            return [], None  # type: ignore[return-value]  # aiortc's Encoder contract: no timestamp without packets
        first = packets[0].pts or 0
        if self._first_pts is None:
            self._first_pts = first  # libopus's pts start negative (its look-ahead): count from the first packet
        return [bytes(p) for p in packets], (first - self._first_pts) * (RTP_RATE // RATE)

    def pack(self, packet: Packet) -> tuple[list[bytes], int]:
        """A ready packet as aiortc's sender takes it; one without a time base (the track's) is stamped on the RTP clock already."""
        time_base = packet.time_base
        if time_base is None:
            return [bytes(packet)], packet.pts or 0  # no Fraction arithmetic per packet
        return [bytes(packet)], convert_timebase(packet.pts or 0, time_base, RTP_TIME_BASE)


def voice_decoder(codec: RTCRtpCodecParameters) -> Decoder:
    """What aiortc's receiver builds: the voice decoder for Opus, aiortc's own for anything else."""
    return VoiceOpusDecoder() if codec.mimeType.lower() == OPUS else get_decoder(codec)


def voice_encoder(codec: RTCRtpCodecParameters) -> Encoder:
    """What aiortc's sender builds: the voice encoder for Opus, aiortc's own for anything else."""
    return VoiceOpusEncoder() if codec.mimeType.lower() == OPUS else get_encoder(codec)


def install() -> None:
    """Make aiortc's receivers and senders use the voice codecs (idempotent)."""
    rtcrtpreceiver.get_decoder = voice_decoder
    rtcrtpsender.get_encoder = voice_encoder


def installed() -> bool:
    """Whether aiortc currently builds the voice codecs (False if its lookup functions moved)."""
    return getattr(rtcrtpreceiver, "get_decoder", None) is voice_decoder and getattr(rtcrtpsender, "get_encoder", None) is voice_encoder


class InlineDecoding:
    """Stands in for an ``RTCRtpReceiver``'s decoder queue: decodes on the event loop, straight to ``deliver``.

    ``deliver`` is the track's queue ``put_nowait`` (whoever reads the track gets the frames), or the
    consumer itself (the bridge's microphone path: no queue hop, no wake-up of a reading task per frame).
    With ``pcm24``, Opus is decoded by libopus straight to PCM16 mono 24 kHz and ``deliver`` gets
    those bytes (frames as before when libopus cannot be loaded directly, and for other codecs).
    aiortc's decoder thread still starts and reads this "queue": it blocks in :meth:`get` until the
    receiver stops (``put(None)``), then ends the track as it always does.
    """

    def __init__(self, deliver: Callable[[Frame | bytes], None], pcm24: bool = False) -> None:
        self._deliver = deliver
        self._pcm24 = pcm24
        self._stopped = threading.Event()
        self._decoder: Decoder | None = None
        self._pcm_decoder: Pcm24OpusDecoder | None = None
        self._codec_name: str | None = None

    def put(self, task: tuple[RTCRtpCodecParameters, JitterFrame] | None) -> None:
        if task is None:
            self._stopped.set()
            return
        codec, encoded = task
        if codec.name != self._codec_name:
            self._codec_name = codec.name
            lib = libopus() if self._pcm24 and codec.mimeType.lower() == OPUS else None
            self._pcm_decoder = Pcm24OpusDecoder(lib) if lib is not None else None
            self._decoder = voice_decoder(codec) if self._pcm_decoder is None else None
        if self._pcm_decoder is not None:
            pcm = self._pcm_decoder.decode(encoded.data)
            if pcm is None:
                log.debug("undecodable %s frame dropped", codec.name)
            elif pcm:
                self._deliver(pcm)
            return
        assert self._decoder is not None
        try:
            frames = self._decoder.decode(encoded)
        except av.FFmpegError:
            log.debug("undecodable %s frame dropped", codec.name)
            return
        for frame in frames:
            self._deliver(frame)

    def get(self) -> None:
        """The decoder thread's read: nothing until the receiver stops."""
        self._stopped.wait()


def decode_inline(receiver: RTCRtpReceiver, deliver: Callable[[Frame | bytes], None] | None = None) -> bool:
    """Decode this receiver's frames on the event loop (False, and aiortc's thread decodes, if its internals moved).

    The audio goes to ``deliver`` when given — Opus as PCM16 mono 24 kHz bytes where libopus loads,
    other audio as frames — (then the receiver's track only ever yields its end), else frames into the track.
    """
    track_queue = getattr(receiver.track, "_queue", None)
    if not hasattr(receiver, _DECODER_QUEUE) or not isinstance(track_queue, asyncio.Queue):
        return False
    setattr(receiver, _DECODER_QUEUE, InlineDecoding(deliver, pcm24=True) if deliver else InlineDecoding(track_queue.put_nowait))
    return True
