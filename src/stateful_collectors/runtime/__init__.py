"""A collector run as an OS process: one run, its signals and its deadline.

* `runner`: one run of a collector class (`run_collector`), its summary line
  and exit status, and the `main()` of a console script (`collector_main`,
  which `cli_main()` calls);
* `interrupts`: what may stop a run (SIGINT, SIGTERM, SIGHUP, its deadline),
  and when nothing may (a state being saved);
* `output`: every line the library prints, built and written in one place.

A collector's code needs neither: `cli_main()`, `stateful-collectors run` and
the `state` commands use them. This `__init__` imports nothing, so that a
command can handle signals before it imports anything else.
"""
