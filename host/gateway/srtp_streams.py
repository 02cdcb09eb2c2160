"""libsrtp (pylibsrtp) contexts of one media session, and what its errors mean.

One master key serves both directions; the SSRCs differ (uplink from the
device, downlink from the gateway), which keeps the keystreams apart. The
gateway unprotects with an inbound context bound to the uplink SSRC and
protects with an outbound one bound to the downlink SSRC.
"""
from pylibsrtp import Error, Policy, Session

# Smallest SRTP packet: 12-byte RTP header and the 10-byte HMAC-SHA1-80 tag.
SRTP_AUTH_TAG_SIZE = 10
MIN_SRTP_SIZE = 12 + SRTP_AUTH_TAG_SIZE
# Smallest SRTCP packet: 8-byte RTCP header + sender SSRC, E|index word, tag.
MIN_SRTCP_SIZE = 8 + 4 + SRTP_AUTH_TAG_SIZE
# pylibsrtp copies each packet into a 1500-byte buffer and refuses longer ones.
MAX_SRTP_SIZE = 1500

# libsrtp's messages (pylibsrtp.ERRORS) for its two replay-check failures:
# the index was already received (inside the window), or is older than it.
_REPLAY_SEEN = "replay check failed (bad index)"
_REPLAY_OLD = "replay check failed (index too old)"
_AUTH_FAIL = "authentication failure"


def _policy(session, ssrc):
    return Policy(key=session.srtp_key_and_salt, ssrc_type=Policy.SSRC_SPECIFIC,
                  ssrc_value=ssrc, srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80)


def inbound_context(session):
    """libsrtp session that unprotects the device's SRTP/SRTCP (uplink SSRC)."""
    return Session(_policy(session, session.uplink_ssrc))


def outbound_context(session):
    """libsrtp session that protects what the gateway sends (downlink SSRC)."""
    return Session(_policy(session, session.downlink_ssrc))


def counter_for(error):
    """Name of the counter a pylibsrtp.Error from unprotect belongs in."""
    message = str(error)
    if message == _AUTH_FAIL:
        return "auth_failed"
    if message == _REPLAY_SEEN:
        return "duplicate"
    if message == _REPLAY_OLD:
        return "replayed"
    return "malformed"


__all__ = ["Error", "inbound_context", "outbound_context", "counter_for",
           "MIN_SRTP_SIZE", "MIN_SRTCP_SIZE", "MAX_SRTP_SIZE"]
