"""The downlink: the gateway's answer, from SRTP datagrams to the speaker.

handle() takes each non-RTCP datagram the uplink's socket receives (the
Uplink's on_rtp hook: both directions share one UDP endpoint), authenticates
it with the session's key and hands the packet to the playout buffer
(device/playout.py). run() is the playback task: it starts a talk spurt once
`playout_delay_ms` of audio is buffered, then writes one frame per frame
period to the speaker, on an absolute schedule. abort() drops everything
buffered at once; the speaker goes silent once the frame it was last given
has played. Runs unchanged on MicroPython and CPython.

    micropython -m device.downlink SESSION.json SPEAKER.wav [IDLE_STOP_MS [MAX_MS]]

runs the uplink (a silent microphone) and the downlink on the virtual board,
writing what it plays to SPEAKER.wav and SPEAKER.wav.timeline, until playback
has been idle for IDLE_STOP_MS after playing something (or MAX_MS passed),
then prints the stats as one JSON line.
"""
import asyncio
import sys

from device import codec, rtp
from device.hal import clock
from device.playout import PlayoutBuffer, PlayoutStats
from device.srtp import SrtpContext, SrtpError

_MIN_SRTP = 22  # 12-byte RTP header and the 10-byte tag
_REFUSED = {"replay": "replayed", "auth": "auth_failed"}


class DownlinkStats(PlayoutStats):
    """Datagram verdicts, then what the playout buffer did with the packets."""

    def __init__(self):
        PlayoutStats.__init__(self)
        self.received = 0       # authenticated RTP of the session's SSRC and payload type
        self.foreign_ssrc = 0   # datagrams whose SSRC is not the session's downlink SSRC
        self.auth_failed = 0    # SRTP tag did not verify
        self.replayed = 0       # SRTP replay (a network duplicate is one)
        self.refused = 0        # SRTP refused as truncated or malformed, or too short
        self.wrong_type = 0     # authenticated, but not RTP of the session's payload type
        self.aborts = 0

    def as_dict(self):
        """Plain dict, for telemetry and for printing as JSON."""
        return dict(self.__dict__)


class Downlink:
    """Plays a MediaSession's downlink (gateway to device) on a HAL speaker."""

    def __init__(self, session, speaker, playout_delay_ms=60, abort_window_frames=8):
        self.stats = DownlinkStats()
        self._speaker = speaker
        self._delay_ms = playout_delay_ms
        self._abort_window = abort_window_frames
        self._wake = asyncio.Event()
        self._running = False
        self.last_abort_ms = None  # ticks_ms of the last abort()
        self._apply_session(session)

    def _apply_session(self, session):
        speaker = self._speaker
        if (speaker.sample_rate_hz, speaker.channels) != (session.sample_rate_hz, session.channels):
            raise ValueError(
                "downlink: speaker plays %d Hz x%d, session sends %d Hz x%d"
                % (speaker.sample_rate_hz, speaker.channels, session.sample_rate_hz, session.channels))
        decoder = codec.make_decoder(session.codec, session.sample_rate_hz, session.channels)
        clock_hz = codec.rtp_clock_hz(session.codec, session.sample_rate_hz)
        self._srtp = SrtpContext(session.srtp_master_key, session.srtp_master_salt)
        self._ssrc = session.downlink_ssrc
        self._payload_type = session.payload_type
        self._bytes_per_ms = session.sample_rate_hz * session.channels * 2 // 1000
        self.session = session
        self.playout = PlayoutBuffer(
            decoder, self.stats, session.samples_per_frame, clock_hz * session.frame_ms // 1000,
            session.frame_ms, self._delay_ms, fec=session.codec == codec.OPUS,
            abort_window_frames=self._abort_window)

    def replace_session(self, session):
        """Follow a new grant: a new SSRC and key start a new stream (what is buffered goes)."""
        self._apply_session(session)
        self._wake.set()

    def handle(self, data):
        """One datagram from the gateway that is not RTCP. Never raises: each is counted."""
        stats = self.stats
        if len(data) < _MIN_SRTP:
            stats.refused += 1
            return
        if ((data[8] << 24) | (data[9] << 16) | (data[10] << 8) | data[11]) != self._ssrc:
            stats.foreign_ssrc += 1  # checked first: our own uplink, reflected, would authenticate
            return
        try:
            clear = self._srtp.unprotect(data)
        except SrtpError as error:
            name = _REFUSED.get(error.reason, "refused")
            setattr(stats, name, getattr(stats, name) + 1)
            return
        start = rtp.header_size(clear)  # unprotect has checked the header
        end = len(clear)
        if clear[0] & 0x20:
            end -= clear[end - 1]
        if end <= start or clear[1] & 0x7F != self._payload_type:
            stats.wrong_type += 1
            return
        stats.received += 1
        self.playout.push((clear[2] << 8) | clear[3],
                          (clear[4] << 24) | (clear[5] << 16) | (clear[6] << 8) | clear[7],
                          clear[1] & 0x80, clear[start:end], clock.ticks_ms())
        if not self.playout.playing:
            self._wake.set()

    def abort(self, resume_seq=None):
        """Drop all buffered audio now (barge-in); return the ms dropped.

        Packets of the aborted answer still on the way are discarded too
        (PlayoutBuffer.flush): the next talk spurt (marker bit) plays, or,
        given resume_seq, everything from that sequence number on.
        """
        dropped_ms = self.playout.flush(resume_seq)
        self.stats.aborts += 1
        self.last_abort_ms = clock.ticks_ms()
        return dropped_ms

    def stop(self):
        """Make run() return."""
        self._running = False
        self._wake.set()

    async def run(self):
        """Playback task: buffer, decode, write to the speaker in real time; return the stats."""
        self._running = True
        while self._running:
            self._wake.clear()
            playout = self.playout
            due = playout.due_ms(clock.ticks_ms())
            if due is None or due > 0:
                await self._sleep(due)
                continue
            playout.start()
            await self._play(playout)
        return self.stats

    async def _sleep(self, timeout_ms):
        # Until a packet arrives (or, priming, until the first has waited long enough).
        try:
            if timeout_ms is None:
                await self._wake.wait()
            else:
                await asyncio.wait_for(self._wake.wait(), timeout_ms / 1000)
        except asyncio.TimeoutError:
            pass

    async def _play(self, playout):
        # Frame n is written at start + n frames, so writing takes no drift in;
        # a task that fell more than two frames behind starts a new schedule.
        next_at = clock.ticks_ms()
        while self._running and playout is self.playout:
            pcm = playout.pull()
            if pcm is None:
                return
            await self._speaker.write(pcm)
            next_at = clock.ticks_add(next_at, len(pcm) // self._bytes_per_ms)
            late_ms = clock.ticks_diff(clock.ticks_ms(), next_at)
            if late_ms > 2 * self.session.frame_ms:
                next_at = clock.ticks_ms()
            await clock.sleep_until(next_at)


async def play_session(session, speaker, idle_stop_ms=500, max_ms=60000):
    """Run the uplink (silent microphone) and the downlink until playback has been idle."""
    from device.hal.net import UdpEndpoint
    from device.hal.virtual import VirtualMic
    from device.uplink import Uplink
    downlink = Downlink(session, speaker)
    mic = VirtualMic(frame_ms=session.frame_ms, keep_open=True,
                     sample_rate_hz=session.sample_rate_hz, channels=session.channels)
    endpoint = UdpEndpoint(session.gateway_host, session.gateway_port)
    uplink = Uplink(session, mic, endpoint, on_rtp=downlink.handle)
    tasks = [asyncio.create_task(uplink.run()), asyncio.create_task(downlink.run())]
    started = clock.ticks_ms()
    idle_since = None
    while clock.ticks_diff(clock.ticks_ms(), started) < max_ms:
        await clock.sleep_ms(20)
        if downlink.playout.playing or downlink.playout.buffered_ms or not downlink.stats.played:
            idle_since = None
        elif idle_since is None:
            idle_since = clock.ticks_ms()
        elif clock.ticks_diff(clock.ticks_ms(), idle_since) >= idle_stop_ms:
            break
    uplink.stop()
    downlink.stop()
    for task in tasks:
        await task
    endpoint.close()
    mic.close()
    return {"uplink": uplink.stats.as_dict(), "downlink": downlink.stats.as_dict()}


def main(argv):
    """Command-line entry: SESSION.json SPEAKER.wav [IDLE_STOP_MS [MAX_MS]]."""
    import json
    from device import session as media_session
    from device.hal.virtual import VirtualSpeaker
    if not 2 <= len(argv) <= 4:
        print("usage: downlink SESSION.json SPEAKER.wav [IDLE_STOP_MS [MAX_MS]]")
        return 2
    session = media_session.load(argv[0])
    speaker = VirtualSpeaker(argv[1], session.sample_rate_hz, session.channels, timeline=True)
    limits = [int(value) for value in argv[2:]]
    try:
        stats = asyncio.run(play_session(session, speaker, *limits))
    finally:
        speaker.close()
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
