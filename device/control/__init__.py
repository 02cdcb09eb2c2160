"""The MQTT control plane: topic tree (topics), messages (messages), settings.

Written once here, in code that runs on MicroPython and CPython; the host's
fleet service imports the same modules. docs/protocol.md is the contract.
Importing the package imports nothing else, so a board loads only what it uses.
"""
