"""Boot a board from its files: `python3 -m device.boot IDENTITY.json BOARD.json [MIC.wav]`.

A flashed board's main.py runs `device.boot.main(["pipit.json", "board.json"])`:
its bootstrap file (written by `pipit flash`), its board file, then the
device runtime. When the runtime returns (a `reboot` command) the board
restarts. The same entry runs a Raspberry Pi or a laptop under CPython
(`pipit device run --board ...`, or the systemd unit of
`pipit device install-service`).
"""
import asyncio
import sys

from device import identity as identity_file
from device.app import DeviceApp
from device.hal import boards


def main(argv):
    """IDENTITY.json BOARD.json [MIC.wav]; runs until a reboot command, then restarts."""
    if not 2 <= len(argv) <= 3:
        print("usage: device.boot IDENTITY.json BOARD.json [MIC.wav]")
        return 2
    identity = identity_file.load(argv[0])
    board = boards.load(argv[1])
    hal = boards.make(board, argv[2] if len(argv) > 2 else None)
    print("pipit: %s on %s, broker %s:%d" % (identity.device_id, board.get("id"),
                                             identity.broker_host, identity.broker_port))
    asyncio.run(DeviceApp(identity, hal).run())
    boards.reset()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
