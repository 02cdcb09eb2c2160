"""has_fec(): LBRR detection agrees with what libopus does with the packet."""
from hypothesis import given, settings
from hypothesis import strategies as st

from device.codec import make_decoder, make_encoder
from host.gateway.opus_fec import has_fec
from tests.host.gateway.audio import sine_frames


def _packets(count=40, frame_ms=20, channels=1, **opts):
    samples = 16000 * frame_ms // 1000
    encoder = make_encoder("opus", 16000, channels, frame_ms, **opts)
    return [encoder.encode(frame) for frame in sine_frames(count, samples, channels=channels)]


def _libopus_uses_fec(packets, lost, samples):
    """Whether decode_fec() of the packet after `lost` differs from plain PLC."""
    recovering = make_decoder("opus", 16000, 1)
    concealing = make_decoder("opus", 16000, 1)
    for payload in packets[:lost]:
        recovering.decode(payload)
        concealing.decode(payload)
    return recovering.decode_fec(packets[lost + 1], samples) != concealing.conceal(samples)


def test_fec_flag_matches_libopus_for_mono_and_stereo_20_40_60_ms():
    for frame_ms in (20, 40, 60):
        for channels in (1, 2):
            packets = _packets(frame_ms=frame_ms, channels=channels)
            samples = 16000 * frame_ms // 1000
            flags = [has_fec(packets[lost + 1]) for lost in range(1, 38)]
            truth = [_libopus_uses_fec(packets, lost, samples) for lost in range(1, 38)]
            assert flags == truth, (frame_ms, channels)
            assert any(flags)


def test_no_fec_when_the_encoder_does_not_add_it():
    assert not any(has_fec(payload) for payload in _packets(fec=False))
    # Below ~19 kbps libopus drops LBRR even when asked for it.
    assert not any(has_fec(payload) for payload in _packets(bitrate_bps=12000))


def test_celt_only_packets_never_carry_fec():
    packets = _packets(application="restricted_lowdelay", bitrate_bps=64000)
    assert all(payload[0] >> 3 >= 16 for payload in packets)
    assert not any(has_fec(payload) for payload in packets)


def test_framing_codes_1_2_3_find_the_first_frame():
    packet = next(payload for payload in _packets() if has_fec(payload))
    toc, frame = packet[0] & 0xFC, packet[1:]
    assert has_fec(bytes([toc | 1]) + frame + frame)  # two CBR frames
    assert has_fec(bytes([toc | 2, len(frame)]) + frame + b"\x00" * 3)
    assert has_fec(bytes([toc | 3, 0x01]) + frame)  # CBR, one frame
    assert has_fec(bytes([toc | 3, 0x42, 2]) + frame + b"\x00\x00")  # padded
    assert has_fec(bytes([toc | 3, 0x82, len(frame)]) + frame + b"\x55" * 4)  # VBR, two frames
    assert not has_fec(bytes([toc | 3, 0x00]) + frame)  # zero frames: malformed
    assert not has_fec(bytes([toc | 2, 0]) + frame)  # empty first frame


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_give_a_boolean_and_never_raise(payload):
    assert has_fec(payload) in (True, False)
