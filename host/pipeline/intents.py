"""The local intent agent: what the companion understands without an LLM.

Each `Intent` lists how people ask for it as phrase templates
(host.pipeline.templates); the same templates build the recogniser's grammar
(host.pipeline.asr) and the matcher here, so the two agree. `IntentAgent.handle`
turns recognised text into a `Reply`: the intent, its slots, an answer to speak
(numbers in words, for espeak-ng) and the `Action`s the caller must carry out.
Device actions mirror the control protocol's commands (docs/protocol.md:
`volume` with `volume_pct`, `stop`); timer actions tell the caller when to ring.
Time comes from an injected clock; device facts from an injected status
function returning telemetry-like fields (volume_pct, wifi_rssi_dbm, uptime_s).
Pure and fast (microseconds): no executor needed.
"""
import datetime
import re
from dataclasses import dataclass, field

from host.pipeline import templates, words

SLOTS = {
    "count": [words.spell(n) for n in range(1, 61)],
    "unit": ["second", "seconds", "minute", "minutes"],
    "percent": [words.spell(n) for n in range(0, 101)],
}
VOLUME_STEP_PCT = 10
DEFAULT_VOLUME_PCT = 60     # the device's default setting (docs/protocol.md)


@dataclass(frozen=True)
class Intent:
    """One thing the agent does, and the ways of asking for it."""
    name: str
    phrasings: tuple


INTENTS = (
    Intent("time", ("what time is it", "what's the time", "what is the time",
                    "tell me the time", "do you know the time")),
    Intent("date", ("what's the date [today]", "what is the date [today]", "what day is it [today]",
                    "(what's | what is) today's date", "tell me the date")),
    Intent("timer_set", ("set a timer for <count> <unit>", "set timer for <count> <unit>",
                         "start a timer for <count> <unit>", "timer for <count> <unit>",
                         "set a <count> <unit> timer")),
    # No "delete the timer": it decodes as "tell me the time" (docs/speech.md).
    Intent("timer_cancel", ("cancel (the | my) timer", "cancel timer", "stop the timer")),
    Intent("timer_left", ("how much time is left [on the timer]", "how long is left [on the timer]",
                          "how long left on the timer")),
    Intent("volume_up", ("turn (the volume | it) up", "volume up", "louder", "make it louder",
                         "increase the volume")),
    Intent("volume_down", ("turn (the volume | it) down", "volume down", "quieter", "make it quieter",
                           "decrease the volume")),
    Intent("volume_set", ("set [the] volume to <percent> [percent]", "volume to <percent> [percent]",
                          "change the volume to <percent> [percent]")),
    Intent("help", ("what can you do", "what can i say", "help [me]")),
    Intent("status", ("device status", "status report", "(what's | what is) your status",
                      "how are you doing", "is everything working")),
    Intent("stop", ("stop", "be quiet", "shut up", "never mind", "that's enough")),
)
# Said before or after any phrasing; matched and recognised, never a slot.
POLITE = "[please]"

HELP_ANSWER = ("I can tell you the time and the date, set a timer for up to sixty minutes, "
               "change the volume, and tell you how the device is doing.")
UNKNOWN_ANSWER = "Sorry, I can help with the time, the date, timers and the volume."


@dataclass(frozen=True)
class Action:
    """Something the caller does: a device command or a timer to schedule."""
    name: str
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """What the agent made of one utterance."""
    intent: str          # "unknown" when nothing matched
    slots: dict
    text: str            # the answer to speak; empty for stop
    actions: tuple = ()


def normalise(text):
    """Lower case, digits as words, no punctuation but apostrophes, single spaces."""
    text = words.digits_to_words(text.lower().replace("%", " percent"))
    text = re.sub(r"[^a-z' ]+", " ", text)
    return " ".join(text.split())


class Matcher:
    """Recognised text -> (intent, slots): exact phrasing first, then loosely."""

    def __init__(self, intents=INTENTS, slots=SLOTS):
        polite = templates.to_regex(templates.parse(POLITE), slots)
        self._exact, self._loose = [], []
        for intent in intents:
            for phrasing in intent.phrasings:
                node = templates.parse(phrasing)
                body = templates.to_regex(node, slots)
                self._exact.append((intent.name, re.compile(polite + body + polite)))
                loose = re.compile(templates.to_regex(node, slots, loose=True))
                self._loose.append((templates.required_words(node), intent.name, loose))
        # Most specific first: "stop the timer" beats "stop" in loose matching.
        self._loose.sort(key=lambda entry: -entry[0])

    def exact(self, text):
        """(intent name, slots) when text is exactly one phrasing, else None."""
        line = normalise(text) + " "
        for name, pattern in self._exact:
            found = pattern.fullmatch(line)
            if found:
                return name, _slots(found)
        return None

    def match(self, text):
        """(intent name, slots) for text, or None when no phrasing fits."""
        found = self.exact(text)
        if found:
            return found
        line = normalise(text) + " "
        for _, name, pattern in self._loose:
            found = pattern.search(" " + line)
            if found:
                return name, _slots(found)
        return None


def _slots(found):
    return {key: value.strip() for key, value in found.groupdict().items() if value}


class IntentAgent:
    """Answers the local intents; holds one timer."""

    def __init__(self, clock=datetime.datetime.now, status=dict, matcher=None):
        self.clock = clock
        self.status = status
        self.matcher = matcher or Matcher()
        self.timer_deadline = None

    def handle(self, text):
        """The Reply to one recognised utterance."""
        found = self.matcher.match(text)
        if found is None:
            return Reply("unknown", {}, UNKNOWN_ANSWER)
        name, slots = found
        answer, actions = getattr(self, "_" + name)(slots)
        return Reply(name, slots, answer, tuple(actions))

    def timer_remaining_s(self):
        """Seconds left on the timer (0 when it has rung), or None without one."""
        if self.timer_deadline is None:
            return None
        return max(0.0, (self.timer_deadline - self.clock()).total_seconds())

    def _time(self, slots):
        return words.say_time(self.clock()), []

    def _date(self, slots):
        return words.say_date(self.clock()), []

    def _timer_set(self, slots):
        count = words.parse_number(slots["count"])
        seconds = count * (60 if slots["unit"].startswith("minute") else 1)
        self.timer_deadline = self.clock() + datetime.timedelta(seconds=seconds)
        return ("Okay, a timer for %s, starting now." % words.say_duration(seconds),
                [Action("timer_start", {"seconds": seconds})])

    def _timer_cancel(self, slots):
        if self.timer_deadline is None:
            return "There is no timer running.", []
        self.timer_deadline = None
        return "Okay, I cancelled the timer.", [Action("timer_cancel")]

    def _timer_left(self, slots):
        remaining = self.timer_remaining_s()
        if remaining is None:
            return "There is no timer running.", []
        if remaining < 0.5:
            return "Your timer has finished.", []
        left = words.say_duration(remaining)
        verb = "is" if left.startswith("one ") else "are"
        return "There %s %s left on your timer." % (verb, left), []

    def _volume_up(self, slots):
        return self._volume(self._volume_now() + VOLUME_STEP_PCT, "up to")

    def _volume_down(self, slots):
        return self._volume(self._volume_now() - VOLUME_STEP_PCT, "down to")

    def _volume_set(self, slots):
        return self._volume(words.parse_number(slots["percent"]), "set to")

    def _volume(self, pct, change):
        pct = min(100, max(0, pct))
        return ("Volume %s %s percent." % (change, words.spell(pct)),
                [Action("volume", {"volume_pct": pct})])

    def _volume_now(self):
        return self.status().get("volume_pct", DEFAULT_VOLUME_PCT)

    def _help(self, slots):
        return HELP_ANSWER, []

    def _status(self, slots):
        return describe_status(self.status()), []

    def _stop(self, slots):
        return "", [Action("stop")]


def describe_status(status):
    """A spoken summary of telemetry-like device fields."""
    parts = []
    if status.get("volume_pct") is not None:
        parts.append("the volume is at %s percent" % words.spell(status["volume_pct"]))
    rssi = status.get("wifi_rssi_dbm")
    if rssi is not None:
        quality = "strong" if rssi >= -60 else "good" if rssi >= -70 else "weak"
        parts.append("the wifi signal is %s" % quality)
    if status.get("uptime_s") is not None:
        parts.append("I have been up for %s" % words.say_duration(60 * (status["uptime_s"] // 60)
                                                                 or status["uptime_s"]))
    if not parts:
        return "Everything is working."
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return "Everything is working: %s." % listed
