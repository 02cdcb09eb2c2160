"""Phrase templates: one spelling of what people say, read two ways.

A template is a JSGF rule expansion in miniature: words, `[optional words]`,
`(one | alternative)` and `<slot>` references, e.g.

    set [a] timer for <count> <unit>

The same template becomes a regular expression (to match recognised text and
pull out the slots) and a JSGF rule (to constrain pocketsphinx), so what the
recogniser may hear and what the intent matcher understands cannot drift.
Slots are word lists, e.g. {"count": ["one", "two", ...]}; a slot may appear
once per template. Pure functions, no I/O.
"""
import itertools
import re
from dataclasses import dataclass

_TOKEN = re.compile(r"\s*(\[|\]|\(|\)|\||<[a-z_]+>|[a-z']+)")


@dataclass(frozen=True)
class Word:
    text: str


@dataclass(frozen=True)
class Slot:
    name: str


@dataclass(frozen=True)
class Seq:
    items: tuple


@dataclass(frozen=True)
class Alt:
    options: tuple


@dataclass(frozen=True)
class Opt:
    item: object


def parse(template):
    """Template text to a tree of Seq/Alt/Opt/Word/Slot; ValueError if malformed."""
    tokens, pos = [], 0
    text = template.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError("bad template %r at %r" % (template, text[pos:]))
        tokens.append(match.group(1))
        pos = match.end()
    node, used = _parse_alt(tokens, 0, template)
    if used != len(tokens):
        raise ValueError("bad template %r: unexpected %r" % (template, tokens[used]))
    _check_slots_once(node, template)
    return node


def _parse_alt(tokens, i, template):
    options = []
    while True:
        seq, i = _parse_seq(tokens, i, template)
        options.append(seq)
        if i < len(tokens) and tokens[i] == "|":
            i += 1
            continue
        return (options[0] if len(options) == 1 else Alt(tuple(options))), i


def _parse_seq(tokens, i, template):
    items = []
    while i < len(tokens) and tokens[i] not in ("|", ")", "]"):
        token = tokens[i]
        if token in ("(", "["):
            inner, i = _parse_alt(tokens, i + 1, template)
            closing = ")" if token == "(" else "]"
            if i >= len(tokens) or tokens[i] != closing:
                raise ValueError("bad template %r: missing %r" % (template, closing))
            items.append(inner if token == "(" else Opt(inner))
        elif token.startswith("<"):
            items.append(Slot(token[1:-1]))
        else:
            items.append(Word(token))
        i += 1
    if not items:
        raise ValueError("bad template %r: empty expansion" % template)
    return Seq(tuple(items)), i


def _check_slots_once(node, template):
    names = [n.name for n in walk(node) if isinstance(n, Slot)]
    if len(names) != len(set(names)):
        raise ValueError("bad template %r: a slot may appear once" % template)


def walk(node):
    """Every node of a template tree, depth first."""
    yield node
    for child in getattr(node, "items", ()) + getattr(node, "options", ()):
        yield from walk(child)
    if isinstance(node, Opt):
        yield from walk(node.item)


def to_regex(node, slots, loose=False):
    """Regex source over normalised text ('words like this ' with a trailing space).

    loose lets any words come before each word of the template, so extra words
    from an open-vocabulary recogniser ("set the timer for ...") still match
    when searched for.
    """
    # A gap of whole words, then a word that starts at a word boundary.
    gap = r"(?:\S+ )*?(?<= )" if loose else ""
    if isinstance(node, Word):
        return gap + re.escape(node.text) + " "
    if isinstance(node, Slot):
        values = sorted(slots[node.name], key=len, reverse=True)
        return gap + "(?P<%s>%s) " % (node.name, "|".join(re.escape(v) for v in values))
    if isinstance(node, Seq):
        return "".join(to_regex(item, slots, loose) for item in node.items)
    if isinstance(node, Alt):
        return "(?:%s)" % "|".join(to_regex(option, slots, loose) for option in node.options)
    return "(?:%s)?" % to_regex(node.item, slots, loose)


def required_words(node):
    """How many words any phrase of this template has at least (slots count 1)."""
    if isinstance(node, (Word, Slot)):
        return 1
    if isinstance(node, Seq):
        return sum(required_words(item) for item in node.items)
    if isinstance(node, Alt):
        return min(required_words(option) for option in node.options)
    return 0


def to_jsgf(node):
    """The JSGF expansion text of a template; slots stay <rule> references."""
    if isinstance(node, Word):
        return node.text
    if isinstance(node, Slot):
        return "<%s>" % node.name
    if isinstance(node, Seq):
        return " ".join(to_jsgf(item) for item in node.items)
    if isinstance(node, Alt):
        return "( %s )" % " | ".join(to_jsgf(option) for option in node.options)
    return "[ %s ]" % to_jsgf(node.item)


def expand(node, slots):
    """Every phrase the template allows, slots filled with every value, as word tuples."""
    if isinstance(node, Word):
        return [(node.text,)]
    if isinstance(node, Slot):
        return [tuple(value.split()) for value in slots[node.name]]
    if isinstance(node, Seq):
        parts = [expand(item, slots) for item in node.items]
        return [sum(combo, ()) for combo in itertools.product(*parts)]
    if isinstance(node, Alt):
        return [phrase for option in node.options for phrase in expand(option, slots)]
    return [()] + expand(node.item, slots)
