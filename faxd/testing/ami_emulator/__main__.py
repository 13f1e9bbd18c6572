"""``python -m faxd.testing.ami_emulator``: see faxd.testing.ami_emulator.emulator.main."""
from faxd.testing.ami_emulator.emulator import main

raise SystemExit(main())
