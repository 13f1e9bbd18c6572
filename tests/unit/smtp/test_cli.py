"""The gateway child gets the daemon's exact configuration through its environment."""
import dataclasses

from faxd.config import Config
from faxd.smtp.cli import config_from_env, config_to_env


def test_every_setting_survives_the_trip_to_the_child(tmp_path):
    config = Config.load(path=None, env={"FAXD_FETCH_ALLOW": "127.0.0.1/32,10.0.0.0/8",
                                         "FAXD_SMTP_LISTEN": "127.0.0.1:2626",
                                         "FAXD_SMTP_RELAY": "relay.example.com:25",
                                         "FAXD_NOTIFY_RETRY_BASE": "0.5"},
                         home=str(tmp_path))
    again = config_from_env(config_to_env(config))
    assert again == config
    for f in dataclasses.fields(Config):
        assert type(getattr(again, f.name)) is type(getattr(config, f.name)), f.name
