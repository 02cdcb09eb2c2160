"""Test double for MicroPython's `machine` module on an ESP32 (tests only, never on a board).

Placed first on MICROPYPATH by tests/device/test_esp32_hal.py, it shadows the
unix port's own `machine` so device/hal/esp32.py can run here. It does not
simulate the ESP32: it records the arguments of every Pin and I2S made (in
`log`), checks them the way the esp32 port's machine.I2S does (keyword-only
pins, mode, bits 16/32, MONO/STEREO, one open I2S per id), serves receive
data from a buffer the test fills (`I2S.rx_data[id]`), keeps what is written
(`I2S.written`) and polls like a stream so asyncio's StreamReader and
StreamWriter work over it. No clocks, no DMA, no timing.
"""
import io

# ("Pin", id, mode, pull, value), ("Pin.value", id, v), ("I2S", {...}), ("I2S.deinit", id),
# ("RTC.datetime", tuple), ("reset",)
log = []

_POLL = 3      # MP_STREAM_POLL
_POLL_RD = 1
_POLL_WR = 4


class Pin:
    IN = 1
    OUT = 3
    PULL_DOWN = 1
    PULL_UP = 2
    levels = {}  # input level of a pin, set by the test (default 1: pulled up, or 0 when pulled down)

    def __init__(self, id, mode=-1, pull=-1, value=None):
        if not isinstance(id, int):
            raise TypeError("fake Pin: id must be a GPIO number, got %r" % (id,))
        self.id = id
        self.mode = mode
        self.pull = pull
        self._value = value
        log.append(("Pin", id, mode, pull, value))

    def value(self, level=None):
        if level is None:
            if self.mode == Pin.IN:
                return Pin.levels.get(self.id, 0 if self.pull == Pin.PULL_DOWN else 1)
            return self._value
        self._value = level
        log.append(("Pin.value", self.id, level))
        return None


class I2S(io.IOBase):
    RX = 0
    TX = 1
    MONO = 0
    STEREO = 1
    open = {}
    rx_data = {}         # id -> bytes the next RX I2S on that id hands out, then nothing
    max_read_bytes = 0   # > 0: each readinto returns at most this much (as asyncio reads do)
    max_write_bytes = 0  # > 0: each write takes at most this much (DMA full)

    def __init__(self, id, *, sck, ws, sd, mode, bits, format, rate, ibuf):
        for name, pin in (("sck", sck), ("ws", ws), ("sd", sd)):
            if not isinstance(pin, Pin):
                raise TypeError("fake I2S: %s must be a Pin, got %r" % (name, pin))
        if id not in (0, 1):
            raise ValueError("invalid id")
        if mode not in (I2S.RX, I2S.TX):
            raise ValueError("invalid mode")
        if bits not in (16, 32):
            raise ValueError("invalid bits")
        if format not in (I2S.MONO, I2S.STEREO):
            raise ValueError("invalid format")
        if id in I2S.open:
            raise OSError("fake I2S: I2S(%d) is open already (the esp32 port would shut it down)" % id)
        self.args = {"id": id, "sck": sck.id, "ws": ws.id, "sd": sd.id,
                     "mode": "rx" if mode == I2S.RX else "tx", "bits": bits,
                     "format": "mono" if format == I2S.MONO else "stereo", "rate": rate, "ibuf": ibuf}
        log.append(("I2S", self.args))
        I2S.open[id] = self
        self.written = bytearray()
        self._data = I2S.rx_data.pop(id, b"") if mode == I2S.RX else b""
        self._at = 0

    def readinto(self, buf):
        size = min(len(buf), len(self._data) - self._at)
        if I2S.max_read_bytes:
            size = min(size, I2S.max_read_bytes)
        buf[:size] = self._data[self._at:self._at + size]
        self._at += size
        return size

    def feed(self, data):
        """More receive data, after what is left (as the DMA fills up)."""
        self._data = bytes(self._data[self._at:]) + bytes(data)
        self._at = 0

    def write(self, buf):
        size = len(buf)
        if I2S.max_write_bytes:
            size = min(size, I2S.max_write_bytes)
        self.written.extend(bytes(buf[:size]))
        return size

    def ioctl(self, request, arg):
        if request != _POLL:
            return -1  # no file descriptor: asyncio polls this object instead
        ready = 0
        if arg & _POLL_RD and self._at < len(self._data):
            ready |= _POLL_RD
        if arg & _POLL_WR:
            ready |= _POLL_WR
        return ready

    def deinit(self):
        if I2S.open.get(self.args["id"]) is self:
            del I2S.open[self.args["id"]]
        log.append(("I2S.deinit", self.args["id"]))


class RTC:
    """Records what is set (("RTC.datetime", tuple) in `log`); the unix port's clock is not moved."""

    def datetime(self, value=None):
        if value is None:
            raise NotImplementedError("the fake RTC only records what is set")
        log.append(("RTC.datetime", tuple(value)))


def reset():
    log.append(("reset",))
    print("fake machine.reset")
