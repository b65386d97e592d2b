"""tldsec.toml is read once and strictly: every typo and wrong type is named (issue 13,
attack 1), with the file, the table, the key and the nearest valid key."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tldsec.errors import ConfigError
from tldsec.settings import CONFIG_NAME, load_settings
from tldsec.settings.tables import ConfigFile

ZONE = '[zone]\norigin = "example"\n'


def home_with(tmp_path: Path, text: str) -> Path:
    (tmp_path / CONFIG_NAME).write_text(text, "utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("text", "table", "key", "nearest"),
    [
        (ZONE + '[database]\nregisty_url = "sqlite:///x.db"\n', "database", "registy_url",
         "registry_url"),
        ('[zone]\norigin = "example"\nsoa_rnmae = "ops.example."\n', "zone", "soa_rnmae",
         "soa_rname"),
        (ZONE + '[epp]\nlistn = "127.0.0.1:700"\n', "epp", "listn", "listen"),
        (ZONE + '[keystore]\nbakend = "file"\n', "keystore", "bakend", "backend"),
        (ZONE + '[serve]\nhealth_lisen = "127.0.0.1:1"\n', "serve", "health_lisen",
         "health_listen"),
        (ZONE + "[cycle]\nworker = 2\n", "cycle", "worker", "workers"),
        (ZONE + "[audit]\ncheckpoint_evry = 2\n", "audit", "checkpoint_evry",
         "checkpoint_every"),
        (ZONE + '[policy]\nfiel = "p.toml"\n', "policy", "fiel", "file"),
        (ZONE + "[keys]\nparent_server = []\n", "keys", "parent_server", "parent_servers"),
        (ZONE + "[distribute]\nkep = 3\n", "distribute", "kep", "keep"),
        (ZONE + "[verify]\nworkrs = 3\n", "verify", "workrs", "workers"),
        (ZONE + "[ceremony]\nvalid_minute = 3\n", "ceremony", "valid_minute", "valid_minutes"),
    ],
)  # fmt: skip
def test_an_unknown_key_names_file_table_key_and_the_nearest_valid_key(
    tmp_path: Path, text: str, table: str, key: str, nearest: str
) -> None:
    home = home_with(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(home)
    assert str(info.value) == (
        f"unknown key {key!r} in [{table}] of {home / CONFIG_NAME}; did you mean {nearest!r}?"
    )


def test_an_unknown_table_is_named_too(tmp_path: Path) -> None:
    home = home_with(tmp_path, ZONE + '[databse]\nregistry_url = "sqlite:///x.db"\n')
    with pytest.raises(ConfigError, match=r"unknown table 'databse' .*did you mean 'database'"):
        load_settings(home)


def test_a_key_nothing_resembles_gets_no_guess(tmp_path: Path) -> None:
    home = home_with(tmp_path, ZONE + "[epp]\nzzz = 1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(home)
    assert str(info.value).endswith(f"unknown key 'zzz' in [epp] of {home / CONFIG_NAME}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # attack 1: "false" in quotes used to read as true
        (ZONE + '[epp]\nrequire_client_cert = "false"\n',
         "[epp] require_client_cert in {f} must be true or false (a TOML boolean, without "
         "quotes), not 'false' (a string)"),
        (ZONE + "[verify]\nincremental = 0\n",
         "[verify] incremental in {f} must be true or false (a TOML boolean, without quotes), "
         "not 0 (an integer)"),
        (ZONE + '[epp]\nmax_frame_bytes = "64k"\n',
         "[epp] max_frame_bytes in {f} must be an integer, not '64k' (a string)"),
        (ZONE + "[epp]\nidle_timeout_seconds = true\n",
         "[epp] idle_timeout_seconds in {f} must be an integer, not True (a boolean)"),
        (ZONE + "[epp]\nidle_timeout_seconds = 1.5\n",
         "[epp] idle_timeout_seconds in {f} must be an integer, not 1.5 (a float)"),
        (ZONE + "[epp]\nsessions_per_registrar = 0\n",
         "[epp] sessions_per_registrar in {f} must be at least 1, not 0 (an integer)"),
        (ZONE + "[database]\nregistry_url = 5\n",
         "[database] registry_url in {f} must be a string, not 5 (an integer)"),
        (ZONE + '[keystore]\nbackend = "hsm"\n',
         "[keystore] backend in {f} must be one of 'pkcs11', 'file', 'memory', not 'hsm' "
         "(a string)"),
        ('[zone]\norigin = "example"\napex_ns = "a.nic.example."\n',
         "[zone] apex_ns in {f} must be an array of strings, not 'a.nic.example.' (a string)"),
        ('[zone]\norigin = "example"\napex_ns = []\n',
         "[zone] apex_ns in {f} must be not empty, not an empty array"),
        ('[zone]\norigin = "example"\nsoa_refresh = 0\n',
         "[zone] soa_refresh in {f} must be at least 1, not 0 (an integer)"),
        ('[zone]\norigin = "example"\napex_glue = { "a.nic.example." = "192.0.2.1" }\n',
         "[zone] apex_glue.a.nic.example. in {f} must be an array of strings, not '192.0.2.1' "
         "(a string)"),
        ("[zone]\norigin = 1\n", "[zone] origin in {f} must be a string, not 1 (an integer)"),
        ('[keystore]\nbackend = "file"\n',
         "{f} names no zone: add a [zones.NAME] table for each TLD (NAME is the origin "
         'without its dot, e.g. [zones.example]), or one [zone] table with origin = "..."'),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_type_or_range_is_named(
    tmp_path: Path, text: str, message: str
) -> None:
    home = home_with(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(home)
    assert str(info.value) == message.format(f=home / CONFIG_NAME)


def test_a_table_given_a_value_is_refused(tmp_path: Path) -> None:
    home = home_with(tmp_path, 'epp = "yes"\n' + ZONE)
    with pytest.raises(ConfigError, match=r"\[epp\] in .* must be a table, not 'yes'"):
        load_settings(home)


def test_true_and_false_as_toml_booleans_are_read(tmp_path: Path) -> None:
    home = home_with(tmp_path, ZONE + "[epp]\nrequire_client_cert = true\n")
    assert load_settings(home).epp.require_client_cert is True
    home = home_with(tmp_path, ZONE + "[epp]\nrequire_client_cert = false\n")
    assert load_settings(home).epp.require_client_cert is False


def test_every_table_is_read_once_into_the_settings_tree(tmp_path: Path) -> None:
    home = home_with(
        tmp_path,
        ZONE
        + "[cycle]\nworkers = 3\n[serve]\naudit_watch_seconds = 4\n[audit]\ncheckpoint_every = 7\n"
        + '[keys]\nparent_servers = ["192.0.2.1"]\n[ceremony]\nrequired = "all"\n'
        + "[distribute]\nkeep = 4\n",
    )
    settings = load_settings(home)
    config = settings.config
    assert isinstance(config, ConfigFile) and settings.source == home / CONFIG_NAME
    assert config.cycle.workers == 3 and config.serve.audit_watch_seconds == 4.0
    assert config.audit.checkpoint_every == 7 and config.keys.parent_servers == ("192.0.2.1",)
    assert config.ceremony.required == "all" and config.distribute.keep == 4
    assert config.epp.require_client_cert is False  # the default of an absent table


def schema(hint: typing.Any) -> typing.Any:
    """The dataclass a table of ``ConfigFile`` is read into (``[zone]``'s when optional,
    each ``[zones.NAME]``'s), or None for a table of plain values (``[policies]``)."""
    if typing.get_origin(hint) is dict:
        hint = typing.get_args(hint)[1]
    for option in typing.get_args(hint) or (hint,):
        if dataclasses.is_dataclass(option):
            return option
    return None


def _keys() -> list[tuple[str, str]]:
    hints = typing.get_type_hints(ConfigFile)
    return [
        (table.name, key.name)
        for table in dataclasses.fields(ConfigFile)
        if schema(hints[table.name]) is not None
        for key in dataclasses.fields(schema(hints[table.name]))
    ]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(_keys()), st.integers(min_value=0), st.sampled_from(["drop", "double"]))
def test_any_misspelt_key_of_any_table_is_refused_with_a_valid_guess(
    tmp_path: Path, table_key: tuple[str, str], where: int, how: str
) -> None:
    """A key with one letter dropped or doubled never passes silently; the guess offered
    is always a key the table has."""
    table, key = table_key
    i = where % len(key)
    typo = key[:i] + key[i + 1 :] if how == "drop" else key[:i] + key[i] + key[i:]
    known = {k for t, k in _keys() if t == table}
    assume(typo not in known and typo)
    header = "" if table == "zone" else f"[{table}]\n"  # [zone] is open at the end of ZONE
    text = f"{ZONE}{header}{typo} = 1\n"
    if table == "zones":  # [zones.NAME] instead of [zone]
        table, text = "zones.example", f"[zones.example]\n{typo} = 1\n"
    home = home_with(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(home)
    message = str(info.value)
    assert message.startswith(f"unknown key {typo!r} in [{table}] of {home / CONFIG_NAME}")
    guess = message.partition("; did you mean ")[2].rstrip("?").strip("'")
    assert not guess or guess in known
