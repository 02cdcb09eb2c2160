"""The uplink against the real gateway: session switch without restarting."""
import asyncio

from device.hal.net import UdpEndpoint
from host.gateway.server import Gateway, GatewaySettings
from host.sessions import new_session


class ToneMic:
    """HAL microphone handing out a fixed frame; calls a hook at a given frame."""

    sample_rate_hz = 16000
    channels = 1

    def __init__(self, frames, hook_at=None, hook=None):
        self._frames = frames
        self._hook_at = hook_at
        self._hook = hook
        self.frames_read = 0

    async def readinto(self, buf):
        if self.frames_read == self._frames:
            return 0
        for i in range(0, len(buf), 2):
            buf[i], buf[i + 1] = (i * 37) & 0xFF, ((i * 11) & 0x3F)
        self.frames_read += 1
        if self.frames_read == self._hook_at:
            self._hook()
        await asyncio.sleep(0)
        return len(buf)


class CountingSink:
    def __init__(self, written=None):
        self.bytes = 0
        self.written = written  # an asyncio.Event set on every write

    def write(self, pcm):
        self.bytes += len(pcm)
        if self.written is not None:
            self.written.set()

    def close(self):
        pass


async def _switch_mid_stream(codec_name):
    sinks = {}

    written = asyncio.Event()

    def sink_for(session):
        sinks[session.uplink_ssrc] = CountingSink(written)
        return sinks[session.uplink_ssrc]

    gateway = Gateway(GatewaySettings(host="127.0.0.1", port=0), sink_factory=sink_for)
    host, port = await gateway.start()
    first, second = new_session(host, port, codec_name), new_session(host, port, codec_name)
    gateway.add_session(first)
    gateway.add_session(second)
    from device.uplink import Uplink
    endpoint = UdpEndpoint(host, port)
    holder = {}
    mic = ToneMic(100, hook_at=40, hook=lambda: holder["uplink"].replace_session(second))
    uplink = holder["uplink"] = Uplink(first, mic, endpoint)
    stats = await uplink.run()
    await _until_received(gateway, written, 100)
    final = await gateway.stop()
    endpoint.close()
    return stats, final, first, second


def test_replace_session_switches_ssrc_and_keys_without_stopping():
    stats, final, first, second = asyncio.run(_switch_mid_stream("opus"))
    assert stats.packets_sent == 100
    one = final["sessions"][first.uplink_ssrc]["counters"]
    two = final["sessions"][second.uplink_ssrc]["counters"]
    # 39 frames went out under the first grant, the rest under the second;
    # nothing was refused by either session's keys.
    assert (one["received"], two["received"]) == (39, 61)
    assert one["auth_failed"] == two["auth_failed"] == 0
    assert one["lost"] == two["lost"] == 0


async def _until_received(gateway, written, count, timeout_s=5.0):
    """Wait, on the sinks' writes, until the gateway has taken in count packets."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while gateway.counters.received < count:
        written.clear()
        remaining_s = deadline - asyncio.get_running_loop().time()
        if remaining_s <= 0:
            return
        try:
            await asyncio.wait_for(written.wait(), remaining_s)
        except asyncio.TimeoutError:
            return


class RecordingSink(CountingSink):
    def __init__(self, written=None):
        CountingSink.__init__(self, written)
        self.pcm = bytearray()

    def write(self, pcm):
        CountingSink.write(self, pcm)
        self.pcm += pcm


async def _gated(wav_path):
    from device.hal.virtual import VirtualMic
    from device.uplink import Uplink
    from device.voice_gate import VoiceGate
    written = asyncio.Event()
    sink = RecordingSink(written)
    gateway = Gateway(GatewaySettings(host="127.0.0.1", port=0), sink_factory=lambda session: sink)
    host, port = await gateway.start()
    session = new_session(host, port, "l16")
    gateway.add_session(session)
    endpoint = UdpEndpoint(host, port)
    uplink = Uplink(session, VirtualMic(str(wav_path)), endpoint)
    uplink.gate = VoiceGate(session.frame_ms)
    stats = await uplink.run()
    await _until_received(gateway, written, stats.packets_sent)
    await gateway.stop()
    endpoint.close()
    return stats, sink.pcm


def test_the_voice_gate_sends_speech_with_its_preroll_at_its_own_time(tmp_path):
    import wave

    import numpy as np
    from host.speech import synthesise
    from host.talk_script import read_pcm
    question = read_pcm(synthesise("what time is it", tmp_path / "q.wav"))
    silence_s = np.zeros(16000, dtype="<i2")
    said = np.concatenate([silence_s, question, silence_s, silence_s, silence_s, question, silence_s])
    wav = tmp_path / "twice.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(16000)
        out.writeframes(said.tobytes())
    stats, heard_bytes = asyncio.run(_gated(wav))
    heard = np.frombuffer(bytes(heard_bytes), dtype="<i2")
    assert stats.frames_gated > 150          # most of the 5 s of silence was not sent
    assert stats.preroll_sent == 30          # 300 ms ahead of each of the two talk spurts
    # The stream starts with the first pre-roll; from there on the gateway filled each
    # pause with silence, so every sample of both questions is where it was said (L16).
    voice_said, voice_heard = np.flatnonzero(said)[0], np.flatnonzero(heard)[0]
    first = voice_said - voice_heard          # where in what was said the stream starts
    assert first % 320 == 0                   # a frame boundary
    assert voice_said - 320 * 16 < first <= voice_said - 320 * 14  # 15 frames of pre-roll
    end = first + len(heard)
    assert end >= len(said) - 16000           # through the end of the second question
    assert np.array_equal(heard, said[first:end])
