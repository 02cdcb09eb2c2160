"""Test double for MicroPython's `neopixel` module (tests only): records what is shown."""
import machine


class NeoPixel:
    def __init__(self, pin, n):
        self.pin = pin
        self.pixels = [(0, 0, 0)] * n
        machine.log.append(("NeoPixel", pin.id, n))

    def __setitem__(self, index, rgb):
        self.pixels[index] = tuple(rgb)

    def __getitem__(self, index):
        return self.pixels[index]

    def write(self):
        machine.log.append(("NeoPixel.write", self.pin.id, list(self.pixels)))
