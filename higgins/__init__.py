"""Higgins: an event-driven, Zun-compatible container service for OpenStack."""
