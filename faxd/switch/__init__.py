"""The SwitchBackend seam: FreeSWITCH, Asterisk, or the in-process software line."""
