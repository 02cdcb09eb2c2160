"""Development mode: stream a WAV file to a gateway as a session file says.

    micropython -m device.devstream SESSION.json MIC.wav
    python3 -m device.devstream SESSION.json MIC.wav

Runs the real uplink on the virtual board and prints one JSON line with the
uplink stats when the file has been sent. Once provisioning exists, sessions
come over MQTT instead; this mode stays for tests and for pointing a board at
any RTP receiver.
"""
import asyncio
import json
import sys

from device import session as media_session
from device.hal.net import UdpEndpoint
from device.hal.virtual import VirtualMic
from device.uplink import Uplink


async def stream_file(session, wav_path, realtime=True):
    """Stream one WAV file through the uplink; return its stats dict."""
    mic = VirtualMic(wav_path, frame_ms=session.frame_ms, realtime=realtime)
    endpoint = UdpEndpoint(session.gateway_host, session.gateway_port)
    try:
        uplink = Uplink(session, mic, endpoint)
        stats = await uplink.run()
    finally:
        endpoint.close()
        mic.close()
    return stats.as_dict()


def main(argv):
    """Command-line entry: SESSION.json MIC.wav."""
    if len(argv) != 2:
        print("usage: devstream SESSION.json MIC.wav")
        return 2
    session = media_session.load(argv[0])
    stats = asyncio.run(stream_file(session, argv[1]))
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
