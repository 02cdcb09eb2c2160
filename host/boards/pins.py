"""Pin rules: every pin a board file names is checked against its chip.

Refusals name the field and the reason: a pin that does not exist, is wired
to the flash or PSRAM, is reserved, is input-only but drives a signal, is a
strapping pin nobody vouched for (in `strapping_pins_ok`, with why it is
safe), is used twice, or sits on an I2S bus the chip does not have or cannot
do PDM on. Two parts on one I2S bus (microphone and speaker, full duplex)
share its clock pins, and must.
"""
from host.boards.chips import CHIPS

# Roles that drive a signal out of the chip (an input-only pin cannot).
_OUTPUT_ROLES = {"microphone": ("sck", "ws", "mck", "clk"), "speaker": ("sck", "ws", "mck", "sd")}
_SHARED_CLOCKS = ("sck", "ws", "mck")


class PinUse:
    """One pin named by one field."""

    def __init__(self, field, pin, output, part=None, role=None, bus=None):
        self.field, self.pin, self.output, self.part, self.role = field, pin, output, part, role
        self.bus = bus


def pin_uses(board):
    """Every (field, pin) the board file names."""
    uses = []
    for part in ("microphone", "speaker"):
        data = getattr(board, part)
        if data and data.get("pins"):
            for role, pin in sorted(data["pins"].items()):
                uses.append(PinUse("%s.pins.%s" % (part, role), pin, role in _OUTPUT_ROLES[part], part, role,
                                  data.get("bus")))
    if board.speaker and board.speaker.get("enable_pin") is not None:
        uses.append(PinUse("speaker.enable_pin", board.speaker["enable_pin"], True))
    if board.button:
        uses.append(PinUse("button.pin", board.button["pin"], False))
    if board.led:
        uses.append(PinUse("led.pin", board.led["pin"], True))
    if board.i2c:
        uses += [PinUse("i2c.sda", board.i2c["sda"], True), PinUse("i2c.scl", board.i2c["scl"], True)]
    return uses


def _error(board, field, reason):
    return ValueError("board %s: field '%s' %s" % (board.id, field, reason))


def _check_one(board, chip, use):
    psram = (board.psram or {}).get("mode") if board.psram else None
    reason = chip.unusable_reason(use.pin, psram)
    if reason:
        raise _error(board, use.field, reason)
    if use.output and use.pin in chip.input_only:
        raise _error(board, use.field, "GPIO%d is input-only on the %s and cannot drive this signal"
                     % (use.pin, chip.name))
    if use.pin in chip.strapping and str(use.pin) not in (board.strapping_pins_ok or {}):
        raise _error(board, use.field, "GPIO%d is a strapping pin of the %s; say why it is safe in "
                     "strapping_pins_ok, or move it" % (use.pin, chip.name))
    if chip.fixed_i2s_pins and use.part is not None:
        role = use.role if use.role != "sd" else ("sd_in" if use.part == "microphone" else "sd_out")
        fixed = chip.fixed_i2s_pins.get(role)
        if fixed is not None and fixed != use.pin:
            raise _error(board, use.field, "must be GPIO%d: the %s has its I2S/PCM %s only there"
                         % (fixed, chip.name, role))


def _check_buses(board, chip):
    parts = [(name, getattr(board, name)) for name in ("microphone", "speaker")]
    parts = [(name, part) for name, part in parts if part and "bus" in part]
    for name, part in parts:
        buses = chip.pdm_rx_buses if part["interface"] == "pdm" else chip.i2s_buses
        if part["bus"] not in buses:
            raise _error(board, name + ".bus", "the %s has no %s on I2S%d (it has: %s)"
                         % (chip.name, "PDM receive" if part["interface"] == "pdm" else "I2S",
                            part["bus"], ", ".join("I2S%d" % bus for bus in buses) or "none"))
    if len(parts) == 2 and parts[0][1]["bus"] == parts[1][1]["bus"]:
        mic, speaker = parts[0][1], parts[1][1]
        if "pdm" in (mic["interface"], speaker["interface"]):
            raise _error(board, "speaker.bus", "I2S%d already carries the PDM microphone" % mic["bus"])
        for role in _SHARED_CLOCKS:
            if mic["pins"].get(role) != speaker["pins"].get(role):
                raise _error(board, "speaker.pins." + role, "must be the microphone's pin (%s): both "
                             "parts are on I2S%d, which has one %s" % (mic["pins"].get(role), mic["bus"], role))


def _shared_clock(first, second):
    return (first.part and second.part and first.part != second.part and first.role == second.role
            and first.role in _SHARED_CLOCKS and first.bus == second.bus)


def check(board):
    """Raise ValueError (field and reason) for the first pin rule the board breaks."""
    chip = CHIPS[board.chip]
    uses = pin_uses(board)
    if uses and not chip.gpios:
        raise _error(board, uses[0].field, "%s has no GPIO pins to name" % chip.name)
    for use in uses:
        _check_one(board, chip, use)
    _check_buses(board, chip)
    seen = {}
    for use in uses:
        first = seen.get(use.pin)
        if first is not None and not _shared_clock(first, use):
            raise _error(board, use.field, "GPIO%d is already used by %s" % (use.pin, first.field))
        seen.setdefault(use.pin, use)
    for key in board.strapping_pins_ok or {}:
        if int(key) not in chip.strapping:
            raise _error(board, "strapping_pins_ok." + key, "GPIO%s is not a strapping pin of the %s"
                         % (key, chip.name))
