"""The MQTT topic tree: builders, the parser, device ids and the ACL as data.

pipit/v1/devices/<id>/<kind>, where <kind> is one of KINDS and <id> is also the
device's MQTT username and client id. Every topic is QoS 1; only status and
config are retained.
"""

ROOT = "pipit/v1"
DEVICES_PREFIX = ROOT + "/devices/"
GATEWAYS_PREFIX = ROOT + "/gateways/"
QOS = 1

# What a device may publish to, and receive on, in its own subtree only.
DEVICE_PUBLISHES = ("status", "hello", "config/ack", "session/request", "command/ack", "telemetry")
DEVICE_RECEIVES = ("config", "session/grant", "command")
KINDS = DEVICE_PUBLISHES + DEVICE_RECEIVES
RETAINED = ("status", "config")

# The host service's credential: reads and writes all of ROOT. It matches the
# device id pattern, so it is reserved: no device may take it as its username.
FLEET_USERNAME = "pipit-fleet"
RESERVED_IDS = (FLEET_USERNAME,)

ID_MIN_CHARS = 3
ID_MAX_CHARS = 32
_ID_FIRST = "abcdefghijklmnopqrstuvwxyz"
_ID_CHARS = _ID_FIRST + "0123456789-"


def is_valid_id(text):
    """True for 3..32 chars of [a-z0-9-] starting with a letter (reserved ids excluded)."""
    if not isinstance(text, str) or not ID_MIN_CHARS <= len(text) <= ID_MAX_CHARS:
        return False
    if text[0] not in _ID_FIRST or text in RESERVED_IDS:
        return False
    for char in text:
        if char not in _ID_CHARS:
            return False
    return True


def check_device_id(device_id):
    """Return device_id if valid, else raise ValueError saying what an id must be."""
    if device_id in RESERVED_IDS:
        raise ValueError("topics: device id %r is reserved for the host service" % (device_id,))
    if not is_valid_id(device_id):
        raise ValueError("topics: device id must be %d..%d characters of a-z, 0-9 and '-', "
                         "starting with a letter, got %r" % (ID_MIN_CHARS, ID_MAX_CHARS, device_id))
    return device_id


def check_gateway_id(gateway_id):
    """Return gateway_id if valid (same rules as a device id), else raise ValueError."""
    if not is_valid_id(gateway_id):
        raise ValueError("topics: gateway id must be %d..%d characters of a-z, 0-9 and '-', "
                         "starting with a letter, got %r" % (ID_MIN_CHARS, ID_MAX_CHARS, gateway_id))
    return gateway_id


def device_topic(device_id, kind):
    """pipit/v1/devices/<id>/<kind>."""
    if kind not in KINDS:
        raise ValueError("topics: unknown kind %r (known: %s)" % (kind, ", ".join(KINDS)))
    return DEVICES_PREFIX + check_device_id(device_id) + "/" + kind


def gateway_sessions_topic(gateway_id):
    """pipit/v1/gateways/<gw>/sessions (fleet -> gateway, host-internal)."""
    return GATEWAYS_PREFIX + check_gateway_id(gateway_id) + "/sessions"


def parse(topic):
    """(device_id, kind) of a device topic; ValueError for anything else."""
    if not isinstance(topic, str) or not topic.startswith(DEVICES_PREFIX):
        raise ValueError("topics: not a pipit device topic: %r" % (topic,))
    rest = topic[len(DEVICES_PREFIX):]
    slash = rest.find("/")
    if slash < 0:
        raise ValueError("topics: no message kind in %r" % (topic,))
    device_id, kind = rest[:slash], rest[slash + 1:]
    if kind not in KINDS:
        raise ValueError("topics: unknown kind %r in %r" % (kind, topic))
    if not is_valid_id(device_id):
        raise ValueError("topics: bad device id %r in %r" % (device_id, topic))
    return device_id, kind


def is_retained(kind):
    """True for the kinds published with the retain flag (status, config)."""
    return kind in RETAINED


def device_subscriptions(device_id):
    """The topics a device subscribes to: one per kind it receives, no wildcard."""
    return [device_topic(device_id, kind) for kind in DEVICE_RECEIVES]


def fleet_subscriptions():
    """The topic filters the fleet service subscribes to: every device's uplink kinds."""
    return [DEVICES_PREFIX + "+/" + kind for kind in DEVICE_PUBLISHES]


def device_acl(username="%u"):
    """[(access, topic)] for one device; with "%u" they are mosquitto `pattern` lines."""
    base = DEVICES_PREFIX + username + "/"
    return ([("write", base + kind) for kind in DEVICE_PUBLISHES]
            + [("read", base + kind) for kind in DEVICE_RECEIVES])


def fleet_acl():
    """[(access, topic)] for the host service credential (FLEET_USERNAME)."""
    return [("readwrite", ROOT + "/#")]
