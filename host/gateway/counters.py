"""Per-session and total packet counters of the gateway.

Plain integer attributes (``counters.received += 1``) so the per-packet path
pays one attribute increment and nothing else; totals are summed on demand.
What each counter means is documented in docs (gateway.md) and in COUNTERS.
"""

# name -> meaning; the order is the order of snapshots and of the docs.
COUNTERS = {
    "received": "authenticated, well-formed RTP packets of the session's payload type",
    "lost": "sequence numbers the jitter buffer stopped waiting for (gap declared lost)",
    "late": "authenticated packets that arrived after their slot was played or concealed",
    "duplicate": "packets whose SRTP index (or RTP sequence number) was already received",
    "reordered": "packets that arrived after a higher sequence number but still in time",
    "concealed": "frames synthesised by Opus PLC (lost without FEC, or undecodable payload)",
    "fec_recovered": "lost frames rebuilt from the next packet's Opus in-band FEC",
    "silence_frames": "frames of silence inserted where the sender paused (timestamp gap)",
    "frames_written": "16 kHz PCM frames handed to the sink (decoded + concealed + silence)",
    "auth_failed": "SRTP/SRTCP packets whose authentication tag did not verify",
    "replayed": "SRTP/SRTCP packets older than libsrtp's replay window",
    "malformed": "packets that could not be routed or parsed, or carried a foreign payload type",
    "unknown_ssrc": "packets whose SSRC belongs to no session (no state kept for them)",
    "rtcp_received": "authenticated, well-formed RTCP compound packets",
    "rtcp_sent": "SRTCP receiver reports sent to the device",
    "address_changes": "authenticated packets that moved the device's address (NAT rebinding)",
    "discontinuities": "gaps larger than the wall clock allows, clipped instead of filled",
    "sink_errors": "frames the sink refused with OSError (disk full, closed file)",
}

COUNTER_NAMES = tuple(COUNTERS)


class Counters:
    """One integer per name in COUNTER_NAMES, all starting at zero."""

    __slots__ = COUNTER_NAMES

    def __init__(self):
        for name in COUNTER_NAMES:
            setattr(self, name, 0)

    def add(self, other):
        """Add other's counts into this one (for totals); return self."""
        for name in COUNTER_NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    def as_dict(self):
        """Snapshot as a plain dict, in COUNTER_NAMES order."""
        return {name: getattr(self, name) for name in COUNTER_NAMES}

    def __repr__(self):
        nonzero = ", ".join("%s=%d" % (name, getattr(self, name))
                            for name in COUNTER_NAMES if getattr(self, name))
        return "Counters(%s)" % nonzero
