"""A home's zones (decision 57): ``[zones.NAME]`` tables naming ``[policies]``, the old
``[zone]`` and ``[policy]`` tables still read as one zone, and every refusal naming the
table and the key; a caller that needs one zone is told which zones there are."""

from __future__ import annotations

from pathlib import Path

import pytest

from tldsec.errors import ConfigError
from tldsec.settings import CONFIG_NAME, load_settings, policy_path

POLICY = Path(__file__).parents[2] / "src" / "tldsec" / "policies" / "dps.toml"


def home_with(tmp_path: Path, text: str) -> Path:
    (tmp_path / CONFIG_NAME).write_text(text, "utf-8")
    (tmp_path / "p.toml").write_text(POLICY.read_text("utf-8"), "utf-8")
    (tmp_path / "q.toml").write_text(POLICY.read_text("utf-8"), "utf-8")
    return tmp_path


def test_the_old_zone_table_is_the_only_zone_following_policy_default(tmp_path: Path) -> None:
    home = home_with(
        tmp_path,
        '[zone]\norigin = "Example"\nreserved_names = ["nic"]\nzones_dir = "z"\n'
        '[policy]\nfile = "p.toml"\n',
    )
    before = (home / CONFIG_NAME).read_bytes()
    settings = load_settings(home)
    assert list(settings.zones) == ["example."]
    zone = settings.zone
    assert settings.origin == zone.origin == "example." and zone.name == "example"
    assert zone.policy_name == "default" and zone.reserved_names == ("nic",)
    assert settings.apex is zone.apex and zone.apex.ns == ("a.nic.example.", "b.nic.example.")
    assert settings.policy is settings.policies["default"]
    assert policy_path(settings) == home / "p.toml" and settings.zones_dir == home / "z"
    assert (home / CONFIG_NAME).read_bytes() == before  # not rewritten


def test_zones_tables_name_shared_policies(tmp_path: Path) -> None:
    home = home_with(
        tmp_path,
        '[policies]\ndefault = "p.toml"\nstrict = "q.toml"\n'
        '[zones.example]\napex_ns = ["ns1.example."]\n'
        '[zones.SHOP]\npolicy = "strict"\nksk_stagger_days = 0\n'
        '[zones."co.test"]\nreserved_names = ["www"]\n',
    )
    settings = load_settings(home)
    assert list(settings.zones) == ["example.", "shop.", "co.test."]  # the file's order
    shop = settings.zones["shop."]
    assert shop.policy_name == "strict" and shop.ksk_stagger_days == 0
    assert settings.zones["example."].apex.ns == ("ns1.example.",)
    assert settings.zones["example."].ksk_stagger_days == 7
    assert settings.zones["co.test."].apex.soa_rname == "hostmaster.co.test."
    assert settings.policy_files == {"default": home / "p.toml", "strict": home / "q.toml"}
    assert settings.zones_dir == home / "zones"
    assert len(settings.zones_policies()) == 2


@pytest.mark.parametrize("attribute", ["origin", "zone", "apex"])
def test_a_caller_that_needs_one_zone_is_told_the_zones(tmp_path: Path, attribute: str) -> None:
    home = home_with(tmp_path, "[zones.example]\n[zones.shop]\n")
    settings = load_settings(home)
    with pytest.raises(ConfigError) as info:
        getattr(settings, attribute)
    assert str(info.value) == (
        f"this home serves example., shop.: name one with --zone ({home / CONFIG_NAME})"
    )


def test_settings_narrowed_to_one_zone_are_that_zones(tmp_path: Path) -> None:
    home = home_with(
        tmp_path,
        '[policies]\ndefault = "p.toml"\nstrict = "q.toml"\n'
        '[zones.example]\n[zones.shop]\npolicy = "strict"\n',
    )
    settings = load_settings(home)
    shop = settings.for_zone("SHOP")
    assert shop.origin == "shop." and shop.policy is settings.policies["strict"]
    assert shop.zone_dir == home / "zones" / "shop"
    assert shop.home == settings.home and shop.registry_db_url == settings.registry_db_url
    assert [s.origin for s in settings.selected_zones(None)] == ["example.", "shop."]
    assert [s.origin for s in settings.selected_zones("example.")] == ["example."]
    assert settings.one_zone("shop").origin == "shop."
    with pytest.raises(ConfigError, match=r"name one with --zone"):
        settings.one_zone(None)
    with pytest.raises(
        ConfigError, match=r"org\. is not a zone of this home \(it serves example\., shop\.;"
    ):
        settings.for_zone("org")


def test_a_one_zone_home_needs_no_zone_named(tmp_path: Path) -> None:
    settings = load_settings(home_with(tmp_path, "[zones.example]\n"))
    assert settings.one_zone(None).origin == "example."
    assert settings.zone_dir == tmp_path / "zones" / "example"


def test_one_policy_shared_by_several_zones_is_the_policy(tmp_path: Path) -> None:
    home = home_with(tmp_path, '[policies]\ndefault = "p.toml"\n[zones.example]\n[zones.shop]\n')
    settings = load_settings(home)
    assert settings.policy is settings.policies["default"]
    assert policy_path(settings) == home / "p.toml"


def test_zones_following_different_policies_have_no_one_policy(tmp_path: Path) -> None:
    home = home_with(
        tmp_path,
        '[policies]\ndefault = "p.toml"\nstrict = "q.toml"\n'
        '[zones.example]\n[zones.shop]\npolicy = "strict"\n',
    )
    settings = load_settings(home)
    with pytest.raises(
        ConfigError, match=r"different policies \(example\. default, shop\. strict\)"
    ):
        assert settings.policy
    with pytest.raises(ConfigError, match="different policies"):
        policy_path(settings)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[zone]\norigin = "example"\n[zones.shop]\n',
         "{f} has both [zone] and [zones.NAME] tables: keep one of them"),
        ('[zone]\norigin = "example"\n[policy]\nfile = "p.toml"\n[policies]\ndefault = "p.toml"\n',
         "{f} has both [policy] and [policies]: keep one of them"),
        ("[zones]\n", "{f} names no zone: add a [zones.NAME] table"),
        ('[zones."example."]\n',
         '[zones."example."] in {f}: write the origin without its final dot ([zones."example"])'),
        ("[zones.exa_mple]\n", "[zones.\"exa_mple\"] in {f}: 'exa_mple' is not a zone name"),
        ("[zones.-shop]\n", "[zones.\"-shop\"] in {f}: '-shop' is not a zone name"),
        ('[zones."a..b"]\n', "[zones.\"a..b\"] in {f}: 'a..b' is not a zone name"),
        (f"[zones.{'a' * 64}]\n", "is not a zone name"),
        ("[zones.example]\n[zones.EXAMPLE]\n", "[zones.EXAMPLE] in {f}: example. is named twice"),
        ('[zones.example]\n[zones."co.example"]\n',
         "{f}: zone co.example. is under zone example.; one home does not serve a zone and "
         "its child zone"),
        ('[zones.example]\npolicy = "strict"\n',
         "[zones.example] policy in {f}: policy 'strict' is not in [policies] (it names default)"),
        ('[policies]\nstrict = "q.toml"\n[zone]\norigin = "example"\n',
         "[zone] in {f}: policy 'default' is not in [policies] (it names strict)"),
        ('[policies]\ndefault = ""\n[zones.example]\n',
         "[policies] default in {f} is empty: name a policy file"),
        ("[policies]\ndefault = 1\n[zones.example]\n",
         "[policies] default in {f} must be a string, not 1 (an integer)"),
        ("[zones.example]\nplicy = 'default'\n",
         "unknown key 'plicy' in [zones.example] of {f}; did you mean 'policy'?"),
        ("[zones.example]\norigin = 'example.'\n",
         "unknown key 'origin' in [zones.example] of {f}"),
        ("[zones.example]\nksk_stagger_days = -1\n",
         "[zones.example] ksk_stagger_days in {f} must be at least 0, not -1 (an integer)"),
        ("[zones.example]\npolicy = ''\n",
         "[zones.example] policy in {f} must be not empty, not '' (a string)"),
        ("[zones.example]\napex_ns = []\n",
         "[zones.example] apex_ns in {f} must be not empty, not an empty array"),
        ("zone = 1\n", "[zone] in {f} must be a table, not 1 (an integer)"),
        ("zones = 1\n", "[zones] in {f} must be a table, not 1 (an integer)"),
        ("[zones]\nexample = 1\n", "[zones.example] in {f} must be a table, not 1 (an integer)"),
    ],
)  # fmt: skip
def test_every_refusal_names_the_table_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    home = home_with(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(home)
    assert message.format(f=home / CONFIG_NAME) in str(info.value)


def test_a_missing_policy_file_is_named(tmp_path: Path) -> None:
    home = home_with(tmp_path, '[policies]\ndefault = "nope.toml"\n[zones.example]\n')
    with pytest.raises(ConfigError, match=r"cannot read .*nope\.toml"):
        load_settings(home)
