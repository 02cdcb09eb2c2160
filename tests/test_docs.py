"""The documentation's examples are real: every JSON example in docs/protocol.md parses.

Each example under a control-message heading ("### Hello (`hello`)") is
decoded by the same device/control code the device and host run, and the
session file example by device/session.py, so the docs cannot drift from
the wire format.
"""
import json
import re

import pytest

from device import session as media_session
from device.control.messages import decode
from host.runtimes import REPO_ROOT

PROTOCOL = (REPO_ROOT / "docs" / "protocol.md").read_text()
_HEADING = re.compile(r"^#{2,4} .*?\(`([a-z/]+)`")


def _examples():
    kind, found = None, []
    lines = PROTOCOL.splitlines()
    for number, line in enumerate(lines):
        match = _HEADING.match(line)
        if line.startswith("#"):
            kind = match.group(1) if match else ("session-file" if "session description" in line else None)
        if line.strip() == "```json" and kind:
            end = lines.index("```", number + 1)
            found.append(pytest.param(kind, "\n".join(lines[number + 1:end]), id="%s-line%d" % (kind, number + 1)))
    return found


EXAMPLES = _examples()


def test_every_message_kind_has_an_example():
    kinds = {param.values[0] for param in EXAMPLES}
    assert {"status", "hello", "config", "config/ack", "session/request", "session/grant", "command",
            "command/ack", "telemetry", "session-file"} <= kinds


@pytest.mark.parametrize("kind, text", EXAMPLES)
def test_example_decodes(kind, text):
    if kind == "session-file":
        assert media_session.loads(text).codec in media_session.CODECS
        return
    message = decode(kind, text.encode())
    # What the docs show is exactly what our code would put on the wire.
    assert message.to_dict() == json.loads(text)
