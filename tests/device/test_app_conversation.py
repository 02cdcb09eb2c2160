"""A provisioned device's conversation: DeviceApp over the real broker, fleet service and gateway.

The device runs in this process (DeviceApp on a virtual board with a speaker
and a button nobody presses); the host side is the fleet harness of
tests/host/fleet (mosquitto with TLS and per-device accounts, the fleet
service, the real gateway). Commands go out the way `pipit fleet command`
sends them; the pipeline's part is played through the gateway's on_app,
send_app and downlink.say().
"""
import asyncio

import numpy as np
import pytest

from device import rtcp_app
from device.app import DeviceApp
from device.hal.virtual import VirtualBoard, VirtualButton, VirtualMic, VirtualSpeaker
from device.volume import gain_q15
from host.fleet.operations import push_config, send_command
from tests.device.talker_harness import read_samples, tone_pcm, wait_until
from tests.host.fleet.conftest import broker  # noqa: F401
from tests.host.fleet.harness import FleetHarness


async def _command(broker, fleet, name, args=None):
    ack = await send_command(broker.info, fleet.registry, "kitchen-1", name, args or {})
    assert ack is not None and ack.ok, ack
    return ack


async def _talk(broker, tmp_path):
    async with FleetHarness(broker, tmp_path) as fleet:
        fleet.enroll("kitchen-1")
        speaker_path = tmp_path / "speaker.wav"
        board = VirtualBoard(VirtualMic(keep_open=True), VirtualSpeaker(str(speaker_path), timeline=True),
                             VirtualButton([]))
        app = DeviceApp(fleet.identities["kitchen-1"], board)
        task = asyncio.create_task(app.run())
        figures = {}
        try:
            await wait_until(lambda: app.talker is not None, "a session grant")
            served = fleet.gateway.session(app.talker.session.uplink_ssrc)
            states = []
            served.on_app = lambda message: states.append(message.state)
            await wait_until(lambda: served.address is not None, "the device's state reports")
            figures["sent_before_listen"] = app.uplink.stats.packets_sent  # push-to-talk, idle
            figures["listen"] = (await _command(broker, fleet, "listen")).result
            await wait_until(lambda: "listening" in states and served.counters.received >= 5,
                             "the microphone at the gateway")
            figures["volume"] = (await _command(broker, fleet, "volume", {"volume_pct": 50})).result
            ssrc = app.talker.session.downlink_ssrc
            served.send_app(rtcp_app.TurnEvent(ssrc, "heard", 1), rtcp_app.TurnEvent(ssrc, "answering", 1))
            served.downlink.say(tone_pcm(400))
            talker = app.talker
            await wait_until(lambda: talker.downlink.stats.played == 20 and not talker.busy, "the answer")
            served.send_app(rtcp_app.TurnEvent(ssrc, "done", 1))
            await wait_until(lambda: talker.conversation.state == "idle" and states[-1] == "idle", "idle")
            await _command(broker, fleet, "listen")
            figures["stop"] = (await _command(broker, fleet, "stop")).result
            await push_config(broker.info, fleet.registry, "kitchen-1",
                              {"telemetry_interval_s": 1, "listen_mode": "always_listening"})
            await wait_until(lambda: talker.conversation.mode == "always_listening", "the new mode")
            await wait_until(lambda: any("conversation" in data and data["conversation"]["mode"]
                                         == "always_listening"
                                         for _, data in fleet.registry.telemetry("kitchen-1")),
                             "telemetry with the conversation")
            figures["telemetry"] = fleet.registry.telemetry("kitchen-1")[-1][1]
            figures["history"] = [state for state, _ in talker.history]
        finally:
            app.stop()
            await asyncio.wait_for(task, 10)
            board.close()
    return figures, speaker_path


def test_a_provisioned_device_listens_answers_obeys_commands_and_reports_its_state(broker, tmp_path):
    figures, speaker_path = asyncio.run(asyncio.wait_for(_talk(broker, tmp_path), 60))
    assert figures["sent_before_listen"] == 0
    assert figures["listen"] == {"state": "listening"} and figures["stop"] == {"state": "idle"}
    assert figures["volume"] == {"volume_pct": 50}
    assert figures["history"][:5] == ["idle", "listening", "thinking", "speaking", "idle"]
    conversation = figures["telemetry"]["conversation"]
    assert conversation == {"state": "idle", "mode": "always_listening", "turns": 2, "aborts": 0,
                            "app_malformed": 0}
    # Played at volume 50 (-12 dB): a quarter of the tone's amplitude (Opus, so roughly).
    played = np.array(read_samples(speaker_path), dtype=np.float64)
    expected = np.frombuffer(tone_pcm(400), dtype="<i2").astype(np.float64) * gain_q15(50) / 32768
    assert len(played) == len(expected)
    assert np.sqrt(np.mean(played[1600:] ** 2)) == pytest.approx(np.sqrt(np.mean(expected ** 2)), rel=0.15)


async def _spoken_volume_then_reconnect(broker, tmp_path):
    async with FleetHarness(broker, tmp_path) as fleet:
        fleet.enroll("kitchen-1")
        await push_config(broker.info, fleet.registry, "kitchen-1", {"volume_pct": 80})
        board = VirtualBoard(VirtualMic(keep_open=True), VirtualSpeaker(str(tmp_path / "speaker.wav")),
                             VirtualButton([]))
        app = DeviceApp(fleet.identities["kitchen-1"], board)
        task = asyncio.create_task(app.run())
        try:
            await wait_until(lambda: app.talker is not None, "a session grant")
            configured = (app.config_version, app.settings["volume_pct"])
            served = fleet.gateway.session(app.talker.session.uplink_ssrc)
            served.send_app(rtcp_app.Volume(app.talker.session.downlink_ssrc, 30, 7))
            await wait_until(lambda: app.talker.volume_pct == 30, "the in-band volume")
            spoken = app.settings["volume_pct"]
            app.client.abort()  # the link drops; the retained config comes again on reconnect
            await wait_until(lambda: app.config_repeats == 1, "the retained config again")
            after = (app.settings["volume_pct"], app.talker.volume_pct)
            await push_config(broker.info, fleet.registry, "kitchen-1", {"volume_pct": 60})
            await wait_until(lambda: app.talker.volume_pct == 60, "the operator's new config")
            pushed = (app.config_version, app.settings["volume_pct"])
        finally:
            app.stop()
            await asyncio.wait_for(task, 10)
            board.close()
    return configured, spoken, after, pushed


def test_a_spoken_volume_is_the_setting_until_the_operator_pushes_a_new_config(broker, tmp_path):
    configured, spoken, after, pushed = asyncio.run(
        asyncio.wait_for(_spoken_volume_then_reconnect(broker, tmp_path), 60))
    assert configured[1] == 80
    assert spoken == 30
    assert after == (30, 30)  # a reconnect does not undo what the user asked for
    assert pushed[0] > configured[0] and pushed[1] == 60
