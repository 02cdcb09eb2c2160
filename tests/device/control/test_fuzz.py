"""Hostile payloads (hypothesis): decode() returns a valid message or raises ValueError.

Random bytes, valid payloads with bytes overwritten or cut, and valid objects
with one field replaced by any JSON value or removed. Whatever decode accepts
must encode again and decode to an equal message.
"""
import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.control import messages, topics
from tests.device.control.examples import MORE_VALID, VALID

EXAMPLES = list(VALID.items()) + MORE_VALID
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2 ** 70, max_value=2 ** 70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


def _accepted_or_value_error(kind, raw):
    try:
        message = messages.decode(kind, raw)
    except ValueError:
        return None
    again = messages.decode(kind, message.encode())
    assert again == message
    return message


def _paths(data, prefix=()):
    """Every path (tuple of keys / indexes) inside a JSON value."""
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, prefix + (index,))
    return found


@FUZZ
@given(kind=st.sampled_from(topics.KINDS), raw=st.binary(max_size=400))
def test_random_bytes(kind, raw):
    _accepted_or_value_error(kind, raw)


@FUZZ
@given(example=st.sampled_from(EXAMPLES), data=st.data())
def test_valid_payloads_with_bytes_overwritten_or_cut(example, data):
    kind, valid = example
    raw = bytearray(json.dumps(valid).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    _accepted_or_value_error(kind, bytes(raw[:cut]))
    _accepted_or_value_error(kind, bytes(raw))


@FUZZ
@given(example=st.sampled_from(EXAMPLES), data=st.data())
def test_valid_objects_with_a_field_replaced_or_removed(example, data):
    kind, valid = example
    mutated = copy.deepcopy(valid)
    path = data.draw(st.sampled_from(_paths(mutated)[1:]))
    parent = mutated
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()):
        parent[path[-1]] = data.draw(json_values)
    elif isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent.pop(path[-1])
    # Python's json writes NaN and Infinity when asked; decode must refuse them.
    _accepted_or_value_error(kind, json.dumps(mutated).encode())
