"""`StatefulCollectorMixin`: a collector's state, kept between runs.

A collector is an OS process that cron starts, that runs for a while and then
exits. Whatever it must remember until the next run (the time of the newest
item it published, say) has to live outside the process: in a *state file*.
`StatefulCollectorMixin` gives a collector three methods for it:

* `load_state()` returns the saved state, or `make_default_state()` on the first run;
* `save_state(state)` replaces the file durably: after it returns, a crash or a
  power cut leaves the new state; before it returns, the old one;
* `make_default_state()` is what the first run starts from (`None` unless overridden).

The file is a pickle by default, so almost any Python object can be a state;
set `state_codec = "json"` for states that are plain JSON data. Where the
bytes live is the mixin's *store* (`make_state_store()`): by default the file
`<state_dir>/<module>.<class name>.pickle`; with a `[postgresql]` section in the
config, a row of a PostgreSQL table that several hosts share.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from stateful_collectors.collectors.base import AbstractBaseCollector
from stateful_collectors.errors import (
    CollectorError,
    DeadlineExceeded,
    SaveOutcomeUnknownError,
    StateFileError,
)
from stateful_collectors.runtime import interrupts
from stateful_collectors.runtime.output import shell_word
from stateful_collectors.state import stores
from stateful_collectors.state.codecs import StateCodec, codec_named
from stateful_collectors.state.store import (
    StateStore,
    StoreRequest,
    decode_saved_state,
    decode_state,
)

__all__ = ["StatefulCollectorMixin", "default_state_dir"]

log = logging.getLogger(__package__)  # "stateful_collectors.state", as logs show it

_STATE_DIR_OPTION = "state_dir = :: path\n"  # n6's dialect: optional, default_state_dir()

_VERSION_KEY = "state_version"
_STATE_KEY = "state"


class StatefulCollectorMixin(AbstractBaseCollector):
    """Keeps a collector's state in a file between runs.

    Put it before the base class (`class C(StatefulCollectorMixin, BaseCollector)`)
    and keep calling `super().__init__(**kwargs)`. `__init__` joins the
    `state_dir` option of `self.config` with `get_state_file_name()`; nothing
    touches the disk until `load_state()`.

    A `config_spec` must declare `state_dir :: path`. In n6 4.x's dialect
    (`config_spec_pattern`) the mixin adds the option itself, optional: left
    out of the config, it is `default_state_dir()`.

    The first `load_state()` (or `save_state()`) takes the single-instance lock, a
    `flock` on `<state file>.lock`, held until the process ends or `close()`: a
    second run of the same collector started meanwhile raises
    `AlreadyRunningError` before it loads anything. With a `[postgresql]`
    section in the config the state is a row of a PostgreSQL table and the lock
    a session advisory lock, which hold across hosts (`make_state_store()`).

    Attributes:
        state_codec: `"pickle"` (default) or `"json"`, or a `StateCodec` object.
        state_version: `None` (default) stores the state as it is. An integer
            stores `{"state_version": n, "state": state}`; loading a file with an
            older version (an unversioned file counts as version 0) passes it
            through `migrate_state()` first.
        state_store: where the state lives (see `make_state_store()`).
    """

    state_codec: ClassVar[str | StateCodec] = "pickle"
    state_version: ClassVar[int | None] = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._codec = codec_named(self.state_codec)
        self.state_store: StateStore = self.make_state_store()
        """Where the state lives: the store `make_state_store()` made."""
        self.state_saved = False
        """Whether `save_state()` has completed in this process."""
        self.save_outcome_unknown = False
        """Whether a save's commit was sent and its answer never came (a shared store)."""

    @classmethod
    def config_spec_pattern_defaults(cls) -> str:
        """Adds `state_dir` to the collector's section in n6 4.x's dialect (optional)."""
        return super().config_spec_pattern_defaults() + _STATE_DIR_OPTION

    # -- the seed's API

    def get_state_file_name(self) -> str:
        """The file name (not path) of the state: `<module>.<qualname><suffix>`.

        When the collector's module runs as a script (`__main__`), the script's
        own module name is used instead (`python -m pkg.mod` gives `pkg.mod`,
        `python my_collector.py` gives `my_collector`), so the name does not
        change between running the file and importing it. Override to choose
        another name.
        """
        cls = type(self)
        return f"{_stable_module_name(cls)}.{cls.__qualname__}{self._codec.suffix}"

    def load_state(self) -> Any:
        """The state saved by the last successful run, or `make_default_state()`.

        Takes the single-instance lock first. A missing file logs one warning
        and gives the default; an empty, damaged or unsafe file raises
        `StateFileError` and is left untouched.
        """
        self.acquire_state_lock()
        saved = self.state_store.open_read()
        description = self.state_store.description
        if saved is None:
            log.warning("%s not found; starting from the default state", description)
            return self.make_default_state()
        loaded = decode_saved_state(self._codec, saved, description, self._reset_hint())
        return self._unwrap_state(loaded)

    def save_state(self, state: Any) -> None:
        """Replace the state file durably with `state`.

        After it returns the new state survives a crash or a power cut; if it
        raises, the old file is byte-for-byte what it was and no temporary file
        is left. A signal that arrives while it writes takes effect once the
        save is complete (see `stateful_collectors.runtime.interrupts`).

        A shared store can lose its connection after the save's commit was
        sent: `SaveOutcomeUnknownError` then says the save may or may not have
        landed, and `state_location` becomes `None`, so that the run's line
        claims neither.
        """
        self.acquire_state_lock()
        data = self._codec.dumps(self._wrap_state(state))
        with interrupts.deferred():
            try:
                self.state_store.write(data)
            except CollectorError as exc:
                self._save_failed(exc)
                raise
            self.state_saved = True
        log.debug("state saved to %s", self.state_store.location)

    def make_default_state(self) -> Any:
        """The state of the very first run. Returns `None`; override it."""
        return None

    def checkpoint(self, state: Any) -> None:
        """Wait until everything published so far is confirmed, then `save_state(state)`.

        Call it every few hundred messages in a long run: a crash afterwards
        resumes from here, re-publishing only what came after the checkpoint.
        `state` must describe exactly what was published up to this call.
        """
        self.wait_for_confirms()
        self.save_state(state)

    # -- extras

    def make_state_store(self) -> StateStore:
        """Where the state lives: the store the config selects (`state.stores.STORES`).

        By default the file `<state_dir>/<get_state_file_name()>`. With a
        `[postgresql]` section in the config (or
        `$STATEFUL_COLLECTORS_POSTGRESQL_DSN` set), the row of that name in a
        PostgreSQL table instead (`stateful_collectors.state.stores.postgresql`);
        `state_dir` is then not used.
        """
        return stores.store_from_config(self.config_source, self._store_request())

    @classmethod
    def library_sections(cls) -> tuple[str, ...]:
        """The base classes' sections, and the stores' (`[postgresql]`)."""
        return (*super().library_sections(), *stores.SECTIONS)

    @property
    def state_file_path(self) -> Path:
        """The full path of the state file."""
        return Path(self.state_store.location)

    @property
    def state_location(self) -> str | None:
        """Where the state is; `None` once a save's outcome is unknown (see `save_state()`)."""
        return None if self.save_outcome_unknown else self.state_store.location

    def migrate_state(self, state: Any, from_version: int) -> Any:
        """Turn a state saved with `from_version` into one of `state_version`.

        Called by `load_state()` only when `state_version` is set and the file is
        older. The default refuses; override it when you bump `state_version`.
        """
        raise StateFileError(
            f"{self.state_store.description} has state version {from_version} but "
            f"{type(self).__qualname__} expects {self.state_version} and defines no "
            "migrate_state(); add one, or reset the state"
        )

    def check_state_bytes(self, data: bytes, where: str) -> None:
        """Raise `StateFileError` unless `data` decodes with this collector's codec.

        The `state restore` and `state copy` commands check a state's bytes
        with it before they put them in place.
        """
        decode_state(self._codec, data, where, self._reset_hint())

    def acquire_state_lock(self) -> None:
        """Take the single-instance lock now (a no-op when already held)."""
        self.state_store.acquire_lock()

    def prepare_state(self) -> None:
        """Before fetching: take the lock, and check that the state can be saved."""
        self.acquire_state_lock()
        self.state_store.check_writable()

    def close(self) -> None:
        """Release the single-instance lock; then let the base classes close."""
        self.state_store.release_lock()
        super().close()

    # -- internals

    def _save_failed(self, exc: CollectorError) -> None:
        """Note how a save failed, for the run's line (also when the deadline passed meanwhile)."""
        if isinstance(exc, SaveOutcomeUnknownError):
            self.save_outcome_unknown = True
        interruption = interrupts.received()
        if isinstance(interruption, DeadlineExceeded) and interruption.save_failure is None:
            interruption.save_failure = str(exc)

    def _reset_hint(self) -> str:
        """The command that resets this state, made once: every load names it, in case."""
        hint: str | None = self.__dict__.get("_reset_hint_text")
        if hint is None:
            hint = f"stateful-collectors state reset {self._command_target()}"
            self._reset_hint_text = hint
        return hint

    def _command_target(self) -> str:
        """What makes a `state` command find this state: `MODULE:CLASS [--config FILE]`.

        `--config` comes with the file the run was given on its command line;
        a config found through `$STATEFUL_COLLECTORS_CONFIG` or the search
        path, and a store's variable, are found again the same way.
        """
        target = shell_word(_import_path(type(self)))
        config_file = self.config_source.config_file
        return f"{target} --config {shell_word(config_file)}" if config_file else target

    def _store_request(self) -> StoreRequest:
        """What the store is told of this collector: the state's name, the codec, the class."""
        try:
            state_dir: Path | None = Path(self.config["state_dir"] or default_state_dir())
        except KeyError:
            state_dir = None  # the file store says what to add; another store needs none
        cls = type(self)
        return StoreRequest(
            self.get_state_file_name(),
            codec=self._codec.name,
            owner=cls.__qualname__,
            reset_hint=self._reset_hint(),
            target=self._command_target(),
            state_dir=state_dir,
        )

    def _wrap_state(self, state: Any) -> Any:
        if self.state_version is None:
            return state
        return {_VERSION_KEY: self.state_version, _STATE_KEY: state}

    def _unwrap_state(self, loaded: Any) -> Any:
        if self.state_version is None:
            return loaded
        if isinstance(loaded, dict) and set(loaded) == {_VERSION_KEY, _STATE_KEY}:
            version, state = loaded[_VERSION_KEY], loaded[_STATE_KEY]
        else:
            version, state = 0, loaded
        where = self.state_store.description
        if not isinstance(version, int) or isinstance(version, bool):
            raise StateFileError(
                f"{where} has an invalid state version {version!r} (not a whole number); it "
                "was left untouched: restore it from a backup or reset the state"
            )
        if version > self.state_version:
            raise StateFileError(
                f"{where} has state version {version!r}, newer than "
                f"{type(self).__qualname__}'s {self.state_version}; run the newer collector "
                "version that wrote it"
            )
        if version < self.state_version:
            log.info(
                "migrating state of %s from version %s to %s",
                type(self).__qualname__,
                version,
                self.state_version,
            )
            state = self.migrate_state(state, version)
        return state


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """The state dir of a collector whose config leaves `state_dir` out (n6's dialect only).

    `$XDG_STATE_HOME/stateful-collectors`, that is
    `~/.local/state/stateful-collectors` when `XDG_STATE_HOME` is unset,
    empty or not an absolute path (as the XDG base directory rules say).

    ```python
    from stateful_collectors.state.mixin import default_state_dir

    print(default_state_dir({"XDG_STATE_HOME": "/var/lib/me"}))
    #> /var/lib/me/stateful-collectors
    ```
    """
    env = os.environ if env is None else env
    state_home = env.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state_home):
        state_home = os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state_home) / "stateful-collectors"


def _stable_module_name(cls: type) -> str:
    module = cls.__module__
    if module != "__main__":
        return module
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name not in (None, "__main__"):
        return str(spec.name)  # `python -m pkg` runs pkg.__main__: the name importing it gives
    main_file = getattr(main, "__file__", None)
    if main_file and not main_file.startswith("<"):  # "<stdin>" names no file
        return Path(main_file).stem
    raise TypeError(
        f"cannot give {cls.__qualname__} a stable state file name: it was defined in an "
        "interactive session; define it in a module or override get_state_file_name()"
    )


def _import_path(cls: type) -> str:
    """`MODULE:CLASS` as the `stateful-collectors state` commands accept it from here.

    A top-level module whose file is not in the current directory (a script, or
    a file the CLI loaded by path) is named by its path, relative when shorter.
    """
    try:
        module = _stable_module_name(cls)
    except TypeError:
        module = cls.__module__
    file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    if file and "." not in module and os.path.dirname(os.path.abspath(file)) != os.getcwd():
        relative = os.path.relpath(file)
        module = relative if len(relative) < len(file) else file
    return f"{module}:{cls.__qualname__}"
