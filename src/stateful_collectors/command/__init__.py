"""The `stateful-collectors` command: how collectors are run and looked after from a shell.

Nothing a collector's own code needs lives here; the library (the rest of the
package) never imports it.

* `cli`: argument parsing and dispatch of `stateful-collectors` (and of
  `python -m stateful_collectors`);
* `loading`: `MODULE:CLASS` to a collector class, and the `[project.scripts]`
  lines of a module's collectors (`stateful-collectors scripts`);
* `state_commands`: what `stateful-collectors state ...` does, through the store;
* `state_view`: the text form of a state that `state show` prints and `state set` reads.

This `__init__` imports nothing, so that `cli` handles signals from its first line.
"""
