"""ESL emulator: FreeSWITCH's Event Socket for tests (``faxd.testing.esl.emulator.ESLEmulator``): the
wire (``wire``: frames, command reader, sessions) apart from the replay engine (``emulator``)."""
