"""``python -m faxd.smtp``: the gateway child process that SmtpGatewayService supervises."""
from faxd.green import patch

patch()

import argparse  # noqa: E402

from faxd import logs  # noqa: E402
from faxd.cli import _fail  # noqa: E402
from faxd.errors import FaxdError  # noqa: E402
from faxd.smtp import cli  # noqa: E402


def _main() -> int:
    import os
    parser = argparse.ArgumentParser(prog="faxd smtp")
    cli.add_arguments(parser)
    args = parser.parse_args()
    config = cli.config_from_env(os.environ[cli.CONFIG_ENV])
    logs.setup(config.log_level, fmt=config.log_format)
    try:
        return cli.main(args, config)
    except FaxdError as e:
        return _fail(str(e), 2 if e.__class__.__name__ == "ConfigError" else 1)


raise SystemExit(_main())
