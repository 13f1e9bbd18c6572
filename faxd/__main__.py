from faxd.green import patch

patch()

from faxd.cli import main  # noqa: E402

raise SystemExit(main())
