"""ESL emulator: FreeSWITCH's Event Socket for tests (``faxd.testing.esl.emulator.ESLEmulator``)."""
