"""The board file: its fields, their types and ranges (pin rules are in pins.py).

One JSON object per board; see docs/boards.md for every field. A field that is
missing, of the wrong type or out of range is refused as
`board <id>: field 'microphone.sample_rate_hz' must be in 8000..48000, got 3`.
"""
from device.control.settings import CODECS
from device.validate import Fields
from host.boards.chips import CHIPS

SCHEMA_VERSION = 1
HALS = ("esp32", "virtual", "pyaudio", "alsa")
MIC_INTERFACES = ("i2s", "pdm", "virtual", "pyaudio", "alsa")
SPEAKER_INTERFACES = ("i2s", "virtual", "pyaudio", "alsa")
CHANNELS = ("left", "right", "stereo")
LED_KINDS = ("gpio", "ws2812", "apa102")
FLASH_SIZES_MB = (2, 4, 8, 16, 32)
PSRAM_MODES = ("quad", "octal")
FRAME_MS = (10, 20, 40, 60)
# Pin roles of each interface: which must be there, which may be.
MIC_PINS = {"i2s": (("sck", "ws", "sd"), ("mck",)), "pdm": (("clk", "sd"), ())}
SPEAKER_PINS = {"i2s": (("sck", "ws", "sd"), ("mck",))}
TOP_FIELDS = ("schema", "id", "name", "chip", "hal", "flash", "psram", "mpy_arch", "microphone",
              "speaker", "button", "led", "i2c", "aec", "default_codec", "frame_ms",
              "strapping_pins_ok", "sources", "notes")


class Board:
    """A parsed board file: plain attributes, dicts for the audio parts."""

    def __init__(self, data):
        self.data = data
        for name in TOP_FIELDS:
            setattr(self, name, data.get(name))

    @property
    def runtime(self):
        return CHIPS[self.chip].runtime

    @property
    def capabilities(self):
        """What the device announces in its Hello."""
        caps = ["microphone"]
        for name in ("speaker", "button", "led"):
            if getattr(self, name) is not None:
                caps.append(name)
        if self.aec:
            caps.append("aec")
        if self.hal == "esp32":
            caps.append("wifi")
        return caps


def _pins(fields, name, required, optional):
    pins = fields.nested(name)
    pins.refuse_unknown(required + optional, "pin role")
    for role in required:
        pins.int_in(role, 0, 99)
    for role in optional:
        if pins.has(role):
            pins.int_in(role, 0, 99)
    return pins.data


def _audio_part(fields, name, interfaces, pin_roles):
    part = fields.nested(name)
    interface = part.one_of("interface", interfaces, str)
    part.int_in("sample_rate_hz", 8000, 48000)
    if interface in pin_roles:
        part.int_in("bus", 0, 1)
        _pins(part, "pins", *pin_roles[interface])
    elif part.has("pins"):
        raise part.error("pins", "is only for %s interfaces, this one is %r" % ("/".join(pin_roles), interface))
    return part


def _microphone(fields):
    mic = _audio_part(fields, "microphone", MIC_INTERFACES, MIC_PINS)
    mic.one_of("channel", CHANNELS, str)
    mic.number_in("gain_db", -20, 60)


def _speaker(fields):
    if _null_or_missing(fields, "speaker"):
        return
    speaker = _audio_part(fields, "speaker", SPEAKER_INTERFACES, SPEAKER_PINS)
    speaker.int_or_null("enable_pin", 0, 99)
    speaker.text("amplifier", 1, 160)


def _null_or_missing(fields, name):
    """True when an optional part is null; missing is refused (say null to mean none)."""
    if not fields.has(name):
        raise fields.error(name, "is missing (use null when the board has none)")
    return fields.data[name] is None


def _optional_object(fields, name, check):
    if not _null_or_missing(fields, name):
        check(fields.nested(name))


def _flash_and_psram(fields, chip):
    if chip.runtime != "micropython":
        for name in ("flash", "psram", "mpy_arch"):
            if fields.has(name):
                raise fields.error(name, "is only for MicroPython boards (chip %r runs CPython)" % fields.data["chip"])
        return
    flash = fields.nested("flash")
    flash.one_of("size_mb", FLASH_SIZES_MB, int)
    offset = flash.int_in("firmware_offset", 0, 0x100000)
    if offset != chip.firmware_offset:
        raise flash.error("firmware_offset", "must be 0x%x for the %s (where MicroPython's image "
                          "with its bootloader goes), got 0x%x" % (chip.firmware_offset, chip.name, offset))
    _optional_object(fields, "psram", lambda psram: (psram.one_of("size_mb", (2, 4, 8, 16, 32), int),
                                                     psram.one_of("mode", PSRAM_MODES, str)))
    fields.one_of("mpy_arch", chip.mpy_archs, str)


def parse(data, label="board"):
    """Check a board file's structure; returns a Board (pins are checked by pins.check)."""
    fields = Fields(label, data)
    fields.refuse_unknown(TOP_FIELDS)
    fields.one_of("schema", (SCHEMA_VERSION,), int)
    board_id = fields.text("id", 3, 48)
    fields.label = "board %s" % board_id
    fields.text("name", 3, 120)
    chip = CHIPS[fields.one_of("chip", tuple(CHIPS), str)]
    fields.one_of("hal", HALS, str)
    _flash_and_psram(fields, chip)
    _microphone(fields)
    _speaker(fields)
    _optional_object(fields, "button", lambda button: (button.int_in("pin", 0, 99),
                                                       button.require("active_low", bool)))
    _optional_object(fields, "led", lambda led: (led.int_in("pin", 0, 99), led.one_of("kind", LED_KINDS, str)))
    _optional_object(fields, "i2c", lambda bus: (bus.int_in("sda", 0, 99), bus.int_in("scl", 0, 99)))
    fields.require("aec", bool)
    fields.one_of("default_codec", CODECS, str)
    fields.one_of("frame_ms", FRAME_MS, int)
    ok = fields.nested("strapping_pins_ok")
    for key in ok.data:
        if not key.isdigit():
            raise ok.error(key, "must be a GPIO number")
        ok.text(key, 8, 200)
    sources = fields.require("sources", list)
    if not sources or not all(isinstance(s, str) and s for s in sources):
        raise fields.error("sources", "must list at least one document the pins were taken from")
    fields.text("notes", 0, 2000)
    return Board(data)
