"""examples/rate_limited.py: 429 and Retry-After, retries bounded by the run's deadline.

The recipe runs as a real process against the demo feed's
`/cookbook/limited.json`, which answers at most `RATE_LIMIT` requests a
minute (`429` with `Retry-After` beyond) and can be made to answer `429` or
`401` on demand: a first run; a run that meets one `429` with `Retry-After:
1`, waits a second and gets its items; a run that meets `429` on every
attempt and gives up after `download_retries`; a run that meets the real
limit, whose `Retry-After` asks for more time than the run's deadline leaves,
and gives up at once; a `401`, asked once. The state is untouched whenever
it gives up.
"""

from __future__ import annotations

import time

from tests.support.cookbook import Recipe, served_cookbook

LIMITED = "/cookbook/limited.json"
RATE_LIMIT = 2  # real requests a minute (forced answers do not count)


def test_retries_as_asked_and_gives_up_within_the_deadline(tmp_path, summary):
    with served_cookbook(rate_limit=RATE_LIMIT) as server:
        recipe = Recipe("rate_limited", "RateLimitedCollector", tmp_path, server, deadline=10)
        requests = server.cookbook.requests
        faults = server.cookbook.faults

        first = recipe.run()
        assert first.returncode == 0, first
        assert [[item["id"] for item in body] for body in first.bodies()] == [[1, 2, 3, 4, 5]]
        assert recipe.state() == {"since": "2026-11-27T20:04:00Z"}

        server.feed.add(2)
        faults.add(LIMITED, status=429, count=1, retry_after=1)
        started = time.monotonic()
        waited = recipe.run()
        elapsed = time.monotonic() - started
        assert waited.returncode == 0, waited
        assert "429 Too Many Requests; attempt 2 of 4 in 1 s" in waited.stderr
        assert elapsed >= 1.0  # Retry-After honoured
        assert [[item["id"] for item in body] for body in waited.bodies()] == [[6, 7]]
        stamp = recipe.state_stamp()

        server.feed.add(1)
        faults.add(LIMITED, status=429, count=4, retry_after=0)
        exhausted = recipe.run()
        assert exhausted.returncode == 1
        assert exhausted.stderr.count("attempt ") == 3
        assert "429 Too Many Requests (4 attempts, download_retries = 3); nothing " in (
            exhausted.summary
        )
        assert exhausted.messages == [] and recipe.state_stamp() == stamp
        # Two real requests so far (the forced answers do not count): the limit is reached.
        asked = requests[LIMITED]
        started = time.monotonic()
        limited = recipe.run()
        gave_up_in = time.monotonic() - started
        assert limited.returncode == 1
        assert requests[LIMITED] == asked + 1  # one 429, no wait
        assert "would pass the run's deadline" in limited.summary, limited.summary
        assert limited.messages == [] and recipe.state_stamp() == stamp
        assert gave_up_in < 5
        print(limited.summary)

        faults.add(LIMITED, status=401, count=1)
        refused = recipe.run()
        assert refused.returncode == 1
        assert "401 Unauthorized; check the credentials" in refused.summary
        requests_after_401 = requests[LIMITED] - asked - 1
        assert requests_after_401 == 1  # asked once
        assert recipe.state_stamp() == stamp
        total = requests[LIMITED]
    runs = [first, waited, exhausted, limited, refused]
    retries = sum(run.stderr.count("; attempt ") for run in runs)
    gave_up = sum(1 for run in (exhausted, limited) if run.returncode == 1)
    line = (
        f"rate limited: runs: {len(runs)}, requests: {total}, retries: {retries}, gave up: "
        f"{gave_up} (after 4 attempts; at once when Retry-After passed the 10 s deadline, "
        f"in {gave_up_in:.1f} s), 401 asked once: {requests_after_401 == 1}, state "
        f"untouched when it gave up: {recipe.state_stamp() == stamp}"
    )
    print(line)
    summary(line)
