"""Codecs: L16 byte order, real libopus round trips, concealment and FEC."""
import numpy as np
import pytest

from device import codec

RATE_HZ = 16000
FRAME = RATE_HZ // 50  # 20 ms


def tone(freq_hz, seconds=1.0, rate_hz=RATE_HZ, amplitude=8000, channels=1):
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    mono = amplitude * np.sin(2 * np.pi * freq_hz * t)
    return np.repeat(mono[:, None], channels, axis=1).reshape(-1).astype("<i2")


def frames_of(samples, samples_per_frame, channels=1):
    step = samples_per_frame * channels
    return [samples[i:i + step].tobytes() for i in range(0, len(samples) - step + 1, step)]


def dominant_hz(pcm, rate_hz=RATE_HZ, channels=1):
    samples = np.frombuffer(pcm, "<i2").astype(float).reshape(-1, channels)[:, 0]
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.argmax(spectrum) * rate_hz / len(samples)


def test_available_codecs_on_cpython():
    assert codec.available_codecs() == ("opus", "l16")


def test_payload_types_and_rtp_clocks():
    assert codec.DEFAULT_PAYLOAD_TYPES == {"opus": 111, "l16": 96}
    for rate in (8000, 16000, 24000, 48000):
        assert codec.rtp_clock_hz(codec.OPUS, rate) == 48000
        assert codec.rtp_clock_hz(codec.L16, rate) == rate
    with pytest.raises(ValueError, match="'g722'"):
        codec.rtp_clock_hz("g722", 8000)


# --- L16 --------------------------------------------------------------------

def test_l16_payload_is_big_endian():
    encoder = codec.L16Encoder(RATE_HZ, 1)
    pcm = np.array([0x1234, -2, 1, -32768, 32767], "<i2").tobytes()
    assert pcm[:2] == b"\x34\x12"
    payload = encoder.encode(pcm)
    assert payload == bytes.fromhex("1234" "fffe" "0001" "8000" "7fff")
    assert isinstance(payload, bytes)


def test_l16_matches_numpy_big_endian_for_a_whole_frame():
    samples = tone(440)[:FRAME]
    assert codec.L16Encoder(RATE_HZ, 1).encode(samples.tobytes()) == samples.astype(">i2").tobytes()


def test_l16_stereo_keeps_interleaving():
    pcm = np.array([1, -1, 2, -2], "<i2").tobytes()  # L R L R
    assert codec.L16Encoder(48000, 2).encode(pcm) == bytes.fromhex("0001ffff0002fffe")


def test_l16_round_trip_and_encode_into():
    encoder = codec.L16Encoder(RATE_HZ, 1)
    decoder = codec.L16Decoder(RATE_HZ, 1)
    pcm = tone(300)[:FRAME].tobytes()
    packet = bytearray(12 + len(pcm))
    size = encoder.encode_into(pcm, memoryview(packet)[12:])
    assert size == len(pcm)
    assert bytes(packet[12:]) == encoder.encode(pcm)
    assert decoder.decode(packet[12:]) == pcm
    out = bytearray(len(pcm))
    assert decoder.decode_into(memoryview(packet)[12:], out) == len(pcm)
    assert bytes(out) == pcm


def test_l16_frames_of_other_sizes():
    encoder = codec.L16Encoder(RATE_HZ, 1, frame_ms=20)
    for samples in (80, 320, 960, 7):
        pcm = tone(500)[:samples].tobytes()
        assert codec.L16Decoder(RATE_HZ, 1).decode(encoder.encode(pcm)) == pcm


def test_l16_accepts_array_backed_buffers():
    samples = tone(440)[:FRAME]
    assert codec.L16Encoder(RATE_HZ, 1).encode(memoryview(samples)) == samples.astype(">i2").tobytes()


def test_portable_swap_used_on_micropython_gives_the_same_bytes():
    pcm = tone(700)[:FRAME].tobytes()
    out = bytearray(len(pcm))
    codec._swap16_portable(memoryview(pcm), out, len(pcm))
    assert bytes(out) == codec.L16Encoder(RATE_HZ, 1).encode(pcm)


@pytest.mark.parametrize("channels, data", [(1, b"\x01"), (1, b""), (2, b"\x01\x02"), (2, bytes(6))])
def test_l16_refuses_partial_samples(channels, data):
    with pytest.raises(ValueError, match="codec: .* not a whole number of %d-channel" % channels):
        codec.L16Encoder(RATE_HZ, channels).encode(data)
    with pytest.raises(ValueError, match="codec: L16 payload"):
        codec.L16Decoder(RATE_HZ, channels).decode(data)


def test_l16_conceal_is_silence():
    assert codec.L16Decoder(RATE_HZ, 2).conceal(160) == bytes(640)
    with pytest.raises(ValueError):
        codec.L16Decoder(RATE_HZ, 1).conceal(0)


def test_l16_encode_into_too_small_buffer():
    with pytest.raises(ValueError, match="output buffer of 4 bytes, 640 needed"):
        codec.L16Encoder(RATE_HZ, 1).encode_into(bytes(640), bytearray(4))


# --- Opus -------------------------------------------------------------------

def test_opus_encoder_attributes():
    encoder = codec.OpusEncoder(RATE_HZ, 1)
    assert (encoder.codec, encoder.rtp_clock_hz, encoder.sample_rate_hz, encoder.channels) == (
        "opus", 48000, RATE_HZ, 1)
    assert encoder.samples_per_frame == 320 and encoder.frame_bytes == 640
    assert encoder.lookahead_samples == 104  # 6.5 ms at 16 kHz
    decoder = codec.OpusDecoder(RATE_HZ, 1)
    assert (decoder.codec, decoder.rtp_clock_hz, decoder.sample_rate_hz, decoder.channels) == (
        "opus", 48000, RATE_HZ, 1)


@pytest.mark.parametrize("rate_hz, channels, frame_ms", [
    (16000, 1, 20), (48000, 1, 20), (8000, 1, 10), (24000, 1, 40), (48000, 2, 60), (16000, 2, 20)])
def test_opus_round_trip_keeps_the_frequency(rate_hz, channels, frame_ms):
    encoder = codec.OpusEncoder(rate_hz, channels, frame_ms=frame_ms)
    decoder = codec.OpusDecoder(rate_hz, channels)
    samples_per_frame = rate_hz * frame_ms // 1000
    packets = [encoder.encode(f) for f in frames_of(tone(440, rate_hz=rate_hz, channels=channels),
                                                    samples_per_frame, channels)]
    assert all(0 < len(p) < samples_per_frame * channels * 2 for p in packets)
    decoded = [decoder.decode(p) for p in packets]
    assert all(len(pcm) == samples_per_frame * channels * 2 for pcm in decoded)
    pcm = b"".join(decoded[len(decoded) // 4:])  # past the start-up
    assert dominant_hz(pcm, rate_hz, channels) == pytest.approx(440, abs=10)


def test_opus_bitrate_is_about_what_was_asked():
    encoder = codec.OpusEncoder(RATE_HZ, 1, bitrate_bps=24000)
    packets = [encoder.encode(f) for f in frames_of(tone(440, seconds=2), FRAME)]
    bitrate = sum(len(p) for p in packets) * 8 / 2
    assert 12000 < bitrate < 30000


def test_opus_output_lags_the_input_by_the_lookahead():
    # A multi-tone signal has a unique best alignment, unlike a pure sine.
    rng = np.random.default_rng(1)
    t = np.arange(RATE_HZ) / RATE_HZ
    mix = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6))
              for f in (200, 310, 470, 730, 1100, 1700, 2300))
    samples = (mix / np.max(np.abs(mix)) * 12000).astype("<i2")
    encoder = codec.OpusEncoder(RATE_HZ, 1, bitrate_bps=64000)
    decoder = codec.OpusDecoder(RATE_HZ, 1)
    out = np.frombuffer(b"".join(decoder.decode(encoder.encode(f)) for f in frames_of(samples, FRAME)),
                        "<i2").astype(float)
    segment = samples[4000:8000].astype(float)
    lag = max(range(300), key=lambda k: float(np.dot(out[4000 + k:8000 + k], segment)))
    assert lag == encoder.lookahead_samples


def test_opus_conceal_gives_the_asked_sample_count():
    encoder = codec.OpusEncoder(RATE_HZ, 1)
    decoder = codec.OpusDecoder(RATE_HZ, 1)
    for frame in frames_of(tone(440), FRAME)[:10]:
        decoder.decode(encoder.encode(frame))
    # Concealment first continues the tone (then fades out over later calls).
    assert dominant_hz(decoder.conceal(320)) == pytest.approx(440, abs=30)
    for samples in (40, 320, 960):
        assert len(decoder.conceal(samples)) == samples * 2
    stereo = codec.OpusDecoder(48000, 2)
    assert len(stereo.conceal(960)) == 960 * 2 * 2


def _switching_tone():
    # 440 Hz for 0.5 s, then 1 kHz: the first 1 kHz frame is the one we lose.
    t = np.arange(RATE_HZ) / RATE_HZ
    rng = np.random.default_rng(0)
    signal = np.where(t < 0.5, np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 1000 * t)) * 8000
    return (signal + rng.normal(0, 300, RATE_HZ)).astype("<i2")


@pytest.mark.parametrize("fec, expected_hz", [(True, 1000), (False, 440)])
def test_fec_recovers_the_lost_frame_and_plc_only_guesses(fec, expected_hz):
    encoder = codec.OpusEncoder(RATE_HZ, 1, fec=fec)
    decoder = codec.OpusDecoder(RATE_HZ, 1)
    packets = [encoder.encode(f) for f in frames_of(_switching_tone(), FRAME)]
    lost = 25
    for packet in packets[:lost]:
        decoder.decode(packet)
    recovered = decoder.decode_fec(packets[lost + 1], FRAME)
    assert len(recovered) == FRAME * 2
    # With FEC the packet after the loss carries the 1 kHz frame; without it
    # libopus can only extend the 440 Hz it heard last.
    assert dominant_hz(recovered) == pytest.approx(expected_hz, abs=60)
    assert len(decoder.decode(packets[lost + 1])) == FRAME * 2


def test_opus_errors_are_value_errors():
    decoder = codec.OpusDecoder(RATE_HZ, 1)
    with pytest.raises(ValueError, match="codec: opus cannot decode a 1-byte payload"):
        decoder.decode(b"\xff")
    with pytest.raises(ValueError, match="empty opus payload"):
        decoder.decode(b"")
    with pytest.raises(ValueError, match="empty opus payload"):
        decoder.decode_fec(b"", 320)
    for bad in (0, 100, 1921):
        with pytest.raises(ValueError, match="multiple of 40 up to 1920"):
            decoder.conceal(bad)
    encoder = codec.OpusEncoder(RATE_HZ, 1)
    with pytest.raises(ValueError, match="opus frame must be 640 bytes of PCM"):
        encoder.encode(bytes(638))


@pytest.mark.parametrize("kwargs, message", [
    (dict(sample_rate_hz=44100), "sample_rate_hz must be one of"),
    (dict(channels=3), "channels must be 1..2"),
    (dict(frame_ms=25), "frame_ms must be one of"),
    (dict(bitrate_bps=1000), "bitrate_bps must be in"),
    (dict(complexity=11), "complexity must be in"),
    (dict(expected_loss_pct=101), "expected_loss_pct must be in"),
])
def test_opus_encoder_settings_are_checked(kwargs, message):
    settings = dict(sample_rate_hz=RATE_HZ, channels=1)
    settings.update(kwargs)
    with pytest.raises(ValueError, match=message):
        codec.OpusEncoder(**settings)


# --- factories --------------------------------------------------------------

def test_factories_build_the_negotiated_codec():
    encoder = codec.make_encoder("opus", RATE_HZ, 1, 20, bitrate_bps=32000)
    assert isinstance(encoder, codec.OpusEncoder)
    assert isinstance(codec.make_decoder("opus", RATE_HZ, 1), codec.OpusDecoder)
    l16 = codec.make_encoder("l16", RATE_HZ, 1, 20, bitrate_bps=32000)  # Opus tuning ignored
    assert (l16.codec, l16.rtp_clock_hz, l16.sample_rate_hz, l16.channels) == ("l16", RATE_HZ, RATE_HZ, 1)
    assert isinstance(codec.make_decoder("l16", RATE_HZ, 1), codec.L16Decoder)


def test_factories_name_an_unknown_codec():
    with pytest.raises(ValueError, match="unknown codec 'pcmu'"):
        codec.make_encoder("pcmu", 8000, 1, 20)
    with pytest.raises(ValueError, match="unknown codec 'pcmu'"):
        codec.make_decoder("pcmu", 8000, 1)


def test_opus_requested_where_there_is_none(monkeypatch):
    # The real case runs under MicroPython in test_wire_micropython.py.
    monkeypatch.setattr(codec, "_opus", None)
    assert codec.available_codecs() == ("l16",)
    for build in (lambda: codec.make_encoder("opus", RATE_HZ, 1, 20),
                  lambda: codec.make_decoder("opus", RATE_HZ, 1)):
        with pytest.raises(ValueError, match="codec: opus is not available"):
            build()
