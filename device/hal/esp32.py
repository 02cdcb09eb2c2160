"""The ESP32 HAL: I2S microphone and speaker, button and LED from the board file.

MicroPython only; device/hal/boards.make() imports it for a board whose hal
is "esp32". The parts have the virtual board's interface
(device/hal/virtual.py): mic.readinto(buf) hands out whole frames of 16-bit
mono PCM at the I2S clock's pace, speaker.write(pcm) plays 16-bit mono PCM;
the button and the LED are in device/hal/gpio.py. Software volume stays in
device/volume.py: the speaker has no set_volume, so the PCM is scaled once.

Microphones are read as I2S RX, 32 bits (the port reads 32-bit slots
whatever `bits` says; 16 would only drop the low half), MONO for the left
slot, STEREO for the right one or both; device/hal/i2s_pcm.py picks the
channel and applies gain_db. What machine.I2S cannot drive (a PDM
microphone, a microphone and a speaker on one I2S bus, an mck pin) is
refused by build(), naming the board and the reason (device/hal/esp32_rules.py).

Not run on real hardware. Tested under the MicroPython unix port with a
test-double `machine` module (tests/device/fake_esp32/) that records what
this module passes to machine.I2S and machine.Pin and serves PCM from a
buffer; I2S timing, DMA and the ESP32's own behaviour are not tested.
"""
import array
import asyncio

import machine
import uctypes

from device.hal import clock
from device.hal.esp32_rules import i2s_settings, unsupported
from device.hal.gpio import Esp32Button, make_led
from device.hal.i2s_pcm import MonoConverter
from device.hal.net import UdpEndpoint

# The amplifier stays enabled this long after the last write (the DMA drains
# in SPEAKER_DMA_MS, device/hal/esp32_rules.py), so the gaps between answer
# frames do not toggle it.
AMP_HOLD_MS = 300


def open_i2s(settings):
    """A machine.I2S opened with i2s_settings()."""
    pin = machine.Pin
    i2s = machine.I2S
    return i2s(settings["id"], sck=pin(settings["sck"]), ws=pin(settings["ws"]), sd=pin(settings["sd"]),
               mode=i2s.RX if settings["mode"] == "rx" else i2s.TX, bits=settings["bits"],
               format=i2s.STEREO if settings["format"] == "stereo" else i2s.MONO,
               rate=settings["rate"], ibuf=settings["ibuf"])


def _bytes_of(samples):
    """A writable byte view of an array('h') (no copy)."""
    return uctypes.bytearray_at(uctypes.addressof(samples), len(samples) * 2)


class Esp32Mic:
    """An I2S microphone handing out whole frames of 16-bit mono PCM, as VirtualMic does."""

    channels = 1

    def __init__(self, part, frame_ms=20):
        self.settings = i2s_settings(part, receive=True)
        self.sample_rate_hz = part["sample_rate_hz"]
        self.frame_ms = frame_ms
        self.frames_read = 0
        self._start_ticks = None
        self._converter = MonoConverter(self.settings["bits"], self.settings["format"] == "stereo",
                                        part["channel"], part["gain_db"])
        self._i2s = open_i2s(self.settings)
        self._reader = asyncio.StreamReader(self._i2s)
        self._buffers(self.sample_rate_hz * frame_ms // 1000)

    def _buffers(self, count):
        # Allocated for the board's frame size, again only if a caller asks for another.
        self._words = array.array("h", bytes(count * self._converter.bytes_per_frame))
        self._word_bytes = memoryview(_bytes_of(self._words))
        self._out = array.array("h", bytes(2 * count))
        self._out_bytes = _bytes_of(self._out)

    async def readinto(self, buf):
        """Fill buf with the next frame; return its byte count (the microphone never ends)."""
        if self._start_ticks is None:
            self._start_ticks = clock.ticks_ms()
        count = len(buf) // 2
        if count != len(self._out):
            self._buffers(count)
        view = self._word_bytes
        needed = len(view)
        got = 0
        while got < needed:  # asyncio reads return what the DMA holds, maybe less
            got += await self._reader.readinto(view[got:]) or 0
        self._converter.convert(self._words, count, self._out)
        buf[:2 * count] = self._out_bytes
        self.frames_read += 1
        return len(buf)

    @property
    def start_ticks_ms(self):
        """ticks_ms of the first frame's start (None before it)."""
        return self._start_ticks

    def close(self):
        self._i2s.deinit()


class Esp32Speaker:
    """An I2S amplifier or DAC playing 16-bit mono PCM; its enable pin is high while it plays."""

    channels = 1

    def __init__(self, part, amp_hold_ms=AMP_HOLD_MS):
        self.settings = i2s_settings(part, receive=False)
        self.sample_rate_hz = part["sample_rate_hz"]
        self.amp_hold_ms = amp_hold_ms
        self.amp_on = False
        enable = part.get("enable_pin")
        self._amp = None if enable is None else machine.Pin(enable, machine.Pin.OUT, value=0)
        self._amp_task = None
        self._last_write = clock.ticks_ms()
        self._i2s = open_i2s(self.settings)
        self._writer = asyncio.StreamWriter(self._i2s)

    async def write(self, pcm):
        """Play PCM: returns once the I2S DMA has taken all of it."""
        self._last_write = clock.ticks_ms()
        self._enable_amp()
        # MicroPython's documented pattern: hand the buffer over, no copy.
        self._writer.out_buf = pcm
        await self._writer.drain()
        self._last_write = clock.ticks_ms()

    def _enable_amp(self):
        if self._amp is None:
            return
        if not self.amp_on:
            self._amp.value(1)
            self.amp_on = True
        if self._amp_task is None:
            self._amp_task = asyncio.create_task(self._disable_amp_when_idle())

    async def _disable_amp_when_idle(self):
        while True:
            idle_ms = clock.ticks_diff(clock.ticks_ms(), self._last_write)
            if idle_ms >= self.amp_hold_ms:
                break
            await clock.sleep_ms(self.amp_hold_ms - idle_ms)
        self._disable_amp()
        self._amp_task = None

    def _disable_amp(self):
        if self._amp is not None:
            self._amp.value(0)
        self.amp_on = False

    def flush(self):
        """An abort: the amplifier goes off now (what the DMA still holds is not heard)."""
        self._disable_amp()

    def close(self):
        if self._amp_task is not None:
            self._amp_task.cancel()
            self._amp_task = None
        self._disable_amp()
        self._i2s.deinit()


class Esp32Board:
    """An ESP32 board's parts; boot.py brings its Wi-Fi up (device/hal/wifi.py) and sets `wifi`."""

    needs_wifi = True

    def __init__(self, name, mic, speaker=None, button=None, led=None):
        self.name = name
        self.mic = mic
        self.speaker = speaker
        self.button = button
        self.led = led
        self.wifi = None
        self.capabilities = ("microphone",)

    def open_endpoint(self, host, port):
        """The UDP endpoint media goes out on."""
        return UdpEndpoint(host, port)

    def wifi_rssi_dbm(self):
        """Wi-Fi signal for telemetry (None before the link is up)."""
        return None if self.wifi is None else self.wifi.rssi_dbm()

    def close(self):
        self.mic.close()
        if self.speaker is not None:
            self.speaker.close()


def build(board):
    """The HAL for an ESP32 board file; ValueError naming the board and why if it cannot be driven."""
    reason = unsupported(board)
    if reason is not None:
        raise ValueError("board %s: %s" % (board.get("id"), reason))
    speaker = board.get("speaker")
    button = board.get("button")
    return Esp32Board(
        board.get("id"), Esp32Mic(board["microphone"], board.get("frame_ms", 20)),
        speaker=None if speaker is None else Esp32Speaker(speaker),
        button=None if button is None else Esp32Button(button["pin"], button["active_low"]),
        led=make_led(board.get("led")))
