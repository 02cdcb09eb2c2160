"""ffmpeg (Debian's build, a receiver nobody here wrote) decodes what pipit sends.

pipit writes the SDP (codec, RTCP mux, SRTP key in an a=crypto line) and the
device runtime streams to ffmpeg instead of to the gateway: if our RTP, our
Opus/L16 payloads or our SRTP were off by a bit, ffmpeg would decode nothing
or noise.
"""
import asyncio
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from device import session as media_session
from host.loopback import run_device_stream
from host.sdp import uplink_sdp
from host.sessions import new_session
from tests.conftest import dominant_frequency_hz, free_udp_port, write_tone_wav


def _udp_port_bound(port):
    """True once some process has bound 127.0.0.1:port (read from /proc/net/udp)."""
    needle = ":%04X " % port
    with open("/proc/net/udp") as table:
        return any(needle in line.split(None, 3)[1] + " " for line in table.readlines()[1:])


def _wait_until_bound(port, process, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    while not _udp_port_bound(port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("ffmpeg never bound port %d: %s" % (port, process.stderr.read()))
        time.sleep(0.02)  # polling /proc for a condition, not timing the test


@pytest.mark.parametrize("codec_name", ["opus", "l16"])
def test_ffmpeg_receives_and_decodes_our_srtp_stream(tmp_path, codec_name):
    port = free_udp_port()
    session = new_session("127.0.0.1", port, codec_name)
    session_path = tmp_path / "session.json"
    media_session.save(session, session_path)
    sdp_path = tmp_path / "uplink.sdp"
    sdp_path.write_text(uplink_sdp(session))
    tone = write_tone_wav(tmp_path / "tone.wav", 440.0, 3.0)
    heard = tmp_path / "heard.wav"
    ffmpeg = subprocess.Popen(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
         "-protocol_whitelist", "file,udp,rtp,srtp", "-i", str(sdp_path),
         "-t", "2", "-ar", "16000", "-ac", "1", "-y", str(heard)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_bound(port, ffmpeg)
        stats = asyncio.run(run_device_stream("cpython", session_path, tone, timeout_s=60))
        _, err = ffmpeg.communicate(timeout=60)
    finally:
        if ffmpeg.poll() is None:
            ffmpeg.kill()
    assert ffmpeg.returncode == 0, err
    assert stats["packets_sent"] == 150
    with wave.open(str(heard)) as handle:
        assert handle.getframerate() == 16000
        samples = np.frombuffer(handle.readframes(handle.getnframes()), "<i2").astype(float) / 32768
    assert len(samples) >= 16000 * 1.9
    body = samples[4000:28000]
    assert dominant_frequency_hz(body, 16000) == pytest.approx(440, abs=2)
    rms = float(np.sqrt(np.mean(body ** 2)))
    assert rms == pytest.approx(0.3 / np.sqrt(2), rel=0.15)


def test_sdp_carries_codec_mux_and_key():
    session = new_session("127.0.0.1", 5004, "opus")
    sdp = uplink_sdp(session)
    assert "m=audio 5004 RTP/SAVP 111\r\n" in sdp
    assert "a=rtpmap:111 opus/48000/2\r\n" in sdp
    assert "a=rtcp-mux\r\n" in sdp
    key_line = [line for line in sdp.split("\r\n") if line.startswith("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:")]
    import base64
    assert base64.b64decode(key_line[0].split("inline:")[1]) == session.srtp_key_and_salt
    l16 = uplink_sdp(new_session("127.0.0.1", 5004, "l16"))
    assert "a=rtpmap:96 L16/16000/1\r\n" in l16
