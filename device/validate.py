"""Field validation for decoded JSON objects: the rules and their error texts, once.

Every refusal reads "<label>: field '<name>' <reason>", where label names the
message ("session", "Hello", ...) and nested fields are dotted ("audio.jitter_ms").
Runs on MicroPython and CPython alike; note that MicroPython does not count a
bool as an int, CPython does, so both are tested for explicitly.
"""

_INF = float("inf")
# name_list(): the names a newer peer may add (a codec, a capability).
NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-"
NAME_MAX_CHARS = 32
NAMES_MAX_ITEMS = 16


def _show(value):
    # A hostile payload can put 8 KB in one field; keep the error text short.
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_int(value):
    """True for an int that is not a bool (both runtimes)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    """True for a finite int or float that is not a bool."""
    if isinstance(value, float):
        return value == value and value not in (_INF, -_INF)
    return is_int(value)


_KINDS = (
    (int, "an integer", is_int),
    (float, "a number", is_number),
    (bool, "a boolean", lambda value: isinstance(value, bool)),
    (str, "a string", lambda value: isinstance(value, str)),
    (list, "a list", lambda value: isinstance(value, list)),
    (dict, "an object", lambda value: isinstance(value, dict)),
)


def _kind(kind):
    for entry in _KINDS:
        if entry[0] is kind:
            return entry
    raise TypeError("validate: unsupported kind %r" % (kind,))


class Fields:
    """One decoded JSON object under validation; each getter checks one field."""

    def __init__(self, label, data, prefix=""):
        if not isinstance(data, dict):
            raise ValueError("%s: expected a JSON object" % label)
        self.label = label
        self.data = data
        self.prefix = prefix

    def error(self, name, reason):
        """The ValueError for field `name` (to raise)."""
        if len(name) > 48:
            name = name[:45] + "..."
        return ValueError("%s: field '%s%s' %s" % (self.label, self.prefix, name, reason))

    def has(self, name):
        """True when the field is present (null counts as present)."""
        return name in self.data

    def require(self, name, kind):
        """The field's value; missing or of another JSON type is refused."""
        if name not in self.data:
            raise self.error(name, "is missing")
        return self.check(name, self.data[name], kind)

    def check(self, name, value, kind):
        """`value` (of field `name`) if it is of `kind`, else refuse."""
        entry = _kind(kind)
        if not entry[2](value):
            raise self.error(name, "must be %s, got %s" % (entry[1], _show(value)))
        return value

    def version(self, expected):
        """The "v" field, which must equal `expected`."""
        version = self.require("v", int)
        if version != expected:
            raise self.error("v", "is %d, this runtime reads version %d" % (version, expected))
        return version

    def int_in(self, name, low, high=None):
        """An integer in low..high (no upper bound when high is None)."""
        return self.check_int(name, self.require(name, int), low, high)

    def check_int(self, name, value, low, high=None):
        """`value` if it is an integer in low..high, else refuse."""
        self.check(name, value, int)
        if high is None and value < low:
            raise self.error(name, "must be >= %d, got %d" % (low, value))
        if high is not None and not low <= value <= high:
            raise self.error(name, "must be in %d..%d, got %d" % (low, high, value))
        return value

    def int_or_null(self, name, low, high=None):
        """Like int_in, but an explicit null is accepted (returned as None)."""
        if self.has(name) and self.data[name] is None:
            return None
        return self.int_in(name, low, high)

    def number_in(self, name, low, high=None, nullable=False):
        """A finite number (int or float) in low..high; null only when nullable."""
        if nullable and self.has(name) and self.data[name] is None:
            return None
        value = self.require(name, float)
        if value < low or (high is not None and value > high):
            bounds = "in %s..%s" % (low, high) if high is not None else ">= %s" % low
            raise self.error(name, "must be %s, got %s" % (bounds, _show(value)))
        return value

    def one_of(self, name, choices, kind):
        """A value of `kind` that is one of `choices`."""
        return self.check_choice(name, self.require(name, kind), choices, kind)

    def check_choice(self, name, value, choices, kind):
        """`value` if it is of `kind` and one of `choices`, else refuse."""
        self.check(name, value, kind)
        if value not in choices:
            raise self.error(name, "must be one of %s, got %s" % (choices, _show(value)))
        return value

    def text(self, name, min_chars=1, max_chars=64):
        """A string of min_chars..max_chars characters, encodable as UTF-8."""
        value = self.require(name, str)
        if not min_chars <= len(value) <= max_chars:
            raise self.error(name, "must have %d..%d characters, got %d"
                             % (min_chars, max_chars, len(value)))
        try:
            value.encode()
        except UnicodeError:
            raise self.error(name, "is not valid text (lone surrogate)")
        return value

    def choice_list(self, name, choices, min_items=0):
        """A list of distinct strings, each one of `choices`, at least min_items long."""
        items = self.require(name, list)
        if len(items) < min_items:
            raise self.error(name, "must have at least %d item(s), got %d" % (min_items, len(items)))
        for index in range(len(items)):
            item = self.check_choice("%s[%d]" % (name, index), items[index], choices, str)
            if item in items[:index]:
                raise self.error(name, "lists %s twice" % _show(item))
        return list(items)

    def name_list(self, name, min_items=0, max_items=NAMES_MAX_ITEMS):
        """A list of distinct names (NAME_CHARS, 1..NAME_MAX_CHARS each), known or not.

        For what a newer peer may add to (codecs, capabilities): an old reader
        keeps the names it does not know instead of refusing the message.
        """
        items = self.require(name, list)
        if not min_items <= len(items) <= max_items:
            raise self.error(name, "must have %d..%d item(s), got %d" % (min_items, max_items, len(items)))
        for index in range(len(items)):
            item = self.check("%s[%d]" % (name, index), items[index], str)
            if not 1 <= len(item) <= NAME_MAX_CHARS or any(c not in NAME_CHARS for c in item):
                raise self.error("%s[%d]" % (name, index), "must be 1..%d of a-z 0-9 _ -, got %s"
                                 % (NAME_MAX_CHARS, _show(item)))
            if item in items[:index]:
                raise self.error(name, "lists %s twice" % _show(item))
        return list(items)

    def free_object(self, name):
        """An object of any content, as long as every number in it is finite."""
        value = self.require(name, dict)
        pending = [value]
        while pending:  # iterative: the nesting depth is the sender's choice
            item = pending.pop()
            if isinstance(item, float) and not is_number(item):
                raise self.error(name, "contains a number that is not finite: %s" % _show(item))
            if isinstance(item, dict):
                pending.extend(item.values())
            elif isinstance(item, list):
                pending.extend(item)
        return value

    def nested(self, name):
        """The object in field `name`, as Fields whose errors read 'name.sub'."""
        return Fields(self.label, self.require(name, dict), self.prefix + name + ".")

    def refuse_unknown(self, known, what="field"):
        """Refuse any key not in `known` (for closed objects such as settings)."""
        for key in self.data:
            if key not in known:
                raise self.error(key, "is not a known %s (known: %s)" % (what, ", ".join(known)))
