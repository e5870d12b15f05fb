"""The file store's backups: listed oldest first, read back by path or by name, nothing else."""

from __future__ import annotations

import os

import pytest

from stateful_collectors.errors import UsageError
from stateful_collectors.state.stores.files import FileStore


def test_backups_are_listed_and_read_back_by_path_or_name(state_dir):
    store = FileStore(state_dir / "demo.json")
    store.write(b'{"n": 1}\n')
    first = store.backup()
    store.write(b'{"n": 2}\n')
    second = store.backup()
    (state_dir / "demo.json.notes.bak").write_text("not a backup of this store\n")
    (state_dir / "other.json.20261127T203000000000Z.bak").write_text("{}\n")

    listed = store.list_backups()
    assert [backup.name for backup in listed] == [first, second]
    assert [backup.size for backup in listed] == [9, 9]
    assert all(backup.taken.endswith("Z") for backup in listed)
    assert store.read_backup(first) == b'{"n": 1}\n'
    assert store.read_backup(os.path.basename(second)) == b'{"n": 2}\n'
    assert store.read_backup(os.path.abspath(first)) == b'{"n": 1}\n'
    for stranger in (
        "demo.json.notes.bak",
        "other.json.20261127T203000000000Z.bak",
        f"/tmp/{os.path.basename(first)}",
        "demo.json",
    ):
        with pytest.raises(UsageError, match="is not a backup of state file"):
            store.read_backup(stranger)
