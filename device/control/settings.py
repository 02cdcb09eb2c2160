"""Device settings: the keys a Config (or a set_config command) may carry.

The set is closed: an unknown key is refused, so a typo in a fleet-wide push
cannot silently do nothing. A Config carries the complete desired settings;
a key it leaves out means the device's default (DEFAULTS).
"""
from device.session import CODECS
from device.validate import Fields

LISTEN_MODES = ("push_to_talk", "always_listening")

# name -> (kind, low, high) for integers, (kind, choices) for enumerations,
# (kind,) for booleans.
SCHEMA = {
    "volume_pct": (int, 0, 100),
    "listen_mode": (str, LISTEN_MODES),
    "telemetry_interval_s": (int, 1, 3600),
    "preferred_codec": (str, CODECS),
    "opus_bitrate_bps": (int, 6000, 128000),
    "half_duplex": (bool,),
    "voice_gate": (bool,),
}
NAMES = ("volume_pct", "listen_mode", "telemetry_interval_s", "preferred_codec",
         "opus_bitrate_bps", "half_duplex", "voice_gate")

DEFAULTS = {
    "volume_pct": 60,
    "listen_mode": "push_to_talk",
    "telemetry_interval_s": 60,
    "preferred_codec": "opus",
    "opus_bitrate_bps": 24000,
    "half_duplex": False,
    "voice_gate": True,
}


def check_setting(fields, name, value):
    """Validate one setting's value; errors name the field through `fields`."""
    if name not in SCHEMA:
        raise fields.error(name, "is not a known setting (known: %s)" % ", ".join(NAMES))
    rule = SCHEMA[name]
    if len(rule) == 3:
        return fields.check_int(name, value, rule[1], rule[2])
    if len(rule) == 2:
        return fields.check_choice(name, value, rule[1], rule[0])
    return fields.check(name, value, rule[0])


def validate(fields):
    """A new dict of the settings in `fields` (a Fields), each key checked."""
    settings = {}
    for name in fields.data:
        settings[name] = check_setting(fields, name, fields.data[name])
    return settings


def validate_dict(data, label="settings"):
    """Validate a plain settings dict (host side: the registry, the CLI)."""
    return validate(Fields(label, data))


def effective(settings):
    """DEFAULTS overlaid with `settings`: what the device actually runs with."""
    merged = dict(DEFAULTS)
    merged.update(settings)
    return merged
