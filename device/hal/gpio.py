"""GPIO parts of an ESP32 board: the talk button and the status LED (MicroPython only).

device/hal/esp32.py builds them from the board file's `button` ({pin,
active_low}) and `led` ({pin, kind}). Nothing in the runtime drives the LED
yet: it offers on() and off().

Not run on real hardware: tested under the MicroPython unix port with a
test-double `machine` (tests/device/fake_esp32/) that records the pins.
"""
import machine

from device.hal import clock

BUTTON_DEBOUNCE_MS = 20
WS2812_ON_RGB = (24, 24, 24)


class Esp32Button:
    """A push button on a GPIO: `pressed` is its level, debounced, with the board's polarity."""

    def __init__(self, pin, active_low, debounce_ms=BUTTON_DEBOUNCE_MS, ticks_ms=clock.ticks_ms):
        pull = machine.Pin.PULL_UP if active_low else machine.Pin.PULL_DOWN
        self._pin = machine.Pin(pin, machine.Pin.IN, pull)
        self._pressed_level = 0 if active_low else 1
        self.debounce_ms = debounce_ms
        self._ticks_ms = ticks_ms
        self._state = False
        self._changed_at = None  # when the level first differed from _state

    @property
    def pressed(self):
        """True while the button is held (a new level counts once it held debounce_ms)."""
        level = self._pin.value() == self._pressed_level
        if level == self._state:
            self._changed_at = None
            return self._state
        now = self._ticks_ms()
        if self._changed_at is None:
            self._changed_at = now
        if clock.ticks_diff(now, self._changed_at) >= self.debounce_ms:
            self._state = level
            self._changed_at = None
        return self._state


class Esp32Led:
    """The board's status LED: a GPIO (high is on) or one WS2812 pixel."""

    def __init__(self, led):
        self.kind = led["kind"]
        pin = machine.Pin(led["pin"], machine.Pin.OUT, value=0)
        if self.kind == "ws2812":
            import neopixel
            self._pixel = neopixel.NeoPixel(pin, 1)
        self._pin = pin
        self.lit = None
        self.off()

    def _show(self, lit):
        if self.kind == "ws2812":
            self._pixel[0] = WS2812_ON_RGB if lit else (0, 0, 0)
            self._pixel.write()
        else:
            self._pin.value(1 if lit else 0)
        self.lit = lit

    def on(self):
        self._show(True)

    def off(self):
        self._show(False)


def make_led(led):
    """The LED part, or None when the board has none or its kind is not driven here (apa102)."""
    if led is None or led["kind"] not in ("gpio", "ws2812"):
        return None
    return Esp32Led(led)
