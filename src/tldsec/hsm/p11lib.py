"""The PKCS#11 module as this process holds it: loaded once, re-initialised when it must be.

A PKCS#11 library is process state by its own definition: C_Initialize once per process,
one login per token and application (PKCS#11 v2.40 5.4, 5.6), and python-pkcs11 caches
the loaded library per path. So this module keeps one table per process, the only
process state of the key stores, and hides four facts from them:

- after ``fork`` a child must call C_Initialize again (PKCS#11 v2.40 6.7.1); a child
  that finds the parent's entry re-initialises before use;
- SoftHSM2 reads its token directory at C_Initialize, so a token created later (by
  ``softhsm2-util`` in a test, or by ``tldsec init``) is seen only after C_Finalize +
  C_Initialize; a store that cannot find its label re-initialises once and looks again;
- logging out of one session logs the whole token out for the process, so the login
  is held by one dedicated session per token and counted; each store signs in its own
  session, which shares that login;
- SoftHSM2's file store fails processes that open the same token at the same moment, so
  opening takes a lock beside ``softhsm2.conf`` (``softhsm_lock``) and retries.

Every re-initialisation closes every session in the process; each entry has a
``generation`` and a store whose generation is stale opens a fresh session on its next
call. Stores are for one thread each; signing workers are processes. Code that needs a
session of its own calls ``open_user_session`` and ``close_user_session``.

One more fact, about threads: C_Finalize while another thread of the process is inside a
Cryptoki call is undefined (PKCS#11 v2.40 5.4), and SoftHSM2 then crashes the process
(``tldsec serve`` died of SIGSEGV when a refused activation closed every session while
the audit log was signing). So every call into the library from this package and the
audit signer holds one re-entrant lock, ``calls``; python-pkcs11 releases the GIL inside
a call, so without it another thread's C_Finalize could run in the middle. Signing is
not slowed: each process signs from one thread (workers are processes).
"""

from __future__ import annotations

import fcntl
import functools
import hmac
import inspect
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pkcs11
from pkcs11 import TokenFlag

from tldsec.errors import KeyStoreError, KeyStoreLoginError, KeyStoreUnavailable
from tldsec.hsm import softhsm_record
from tldsec.hsm.p11errors import Where, pkcs11_errors, translate
from tldsec.hsm.softhsm_record import RecordRestored
from tldsec.hsm.softhsm_store import TOKEN_RECORD, damage_note, softhsm_hint, token_directory

SOFTHSM2_CONF = "SOFTHSM2_CONF"
# SoftHSM2's file object store can fail a reader with CKR_GENERAL_ERROR while another
# process opens the same token at the same moment (SoftHSMv2 issue #757; seen here when
# forked workers start together). Opening a session retries that, re-initialised.
OPEN_ATTEMPTS = 6

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
_CALLS = threading.RLock()  # see the docstring: one Cryptoki call at a time per process


def _new_lock_in_child() -> None:
    global _CALLS  # a fork copies a lock another thread may hold: the child starts free
    _CALLS = threading.RLock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def calls() -> threading.RLock:
    """The lock every Cryptoki call of this process holds (``with p11lib.calls():``)."""
    return _CALLS


def serialized(function: Callable[P, R]) -> Callable[P, R]:
    """``function`` runs holding ``calls()``: no C_Finalize can run in the middle of it."""

    @functools.wraps(function)
    def holding(*args: P.args, **kwargs: P.kwargs) -> R:
        with _CALLS:
            return function(*args, **kwargs)

    return holding


def serialized_methods(cls: type[T]) -> type[T]:
    """Every public method of ``cls``, its own and those it inherits, ``serialized``."""
    done: set[str] = set()
    for klass in cls.__mro__[:-1]:
        for name, value in list(vars(klass).items()):
            if name.startswith("_") or name in done or not inspect.isfunction(value):
                continue
            done.add(name)
            setattr(cls, name, serialized(value))
    return cls


@dataclass(slots=True)
class _Login:
    session: Any  # pkcs11.Session holding the login; None if other code logged in
    pin: str = field(repr=False)
    users: int


@dataclass(slots=True)
class Module:
    """One loaded PKCS#11 library in this process."""

    path: str
    lib: Any  # pkcs11._pkcs11.lib
    pid: int
    conf: str | None  # SOFTHSM2_CONF when C_Initialize ran
    generation: int = 0
    logins: dict[int, _Login] = field(default_factory=dict)  # slot id -> login
    restored: list[RecordRestored] = field(default_factory=list)  # not yet taken

    @property
    def current(self) -> bool:
        return self.pid == os.getpid()


# One entry per module path: mirrors the C library's own per-process state (see above).
_MODULES: dict[str, Module] = {}


@serialized
def attach(module: Path, softhsm2_conf: Path | None) -> Module:
    """The loaded, initialised module at this path, for this process and configuration."""
    path = str(module)
    if not module.exists():
        raise KeyStoreUnavailable(f"PKCS#11 module {path} does not exist")
    if not module.is_file():
        raise KeyStoreUnavailable(f"PKCS#11 module {path} is not a file")
    want_conf = str(softhsm2_conf) if softhsm2_conf is not None else None
    entry = _MODULES.get(path)
    if entry is None:
        if want_conf is not None:
            # SoftHSM2 reads SOFTHSM2_CONF in C_Initialize, i.e. when the module loads.
            os.environ[SOFTHSM2_CONF] = want_conf
        # python-pkcs11 caches libraries per path; code other than ours may have loaded
        # this one already, with another configuration or in a parent process.
        preloaded = path in getattr(pkcs11, "_loaded", {})
        with softhsm_hint(os.environ.get(SOFTHSM2_CONF)), pkcs11_errors(Where("load", path)):
            lib = pkcs11.lib(path)
        entry = Module(path, lib, os.getpid(), os.environ.get(SOFTHSM2_CONF))
        _MODULES[path] = entry
        if preloaded:
            restart(entry)
    elif not entry.current or (want_conf is not None and want_conf != entry.conf):
        restart(entry, want_conf)
    return entry


@serialized
def restart(entry: Module, softhsm2_conf: str | None = None) -> None:
    """C_Finalize + C_Initialize: new process after fork, new tokens, or another config.

    Every session of the module in this process is gone afterwards; stores notice by
    the generation and reopen theirs.
    """
    if softhsm2_conf is not None:
        os.environ[SOFTHSM2_CONF] = softhsm2_conf
    try:
        entry.lib.finalize()
    except pkcs11.PKCS11Error as exc:
        # CKR_CRYPTOKI_NOT_INITIALIZED is expected in a forked child of a module that
        # resets itself on fork (SoftHSM2 library.reset_on_fork = true): nothing to
        # finalize there. python-pkcs11 has cleared its flag either way; if not, fail.
        if entry.lib.initialized:
            raise translate(exc, Where("load", entry.path)) from exc
    with softhsm_hint(os.environ.get(SOFTHSM2_CONF)), pkcs11_errors(Where("load", entry.path)):
        entry.lib.initialize()
    entry.pid = os.getpid()
    entry.conf = os.environ.get(SOFTHSM2_CONF)
    entry.generation += 1
    entry.logins.clear()


@serialized
def close_all_sessions(module: Path) -> None:
    """Close every session of this module in this process, which logs each of its tokens
    out (C_Finalize, then C_Initialize for later use; PKCS#11 v2.40 5.4). Stores still
    open find their session gone and log in again with their own PIN on their next
    call: close them first (deactivation, DPS 5.2.9)."""
    entry = _MODULES.get(str(module))
    if entry is not None and entry.current:
        restart(entry)


@serialized
def find_token(entry: Module, label: str, pin: str | None = None) -> Any:
    """The initialised token with this label; re-initialises once to see new tokens.

    With the PIN, a SoftHSM2 token whose record was emptied by a kill is repaired from
    its good copy if that opens with the PIN (``_repair``; decision 81).
    """
    token, tokens = _lookup(entry, label)
    if token is None:
        restart(entry)  # the token may have been created after the module was loaded
        token, tokens = _lookup(entry, label)
    if token is not None:
        return token
    notes: list[str] = []
    if pin is not None and entry.conf is not None:
        token = _repair(entry, Path(entry.conf), label, pin, notes)
        if token is not None:
            return token
    labels = ", ".join(f"'{t.label}'" for t in tokens) or "none"
    raise KeyStoreUnavailable(
        f"no token labelled '{label}' in PKCS#11 module {entry.path} (tokens found: {labels})"
        + damage_note(entry.conf, notes)
    )


def _lookup(entry: Module, label: str) -> tuple[Any, list[Any]]:
    """(the token with this label or None, every initialised token)."""
    with pkcs11_errors(Where("open", entry.path, label)):
        tokens = [t for t in entry.lib.get_tokens() if TokenFlag.TOKEN_INITIALIZED & t.flags]
    found = [t for t in tokens if t.label == label]
    if len(found) > 1:
        raise KeyStoreUnavailable(
            f"{len(found)} tokens are labelled '{label}' in PKCS#11 module {entry.path}: "
            "labels must be unique"
        )
    return (found[0] if found else None), tokens


def _repair(entry: Module, conf: Path, label: str, pin: str, notes: list[str]) -> Any:
    """Give a damaged token record back its good copy; kept only if the token then opens
    with ``pin`` (a PIN changed since the copy must not be undone), else put back as it
    was found, with a note for the error. The token, or None."""
    try:
        copies, notes[:] = softhsm_record.copies_for(conf, label)
    except OSError:
        return None  # the token directory itself is away: softhsm_hint's case
    for directory, copy_time in copies:
        try:
            restoration = softhsm_record.restore(directory, copy_time)
        except OSError as exc:
            notes.append(f"its good copy could not be put back ({exc})")
            continue
        restart(entry)  # SoftHSM2 reads token records at C_Initialize
        token, _ = _lookup(entry, label)
        if token is not None and _opens(token, pin):
            entry.restored.append(restoration.restored)
            keep_record_copy(entry, token)
            return token
        notes.append(
            f"a good copy of its record ({directory / softhsm_record.GOOD_COPY}, written "
            f"{copy_time.isoformat(timespec='seconds')}) exists but does not open with the "
            "current PIN, so it was not kept"
        )
        try:
            softhsm_record.undo(restoration)
        except OSError as exc:
            notes.append(f"the record as found could not be put back ({exc})")
        restart(entry)
    return None


def _opens(token: Any, pin: str) -> bool:
    """Whether the user PIN logs in to the token (then logged out again)."""
    try:
        session = token.open(user_pin=pin)
    except pkcs11.PKCS11Error:
        return False
    session.close()
    return True


def keep_record_copy(entry: Module, token: Any) -> None:
    """After a login: keep a good copy of a SoftHSM2 token's record (``softhsm_record``).
    A copy that cannot be written is not an outage: the previous copy stays."""
    tokens = token_directory(Path(entry.conf)) if entry.conf is not None else None
    if tokens is None:
        return  # not SoftHSM2's file store: nothing to copy
    serial = bytes(token.serial).decode("ascii", "replace")
    directory = softhsm_record.token_directory_of(tokens, serial)
    if directory is None:
        return
    try:
        softhsm_record.keep_good_copy(directory, token.label, serial)
    except OSError as exc:
        log.warning("cannot keep a good copy of %s/%s: %s", directory, TOKEN_RECORD, exc)


def take_restored() -> list[RecordRestored]:
    """The token records this process restored since last asked, for the audit log."""
    taken: list[RecordRestored] = []
    for entry in _MODULES.values():
        if entry.current:
            taken.extend(entry.restored)
        entry.restored.clear()
    return taken


@serialized
def login(entry: Module, token: Any, pin: str) -> None:
    """Make sure the token is logged in as user with this PIN; count this user."""
    slot = token.slot.slot_id
    held = entry.logins.get(slot)
    if held is not None:
        # One user PIN per token: the PIN that logged in is the right one.
        if not hmac.compare_digest(held.pin.encode(), pin.encode()):
            raise KeyStoreLoginError(f"wrong PIN for token '{token.label}'")
        held.users += 1
        return
    try:
        with pkcs11_errors(Where("login", entry.path, token.label)):
            session = token.open(user_pin=pin)
    except KeyStoreError as exc:
        if not isinstance(exc.__cause__, pkcs11.UserAlreadyLoggedIn):
            raise
        # Other code in this process logged the token in; PKCS#11 shares that login
        # with our sessions, but the PIN cannot be checked again without logging it out.
        session = None
    entry.logins[slot] = _Login(session, pin, 1)
    if session is not None:
        keep_record_copy(entry, token)  # SoftHSM2 has just rewritten the record (decision 81)


@serialized
def logout(entry: Module, slot: int) -> None:
    """One user fewer; the last one logs the token out and closes the login session."""
    held = entry.logins.get(slot)
    if held is None or not entry.current:
        return
    held.users -= 1
    if held.users > 0:
        return
    del entry.logins[slot]
    if held.session is not None:
        with pkcs11_errors(Where("logout", entry.path, held.session.token.label)):
            held.session.close()


@dataclass(frozen=True, slots=True)
class UserSession:
    """A read-write session on a logged-in token, and the module state it belongs to."""

    entry: Module
    slot: int
    session: Any  # pkcs11.Session, user type nobody: it shares the token's login
    generation: int

    @property
    def current(self) -> bool:
        """False once the module was re-initialised (or in a forked child): session gone."""
        return self.entry.current and self.entry.generation == self.generation


@serialized
def open_user_session(
    module: Path, softhsm2_conf: Path | None, label: str, pin: str
) -> UserSession:
    """Attach to the module, find the token, log in (shared), and open a session of our own."""
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            with softhsm_lock(softhsm2_conf):
                return _open_user_session(module, softhsm2_conf, label, pin)
        except KeyStoreError as exc:
            if attempt == OPEN_ATTEMPTS or not isinstance(exc.__cause__, pkcs11.GeneralError):
                raise
        time.sleep(0.005 * 2**attempt)  # 10 ms, 20 ms, ... 160 ms: let the other finish
        entry = _MODULES.get(str(module))
        if entry is not None:  # None: C_Initialize itself failed (a token directory away)
            restart(entry)
    raise AssertionError("unreachable")  # pragma: no cover


@serialized
def close_user_session(user: UserSession) -> None:
    """Close the session; the last user of the token logs it out."""
    if not user.current:
        return  # re-initialised since, or a forked child: the session no longer exists
    try:
        with pkcs11_errors(Where("close a session on", user.entry.path)):
            user.session.close()
    finally:
        logout(user.entry, user.slot)


def _open_user_session(
    module: Path, softhsm2_conf: Path | None, label: str, pin: str
) -> UserSession:
    entry = attach(module, softhsm2_conf)
    token = find_token(entry, label, pin)
    slot = token.slot.slot_id
    login(entry, token, pin)
    try:
        with pkcs11_errors(Where("open a session on", entry.path, label)):
            session = token.open(rw=True)  # shares the token's login (PKCS#11 v2.40 5.6)
    except KeyStoreError:
        logout(entry, slot)
        raise
    return UserSession(entry, slot, session, entry.generation)


@contextmanager
def softhsm_lock(softhsm2_conf: Path | None) -> Iterator[None]:
    """Hold ``<conf>.lock`` exclusively: one process at a time opens a SoftHSM2 token.

    SoftHSM2 2.6's file object store fails readers (CKR_GENERAL_ERROR, or a token left
    out of the slot list) when processes initialise and log in to the same token
    directory at the same moment; signing in open sessions is not affected. Without a
    configuration of ours (a vendor HSM) there is nothing to lock.
    """
    if softhsm2_conf is None:
        with _CALLS:
            yield
        return
    lock_path = softhsm2_conf.with_name(softhsm2_conf.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise KeyStoreUnavailable(f"cannot open the lock file {lock_path}: {exc.strerror}") from exc
    try:
        with _CALLS:  # always before the file lock: one order, no deadlock between threads
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
    finally:
        os.close(fd)  # releases the lock
