"""Tests of host/fleet/."""
