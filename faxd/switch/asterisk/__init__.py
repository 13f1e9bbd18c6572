"""Asterisk backend: AMI protocol (ami), action builders (commands), AMI -> neutral events (events)."""
from faxd.switch.asterisk.backend import AsteriskBackend, AsteriskCall

__all__ = ["AsteriskBackend", "AsteriskCall"]
