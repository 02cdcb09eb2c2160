"""The conversation on the device: uplink, downlink and state machine on one socket.

Talker wires device/uplink.py (microphone out, RTCP both ways),
device/downlink.py (the answer, to the speaker through device/volume.py) and
device/conversation.py (the state machine) on one UDP endpoint:

- RTCP APP in (device/rtcp_app.py, from the session's downlink SSRC): Abort
  flushes playback at once, exactly once per abort_id (downlink.abort with
  its resume_seq); TurnEvent moves the turn on (repeats and old turns do
  nothing); Volume sets the volume once per request_id. A PPIT packet that
  cannot be read is counted in `app_malformed` and dropped; APP packets of
  anyone else are ignored.
- RTCP APP out: DeviceState is sent on every change of state, mode or turn,
  three times 20 ms apart (each its own SRTCP compound: an empty RR and the
  APP), and in every periodic report compound (SR + APP).
- The uplink sends only when the conversation says so (push-to-talk,
  half duplex); the button (HAL `pressed`) and the speaker's activity are
  polled every TICK_MS.

DeviceApp (device/app.py) runs one for a provisioned device; `python -m
device.talker` (device/talk_script.py) runs one on the virtual board from a
session file. Runs on MicroPython and CPython.
"""
import asyncio

from device import rtcp_app
from device.conversation import (ALWAYS_LISTENING, IDLE, PUSH_TO_TALK, Conversation, RecentIds,
                                 STALL_TIMEOUT_MS)
from device.downlink import Downlink
from device.hal import clock
from device.uplink import Uplink
from device.voice_gate import VoiceGate
from device.volume import VolumeControl

TICK_MS = 10
STATE_REPEATS = 3
STATE_REPEAT_MS = 20
HISTORY_MAX = 64  # states, aborts and presses kept for stats (counts go on in Conversation)


class TalkerStats:
    """What the Talker did with the gateway's APP messages and its own."""

    def __init__(self):
        self.app_received = 0   # PPIT messages from the gateway, read
        self.app_repeats = 0    # of those, repeats and old turns that did nothing
        self.app_foreign = 0    # PPIT messages not from the downlink SSRC, or not for a device
        self.app_malformed = 0  # PPIT packets that could not be read (dropped)
        self.state_sent = 0     # DeviceState compounds sent on changes (reports not counted)

    def as_dict(self):
        """Plain dict, for stats and telemetry."""
        return dict(self.__dict__)


class Talker:
    """One device's side of the conversation over a MediaSession."""

    def __init__(self, session, mic, endpoint, speaker=None, button=None, mode=PUSH_TO_TALK,
                 half_duplex=False, volume_pct=100, playout_delay_ms=60, report_interval_ms=1000,
                 stall_timeout_ms=STALL_TIMEOUT_MS, led=None, voice_gate=True):
        now = clock.ticks_ms()
        self.stats = TalkerStats()
        self.conversation = Conversation(mode, half_duplex, stall_timeout_ms, now)
        self.volume = None if speaker is None else VolumeControl(speaker, volume_pct)
        self.downlink = None if speaker is None else Downlink(session, self.volume, playout_delay_ms)
        self.uplink = Uplink(session, mic, endpoint, report_interval_ms,
                             on_rtp=None if self.downlink is None else self.downlink.handle,
                             on_rtcp=self._on_rtcp, report_extras=self._report_extras)
        self.button = button
        self.led = led  # HAL on()/off(): lit while the conversation is not idle
        self.voice_gate = voice_gate  # always listening: send only what the gate lets through
        self.on_volume = None  # on_volume(volume_pct) after an in-band Volume is applied
        self.history = [(self.conversation.state, now)]
        self.aborts = []  # (abort_id, ticks_ms, ms of audio dropped), newest last
        self.presses = []  # [press ticks_ms, release ticks_ms or None], newest last
        self._volume_ids = RecentIds()
        self._sent_key = None
        self._repeats_left = 0
        self._next_repeat_ms = now
        self._busy = False
        self._held = False
        self._running = False
        self._apply()

    @property
    def session(self):
        """The MediaSession in use."""
        return self.uplink.session

    @property
    def busy(self):
        """True while the speaker has audio playing or buffered."""
        playout = self.downlink.playout if self.downlink is not None else None
        return playout is not None and (playout.playing or playout.buffered_ms > 0)

    # -- running -------------------------------------------------------------

    async def run(self):
        """Run until stop(); return the stats dict."""
        self._running = True
        tasks = [asyncio.create_task(self.uplink.run())]
        if self.downlink is not None:
            tasks.append(asyncio.create_task(self.downlink.run()))
        try:
            while self._running:
                self._supervise(clock.ticks_ms())
                await clock.sleep_ms(TICK_MS)
        finally:
            self.uplink.stop()
            if self.downlink is not None:
                self.downlink.stop()
            for task in tasks:
                await task
        return self.as_dict()

    def stop(self):
        """Make run() return."""
        self._running = False

    def _supervise(self, now):
        button = self.button
        if button is not None and button.pressed != self._held:
            self._held = not self._held
            if self._held:
                self.presses.append([now, None])
                if len(self.presses) > HISTORY_MAX:
                    self.presses.pop(0)
                self._after(self.conversation.press(now))
            else:
                if self.presses:
                    self.presses[-1][1] = now
                self._after(self.conversation.release(now))
        busy = self.busy
        if busy != self._busy:
            self._busy = busy
            if busy:
                self.conversation.playout_started(now)
            else:
                self.conversation.playout_drained(now)
        self.conversation.tick(now)
        self._apply()
        if self._repeats_left and clock.ticks_diff(now, self._next_repeat_ms) >= 0:
            self._send_state(now)

    # -- commands (DeviceApp, tests) -------------------------------------------

    def listen(self):
        """The `listen` command."""
        self._after(self.conversation.listen(clock.ticks_ms()))

    def stop_turn(self):
        """The `stop` command: end listening or speaking now."""
        self._after(self.conversation.stop(clock.ticks_ms()))

    def set_volume(self, volume_pct):
        """Speaker volume 0..100 from the next frame on."""
        if self.volume is not None:
            self.volume.set_volume(volume_pct)

    @property
    def volume_pct(self):
        """The volume in use (None without a speaker)."""
        return None if self.volume is None else self.volume.volume_pct

    def configure(self, mode, half_duplex):
        """Apply listen_mode and half_duplex settings now."""
        self.conversation.configure(mode, half_duplex, clock.ticks_ms())
        self._apply()

    def replace_session(self, session):
        """A new grant: new SSRCs and keys; the conversation starts afresh."""
        self.uplink.replace_session(session)
        if self.downlink is not None:
            self.downlink.replace_session(session)
        self._after(self.conversation.session_lost(clock.ticks_ms()))
        self._sent_key = None  # announce the state on the new session
        self._apply()

    # -- the gateway's APP messages ------------------------------------------------

    def _on_rtcp(self, packets):
        for packet in packets:
            try:
                message = rtcp_app.parse(packet)
            except ValueError:
                self.stats.app_malformed += 1
                continue
            if message is None:
                continue
            if message.ssrc != self.session.downlink_ssrc or isinstance(message, rtcp_app.DeviceState):
                self.stats.app_foreign += 1
                continue
            self.stats.app_received += 1
            if not self._take(message, clock.ticks_ms()):
                self.stats.app_repeats += 1

    def _take(self, message, now):
        if isinstance(message, rtcp_app.Abort):
            if not self.conversation.abort(message.abort_id, now):
                return False
            dropped_ms = self._flush(message.resume_seq)
            self.aborts.append((message.abort_id, now, dropped_ms))
            if len(self.aborts) > HISTORY_MAX:
                self.aborts.pop(0)
        elif isinstance(message, rtcp_app.TurnEvent):
            if not self.conversation.turn_event(message.event, message.turn, now):
                return False
        else:  # Volume
            if not self._volume_ids.first_time(message.request_id):
                return False
            self.set_volume(message.volume_pct)
            if self.on_volume is not None:
                self.on_volume(message.volume_pct)
        self._apply()
        return True

    # -- outputs ---------------------------------------------------------------

    def _after(self, flush):
        if flush:
            self._flush(None)
        self._apply()

    def _flush(self, resume_seq):
        self._busy = False
        if self.downlink is None:
            return 0
        dropped_ms = self.downlink.abort(resume_seq)
        self.volume.flush()
        return dropped_ms

    def _apply(self):
        conversation = self.conversation
        uplink = self.uplink
        uplink.paused = not conversation.sending
        if not (self.voice_gate and conversation.mode == ALWAYS_LISTENING):
            uplink.gate = None
        elif uplink.gate is None:
            uplink.gate = VoiceGate(self.session.frame_ms)
        elif uplink.paused:
            uplink.gate.reset()  # its pre-roll must be the frames just before it opens
        if self.history[-1][0] != conversation.state:
            self.history.append((conversation.state, conversation.since_ms))
            if len(self.history) > HISTORY_MAX:
                self.history.pop(0)
            self._show(conversation.state)
        key = (conversation.state, conversation.mode, conversation.half_duplex, conversation.turn)
        if key != self._sent_key:
            self._sent_key = key
            self._repeats_left = STATE_REPEATS
            self._send_state(clock.ticks_ms())

    def _show(self, state):
        if self.led is not None:
            if state == IDLE:
                self.led.off()
            else:
                self.led.on()

    def device_state(self):
        """The DeviceState message as it stands."""
        conversation = self.conversation
        return rtcp_app.DeviceState(self.session.uplink_ssrc, conversation.state, conversation.mode,
                                    (conversation.turn or 0) & 0xFFFF, conversation.half_duplex)

    def _send_state(self, now):
        self._repeats_left -= 1
        self._next_repeat_ms = clock.ticks_add(now, STATE_REPEAT_MS)
        self.uplink.send_rtcp(rtcp_app.compound(self.session.uplink_ssrc, self.device_state()))
        self.stats.state_sent += 1

    def _report_extras(self):
        return [self.device_state().to_packet()]

    def as_dict(self):
        """Everything measured, as plain JSON-ready data."""
        conversation = self.conversation
        return {
            "uplink": self.uplink.stats.as_dict(),
            "downlink": None if self.downlink is None else self.downlink.stats.as_dict(),
            "conversation": {
                "mode": conversation.mode, "half_duplex": conversation.half_duplex,
                "state": conversation.state, "states": [list(item) for item in self.history],
                "changes": conversation.changes, "turn": conversation.turn,
                "turns": conversation.turns, "aborts": [list(item) for item in self.aborts],
                "ignored": conversation.ignored, "volume_pct": self.volume_pct,
                "presses": [list(item) for item in self.presses], "app": self.stats.as_dict()},
        }

    def telemetry(self):
        """The Telemetry `conversation` object (docs/protocol.md)."""
        conversation = self.conversation
        return {"state": conversation.state, "mode": conversation.mode, "turns": conversation.turns,
                "aborts": conversation.aborts, "app_malformed": self.stats.app_malformed}


def main(argv):
    """Command-line entry (see device/talk_script.py)."""
    from device import talk_script
    return talk_script.main(argv)


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
