"""The fleet: device registry (registry.py over storage.py), credentials, certificates.

Nothing is imported here, so each module loads only what it needs; the
registry's entry point is host.fleet.registry.open_registry.
"""
