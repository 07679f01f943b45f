"""Voice Opus: mono 24 kHz in, mono 48 kHz out, timestamps on the RTP clock, decoding on the loop, aiortc wired to it."""

from __future__ import annotations

import asyncio
import fractions

import numpy as np
import pytest
from aiortc import (
    RTCCertificate,
    RTCDtlsTransport,
    RTCIceGatherer,
    RTCIceTransport,
    RTCPeerConnection,
    RTCRtpReceiver,
    rtcrtpreceiver,
    rtcrtpsender,
)
from aiortc.codecs.opus import OpusDecoder, OpusEncoder
from aiortc.codecs.g711 import PcmuEncoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av import AudioFrame, Packet

from gateway.webrtc import codecs
from gateway.webrtc.audio_in import MicResampler
from gateway.webrtc.call import sends_opus
from gateway.webrtc.playout import Playout
from gateway.webrtc.track import SAMPLES, PlayoutTrack
from tests.support.audio import silence, speech

OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)
PCMU = RTCRtpCodecParameters(mimeType="audio/PCMU", clockRate=8000, channels=1, payloadType=0)


def tone(frames: int, hz: float = 440.0, rate: int = 24_000, layout: str = "mono") -> list[AudioFrame]:
    """20 ms PCM16 frames of a sine tone."""
    n = rate // 50
    t = np.arange(frames * n) / rate
    pcm = (np.sin(2 * np.pi * hz * t) * 8000).astype("<i2")
    out = []
    for i in range(frames):
        chunk = pcm[i * n : (i + 1) * n]
        data = np.repeat(chunk, 2).reshape(1, -1) if layout == "stereo" else chunk.reshape(1, -1)
        frame = AudioFrame.from_ndarray(data, format="s16", layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = rate, i * n, fractions.Fraction(1, rate)
        out.append(frame)
    return out


def dominant_hz(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return float(np.fft.rfftfreq(len(pcm), 1 / rate)[int(np.argmax(spectrum))])


def test_encoder_takes_24khz_mono_frames_and_stamps_the_48khz_rtp_clock() -> None:
    """Each 20 ms frame gives one packet, 960 RTP ticks apart from 0; a stock (stereo) decoder hears the tone."""
    encoder, decoder = codecs.VoiceOpusEncoder(), OpusDecoder()
    stamps, heard = [], []
    for frame in tone(25):
        payloads, timestamp = encoder.encode(frame)
        assert len(payloads) == 1 and len(payloads[0]) < 200  # ~32 kbit/s: about 80 bytes a packet
        stamps.append(timestamp)
        for out in decoder.decode(JitterFrame(payloads[0], timestamp)):
            heard.append(out.to_ndarray().reshape(-1, 2)[:, 0])
    assert stamps == [i * 960 for i in range(25)]
    assert abs(dominant_hz(np.concatenate(heard)[4800:], 48_000) - 440) < 10


def pcm_frames(pcm: bytes) -> list[bytes]:
    """Split PCM16 mono 24 kHz into 20 ms frames."""
    step = SAMPLES * 2
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def decode_all(payloads: list[bytes]) -> list[bytes]:
    """Each packet decoded on its own by the bridge's (libopus) decoder, PCM16 mono 48 kHz."""
    decoder = codecs.VoiceOpusDecoder()
    return [b"".join(bytes(f.planes[0])[: f.samples * 2] for f in decoder.decode(JitterFrame(p, 0))) for p in payloads]


def test_encoder_sends_settled_silence_without_encoding_it() -> None:
    """Once libopus gives the same silence packet three times, later silent frames get that packet unencoded; speech encodes again."""
    encoder = codecs.VoiceOpusEncoder()
    frames = pcm_frames(speech(400) + silence(600) + speech(200))
    out = [encoder.encode_pcm(frame) for frame in frames]
    assert all(len(payloads) == 1 for payloads, _ in out)
    assert [timestamp for _, timestamp in out] == [i * 960 for i in range(len(frames))]  # skipped frames keep the clock
    silent = [payloads[0] for payloads, _ in out[20:50]]
    assert 0 < encoder.frames_skipped < 30
    settled = silent[-1]
    assert silent[-encoder.frames_skipped :] == [settled] * encoder.frames_skipped
    assert silent[-encoder.frames_skipped - codecs.SETTLED_REPEATS : -encoder.frames_skipped] == [settled] * codecs.SETTLED_REPEATS
    assert all(payloads[0] != settled for payloads, _ in out[50:])  # the speech after it is encoded


def test_speech_after_skipped_silence_decodes_exactly_as_after_encoded_silence() -> None:
    """The skipping stream is libopus's own stream for a shorter silence plus repeats of its settled packet; both decode to the same speech."""
    before, after = speech(400), speech(400, amplitude=6000)
    skipping = codecs.VoiceOpusEncoder()
    sent = [skipping.encode_pcm(frame)[0][0] for frame in pcm_frames(before + silence(1000) + after)]
    skipped = skipping.frames_skipped
    assert skipped > 0
    encoded_silence_ms = 1000 - skipped * 20
    plain = codecs.VoiceOpusEncoder()  # encodes every frame it is given
    reference = [p for frame in as_frames(before + silence(encoded_silence_ms) + after) for p in plain.encode(frame)[0]]
    assert sent == reference[:20 + encoded_silence_ms // 20] + [sent[20 + encoded_silence_ms // 20]] * skipped + reference[20 + encoded_silence_ms // 20 :]
    heard, expected = decode_all(sent), decode_all(reference)
    assert heard[-20:] == expected[-20:]  # the speech after the silence, sample for sample
    speech_out = np.frombuffer(b"".join(heard[-15:]), "<i2")
    assert np.abs(speech_out).max() > 1000  # and it is speech, not silence


def as_frames(pcm: bytes) -> list[AudioFrame]:
    """PCM16 mono 24 kHz as 20 ms frames for :meth:`VoiceOpusEncoder.encode`."""
    out = []
    for i, chunk in enumerate(pcm_frames(pcm)):
        frame = AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        frame.planes[0].update(chunk)
        frame.sample_rate, frame.pts, frame.time_base = 24_000, i * SAMPLES, fractions.Fraction(1, 24_000)
        out.append(frame)
    return out


def test_encoder_calls_libopus_directly_and_makes_ffmpegs_packets() -> None:
    """With libopus loaded, encode_pcm's packets are byte for byte those of FFmpeg's libopus wrapper (speech, silence, noise, quiet speech)."""
    assert codecs.libopus() is not None
    noise = (np.random.default_rng(1).normal(0, 2000, 24_000).astype("<i2")).tobytes()
    frames = pcm_frames(speech(600) + silence(300) + noise + speech(500, amplitude=2000) + silence(200) + speech(300))
    direct, through_pyav = codecs.VoiceOpusEncoder(), codecs.VoiceOpusEncoder()
    assert direct._direct is not None
    through_pyav._direct = None
    assert [direct.encode_pcm(f) for f in frames] == [through_pyav.encode_pcm(f) for f in frames]


def test_encoder_complexity_is_libopus_s_and_the_default_makes_complexity_10s_packets() -> None:
    """The default complexity gives complexity 10's packets byte for byte; a set complexity reaches libopus, directly and through PyAV."""
    lib = codecs.libopus()
    assert lib is not None
    frames = pcm_frames(speech(600) + silence(200) + speech(400, amplitude=3000))
    def packets(encoder: codecs.VoiceOpusEncoder) -> list[bytes]:
        return [p for f in frames for p in encoder.encode_pcm(f)[0]]
    assert codecs.encoder_complexity() == codecs.DEFAULT_COMPLEXITY
    assert packets(codecs.VoiceOpusEncoder()) == packets(codecs.VoiceOpusEncoder(codecs.MAX_COMPLEXITY))
    lower = packets(codecs.VoiceOpusEncoder(5))
    assert lower != packets(codecs.VoiceOpusEncoder(codecs.MAX_COMPLEXITY))
    assert [codecs.Pcm24OpusEncoder(lib, 5).encode(frames[0])] == lower[:1]
    through_pyav = codecs.VoiceOpusEncoder(5)
    through_pyav._direct = None
    assert packets(through_pyav) == lower
    try:
        codecs.set_encoder_complexity(5)
        assert packets(codecs.VoiceOpusEncoder()) == lower
        with pytest.raises(ValueError):
            codecs.set_encoder_complexity(11)
        with pytest.raises(ValueError):
            codecs.Pcm24OpusEncoder(lib, -1)
    finally:
        codecs.set_encoder_complexity(None)
    assert codecs.encoder_complexity() == codecs.DEFAULT_COMPLEXITY


def test_the_complexity_setting_is_validated_and_wired_to_the_bridge() -> None:
    """VOICE_GATEWAY_WEBRTC_OPUS_COMPLEXITY: outside 0..10 refused at load; a set value reaches the bridge's encoders, unset the default."""
    from pydantic import ValidationError

    from gateway.app import _bridge_options
    from gateway.settings import Settings

    for bad in (-1, 11):
        with pytest.raises(ValidationError):
            Settings(webrtc_opus_complexity=bad)
    try:
        _bridge_options(Settings(webrtc_opus_complexity=6))
        assert codecs.encoder_complexity() == 6
        _bridge_options(Settings())
        assert codecs.encoder_complexity() == codecs.DEFAULT_COMPLEXITY
    finally:
        codecs.set_encoder_complexity(None)


def test_encoder_resamples_frames_of_another_shape() -> None:
    """48 kHz stereo input is resampled to 24 kHz mono first and still encodes."""
    encoder = codecs.VoiceOpusEncoder()
    packets = [p for frame in tone(10, rate=48_000, layout="stereo") for p in encoder.encode(frame)[0]]
    assert len(packets) >= 9


def test_decoder_gives_mono_48khz_and_the_mic_path_24khz_pcm() -> None:
    """A browser-like stereo Opus stream decodes to mono 48 kHz; the resampler makes 960-byte 20 ms chunks of the tone."""
    encoder, decoder, resampler = OpusEncoder(), codecs.VoiceOpusDecoder(), MicResampler()
    pcm = bytearray()
    for i, frame in enumerate(tone(25, hz=300)):
        for payload in encoder.encode(frame)[0]:
            for out in decoder.decode(JitterFrame(payload, i * 960)):
                assert out.layout.nb_channels == 1 and out.sample_rate == 48_000 and out.samples == 960
                pcm += resampler.convert(out)
    assert 20 * 960 <= len(pcm) <= 25 * 960
    assert abs(dominant_hz(np.frombuffer(bytes(pcm[4800:]), "<i2"), 24_000) - 300) < 10


def test_libopus_decodes_a_browser_like_stream_straight_to_24khz_pcm() -> None:
    """A stereo 48 kHz Opus stream (aiortc's, as browsers may send) decodes to 960 bytes of 24 kHz mono per 20 ms, tone and level kept."""
    lib = codecs.libopus()
    assert lib is not None  # PyAV's wheel ships libopus: this must load wherever the gateway is installed from the wheel
    encoder, direct, old, resampler = OpusEncoder(), codecs.Pcm24OpusDecoder(lib), codecs.VoiceOpusDecoder(), MicResampler()
    pcm, resampled = bytearray(), bytearray()
    for i, frame in enumerate(tone(25, hz=300)):
        for payload in encoder.encode(frame)[0]:
            out = direct.decode(payload)
            assert out is not None and len(out) == 960
            pcm += out
            for decoded in old.decode(JitterFrame(payload, i * 960)):
                resampled += resampler.convert(decoded)
    assert abs(dominant_hz(np.frombuffer(bytes(pcm[4800:]), "<i2"), 24_000) - 300) < 10
    level, old_level = (float(np.sqrt(np.mean(np.frombuffer(bytes(x[9600:18000]), "<i2").astype(float) ** 2))) for x in (pcm, resampled))
    assert abs(level - old_level) < 0.05 * old_level  # the same loudness as the 48 kHz decode resampled
    assert direct.decode(b"\xff\xff\xff") is None  # a packet libopus refuses


def browser_like_stream(pcm: bytes) -> list[bytes]:
    """PCM16 mono 24 kHz as a caller's Opus packets: aiortc's encoder (48 kHz stereo, 96 kbit/s), as the benches' caller sends."""
    encoder = OpusEncoder()
    return [payload for frame in as_frames(pcm) for payload in encoder.encode(frame)[0]]


class NeverSkipping(codecs.Pcm24OpusDecoder):
    """The reference: libopus decodes every packet."""

    def decode(self, payload: bytes) -> bytes | None:
        self._settled = None
        return super().decode(payload)


@pytest.mark.parametrize("stream", ["aiortc", "voice"])
def test_decoder_answers_settled_silence_without_decoding_and_the_output_is_unchanged(stream: str) -> None:
    """Repeats of a packet that decoded to silence three times are answered without libopus; every packet's PCM equals decoding all of them."""
    lib = codecs.libopus()
    assert lib is not None
    pcm = (speech(300) + silence(700)) * 3 + speech(500, amplitude=3000) + silence(1000) + speech(400)
    if stream == "aiortc":
        payloads = browser_like_stream(pcm)
    else:
        voice = codecs.VoiceOpusEncoder()
        payloads = [voice.encode_pcm(frame)[0][0] for frame in pcm_frames(pcm)]
    skipping, reference = codecs.Pcm24OpusDecoder(lib), NeverSkipping(lib)
    heard = [skipping.decode(p) for p in payloads]
    assert heard == [reference.decode(p) for p in payloads]  # sample for sample, speech after the silences included
    assert skipping.frames_skipped > len(payloads) // 3  # most of each silence
    assert reference.frames_skipped == 0
    assert np.abs(np.frombuffer(b"".join(x for x in heard[-15:] if x), "<i2")).max() > 1000  # the last speech is heard


def test_decoder_decodes_again_after_another_packet() -> None:
    """A settled silence packet is decoded again once any other packet came between (libopus's state moved)."""
    lib = codecs.libopus()
    assert lib is not None
    payloads = browser_like_stream(speech(200) + silence(400))
    settled = payloads[-1]
    decoder = codecs.Pcm24OpusDecoder(lib)
    for p in payloads:
        decoder.decode(p)
    skipped = decoder.frames_skipped
    assert skipped > 0 and decoder.decode(settled) == bytes(960) and decoder.frames_skipped == skipped + 1
    assert decoder.decode(b"\xff\xff\xff") is None  # refused: resets
    decoder.decode(settled)
    assert decoder.frames_skipped == skipped + 1  # decoded, not skipped


async def test_inline_decoding_falls_back_to_frames_without_libopus(monkeypatch: pytest.MonkeyPatch) -> None:
    """When libopus cannot be loaded directly, the consumer gets 48 kHz frames (the resampling path) instead of PCM."""
    monkeypatch.setattr(codecs, "libopus", lambda: None)
    delivered: list[object] = []
    inline = codecs.InlineDecoding(delivered.append, pcm24=True)
    inline.put((OPUS, JitterFrame(codecs.VoiceOpusEncoder().encode(tone(1)[0])[0][0], 0)))
    assert delivered and all(isinstance(frame, AudioFrame) for frame in delivered)


def test_install_swaps_opus_only() -> None:
    """After install, aiortc's sender and receiver build the voice codecs for Opus and their own for PCMU."""
    codecs.install()
    assert codecs.installed()
    assert isinstance(rtcrtpsender.get_encoder(OPUS), codecs.VoiceOpusEncoder)
    assert isinstance(rtcrtpreceiver.get_decoder(OPUS), codecs.VoiceOpusDecoder)
    assert isinstance(rtcrtpsender.get_encoder(PCMU), PcmuEncoder)


async def test_inline_decoding_feeds_the_track_queue_and_stops_the_decoder_thread() -> None:
    """Frames decode straight into the track's queue; garbage is dropped; put(None) releases the thread's get()."""
    queue: asyncio.Queue[object] = asyncio.Queue()
    inline = codecs.InlineDecoding(queue.put_nowait)
    payload = codecs.VoiceOpusEncoder().encode(tone(1)[0])[0][0]
    inline.put((OPUS, JitterFrame(payload, 0)))
    inline.put((OPUS, JitterFrame(b"\xff" * 3, 960)))
    assert queue.qsize() >= 1 and isinstance(queue.get_nowait(), AudioFrame)
    waiter = asyncio.get_running_loop().run_in_executor(None, inline.get)
    inline.put(None)
    assert await asyncio.wait_for(waiter, 2) is None


async def test_decode_inline_replaces_a_real_receivers_decoder_queue() -> None:
    """A receiver set up by a real offer takes the inline decoding (fails loudly if aiortc moves its decoder queue)."""
    offerer, answerer = RTCPeerConnection(), RTCPeerConnection()
    try:
        offerer.addTransceiver("audio", direction="sendrecv")
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        [transceiver] = answerer.getTransceivers()
        assert codecs.decode_inline(transceiver.receiver) is True
        assert isinstance(transceiver.receiver._RTCRtpReceiver__decoder_queue, codecs.InlineDecoding)  # type: ignore[attr-defined]
        bare = RTCRtpReceiver("audio", RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()]))
        assert codecs.decode_inline(bare) is False  # no remote track yet: aiortc's own thread decodes
        delivered: list[object] = []
        assert codecs.decode_inline(transceiver.receiver, delivered.append) is True
        payload = codecs.VoiceOpusEncoder().encode(tone(1)[0])[0][0]
        transceiver.receiver._RTCRtpReceiver__decoder_queue.put((OPUS, JitterFrame(payload, 0)))  # type: ignore[attr-defined]
        assert delivered == [delivered[0]] and isinstance(delivered[0], bytes) and len(delivered[0]) == 960  # 20 ms of PCM16 24 kHz
        assert transceiver.receiver.track._queue.empty()  # type: ignore[attr-defined]  # straight to the consumer, not the track
    finally:
        await offerer.close()
        await answerer.close()


async def test_track_hands_the_sender_opus_packets_when_given_an_encoder() -> None:
    """With an encoder, recv returns Opus packets stamped 960 ticks apart on the RTP clock, which the sender's pack keeps as they are."""
    playout = Playout(target_ms=20)
    playout.push(b"\x10\x00" * (SAMPLES * 3), "resp_1", "item_1")
    clock = iter(range(1000))
    track = PlayoutTrack(playout, lambda _: None, clock=lambda: next(clock) * 0.02)
    track.encode_with(codecs.VoiceOpusEncoder())
    packets = [await track.recv() for _ in range(4)]
    assert all(isinstance(p, Packet) for p in packets)
    assert [p.pts for p in packets] == [0, 960, 1920, 2880]  # type: ignore[union-attr]
    assert all(p.time_base is None for p in packets)  # no Fraction per packet
    sender_encoder = codecs.voice_encoder(OPUS)
    assert [sender_encoder.pack(p)[1] for p in packets] == [0, 960, 1920, 2880]  # type: ignore[arg-type]
    assert sender_encoder.pack(packets[0])[0] == [bytes(packets[0])]  # type: ignore[arg-type, union-attr]
    track.stop()


def test_pack_converts_a_packet_with_a_time_base_to_the_rtp_clock() -> None:
    """A packet stamped on another time base (not the track's) is converted to Opus's 48 kHz RTP clock."""
    packet = Packet(b"\x01\x02")
    packet.pts, packet.time_base = 480, fractions.Fraction(1, 24_000)
    assert codecs.VoiceOpusEncoder().pack(packet) == ([b"\x01\x02"], 960)


async def test_track_sends_a_silent_playout_as_settled_silence() -> None:
    """With nothing to play, the track's encoder settles on libopus's silence packet and stops encoding."""
    clock = iter(range(1000))
    track = PlayoutTrack(Playout(), lambda _: None, clock=lambda: next(clock) * 0.02)
    encoder = codecs.VoiceOpusEncoder()
    track.encode_with(encoder)
    packets = [bytes(await track.recv()) for _ in range(20)]  # type: ignore[arg-type]
    assert encoder.frames_skipped >= 10 and len(set(packets[-encoder.frames_skipped :])) == 1
    track.stop()


def test_sends_opus_reads_the_answers_first_audio_codec() -> None:
    """An answer whose audio line leads with Opus sends Opus; one with only PCMU does not."""
    head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    opus = head + "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"
    pcmu = head + "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n"
    assert sends_opus(opus) is True
    assert sends_opus(pcmu) is False
