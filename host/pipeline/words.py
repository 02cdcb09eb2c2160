"""Numbers, times, dates and durations as plain English words.

Answers are spelled out ("ten past three", "forty percent") because espeak-ng
says words more naturally than digits and symbols, and because words are what
pocketsphinx's dictionary and our grammar contain, so the tests can decode an
answer back. Multi-word numbers use spaces, never hyphens: "twenty one" is two
dictionary words, "twenty-one" is none.
"""
import re

ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL_ONES = ("zeroth first second third fourth fifth sixth seventh eighth ninth tenth "
                 "eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth "
                 "eighteenth nineteenth").split()
_ORDINAL_TENS = {"twenty": "twentieth", "thirty": "thirtieth"}
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
MONTHS = ("January February March April May June July August September October "
          "November December").split()
_VALUES = {word: n for n, word in enumerate(ONES)}
_VALUES.update({word: 10 * n for n, word in enumerate(TENS) if n >= 2})


def spell(n):
    """0..999 in words: 42 -> 'forty two', 100 -> 'one hundred'."""
    if not 0 <= n <= 999:
        raise ValueError("can only spell 0..999, not %r" % n)
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return TENS[tens] + (" " + ONES[ones] if ones else "")
    hundreds, rest = divmod(n, 100)
    return ONES[hundreds] + " hundred" + (" and " + spell(rest) if rest else "")


def ordinal(n):
    """1..99 as an ordinal: 22 -> 'twenty second'."""
    if not 1 <= n <= 99:
        raise ValueError("can only spell ordinals 1..99, not %r" % n)
    if n < 20:
        return _ORDINAL_ONES[n]
    tens, ones = divmod(n, 10)
    if not ones:
        return _ORDINAL_TENS.get(TENS[tens], TENS[tens][:-1] + "ieth")
    return TENS[tens] + " " + _ORDINAL_ONES[ones]


def parse_number(text):
    """Words or digits to an int: 'twenty one' -> 21, '40' -> 40; None if not a number."""
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    total, current = 0, None
    for word in text.replace("-", " ").split():
        if word == "and" and total and current is None:
            continue    # "one hundred and five"
        if word == "hundred" and current is not None:
            total, current = total + current * 100, None
            continue
        value = _VALUES.get(word)
        if value is None:
            return None
        if current is not None and not (current % 10 == 0 and current >= 20 and value < 10):
            return None    # "five six" is two numbers, not one
        current = value if current is None else current + value
    if current is None and total == 0:
        return None
    return total + (current or 0)


def digits_to_words(text):
    """Replace every run of digits 0..999 in text with its words ('5 minutes')."""
    return re.sub(r"\b\d{1,3}\b", lambda m: spell(int(m.group())), text)


def _hour_word(hour):
    return spell(hour % 12 or 12)


def say_time(moment):
    """A clock reading as people say it: "It's ten past three."."""
    hour, minute = moment.hour, moment.minute
    if minute == 0:
        return "It's %s o'clock." % _hour_word(hour)
    if minute == 15:
        return "It's quarter past %s." % _hour_word(hour)
    if minute == 30:
        return "It's half past %s." % _hour_word(hour)
    if minute == 45:
        return "It's quarter to %s." % _hour_word(hour + 1)
    past = minute < 30
    count = minute if past else 60 - minute
    unit = "" if count % 5 == 0 else (" minute" if count == 1 else " minutes")
    return "It's %s%s %s %s." % (spell(count), unit, "past" if past else "to",
                                 _hour_word(hour if past else hour + 1))


def say_date(day):
    """A date as people say it: "Today is Saturday, the twenty second of November."."""
    return "Today is %s, the %s of %s." % (WEEKDAYS[day.weekday()], ordinal(day.day),
                                           MONTHS[day.month - 1])


def say_duration(seconds):
    """A non-negative duration: 130 -> 'two minutes and ten seconds'."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [spell(value) + " " + unit + ("" if value == 1 else "s")
             for value, unit in ((hours, "hour"), (minutes, "minute"), (secs, "second")) if value]
    if not parts:
        return "zero seconds"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
