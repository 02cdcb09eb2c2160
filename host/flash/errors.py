"""Flash failures: which step failed, what happened, and what the user should do."""


class FlashError(Exception):
    """A step of `pipit flash` failed; str() names the step, the cause and the fix."""

    def __init__(self, step, message, hint=None):
        self.step = step
        self.message = message
        self.hint = hint
        text = "%s failed: %s" % (step, message)
        if hint:
            text += "\n  what to do: " + hint
        super().__init__(text)


# (pattern in esptool's output, message, hint). First match wins.
ESPTOOL_DIAGNOSES = (
    ("Could not open", "no board on that port (it does not exist or is busy)",
     "check the cable and the port name (`ls /dev/ttyACM* /dev/ttyUSB*`), and that no serial monitor holds it"),
    ("Wrong chip argument", None,
     "pick the board file for the chip on the desk (`pipit boards`), or check you plugged in the right board"),
    ("will not fit", "the firmware image is larger than the board's flash",
     "use a firmware build for this flash size, or check the board file's flash.size_mb"),
    ("Failed to connect", "the board did not answer as a ROM bootloader",
     "put the board in bootloader mode: hold BOOT, press and release RESET, release BOOT; then run pipit flash again"),
    ("No serial data received", "the board did not answer as a ROM bootloader",
     "put the board in bootloader mode: hold BOOT, press and release RESET, release BOOT; then run pipit flash again"),
    ("Invalid head of packet", "the board answered, but not as a ROM bootloader (is it running its firmware?)",
     "put the board in bootloader mode: hold BOOT, press and release RESET, release BOOT; then run pipit flash again"),
    ("Failed to enter RAM download mode", "the board refused esptool's flasher stub",
     "run again with --no-stub"),
)


def diagnose_esptool(output):
    """(message, hint) for esptool's output, from its last error line if nothing matches."""
    for pattern, message, hint in ESPTOOL_DIAGNOSES:
        if pattern in output:
            if message is None:
                message = next(line.strip() for line in output.splitlines() if pattern in line)
            return message, hint
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return (lines[-1] if lines else "esptool failed without output"), "run the esptool command shown by --dry-run by hand to see more"
