"""Tests of device/control/: topics, messages, settings."""
