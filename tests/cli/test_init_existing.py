"""``tldsec init --existing`` on a config the operator wrote (issue 22 item 1): each
missing prerequisite is one line naming the ``tldsec.toml`` key to fix, never a
traceback; once fixed, a second run does only what is left and says what was done."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.distribute.homes import tldsec
from tests.fixtures.postgres import ADMIN_URL
from tests.fixtures.softhsm import SOFTHSM_PIN, SOFTHSM_SO_PIN
from tldsec.hsm.softhsm import init_softhsm_token
from tldsec.hsm.softhsm_library import find_softhsm2_module


def write_home(home: Path, keystore: str, extra: str = "") -> Path:
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    (home / "tldsec.toml").write_text(
        f'[zone]\norigin = "shop."\n\n[keystore]\n{keystore}\n{extra}', "utf-8"
    )
    return home


def pin_file(folder: Path) -> Path:
    path = folder / "so-user-pin"
    path.write_text(SOFTHSM_PIN + "\n")
    path.chmod(0o600)
    return path


def token(softhsm_home: Path) -> str:
    label = f"inst-{uuid.uuid4().hex[:8]}"
    init_softhsm_token(softhsm_home, label, SOFTHSM_PIN, SOFTHSM_SO_PIN)
    return label


def keystore(softhsm_home: Path, label: str, module: str | None = None) -> str:
    return (
        f'backend = "pkcs11"\nmodule = "{module or find_softhsm2_module()}"\n'
        f'token_label = "{label}"\npin_source = "security-officer"\n'
        f'softhsm2_conf = "{softhsm_home / "softhsm2.conf"}"\n'
    )


def init_existing(home: Path, *extra: str) -> tuple[int, str, str]:
    out = tldsec("init", "--existing", "--home", str(home), *extra, check=False)
    return out.returncode, out.stdout, out.stderr


def one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("tldsec: error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_no_config_says_to_write_it(tmp_path: Path) -> None:
    code, _, err = init_existing(tmp_path / "home")
    assert code == 1
    assert "tldsec.toml does not exist: write it first" in one_line_error(err)


def test_a_missing_module_names_keystore_module(tmp_path: Path, softhsm_home: Path) -> None:
    home = write_home(tmp_path / "home", keystore(softhsm_home, "x", "/nonexistent/p11.so"))
    code, _, err = init_existing(home, "--pin-file", str(pin_file(tmp_path)))
    assert code == 1
    assert "[keystore] module /nonexistent/p11.so" in one_line_error(err)
    assert not (home / "audit-key.pem").exists()  # nothing done before the check


def test_an_uninitialised_token_names_token_label_then_a_rerun_finishes(
    tmp_path: Path, softhsm_home: Path
) -> None:
    home = write_home(tmp_path / "home", keystore(softhsm_home, "never-initialised"))
    pins = pin_file(tmp_path)
    code, out, err = init_existing(home, "--pin-file", str(pins))
    assert code == 1, out + err
    line = one_line_error(err)
    assert "[keystore] token_label 'never-initialised'" in line
    assert "softhsm2-util --init-token" in line

    label = token(softhsm_home)  # the operator initialises it, and corrects the label
    write_home(home, keystore(softhsm_home, label))
    code, out, err = init_existing(home, "--pin-file", str(pins))
    assert code == 0, out + err
    assert "present databases at the newest schema" in out  # migrated by the first run
    assert "present audit log and its key" in out
    assert "present EPP TLS certificate" in out
    assert "done    first keys: KSK" in out
    assert "present zone directory" in out  # made by the first run (decision 66)
    assert "summary: 1 done, 4 already done" in out


def test_origin_must_match_the_config(tmp_path: Path, softhsm_home: Path) -> None:
    home = write_home(tmp_path / "home", keystore(softhsm_home, "x"))
    code, _, err = init_existing(home, "--origin", "other")
    assert code == 1 and "differs from [zone] origin 'shop.'" in one_line_error(err)


def test_under_a_ceremony_the_first_keys_wait_for_the_founding(
    tmp_path: Path, softhsm_home: Path
) -> None:
    home = write_home(tmp_path / "home", keystore(softhsm_home, token(softhsm_home)),
                      '\n[ceremony]\nrequired = "all"\n')  # fmt: skip
    code, out, err = init_existing(home)  # no PIN needed: the HSM is not opened
    assert code == 0, out + err
    assert "waiting the first keys" in out and "tldsec ceremony found" in out
    keys = tldsec("keys", "list", "--home", str(home), "--json").stdout
    assert keys.strip() == "[]"


@pytest.fixture
def pg_roles() -> Iterator[tuple[str, str, str]]:
    """A database owned by a fresh owner role, and an application role; dropped after."""
    tag = uuid.uuid4().hex[:10]
    db, owner, app = f"tldsec_ie_{tag}", f"ie_own_{tag}", f"ie_app_{tag}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{owner}" LOGIN')
        admin.execute(f'CREATE ROLE "{app}" LOGIN')
        admin.execute(f'CREATE DATABASE "{db}" OWNER "{owner}"')
    yield db, owner, app
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.execute(f'DROP DATABASE IF EXISTS "{db}_missing" WITH (FORCE)')
        admin.execute(f'DROP ROLE IF EXISTS "{app}"')
        admin.execute(f'DROP ROLE IF EXISTS "{owner}"')


def pg_url(role: str, db: str) -> str:
    server = ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1).rsplit("/", 1)[0]
    return server.replace("postgres@", f"{role}@", 1) + f"/{db}"


def test_a_database_not_created_names_its_url_key(
    tmp_path: Path, softhsm_home: Path, pg_roles: tuple[str, str, str]
) -> None:
    db, owner, app = pg_roles
    home = write_home(tmp_path / "home", keystore(softhsm_home, "x"),
                      f'\n[database]\nregistry_url = "{pg_url(app, db + "_missing")}"\n'
                      f'owner_role = "{owner}"\n')  # fmt: skip
    code, _, err = init_existing(home)
    line = one_line_error(err)
    assert code == 1 and "[database] registry_url" in line and "does not exist" in line


def test_migrating_as_the_app_role_names_owner_role_and_owner_role_fixes_it(
    tmp_path: Path, softhsm_home: Path, pg_roles: tuple[str, str, str]
) -> None:
    """The issue's traceback: the application role may not create tables."""
    db, owner, app = pg_roles
    home = write_home(tmp_path / "home", keystore(softhsm_home, token(softhsm_home)),
                      f'\n[database]\naudit_url = "{pg_url(app, db)}"\n')  # fmt: skip
    for command in (("init", "--existing"), ("db", "upgrade")):
        out = tldsec(*command, "--home", str(home), check=False)
        line = one_line_error(out.stderr)
        assert out.returncode == 1
        assert "permission denied for schema public" in line
        assert "[database] owner_role" in line and "[database] audit_url" in line

    pins = str(pin_file(tmp_path))
    code, out, err = init_existing(home, "--owner-role", owner, "--pin-file", pins)
    assert code == 0, out + err
    assert f"audit: role {app} may append and read only" in out
    assert "summary: 5 done" in out  # with the zone's directory (decision 66)


def test_an_unreachable_server_names_the_url_key(tmp_path: Path, softhsm_home: Path) -> None:
    url = "postgresql+psycopg://tldsec_app@127.0.0.1:9/tldsec_registry"  # discard port
    home = write_home(tmp_path / "home", keystore(softhsm_home, "x"),
                      f'\n[database]\nregistry_url = "{url}"\n')  # fmt: skip
    code, _, err = init_existing(home)
    line = one_line_error(err)
    assert code == 1 and "cannot reach the registry database" in line
    assert "[database] registry_url" in line


def test_a_new_home_still_needs_its_origin(tmp_path: Path) -> None:
    code, _, err = tldsec_init(tmp_path / "home")
    assert code == 1 and "--origin ORIGIN is required" in one_line_error(err)
    assert not (tmp_path / "home").exists()


def tldsec_init(home: Path) -> tuple[int, str, str]:
    out = tldsec("init", "--home", str(home), check=False)
    return out.returncode, out.stdout, out.stderr
