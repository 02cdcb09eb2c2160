"""The downlink end to end: gateway -> SRTP over loopback -> device -> speaker.

The gateway is the real asyncio server (libsrtp, libopus); the device is the
real runtime, as its own process (CPython with Opus, the MicroPython unix port
with L16) or as tasks of the test's loop when the test needs to reach into it
(abort) or to put a relay on the path (loss, reordering, delay, arrival
times). The virtual speaker writes what it plays to a WAV and, per write, the
time it played (ticks_ms, CLOCK_MONOTONIC on both runtimes).
"""
import asyncio
import json

import numpy as np
import pytest

from device import session as media_session
from device.hal import clock
from device.hal.virtual import read_timeline
from host.gateway.server import Gateway, GatewaySettings
from host.netem import LinkConditions, Relay
from host.runtimes import REPO_ROOT, device_command, device_env
from host.sessions import new_session
from tests.host.gateway.downlink_harness import (
    InProcessDevice, dominant_hz, numbered_frames_pcm, read_wav_samples, tone_pcm,
    wait_for_address, wait_until)
from tests.host.gateway.harness import run

FRAME_MS = 20
FRAME_SAMPLES = 320


class NullSink:
    """The uplink's recording is not what these tests look at."""

    def write(self, pcm):
        pass

    def close(self):
        pass


async def started_gateway(**settings):
    gateway = Gateway(GatewaySettings(host="127.0.0.1", port=0, **settings), lambda _s: NullSink())
    address = await gateway.start()
    return gateway, address


def check_timeline_is_real_time(rows, frames):
    """One write per frame, back to back in the WAV, never faster than real time."""
    assert [row[0] for row in rows] == [i * FRAME_SAMPLES for i in range(frames)]
    assert all(row[2] == FRAME_SAMPLES for row in rows)
    ticks = [row[1] for row in rows]
    assert all(later >= earlier for earlier, later in zip(ticks, ticks[1:]))
    span_ms = ticks[-1] - ticks[0]
    # Written on an absolute schedule: never early (1 ms for tick rounding);
    # the upper bound only catches a player that runs at the wrong rate.
    assert (frames - 1) * FRAME_MS - 1 <= span_ms <= (frames - 1) * FRAME_MS * 1.5


# -- a tone to a device process, CPython (Opus) and MicroPython (L16) -----------

async def _tone_to_device_process(tmp_path, runtime, codec_name):
    gateway, (host, port) = await started_gateway()
    try:
        session = new_session(host, port, codec_name)
        gateway.add_session(session)
        session_path = tmp_path / "session.json"
        media_session.save(session, session_path)
        speaker_path = tmp_path / "speaker.wav"
        process = await asyncio.create_subprocess_exec(
            *device_command(runtime, "device.downlink", [session_path, speaker_path, 400, 30000]),
            env=device_env(runtime), cwd=str(REPO_ROOT),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        served = await wait_for_address(gateway, session)
        said_at = clock.ticks_ms()
        served.downlink.say(tone_pcm(1000, 440.0))
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        device = json.loads(out.decode().strip().splitlines()[-1])
        sender = served.downlink.stats()
    finally:
        await gateway.stop()
    return device, sender, said_at, speaker_path


@pytest.mark.parametrize("runtime, codec_name", [("cpython", "opus"), ("micropython", "l16")])
def test_a_tone_said_by_the_gateway_is_played_by_the_device(tmp_path, runtime, codec_name):
    device, sender, said_at, speaker_path = run(_tone_to_device_process(tmp_path, runtime, codec_name))
    down = device["downlink"]
    assert sender["frames_sent"] == 50 and sender["talk_spurts"] == 1
    assert sender["max_in_flight_ms"] <= sender["lead_ms"] + FRAME_MS + 1e-6
    assert (down["received"], down["played"]) == (50, 50)
    for name in ("lost", "concealed", "late", "underruns", "auth_failed", "refused", "wrong_type"):
        assert down[name] == 0, name
    # The device took the gateway's reports (now SRs from the downlink SSRC).
    assert device["uplink"]["rtcp_received"] >= 1 and device["uplink"]["rtcp_rejected"] == 0
    assert device["uplink"]["other_received"] == 0  # the downlink's RTP went to the player
    samples = read_wav_samples(speaker_path)
    assert len(samples) == 16000  # 1 s: the duration is kept exactly
    assert dominant_hz(samples) == pytest.approx(440.0, abs=2.0)
    if codec_name == "l16":  # sample-exact
        assert np.array_equal(samples, np.frombuffer(tone_pcm(1000, 440.0), dtype="<i2"))
    rows = read_timeline(str(speaker_path) + ".timeline")
    check_timeline_is_real_time(rows, 50)
    print("\n%s: say() to first sample played %d ms" % (runtime, rows[0][1] - said_at))


# -- pacing, seen where the device receives it ---------------------------------

async def _pacing(tmp_path, lead_ms):
    gateway, address = await started_gateway(downlink_lead_ms=lead_ms)
    relay = Relay(address)
    try:
        session = new_session(*address, codec_name="opus")
        gateway.add_session(session)
        device = InProcessDevice(session, tmp_path / "speaker.wav", await relay.start())
        async with device:
            served = await wait_for_address(gateway, session)
            served.downlink.say(tone_pcm(1000))
            await wait_until(lambda: device.stats.played == 50 and device.idle, "the tone to play")
        sender = served.downlink.stats()
    finally:
        relay.close()
        await gateway.stop()
    return relay.arrivals, sender, device.stats


@pytest.mark.parametrize("lead_ms", [0, 60])
def test_the_gateway_never_has_more_than_lead_plus_a_frame_in_flight(tmp_path, lead_ms):
    arrivals, sender, stats = run(_pacing(tmp_path, lead_ms))
    assert len(arrivals) == 50
    first_s, _, first_ts, marker = arrivals[0]
    assert marker and not any(arrival[3] for arrival in arrivals[1:])
    # Audio that has arrived but whose real-time slot has not ended yet: the
    # media time delivered minus the time elapsed since the first packet.
    in_flight_ms = [((ts - first_ts) & 0xFFFFFFFF) / 48 + FRAME_MS - (at - first_s) * 1000
                    for at, _, ts, _ in arrivals]
    # Half a frame of slack: the relay shares the loop, and reading the first
    # burst late makes everything after it look early. One frame too many fails.
    assert max(in_flight_ms) <= lead_ms + FRAME_MS + FRAME_MS / 2
    assert max(in_flight_ms) >= lead_ms + FRAME_MS - FRAME_MS / 2  # the lead is used
    assert sender["max_in_flight_ms"] <= lead_ms + FRAME_MS + 1e-6
    assert (stats.played, stats.lost, stats.underruns) == (50, 0, 0)
    print("\nlead %d ms: max in flight at the device %.1f ms" % (lead_ms, max(in_flight_ms)))


# -- loss and reordering on the downlink ---------------------------------------

DROPPED = (10, 30, 31)
SWAPPED = (50,)  # packet 50 arrives after packet 51


async def _lossy(tmp_path, codec_name, pcm):
    gateway, address = await started_gateway()
    relay = Relay(address, drop=DROPPED, swap=SWAPPED)
    try:
        session = new_session(*address, codec_name=codec_name)
        gateway.add_session(session)
        device = InProcessDevice(session, tmp_path / "speaker.wav", await relay.start())
        async with device:
            served = await wait_for_address(gateway, session)
            served.downlink.say(pcm)
            await wait_until(lambda: device.stats.received == 77 and device.idle, "the answer to play")
    finally:
        relay.close()
        await gateway.stop()
    return device


def test_l16_downlink_conceals_lost_slots_and_plays_reordered_packets_in_order(tmp_path):
    device = run(_lossy(tmp_path, "l16", numbered_frames_pcm(80)))
    stats = device.stats
    assert (stats.lost, stats.concealed, stats.reordered) == (3, 3, 1)
    assert (stats.played, stats.late, stats.underruns, stats.fec_recovered) == (77, 0, 0, 0)
    frames = device.samples().reshape(-1, FRAME_SAMPLES)
    assert len(frames) == 80  # the lost slots keep their time
    expected = [0 if i in DROPPED else i + 1 for i in range(80)]
    assert [int(frame[0]) for frame in frames] == expected
    assert all((frame == frame[0]).all() for frame in frames)
    check_timeline_is_real_time(device.timeline(), 80)


def test_opus_downlink_rebuilds_a_single_loss_from_fec_and_conceals_a_double_one(tmp_path):
    device = run(_lossy(tmp_path, "opus", tone_pcm(1600)))
    stats = device.stats
    # Slot 10 and slot 31 have their next packet at hand (FEC); slot 30 does not (PLC).
    assert (stats.lost, stats.fec_recovered, stats.concealed) == (3, 2, 1)
    assert (stats.played, stats.reordered, stats.late, stats.underruns) == (77, 1, 0, 0)
    samples = device.samples()
    assert len(samples) == 80 * FRAME_SAMPLES
    assert dominant_hz(samples) == pytest.approx(440.0, abs=2.0)


# -- barge-in: gateway flush() + device abort() ----------------------------------

async def _barge_in(tmp_path):
    gateway, address = await started_gateway()
    # 40 ms of network delay, so that packets sent before the flush are still
    # on their way when the device aborts.
    relay = Relay(address, downlink=LinkConditions(delay_ms=40))
    try:
        session = new_session(*address, codec_name="opus")
        gateway.add_session(session)
        device = InProcessDevice(session, tmp_path / "speaker.wav", await relay.start())
        async with device:
            served = await wait_for_address(gateway, session)
            downlink = served.downlink
            downlink.say(tone_pcm(3000, 440.0))
            await wait_until(lambda: device.stats.played >= 25, "half a second of the answer")
            figures = {"gateway_in_flight_ms": downlink.in_flight_ms,
                       "gateway_dropped_ms": downlink.flush(),
                       "device_dropped_ms": device.downlink.abort(),
                       "abort_ticks": device.downlink.last_abort_ms,
                       "played_at_abort": device.stats.played}
            downlink.say(tone_pcm(400, 880.0))
            await wait_until(lambda: device.stats.played >= figures["played_at_abort"] + 20
                             and device.idle, "the next answer to play")
        sender = downlink.stats()
    finally:
        relay.close()
        await gateway.stop()
    return device, figures, sender


def test_after_flush_and_abort_nothing_of_the_old_answer_plays(tmp_path):
    device, figures, sender = run(_barge_in(tmp_path))
    stats = device.stats
    abort = figures["abort_ticks"]
    assert figures["gateway_dropped_ms"] > 1500  # most of the 3 s had not been sent
    assert sender["flushes"] == 1 and sender["frames_flushed"] == -(-figures["gateway_dropped_ms"] // 20)
    assert sender["talk_spurts"] == 2  # the next answer starts a talk spurt
    assert stats.aborts == 1 and stats.flushed * FRAME_MS == figures["device_dropped_ms"]
    assert stats.discarded >= 1  # sent before the flush, arrived after the abort
    rows = device.timeline()
    before = [row for row in rows if row[1] <= abort]
    after = [row for row in rows if row[1] > abort]
    assert len(before) == figures["played_at_abort"] and len(after) == 20
    # The speaker went silent within one frame of the abort ...
    silent_from = before[-1][1] + FRAME_MS
    assert silent_from - abort <= FRAME_MS
    # ... and what played after it is the next answer only: 880 Hz, 20 frames.
    samples = device.samples()
    old, new = samples[:after[0][0]], samples[after[0][0]:]
    assert len(new) == 20 * FRAME_SAMPLES
    assert dominant_hz(old) == pytest.approx(440.0, abs=2.0)
    assert dominant_hz(new) == pytest.approx(880.0, abs=3.0)
    print("\nbarge-in: gateway had %.1f ms in flight and dropped %.0f ms unsent; device dropped "
          "%d ms buffered, discarded %d packets arriving after the abort; silent %d ms after "
          "the abort; next answer audible %d ms after it"
          % (figures["gateway_in_flight_ms"], figures["gateway_dropped_ms"],
             figures["device_dropped_ms"], stats.discarded, silent_from - abort,
             after[0][1] - abort))
