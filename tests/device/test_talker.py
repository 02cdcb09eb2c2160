"""The Talker (device/talker.py) against a gateway double on real loopback sockets.

The device is the real runtime in this loop (uplink, downlink, conversation,
the device's own SRTP); the gateway side is GatewayDouble
(tests/device/talker_harness.py): libsrtp contexts as the gateway makes them,
the gateway's paced DownlinkSender, PPIT APP packets from device/rtcp_app.py,
all over UDP on 127.0.0.1.
"""
import asyncio

import numpy as np
import pytest

from device import rtcp, rtcp_app
from device.conversation import IDLE, LISTENING, SPEAKING, THINKING
from device.hal.virtual import VirtualButton
from device.volume import gain_q15
from host.sessions import new_session
from tests.device.talker_harness import (
    GatewayDouble, InProcessTalker, read_samples, ticks_of, tone_pcm, wait_until)
from tests.host.gateway.downlink_harness import dominant_hz

FRAME_MS = 20
FRAME_SAMPLES = 320


def run(coroutine, timeout_s=60.0):
    return asyncio.run(asyncio.wait_for(coroutine, timeout_s))


async def _pair(tmp_path, codec_name="l16", lead_ms=60):
    session = new_session("127.0.0.1", 9, codec_name)
    gateway = GatewayDouble(session, lead_ms=lead_ms)
    target = await gateway.start()
    return session, gateway, target


def states_of(device):
    return [state for state, _ in device.talker.history]


# -- DeviceState out -------------------------------------------------------------

async def _device_states(tmp_path):
    session, gateway, target = await _pair(tmp_path)
    device = InProcessTalker(session, tmp_path / "speaker.wav", target, report_interval_ms=100)
    try:
        async with device:
            await wait_until(lambda: len(gateway.device_states(in_reports=True)) >= 2, "two reports")
            assert gateway.rtp == []  # push-to-talk, idle: the microphone is not sent
            device.talker.listen()
            await wait_until(lambda: len([m for _, m in gateway.device_states(False)
                                          if m.state == LISTENING]) == 3, "three listening states")
            await wait_until(lambda: len(gateway.rtp) >= 10, "the microphone while listening")
            device.talker.stop_turn()
            await wait_until(lambda: [m.state for _, m in gateway.device_states(True)][-1:] == [IDLE],
                             "a report saying idle")
            sent_at_stop = len(gateway.rtp)
            await wait_until(lambda: len(gateway.device_states(True)) >= 8, "more reports")
            rtp_after_stop = len(gateway.rtp) - sent_at_stop
    finally:
        gateway.close()
    return session, gateway, device, rtp_after_stop


def test_device_state_is_sent_three_times_on_each_change_and_in_every_report(tmp_path):
    session, gateway, device, rtp_after_stop = run(_device_states(tmp_path))
    changes = [(at, m) for at, m in gateway.device_states(in_reports=False)]
    listening = [at for at, m in changes if m.state == LISTENING]
    assert len(listening) == 3
    gaps_ms = [(b - a) * 1000 for a, b in zip(listening, listening[1:])]
    assert all(15 <= gap <= 100 for gap in gaps_ms), gaps_ms  # ~20 ms apart, not at once
    assert [m.state for _, m in changes] == [IDLE] * 3 + [LISTENING] * 3 + [IDLE] * 3
    for _, message in gateway.device_states():
        assert (message.ssrc, message.mode, message.half_duplex) == (session.uplink_ssrc, "push_to_talk", False)
    # Every periodic report is an SR from the uplink SSRC followed by the state.
    reports = [packets for _, packets in gateway.compounds if isinstance(packets[0], rtcp.SenderReport)]
    assert all(len(rtcp_app.messages(packets)) == 1 for packets in reports)
    assert gateway.rtp[0][3] is True  # the first packet of the turn carries the marker
    assert rtp_after_stop <= 1  # a frame already captured when stop came may still leave
    assert gateway.refused == 0
    assert device.result["conversation"]["app"]["state_sent"] == 9


# -- TurnEvents in --------------------------------------------------------------------

async def _turn_events(tmp_path):
    session, gateway, target = await _pair(tmp_path)
    device = InProcessTalker(session, tmp_path / "speaker.wav", target, mode="always_listening",
                             led=RecordingLed())
    try:
        async with device:
            await wait_until(lambda: gateway.address is not None, "the device's first packet")
            for _ in range(3):
                gateway.send_app(gateway.turn("heard", 1))
            await wait_until(lambda: device.state == THINKING, "thinking")
            for _ in range(3):
                gateway.send_app(gateway.turn("answering", 1))
            gateway.downlink.say(tone_pcm(400))
            await wait_until(lambda: device.state == SPEAKING and device.played >= 5, "speaking")
            for _ in range(3):
                gateway.send_app(gateway.turn("done", 1))
            gateway.send_app(gateway.turn("heard", 0))  # an older turn
            await wait_until(lambda: device.state == IDLE, "idle after the answer")
    finally:
        gateway.close()
    return gateway, device


class RecordingLed:
    """A HAL LED that remembers each change (on: True)."""

    def __init__(self):
        self.lit = []

    def on(self):
        if not self.lit or not self.lit[-1]:
            self.lit.append(True)

    def off(self):
        if self.lit and self.lit[-1]:
            self.lit.append(False)


def test_turn_events_drive_the_states_and_repeats_act_once(tmp_path):
    gateway, device = run(_turn_events(tmp_path))
    assert states_of(device) == [IDLE, THINKING, SPEAKING, IDLE]
    conversation = device.result["conversation"]
    assert (conversation["turns"], conversation["turn"], conversation["ignored"]) == (1, 1, 7)
    assert conversation["app"]["app_received"] == 10 and conversation["app"]["app_repeats"] == 7
    assert device.result["downlink"]["played"] == 20  # the whole answer played before idle
    reported = [m.state for _, m in gateway.device_states(False)]
    runs = [state for i, state in enumerate(reported) if i == 0 or reported[i - 1] != state]
    assert runs == [IDLE, THINKING, SPEAKING, IDLE]  # the first idle and the last are cut short
    assert reported.count(SPEAKING) == 3  # thinking's repeats gave way to the next change
    assert [m.turn for _, m in gateway.device_states(False)][-1] == 1
    assert device.talker.led.lit == [True, False]  # on from thinking through speaking, off at idle


# -- Abort ---------------------------------------------------------------------------

async def _abort(tmp_path):
    session, gateway, target = await _pair(tmp_path)
    device = InProcessTalker(session, tmp_path / "speaker.wav", target, mode="always_listening")
    try:
        async with device:
            await wait_until(lambda: gateway.address is not None, "the device's first packet")
            gateway.send_app(gateway.turn("answering", 1))
            gateway.downlink.say(tone_pcm(3000, 440.0))
            await wait_until(lambda: device.played >= 25, "half a second of the answer")
            played_at_abort = device.played
            gateway.downlink.flush()  # the gateway stops sending, then tells the device
            resume = gateway.downlink.sequence_number
            for _ in range(3):
                gateway.send_app(gateway.abort(7, resume))
            await wait_until(lambda: device.talker.stats.app_received == 4, "the three aborts")
            assert device.state == LISTENING
            gateway.downlink.say(tone_pcm(400, 880.0))
            await wait_until(lambda: device.played >= played_at_abort + 20
                             and not device.talker.busy, "the next answer")
    finally:
        gateway.close()
    return device, played_at_abort


def test_abort_flushes_at_once_exactly_once_and_the_next_answer_plays(tmp_path):
    device, played_at_abort = run(_abort(tmp_path))
    result = device.result
    aborts = result["conversation"]["aborts"]
    assert len(aborts) == 1 and aborts[0][0] == 7
    assert result["downlink"]["aborts"] == 1 and result["conversation"]["app"]["app_repeats"] == 2
    abort_ticks = aborts[0][1]
    rows = device.timeline()
    before = [row for row in rows if row[1] <= abort_ticks]
    after = [row for row in rows if row[1] > abort_ticks]
    assert len(before) == played_at_abort and len(after) == 20
    silent_from = before[-1][1] + FRAME_MS
    assert silent_from - abort_ticks <= FRAME_MS  # silent within one frame of the abort
    samples = np.array(read_samples(device.speaker_path), dtype=np.int16)
    assert dominant_hz(samples[:after[0][0]]) == pytest.approx(440.0, abs=3.0)
    assert dominant_hz(samples[after[0][0]:]) == pytest.approx(880.0, abs=3.0)
    assert result["downlink"]["flushed"] >= 1  # what was buffered went at once


# -- Volume --------------------------------------------------------------------------

async def _volume(tmp_path):
    session, gateway, target = await _pair(tmp_path)
    device = InProcessTalker(session, tmp_path / "speaker.wav", target, mode="always_listening")
    try:
        async with device:
            await wait_until(lambda: gateway.address is not None, "the device's first packet")
            for _ in range(3):
                gateway.send_app(gateway.volume(25, 1))
            gateway.send_app(gateway.volume(90, 1))  # the same request id: already done
            await wait_until(lambda: device.talker.stats.app_received == 4, "the volume messages")
            volume_then = device.talker.volume_pct
            gateway.downlink.say(tone_pcm(200))
            await wait_until(lambda: device.played == 10 and not device.talker.busy, "the answer")
            gateway.send_app(gateway.volume(90, 2))
            await wait_until(lambda: device.talker.volume_pct == 90, "the second request")
    finally:
        gateway.close()
    return device, volume_then


def test_volume_scales_what_plays_once_per_request(tmp_path):
    device, volume_then = run(_volume(tmp_path))
    assert volume_then == 25 and device.result["conversation"]["app"]["app_repeats"] == 3
    played = np.array(read_samples(device.speaker_path), dtype=np.int64)
    expected = (np.frombuffer(tone_pcm(200), dtype="<i2").astype(np.int64) * gain_q15(25)) >> 15
    assert np.array_equal(played, expected)  # L16: sample exact


# -- malformed input -------------------------------------------------------------------

def _ppit(subtype, ssrc, data):
    return rtcp.RtcpUnknown(rtcp.PT_APP, subtype, ssrc.to_bytes(4, "big") + b"PPIT" + data)


async def _malformed(tmp_path):
    session, gateway, target = await _pair(tmp_path)
    device = InProcessTalker(session, tmp_path / "speaker.wav", target, mode="always_listening")
    down, up = session.downlink_ssrc, session.uplink_ssrc
    try:
        async with device:
            await wait_until(lambda: gateway.address is not None, "the device's first packet")
            packets = [
                rtcp.ReceiverReport(down),
                _ppit(9, down, b"\x01" + bytes(7)),                       # unknown subtype
                _ppit(rtcp_app.SUBTYPE_TURN, down, b"\x01" + bytes(3)),  # too short
                _ppit(rtcp_app.SUBTYPE_VOLUME, down, b"\x01\x65" + bytes(6)),  # volume 101
                _ppit(rtcp_app.SUBTYPE_TURN, down, b"\x01\x07" + bytes(6)),    # event code 7
                rtcp.RtcpUnknown(rtcp.PT_APP, 1, down.to_bytes(4, "big") + b"ABCD" + bytes(8)),
                _ppit(rtcp_app.SUBTYPE_STATE, down, b"\x02" + bytes(7)),  # a newer version
                rtcp_app.DeviceState(down, "idle", "push_to_talk").to_packet(),  # wrong direction
                rtcp_app.Abort(up, 3).to_packet(),  # not from the downlink SSRC
                gateway.turn("heard", 1).to_packet(),  # the one good message, last
            ]
            gateway.send_raw_rtcp(rtcp.build_compound(packets))
            gateway.transport.sendto(b"\x80\xc9" + bytes(40), gateway.address)  # not SRTCP
            await wait_until(lambda: device.state == THINKING, "the good message to act")
            await wait_until(lambda: device.talker.uplink.stats.rtcp_rejected == 1, "the forgery")
    finally:
        gateway.close()
    return device


def test_malformed_app_packets_are_counted_and_the_rest_of_the_compound_acts(tmp_path):
    device = run(_malformed(tmp_path))
    app = device.result["conversation"]["app"]
    assert (app["app_malformed"], app["app_foreign"], app["app_received"]) == (4, 2, 1)
    assert device.result["downlink"]["aborts"] == 0
    assert device.result["conversation"]["volume_pct"] == 100


# -- the button, half duplex ---------------------------------------------------------------

async def _button(tmp_path):
    session, gateway, target = await _pair(tmp_path)
    button = VirtualButton([(100, 500), (1300, 1500)])
    device = InProcessTalker(session, tmp_path / "speaker.wav", target, button=button)
    try:
        async with device:
            await wait_until(lambda: device.state == THINKING, "the first release")
            first_burst = list(gateway.rtp)
            gateway.send_app(gateway.turn("heard", 1), gateway.turn("answering", 1))
            gateway.downlink.say(tone_pcm(2000))
            await wait_until(lambda: device.state == LISTENING and len(device.talker.presses) == 2,
                             "the second press, over the answer")
            # The gateway stops its answer when the device says it listens.
            await wait_until(lambda: any(m.state == LISTENING for at, m in gateway.device_states(False)
                                         if at > first_burst[-1][0]), "listening reported")
            gateway.downlink.flush()
            await wait_until(lambda: device.state == THINKING and button.done, "the second release")
            await asyncio.sleep(0)  # one more loop turn: nothing else is awaited
    finally:
        gateway.close()
    return device, first_burst, gateway.rtp


def test_the_button_sends_only_while_held_and_barges_in_over_the_answer(tmp_path):
    device, first_burst, rtp = run(_button(tmp_path))
    assert 17 <= len(first_burst) <= 23  # 400 ms held: 20 frames
    second = rtp[len(first_burst):]
    assert 7 <= len(second) <= 13  # 200 ms held
    assert first_burst[0][3] and second[0][3] and not any(p[3] for p in second[1:])
    # The paused frames kept their time on the RTP clock: a jump, not a loss.
    jump_frames = ((second[0][2] - first_burst[-1][2]) & 0xFFFFFFFF) // FRAME_SAMPLES
    assert jump_frames == pytest.approx(40, abs=3)  # 1300 - 500 ms
    assert states_of(device) == [IDLE, LISTENING, THINKING, SPEAKING, LISTENING, THINKING]
    press_ticks = device.result["conversation"]["presses"][1][0]
    rows = device.timeline()
    assert rows and all(row[1] <= press_ticks for row in rows)  # nothing of the old answer after
    assert rows[-1][1] + FRAME_MS - press_ticks <= FRAME_MS
    assert device.result["uplink"]["frames_paused"] > 0


async def _half_duplex(tmp_path):
    session, gateway, target = await _pair(tmp_path)
    device = InProcessTalker(session, tmp_path / "speaker.wav", target, mode="always_listening",
                             half_duplex=True, voice_gate=False)  # a silent mic, sent all the time
    try:
        async with device:
            await wait_until(lambda: len(gateway.rtp) >= 5, "the microphone, always listening")
            gateway.send_app(gateway.turn("answering", 1))
            gateway.downlink.say(tone_pcm(600))
            await wait_until(lambda: device.state == SPEAKING, "speaking")
            gateway.send_app(gateway.turn("done", 1))
            await wait_until(lambda: device.state == IDLE, "idle")
            count = len(gateway.rtp)
            await wait_until(lambda: len(gateway.rtp) >= count + 5, "the microphone again")
    finally:
        gateway.close()
    return device, gateway.rtp


def test_half_duplex_mutes_the_microphone_while_the_answer_plays(tmp_path):
    device, rtp = run(_half_duplex(tmp_path))
    history = device.talker.history
    speaking_at = [ticks for state, ticks in history if state == SPEAKING][0]
    idle_at = [ticks for state, ticks in history if state == IDLE][-1]
    assert idle_at - speaking_at >= 600
    during = [p for p in rtp if speaking_at + FRAME_MS < ticks_of(p[0]) < idle_at]
    assert during == []
    resumed = [p for p in rtp if ticks_of(p[0]) >= idle_at]
    assert resumed[0][3] is True  # a new talk spurt
