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
    def __init__(self):
        self.bytes = 0

    def write(self, pcm):
        self.bytes += len(pcm)

    def close(self):
        pass


async def _switch_mid_stream(codec_name):
    sinks = {}

    def sink_for(session):
        sinks[session.uplink_ssrc] = CountingSink()
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
    deadline = asyncio.get_running_loop().time() + 5
    while gateway.counters.received < 100 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
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
