"""Progress for `pipit flash`: one line per step, a bar for the long ones, times kept."""
import sys
import time

BAR_CELLS = 30


class Reporter:
    """Prints steps and progress bars to a stream; records each step's duration."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.durations_s = {}
        self._started = {}
        self._shown = {}

    def start(self, step, detail=""):
        self._started[step] = time.monotonic()
        self._shown[step] = -1
        self.stream.write("-> %s%s\n" % (step, ": " + detail if detail else ""))
        self.stream.flush()

    def progress(self, step, fraction):
        """A bar; redrawn in place on a terminal, every 10 % otherwise."""
        percent = int(max(0.0, min(1.0, fraction)) * 100)
        if not self.tty and percent // 10 == self._shown.get(step, -1) // 10:
            return
        self._shown[step] = percent
        filled = BAR_CELLS * percent // 100
        bar = "   [%s%s] %3d%%" % ("#" * filled, "." * (BAR_CELLS - filled), percent)
        self.stream.write(("\r" + bar) if self.tty else bar + "\n")
        if self.tty and percent == 100:
            self.stream.write("\n")
        self.stream.flush()

    def done(self, step, note=""):
        seconds = time.monotonic() - self._started.get(step, time.monotonic())
        self.durations_s[step] = seconds
        self.stream.write("   done in %.1f s%s\n" % (seconds, ", " + note if note else ""))
        self.stream.flush()
