"""examples/cursor_pages.py: many pages a run, a checkpoint after each, killed between pages.

The recipe runs as a real process against the demo feed's `/cookbook/pages`
(an opaque `next` cursor, `PAGE_SIZE` items a page). Besides two plain runs
and a run whose source fails halfway (`500` on a page: the pages before it
stay published and saved), the kill test starts it again and again and kills
it with SIGKILL after a random number of pages, at a random moment within a
page's time: while it fetches, publishes, waits for the outbox's fsync or
saves its checkpoint. Between runs the feed grows, so each run has pages to
do. After `KILLS` kills a last run finishes; then every item of the feed
must be in the outbox (lost 0), and no run after a kill may re-publish more
than one page of items.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time

from tests.support.cookbook import Recipe, served_cookbook, wait_until

PAGE_SIZE = 10
KILLS = 10
BACKLOG = 80  # each run starts with at least this many items to publish
PAGES = "/cookbook/pages"


def ids_of(messages) -> list[int]:
    return [json.loads(message.body)["id"] for message in messages]


def test_two_runs_then_a_source_that_fails_halfway(tmp_path):
    with served_cookbook(history=25, page_size=PAGE_SIZE) as server:
        recipe = Recipe("cursor_pages", "CursorPagesCollector", tmp_path, server)
        first = recipe.run()
        assert first.returncode == 0, first
        assert ids_of(first.messages) == list(range(1, 26))
        assert server.cookbook.requests[PAGES] == 3  # 10 + 10 + 5
        assert {m.routing_key for m in first.messages} == {"cursor-pages.items"}
        cursor = recipe.state()["cursor"]
        assert isinstance(cursor, str)

        nothing = recipe.run()
        assert nothing.returncode == 0 and nothing.messages == []
        assert "ok: nothing new to publish; state unchanged in" in nothing.summary
        assert recipe.state()["cursor"] == cursor

        server.feed.add(30)
        failing = {"status": 500, "count": 4, "retry_after": 0}  # 1 attempt + 3 retries
        server.cookbook.faults.add(PAGES, **failing)  # the first page of the run fails
        failed = recipe.run()
        assert failed.returncode == 1 and failed.messages == []
        assert "500 Internal Server Error (4 attempts" in failed.summary
        assert recipe.state()["cursor"] == cursor  # untouched

        server.cookbook.faults.add(PAGES, skip=1, **failing)  # the run's second page fails
        halfway = recipe.run()
        assert halfway.returncode == 1
        assert ids_of(halfway.messages) == list(range(26, 36))  # its first page, confirmed
        assert "10 message(s) published to outbox outbox.jsonl before it stopped; state " in (
            halfway.summary
        )
        assert halfway.summary.endswith(
            "; state saved to state/cursor_pages.CursorPagesCollector.json"
        )
        resumed = recipe.run()
        assert resumed.returncode == 0, resumed
        assert ids_of(resumed.messages) == list(range(36, 56))  # from the saved cursor


def test_sigkill_between_pages_loses_nothing_and_repeats_at_most_one_page(tmp_path, summary):
    seed = int(os.environ.get("COOKBOOK_KILLS_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    with served_cookbook(history=BACKLOG, page_size=PAGE_SIZE) as server:
        recipe = Recipe("cursor_pages", "CursorPagesCollector", tmp_path, server)
        requests = server.cookbook.requests

        started = time.monotonic()
        first = recipe.run()  # not killed: it times a page
        assert first.returncode == 0, first
        page_time = (time.monotonic() - started) / requests[PAGES]
        runs = [("finished", first.messages)]
        kills = 0
        while kills < KILLS:
            published = max(ids_of(recipe.all_messages()), default=0)
            server.feed.add(max(0, published + BACKLOG - len(server.feed)))
            before = requests[PAGES]
            process = recipe.start()
            pages = rng.randint(1, BACKLOG // PAGE_SIZE)
            wait_until(
                lambda p=process, b=before, n=pages: (
                    requests[PAGES] - b >= n or p.poll() is not None
                )
            )
            time.sleep(rng.uniform(0, page_time))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.communicate(timeout=30)
            runs.append(
                (
                    "killed" if process.returncode == -signal.SIGKILL else "finished",
                    recipe.new_messages(),
                )
            )
            assert process.returncode in (0, -signal.SIGKILL), process.returncode
        final = recipe.run()
        assert final.returncode == 0, final
        runs.append(("finished", final.messages))
        items = len(server.feed)

    seen = set(ids_of(runs[0][1]))
    repeats_after_kill = []
    for (before, _), (_, messages) in zip(runs, runs[1:], strict=False):
        ids = ids_of(messages)
        repeated = sum(1 for item_id in ids if item_id in seen)
        if before == "killed":
            repeats_after_kill.append(repeated)
        else:
            assert repeated == 0, "a run after a finished run published an item again"
        seen.update(ids)
    lost = items - len(seen & set(range(1, items + 1)))
    worst = max(repeats_after_kill)
    line = (
        f"cursor pages: kills: {kills}, runs: {len(runs)}, items: {items}, lost: {lost}, "
        f"re-published: {sum(repeats_after_kill)}, most after one kill: {worst} (page size "
        f"{PAGE_SIZE}), re-published at most one page: {worst <= PAGE_SIZE}, seed: {seed}"
    )
    print(line)
    summary(line)
    assert lost == 0, line
    assert worst <= PAGE_SIZE, line
