"""Configuration: defaults, TOML, FAXD_* variables (env wins), one clear error per problem."""
import os

import pytest

from faxd.config import Config, describe
from faxd.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_defaults_need_no_configuration(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    c = Config.load(env={})
    assert c.home == "./var"
    assert c.database_url is None
    assert c.api_listen == ("127.0.0.1", 8000)
    assert c.switch == "software"
    assert c.esl_url == ("esl://:ClueCon@127.0.0.1:8021",)
    assert c.spool_path == os.path.join("./var", "spool")
    assert c.t38 == "accept"


def test_env_wins_over_file(tmp_path):
    f = tmp_path / "faxd.toml"
    f.write_text('api_listen = "127.0.0.1:9000"\nswitch = "freeswitch"\nmax_pages = 20\n')
    c = Config.load(str(f), env={"FAXD_API_LISTEN": "127.0.0.1:9100", "FAXD_MAX_PAGES": "7"})
    assert c.api_listen == ("127.0.0.1", 9100)
    assert c.switch == "freeswitch"
    assert c.max_pages == 7


def test_faxd_section_is_accepted(tmp_path):
    f = tmp_path / "faxd.toml"
    f.write_text('[faxd]\nlog_level = "debug"\n')
    assert Config.load(str(f), env={}).log_level == "debug"


def test_several_esl_nodes(tmp_path):
    c = Config.load(env={"FAXD_ESL_URL": "esl://:a@127.0.0.1:8021, esl://:b@127.0.0.2:8021"})
    assert c.esl_url == ("esl://:a@127.0.0.1:8021", "esl://:b@127.0.0.2:8021")


@pytest.mark.parametrize("toml, message", [
    ('colour = "blue"\n', "unknown setting 'colour'"),
    ('[smtp]\nlisten = "x"\n', "unknown section [smtp]"),
    ('api_listen = "nowhere"\n', "bad value for api_listen (FAXD_API_LISTEN): expected host:port"),
    ('max_pages = "many"\n', "bad value for max_pages (FAXD_MAX_PAGES): expected an integer"),
    ('switch = "hylafax"\n', "bad value for switch (FAXD_SWITCH): must be one of software, freeswitch, asterisk"),
    ('api_listen = \n', "is not valid TOML"),
])
def test_bad_file_names_the_problem(tmp_path, toml, message):
    f = tmp_path / "faxd.toml"
    f.write_text(toml)
    with pytest.raises(ConfigError) as e:
        Config.load(str(f), env={})
    assert message in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("env, message", [
    ({"FAXD_DATABASE_URL": "mysql://x@y/z"}, "bad value for database_url (FAXD_DATABASE_URL)"),
    ({"FAXD_DATABASE_URL": "postgresql://u@h:notaport/db"}, "the port is not a number"),
    ({"FAXD_ESL_URL": "http://127.0.0.1:8021"}, "bad value for esl_url"),
    ({"FAXD_FETCH_ALLOW": "10.0.0.300/8"}, "bad value for fetch_allow"),
    ({"FAXD_API_LISTEN": "127.0.0.1:70000"}, "port must be 0..65535"),
])
def test_bad_env_names_the_problem(env, message):
    with pytest.raises(ConfigError) as e:
        Config.load(env=env)
    assert message in str(e.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        Config.load(str(tmp_path / "nope.toml"), env={})


def test_readme_documents_every_setting():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    missing = [env for _, env, _, _ in describe() if f"`{env}`" not in readme]
    assert not missing, f"README configuration table lacks {missing}"


@pytest.mark.parametrize("url", [
    "postgresql://faxd@db1:5432,db2:5433/faxd?target_session_attrs=read-write",
    "postgresql://db1,db2,db3/faxd?target_session_attrs=read-write",
    "postgresql://faxd:secret@[::1]:5432,10.0.0.2:5432/faxd",
])
def test_multi_host_database_url_is_accepted_as_given(url):
    # libpq follows a failover through the host list; faxd hands the URL on unchanged.
    assert Config.load(env={"FAXD_DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize("url, message", [("postgresql://u@db1:5432,db2:x/faxd", "the port is not a number"),
                                          ("postgresql://u@db1:99999,db2/faxd", "port must be 1..65535")])
def test_multi_host_database_url_with_a_bad_port_names_it(url, message):
    with pytest.raises(ConfigError, match=message):
        Config.load(env={"FAXD_DATABASE_URL": url})
