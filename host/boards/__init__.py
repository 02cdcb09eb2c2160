"""Boards as data: one JSON file per board in boards/, a schema, and each chip's pin rules."""
