"""The local intent agent: phrasings -> intent + slots -> answer and actions."""
import datetime

import pytest

from host.pipeline import grammar, templates, words
from host.pipeline.intents import INTENTS, SLOTS, Action, IntentAgent, Matcher, describe_status

NOW = datetime.datetime(2026, 11, 21, 15, 10, 0)   # a Saturday


class FakeClock:
    """A settable clock, injected into the agent."""

    def __init__(self, now=NOW):
        self.now = now

    def __call__(self):
        return self.now


# (said, intent, slots, answer, actions) with the clock at NOW, volume 60.
TABLE = [
    ("What time is it?", "time", {}, "It's ten past three.", ()),
    ("please tell me the time", "time", {}, "It's ten past three.", ()),
    ("what's the date today", "date", {}, "Today is Saturday, the twenty first of November.", ()),
    ("what day is it", "date", {}, "Today is Saturday, the twenty first of November.", ()),
    ("set a timer for twenty five minutes", "timer_set", {"count": "twenty five", "unit": "minutes"},
     "Okay, a timer for twenty five minutes, starting now.", (Action("timer_start", {"seconds": 1500}),)),
    ("Set a timer for 90 seconds", None, None, None, None),      # 90 is outside 1..60
    ("set a one minute timer", "timer_set", {"count": "one", "unit": "minute"},
     "Okay, a timer for one minute, starting now.", (Action("timer_start", {"seconds": 60}),)),
    ("start a timer for thirty seconds", "timer_set", {"count": "thirty", "unit": "seconds"},
     "Okay, a timer for thirty seconds, starting now.", (Action("timer_start", {"seconds": 30}),)),
    ("cancel the timer", "timer_cancel", {}, "There is no timer running.", ()),
    ("how much time is left", "timer_left", {}, "There is no timer running.", ()),
    ("turn the volume up", "volume_up", {}, "Volume up to seventy percent.",
     (Action("volume", {"volume_pct": 70}),)),
    ("louder", "volume_up", {}, "Volume up to seventy percent.", (Action("volume", {"volume_pct": 70}),)),
    ("turn it down", "volume_down", {}, "Volume down to fifty percent.",
     (Action("volume", {"volume_pct": 50}),)),
    ("set the volume to forty percent", "volume_set", {"percent": "forty"}, "Volume set to forty percent.",
     (Action("volume", {"volume_pct": 40}),)),
    ("Volume to 100%", "volume_set", {"percent": "one hundred"}, "Volume set to one hundred percent.",
     (Action("volume", {"volume_pct": 100}),)),
    ("what can you do", "help", {}, None, ()),
    ("device status", "status", {}, "Everything is working: the volume is at sixty percent.", ()),
    ("stop", "stop", {}, "", (Action("stop"),)),
    ("be quiet please", "stop", {}, "", (Action("stop"),)),
    ("tell me a joke", "unknown", {}, None, ()),
]


@pytest.mark.parametrize("said, intent, slots, answer, actions", [row for row in TABLE if row[1]])
def test_phrasing_to_intent_slots_answer_actions(said, intent, slots, answer, actions):
    reply = IntentAgent(clock=FakeClock(), status=lambda: {"volume_pct": 60}).handle(said)
    assert (reply.intent, reply.slots) == (intent, slots)
    if answer is not None:
        assert reply.text == answer
    assert reply.actions == actions


def test_number_out_of_slot_range_is_not_a_timer():
    assert Matcher().exact("set a timer for ninety seconds") is None


def test_timer_lifecycle_follows_the_injected_clock():
    clock = FakeClock()
    agent = IntentAgent(clock=clock)
    agent.handle("set a timer for two minutes")
    clock.now += datetime.timedelta(seconds=50)
    assert agent.handle("how long is left on the timer").text == \
        "There is one minute and ten seconds left on your timer."
    clock.now += datetime.timedelta(seconds=60)
    assert agent.handle("how much time is left").text == "There are ten seconds left on your timer."
    clock.now += datetime.timedelta(seconds=30)
    assert agent.timer_remaining_s() == 0
    assert agent.handle("how much time is left").text == "Your timer has finished."
    reply = agent.handle("cancel my timer")
    assert reply.actions == (Action("timer_cancel"),)
    assert agent.timer_remaining_s() is None


def test_volume_is_clamped_to_the_protocol_range():
    agent = IntentAgent(status=lambda: {"volume_pct": 95})
    assert agent.handle("volume up").actions == (Action("volume", {"volume_pct": 100}),)


def test_loose_matching_takes_the_most_specific_phrasing():
    matcher = Matcher()
    assert matcher.match("uh could you stop the timer now") == ("timer_cancel", {})
    assert matcher.match("set the timer for 5 minutes") == ("timer_set", {"count": "five", "unit": "minutes"})
    assert matcher.match("nonstop") is None


def test_every_example_phrasing_matches_its_own_intent():
    matcher = Matcher()
    for intent in INTENTS:
        for phrasing in intent.phrasings:
            for phrase in templates.expand(templates.parse(phrasing), SLOTS)[:50]:
                assert matcher.exact(" ".join(phrase))[0] == intent.name, phrase


@pytest.mark.parametrize("hour, minute, said", [
    (15, 0, "It's three o'clock."), (0, 15, "It's quarter past twelve."), (9, 30, "It's half past nine."),
    (23, 45, "It's quarter to twelve."), (15, 10, "It's ten past three."), (15, 7, "It's seven minutes past three."),
    (15, 1, "It's one minute past three."), (15, 35, "It's twenty five to four."),
    (15, 38, "It's twenty two minutes to four."), (12, 59, "It's one minute to one."),
])
def test_times_are_said_as_people_say_them(hour, minute, said):
    assert words.say_time(datetime.time(hour, minute)) == said


@pytest.mark.parametrize("n", range(0, 1000, 7))
def test_numbers_round_trip_through_words(n):
    assert words.parse_number(words.spell(n)) == n
    assert "-" not in words.spell(n)


def test_ordinals_and_durations():
    assert [words.ordinal(n) for n in (1, 2, 3, 12, 20, 22, 30, 31)] == [
        "first", "second", "third", "twelfth", "twentieth", "twenty second", "thirtieth", "thirty first"]
    assert words.say_duration(3725) == "one hour, two minutes and five seconds"
    assert words.say_duration(0) == "zero seconds"


def test_status_answer_uses_telemetry_fields():
    said = describe_status({"volume_pct": 40, "wifi_rssi_dbm": -80, "uptime_s": 3600})
    assert said == "Everything is working: the volume is at forty percent, the wifi signal is weak " \
                   "and I have been up for one hour."


def test_answers_are_words_only():
    """Every answer is letters and punctuation: espeak says it, the dictionary knows it."""
    agent = IntentAgent(clock=FakeClock(), status=lambda: {"volume_pct": 60, "wifi_rssi_dbm": -50})
    for said, *_ in TABLE:
        assert not any(ch.isdigit() for ch in agent.handle(said).text)


def test_grammar_lists_every_intent_and_slot_value():
    text = grammar.jsgf()
    for intent in INTENTS:
        assert "<%s>" % intent.name in text
    assert "twenty one" in text and "one hundred" in text
    assert "sixty" in text.split("<count> =")[1].split(";")[0]


@pytest.mark.parametrize("bad", ["set [a timer", "(a | b", "<count> and <count>", "set a timer for 5", ""])
def test_malformed_templates_are_value_errors(bad):
    with pytest.raises(ValueError):
        templates.parse(bad)
