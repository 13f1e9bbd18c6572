"""Test helpers shared by faxd's tests and users' tests: emulators, builders, plugins."""
