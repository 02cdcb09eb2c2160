"""A provisioned device holds a conversation: the whole product path.

The device (DeviceApp on a virtual board, in this process) is enrolled, gets
its config and a session grant over the real broker (TLS, its own account);
the fleet service grants the session on a gateway that runs a conversation
per session (host/pipeline/conversation.py, as `pipit fleet serve` does).
The user asks a question through the board's microphone; the answer must
come back and be played by the board's speaker, and the board end idle.
"""
import asyncio

from device.app import DeviceApp
from device.hal.virtual import VirtualBoard, VirtualButton, VirtualMic, VirtualSpeaker, read_timeline
from host.fleet.operations import push_config
from host.pipeline.config import Config
from host.pipeline.conversation import Conversations, gateway_settings
from host.speech import synthesise
from host.talk import quiet_pipecat_logs
from tests.host.fleet.conftest import broker  # noqa: F401
from tests.host.fleet.harness import FleetHarness, wait_until


def test_a_provisioned_device_is_answered(broker, tmp_path):  # noqa: F811
    quiet_pipecat_logs()
    question = synthesise("what time is it", tmp_path / "question.wav", tail_silence_ms=200)
    conversations = Conversations(Config())

    async def scenario():
        async with FleetHarness(broker, tmp_path, gateway_settings(Config(), "127.0.0.1", 0),
                                conversations.sink_factory) as fleet:
            fleet.enroll("kitchen-1")
            # Retained config: the device applies it at boot, before asking for a session.
            await push_config(broker.info, fleet.registry, "kitchen-1",
                              {"listen_mode": "always_listening"}, wait_s=0)
            speaker = tmp_path / "speaker.wav"
            mic = VirtualMic(keep_open=True)
            speaker_hal = VirtualSpeaker(str(speaker), timeline=True)
            board = VirtualBoard(mic, speaker_hal, VirtualButton([]))
            app = DeviceApp(fleet.identities["kitchen-1"], board)
            task = asyncio.create_task(app.run())
            try:
                await wait_until(lambda: app.talker is not None, 20, "a session grant")
                ssrc = app.talker.session.uplink_ssrc
                await conversations.conversations[ssrc].wait_ready(20.0)
                mic.say(str(question))
                timeline = conversations.conversations[ssrc].timeline
                await wait_until(lambda: timeline.records, 30, "the turn to close")
                record = timeline.records[0]
                talker = app.talker
                await wait_until(lambda: talker.downlink.stats.played > 0
                                 and talker.conversation.state == "idle", 30, "the answer played")
                return record, talker.downlink.stats.played, app.settings
            finally:
                app.stop()
                await asyncio.wait_for(task, 10)
                await conversations.stop()
                speaker_hal.close()

    record, frames_played, settings = asyncio.run(scenario())
    assert settings["listen_mode"] == "always_listening"
    assert (record.transcript, record.intent, record.outcome) == ("what time is it", "time", "answered")
    # The board played the whole answer (espeak says it in well over half a second).
    assert frames_played * 20 >= 600
    rows = read_timeline(str(tmp_path / "speaker.wav") + ".timeline")
    assert sum(samples for _, _, samples in rows) == frames_played * 320
