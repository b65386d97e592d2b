"""The [distribute] table: defaults, secondaries, TSIG keys, and each mistake named."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tldsec.distribute.config import (
    DEFAULT_SECONDARIES,
    distribute_from_dict,
    load_distribute_settings,
    parse_hostport,
)
from tldsec.distribute.notify import notify_targets
from tldsec.errors import ConfigError
from tldsec.settings import load_settings

SECRET = base64.b64encode(bytes(range(32))).decode()


def test_the_embedded_default_allows_loopback_without_tsig(tmp_path: Path) -> None:
    (tmp_path / "tldsec.toml").write_text('[zone]\norigin = "example"\n')
    settings = load_distribute_settings(load_settings(tmp_path))
    assert settings.listen == "127.0.0.1:5300"
    assert settings.store_for("example.") == tmp_path / "zones/example/dist"  # decision 57
    assert settings.secondaries == DEFAULT_SECONDARIES
    (loopback,) = settings.secondaries
    assert loopback.allows("127.0.0.1") and loopback.allows("::1")
    assert loopback.allows("::ffff:127.0.0.1")
    assert not loopback.allows("192.0.2.1") and not loopback.allows("not-an-address")
    assert loopback.tsig_key is None and loopback.notify == ()


def test_secondaries_with_tsig_keys_and_notify_targets(tmp_path: Path) -> None:
    (tmp_path / "ns2.key").write_text(SECRET + "\n")
    settings = distribute_from_dict(
        {
            "listen": "[::1]:5301",
            "keep": 4,
            "notify_attempts": 3,
            "secondaries": [
                {
                    "name": "ns1",
                    "allow": ["192.0.2.0/24"],
                    "notify": ["192.0.2.1"],
                    "tsig_key": "k1",
                },
                {
                    "name": "ns2",
                    "allow": ["2001:db8::1"],
                    "notify": ["[2001:db8::1]:5353"],
                    "tsig_key": "k2",
                },
            ],
            "tsig_keys": {
                "k1": {"algorithm": "hmac-sha512", "secret": SECRET},
                "k2": {"secret_file": "ns2.key"},
            },
        },
        tmp_path,
        source="test",
    )
    ns1, ns2 = settings.secondaries
    assert ns1.allows("192.0.2.77") and ns1.notify == (("192.0.2.1", 53),)
    assert ns2.notify == (("2001:db8::1", 5353),)
    assert settings.key("k1").algorithm == "hmac-sha512"
    assert settings.key("k2").secret == bytes(range(32))
    assert settings.keep == 4 and settings.notify.attempts == 3
    with pytest.raises(ConfigError, match="no TSIG key named 'k3'"):
        settings.key("k3")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"lissen": "x"}, "unknown key 'lissen' in \\[distribute\\].*did you mean 'listen'"),
        ({"keep": 1}, "keep in test must be at least 2, not 1"),
        ({"secondaries": [{"alow": []}]}, "unknown key 'alow'.*did you mean 'allow'"),
        ({"secondaries": {"allow": []}}, "secondaries in test must be an array of tables"),
        ({"listen": "127.0.0.1:port"}, "use HOST:PORT"),
        ({"secondaries": [{"allow": ["300.1.1.1"]}]}, "does not appear to be an IPv4"),
        ({"secondaries": [{"allow": ["127.0.0.1"], "tsig_key": "nope"}]}, "not in"),
        ({"tsig_keys": {"k": {"secret": "!!"}}}, r"tsig_keys.k\]"),
        ({"tsig_keys": {"k": {"secret": SECRET, "algorithm": "hmac-md5"}}}, "not one of"),
        ({"tsig_keys": {"k": {"secret": "c2hvcnQ="}}}, "shorter than 16 bytes"),
        ({"tsig_keys": {"k": {"secret_file": "missing"}}}, "cannot read"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        distribute_from_dict(table, tmp_path, source="test")


def test_host_and_port_forms() -> None:
    assert parse_hostport("192.0.2.1") == ("192.0.2.1", 53)
    assert parse_hostport("192.0.2.1:5300") == ("192.0.2.1", 5300)
    assert parse_hostport("[::1]:54") == ("::1", 54)
    assert parse_hostport("::1") == ("::1", 53)


def test_a_secondary_names_the_zones_it_serves(tmp_path: Path) -> None:
    """Decision 63: ``zones`` limits a secondary (its ACL, its key) to those zones;
    without it, a secondary serves every zone of the home, as a one-zone home's does."""
    settings = distribute_from_dict(
        {
            "tsig_keys": {"ns1": {"secret": SECRET}, "ns2": {"secret": SECRET}},
            "secondaries": [
                {"name": "ns1", "allow": ["192.0.2.1"], "tsig_key": "ns1", "zones": ["Example"]},
                {"name": "ns2", "allow": ["192.0.2.2"], "tsig_key": "ns2", "zones": ["shop."]},
                {"name": "ns3", "allow": ["192.0.2.3"]},
            ],
        },
        tmp_path,
        source="test",
        origins=["example.", "shop."],
    )
    ns1, ns2, ns3 = settings.secondaries
    assert ns1.zones == frozenset({"example."})
    assert ns1.serves("EXAMPLE.") and not ns1.serves("shop.")
    assert ns2.serves("shop") and not ns2.serves("example.")
    assert ns3.zones is None and ns3.serves("example.") and ns3.serves("shop.")


@pytest.mark.parametrize(
    ("zones", "message"),
    [
        (
            ["shop"],
            r"secondaries\]\] #1 \(ns1\): zones names shop\., not a zone of this home "
            r"\(it serves example\.\)",
        ),
        ([], r"secondaries\]\] #1 \(ns1\): zones = \[\] serves no zone"),
    ],
)
def test_a_zone_the_home_does_not_serve_is_refused(
    tmp_path: Path, zones: list[str], message: str
) -> None:
    table = {"secondaries": [{"name": "ns1", "allow": ["192.0.2.1"], "zones": zones}]}
    with pytest.raises(ConfigError, match=message):
        distribute_from_dict(table, tmp_path, source="test", origins=["example."])


def test_the_zones_of_the_settings_are_the_zones_checked(tmp_path: Path) -> None:
    (tmp_path / "tldsec.toml").write_text(
        '[zones.example]\n[zones.shop]\n[[distribute.secondaries]]\nname = "ns1"\n'
        'allow = ["127.0.0.1"]\nzones = ["shop", "other"]\n',
        "utf-8",
    )
    with pytest.raises(ConfigError, match=r"zones names other\., not a zone of this home"):
        load_distribute_settings(load_settings(tmp_path))


def test_each_zone_has_its_own_store_by_zone_in_store_dir(tmp_path: Path) -> None:
    """Decision 63: ``{zone}`` in ``store_dir`` gives each zone its own store (its own
    serials and fence); a one-zone home's ``store_dir`` stays as it is."""
    (tmp_path / "tldsec.toml").write_text(
        '[zones.example]\n[zones.shop]\n[distribute]\nstore_dir = "zones/{zone}/dist"\n', "utf-8"
    )
    dist = load_distribute_settings(load_settings(tmp_path))
    assert dist.store_for("example.") == tmp_path / "zones/example/dist"
    assert dist.store_for("shop.") == tmp_path / "zones/shop/dist"

    (tmp_path / "tldsec.toml").write_text("[zones.example]\n[zones.shop]\n", "utf-8")
    home = load_settings(tmp_path)  # the default: each zone's own (decision 57)
    assert load_distribute_settings(home).store_for("shop.") == tmp_path / "zones/shop/dist"

    (tmp_path / "tldsec.toml").write_text(
        '[zones.example]\n[zones.shop]\n[distribute]\nstore_dir = "zones/dist"\n', "utf-8"
    )
    home = load_settings(tmp_path)
    # narrowed to one zone (a zone's cycle), the store is still checked against them all
    shared = r'store_dir = ".*zones/dist" is one directory for the zones example\., shop\.: '
    for dist in (load_distribute_settings(home), load_distribute_settings(home.for_zone("shop"))):
        with pytest.raises(ConfigError, match=shared + "each zone needs its own store"):
            dist.store_for("shop.")

    (tmp_path / "tldsec.toml").write_text(
        '[zone]\norigin = "example"\n[distribute]\nstore_dir = "zones/dist"\n', "utf-8"
    )
    one = load_distribute_settings(load_settings(tmp_path))
    assert one.store_for("example.") == one.store_dir == tmp_path / "zones/dist"


def test_notify_goes_to_the_secondaries_of_the_zone(tmp_path: Path) -> None:
    """Decision 63: a zone's NOTIFY targets are those of the secondaries serving it,
    each signed with that secondary's key."""
    dist = distribute_from_dict(
        {
            "tsig_keys": {"k1": {"secret": SECRET}, "k2": {"secret": SECRET}},
            "secondaries": [
                {"name": "ns1", "notify": ["192.0.2.1:53"], "tsig_key": "k1", "zones": ["example"]},
                {"name": "ns2", "notify": ["192.0.2.2:5353"], "tsig_key": "k2", "zones": ["shop"]},
                {"name": "ns3", "notify": ["192.0.2.3"]},
            ],
        },
        tmp_path,
        source="test",
        origins=["example.", "shop."],
    )
    example = notify_targets(dist, "example.")
    assert [(t.name, t.host, t.port) for t in example] == [
        ("ns1", "192.0.2.1", 53),
        ("ns3", "192.0.2.3", 53),
    ]
    assert example[0].key is not None and example[0].key.name.to_text() == "k1."
    assert example[1].key is None
    shop = notify_targets(dist, "shop.")
    assert [t.name for t in shop] == ["ns2", "ns3"]
    assert shop[0].key is not None and shop[0].key.name.to_text() == "k2."
