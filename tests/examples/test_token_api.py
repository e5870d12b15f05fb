"""examples/token_api.py: an API that wants a token, which is never written anywhere.

The recipe runs as a real process (with `--verbose`, so every debug log line
counts too) against the demo feed's `/cookbook/api/items`: with the token
from its config file, then from the environment; then with a wrong token
(`403`), with none the server accepts (`401`) and with none at all. The
token is then searched for in everything the runs wrote: the state file,
stderr (logs and summary lines), the outbox, `stateful-collectors state
show`, and every error line. A `401` or `403` is asked once: no retry.
"""

from __future__ import annotations

import os

from tests.support.cookbook import Recipe, served_cookbook

TOKEN = "tk-0f3a9c2e7b51d846"
API = "/cookbook/api/items"


def test_the_token_is_sent_and_written_nowhere(tmp_path, summary):
    with served_cookbook(token=TOKEN) as server:
        recipe = Recipe("token_api", "TokenApiCollector", tmp_path, server, token=TOKEN)
        requests = server.cookbook.requests
        os.chmod(recipe.config, 0o644)
        exposed = recipe.run("--verbose")
        assert exposed.returncode == 3
        assert f"{recipe.config.name} holds the API token and others may read it" in (
            exposed.summary
        )
        assert requests[API] == 0
        os.chmod(recipe.config, 0o600)

        from_file = recipe.run("--verbose")
        assert from_file.returncode == 0, from_file
        assert [[i["id"] for i in body] for body in from_file.bodies()] == [[1, 2, 3, 4, 5]]

        server.feed.add(2)
        recipe.set(token="")
        from_env = recipe.run("--verbose", DEMO_API_TOKEN=TOKEN)
        assert from_env.returncode == 0, from_env
        assert [[i["id"] for i in body] for body in from_env.bodies()] == [[6, 7]]
        state_before = recipe.state_stamp()
        assert recipe.state() == {"since": "2026-11-27T20:06:00Z"}

        server.feed.add(1)
        asked = requests[API]
        wrong = recipe.run("--verbose", DEMO_API_TOKEN="tk-revoked-token")
        assert wrong.returncode == 1
        assert wrong.summary.endswith(
            "the server answered 403 Forbidden; check the credentials the collector sends, "
            "and what they allow (not retried); nothing published; state not saved (the "
            "next run starts from the previous state)"
        ), wrong.summary
        assert requests[API] == asked + 1  # asked once: no retry
        server.cookbook.faults.add(API, status=401, count=1)
        unknown = recipe.run("--verbose", DEMO_API_TOKEN=TOKEN)
        assert unknown.returncode == 1
        assert "401 Unauthorized; check the credentials the collector sends (not retried)" in (
            unknown.summary
        )
        assert requests[API] == asked + 2
        none = recipe.run("--verbose", DEMO_API_TOKEN=None)
        assert none.returncode == 3
        assert "has no token; set 'token' there" in none.summary
        assert requests[API] == asked + 2
        assert recipe.state_stamp() == state_before  # no failed run touched the state

        shown = recipe.show()
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.strip() == '{"since": "2026-11-27T20:06:00Z"}'

        refused = requests[API] - asked
    runs = [exposed, from_file, from_env, wrong, unknown, none]
    places = {
        "state file": recipe.state_file.read_text(),
        "stderr": "".join(run.stderr for run in runs),
        "outbox": recipe.outbox.read_text(),
        "state show": shown.stdout + shown.stderr,
        "error lines": "\n".join(run.summary for run in runs if run.returncode),
    }
    assert all(places.values())  # each place holds something to search
    hits = {place: text.count(TOKEN) for place, text in places.items()}
    assert "tk-revoked-token" not in "".join(places.values())
    line = (
        f"token api: runs: {len(runs)}, failed: {sum(1 for r in runs if r.returncode)}, "
        f"requests answered 401 or 403: {refused} (each asked once), token found in "
        + ", ".join(f"{place}: {count}" for place, count in hits.items())
    )
    print(line)
    summary(line)
    assert sum(hits.values()) == 0, line
