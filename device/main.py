"""Start the device runtime: `python3 -m device.main IDENTITY.json [MIC.wav]`.

The same module runs under MicroPython (`micropython -m device.main ...`) and
is what a board's main.py calls. With MIC.wav the board is the virtual board:
the file is its microphone, then silence, for as long as it runs.
"""
import asyncio
import sys

from device import identity as identity_file
from device.app import DeviceApp
from device.hal.virtual import VirtualBoard, VirtualMic


def virtual_board(mic_wav=None):
    """A virtual board hearing mic_wav (or silence) forever."""
    return VirtualBoard(VirtualMic(mic_wav, keep_open=True))


def main(argv):
    """Command-line entry: IDENTITY.json [MIC.wav]."""
    if not 1 <= len(argv) <= 2:
        print("usage: device.main IDENTITY.json [MIC.wav]")
        return 2
    identity = identity_file.load(argv[0])
    app = DeviceApp(identity, virtual_board(argv[1] if len(argv) > 1 else None))
    asyncio.run(app.run())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
