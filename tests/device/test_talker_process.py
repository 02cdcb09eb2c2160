"""`python -m device.talker` as a process, under MicroPython (L16) and CPython (Opus),
against the real gateway (host/gateway/server.Gateway, libsrtp, libopus).

The test plays the pipeline's part through the gateway's own hooks: on_app
sees the device's DeviceState, send_app sends TurnEvents and the Abort (three
copies each), GatewaySession.downlink.say() sends the answers. The board is
scripted from the command line: the button is held 0..600 ms and the
microphone hears a 440 Hz tone from 0 ms and an 880 Hz tone from 300 ms.
"""
import asyncio
import json
import time

import numpy as np
import pytest

from device import rtcp_app
from device import session as media_session
from device.hal.virtual import read_timeline
from host.gateway.server import Gateway, GatewaySettings
from host.runtimes import REPO_ROOT, device_command, device_env
from host.sessions import new_session
from tests.conftest import write_tone_wav
from tests.device.talker_harness import read_samples, tone_pcm, wait_until
from tests.host.gateway.downlink_harness import dominant_hz

FRAME_MS = 20
FRAME_SAMPLES = 320


class RecordingSink:
    """What the gateway decoded from the uplink, as 16 kHz PCM frames."""

    def __init__(self):
        self.frames = []

    def write(self, pcm):
        self.frames.append(bytes(pcm))

    def close(self):
        pass


async def _conversation(tmp_path, runtime, codec_name):
    sink = RecordingSink()
    gateway = Gateway(GatewaySettings(host="127.0.0.1", port=0), lambda _session: sink)
    host, port = await gateway.start()
    try:
        session = new_session(host, port, codec_name)
        served = gateway.add_session(session)
        states = []
        served.on_app = lambda message: states.append((time.monotonic(), message.state))
        session_path = tmp_path / "session.json"
        media_session.save(session, session_path)
        mic = "%s@0,%s@300" % (write_tone_wav(tmp_path / "a.wav", 440, 1.0),
                               write_tone_wav(tmp_path / "b.wav", 880, 1.0))
        speaker_path = tmp_path / "speaker.wav"
        process = await asyncio.create_subprocess_exec(
            *device_command(runtime, "device.talker", [
                session_path, mic, speaker_path, "--press", "0:600", "--idle-stop-ms", "400",
                "--max-ms", "20000"]),
            env=device_env(runtime), cwd=str(REPO_ROOT),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            await _play_the_pipeline(served, states, session.downlink_ssrc)
            out, err = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, err.decode()
        device = json.loads(out.decode().strip().splitlines()[-1])
        totals = gateway.counters
    finally:
        await gateway.stop()
    return device, states, sink, totals, speaker_path


def _seen(states, state, after=0.0):
    return any(seen == state and at > after for at, seen in states)


async def _play_the_pipeline(served, states, ssrc):
    """Answer the push-to-talk turn, abort the answer, answer again."""
    await wait_until(lambda: _seen(states, "thinking"), "the release (thinking)")
    served.send_app(rtcp_app.TurnEvent(ssrc, "heard", 1), rtcp_app.TurnEvent(ssrc, "answering", 1))
    downlink = served.downlink
    downlink.say(tone_pcm(2000, 330.0))
    await wait_until(lambda: downlink.counters.frames_sent >= 30, "half a second of the answer")
    downlink.flush()
    aborted_at = time.monotonic()
    served.send_app(rtcp_app.Abort(ssrc, 5, downlink.sequence_number))
    await wait_until(lambda: _seen(states, "listening", aborted_at), "listening after the abort")
    served.send_app(rtcp_app.TurnEvent(ssrc, "heard", 2), rtcp_app.TurnEvent(ssrc, "answering", 2))
    sent = downlink.counters.frames_sent
    downlink.say(tone_pcm(400, 660.0))
    await wait_until(lambda: downlink.counters.frames_sent == sent + 20, "the second answer sent")
    served.send_app(rtcp_app.TurnEvent(ssrc, "done", 2))


@pytest.mark.parametrize("runtime, codec_name", [("micropython", "l16"), ("cpython", "opus")])
def test_the_talker_process_talks_is_interrupted_and_answers_again(tmp_path, runtime, codec_name):
    device, states, sink, totals, speaker_path = asyncio.run(
        asyncio.wait_for(_conversation(tmp_path, runtime, codec_name), 60))
    conversation = device["conversation"]
    visited = [state for state, _ in conversation["states"]]
    assert visited == ["idle", "listening", "thinking", "speaking", "listening", "thinking",
                       "speaking", "idle"]
    ticks = [at for _, at in conversation["states"]]
    assert ticks == sorted(ticks)
    assert (conversation["turn"], conversation["turns"]) == (2, 2)
    assert len(conversation["aborts"]) == 1 and conversation["aborts"][0][0] == 5
    assert conversation["app"]["app_malformed"] == 0 and conversation["app"]["app_repeats"] >= 4
    assert device["downlink"]["aborts"] == 1 and totals.auth_failed == 0
    # The button: pressed at the start, released at 600 ms.
    press, release = conversation["presses"][0]
    assert release - press == pytest.approx(600, abs=30)
    # The microphone heard a at its start and b 300 ms later.
    heard = device["mic"]["heard"]
    assert [path.endswith(name) for (path, _), name in zip(heard, ("a.wav", "b.wav"))] == [True, True]
    assert heard[1][1] - heard[0][1] == 300 and heard[0][1] == device["mic"]["start_ms"]
    # The gateway got the held part of it: 440 Hz, then 880 Hz.
    pcm = np.frombuffer(b"".join(sink.frames), dtype="<i2")
    assert dominant_hz(pcm[2 * FRAME_SAMPLES:13 * FRAME_SAMPLES]) == pytest.approx(440.0, abs=5)
    assert dominant_hz(pcm[17 * FRAME_SAMPLES:28 * FRAME_SAMPLES]) == pytest.approx(880.0, abs=5)
    # The abort silenced the speaker within one frame; after it, only the second answer played.
    abort_ticks = conversation["aborts"][0][1]
    rows = read_timeline(str(speaker_path) + ".timeline")
    before = [row for row in rows if row[1] <= abort_ticks]
    after = [row for row in rows if row[1] > abort_ticks]
    assert before and before[-1][1] + FRAME_MS - abort_ticks <= FRAME_MS
    assert len(after) == 20
    samples = np.array(read_samples(speaker_path), dtype=np.int16)
    assert dominant_hz(samples[:after[0][0]]) == pytest.approx(330.0, abs=5)
    assert dominant_hz(samples[after[0][0]:]) == pytest.approx(660.0, abs=5)
    assert [state for _, state in states][-1] == "idle"  # the gateway heard the end
