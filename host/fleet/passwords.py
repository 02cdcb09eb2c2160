"""Device MQTT passwords: generated once, stored only as a hash, verified.

The hash is PBKDF2-HMAC-SHA512 in mosquitto 2's own password-file format
($7$<iterations>$<salt base64>$<hash base64>), so the broker's password_file
can be written from the registry alone; the password itself is shown once, at
enrollment, and stored nowhere.

Iterations are modest on purpose: the passwords are 192 random bits, which no
amount of key stretching makes stronger, while the broker hashes once per
CONNECT, so a reconnect storm of a whole fleet pays iterations x devices.
"""
import base64
import hashlib
import hmac
import secrets

PASSWORD_BYTES = 24  # token_urlsafe: 32 characters
SALT_BYTES = 12  # what mosquitto_passwd uses
ITERATIONS = 1000
_PREFIX = "$7$"


def new_password():
    """A fresh random password (URL-safe text, 192 bits)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def _digest(password, salt, iterations):
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)


def hash_password(password, iterations=ITERATIONS):
    """The storable hash of password, with a fresh salt (mosquitto $7$ format)."""
    salt = secrets.token_bytes(SALT_BYTES)
    return "%s%d$%s$%s" % (_PREFIX, iterations, base64.b64encode(salt).decode(),
                           base64.b64encode(_digest(password, salt, iterations)).decode())


def verify_password(password, stored):
    """True when password matches the stored hash (constant-time compare)."""
    if not isinstance(password, str) or not stored.startswith(_PREFIX):
        return False
    try:
        iterations, salt, expected = stored[len(_PREFIX):].split("$")
        salt, expected = base64.b64decode(salt), base64.b64decode(expected)
        actual = _digest(password, salt, int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)
