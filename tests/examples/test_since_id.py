"""examples/since_id.py: the largest id published is the state; gaps and late ids.

The recipe runs as a real process against the demo feed's `/cookbook/ids`,
asking two records a request so that a run takes several: a first run, a
second after new records that leave a gap in the ids, a run whose source
fails (the state stays as it was), and a run after a record that came late,
with an id below one already published: as the page says, it is not
published.
"""

from __future__ import annotations

import json
import urllib.request

from tests.support.cookbook import Recipe, served_cookbook

IDS = "/cookbook/ids"


def post(server, path: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(server.url + path, method="POST")):
        pass


def ids_in(ran) -> list[list[int]]:
    return [[record["id"] for record in body] for body in ran.bodies()]


def test_gaps_cost_nothing_and_a_late_id_is_not_asked_for(tmp_path, summary):
    with served_cookbook() as server:
        recipe = Recipe("since_id", "SinceIdCollector", tmp_path, server, batch=2)
        requests = server.cookbook.requests

        first = recipe.run()
        assert first.returncode == 0, first
        assert ids_in(first) == [[1, 2, 3, 4, 5]]  # one message, three requests
        assert requests[IDS] == 3
        assert {m.routing_key for m in first.messages} == {"since-id.records"}
        assert recipe.state() == {"since_id": 5}

        post(server, "/cookbook/ids/add?count=3&skip=2")  # ids 8, 9, 10: no 6 or 7
        second = recipe.run()
        assert second.returncode == 0, second
        assert ids_in(second) == [[8, 9, 10]]
        assert recipe.state() == {"since_id": 10}
        stamp = recipe.state_stamp()

        post(server, "/cookbook/ids/add?count=1")  # id 11
        server.cookbook.faults.add(IDS, status=503, count=4, retry_after=0)
        failed = recipe.run()
        assert failed.returncode == 1
        assert "503 Service Unavailable (4 attempts" in failed.summary
        assert failed.messages == [] and recipe.state_stamp() == stamp

        post(server, "/cookbook/ids/add?id=7")  # late: below the 10 already published
        third = recipe.run()
        assert third.returncode == 0, third
        assert ids_in(third) == [[11]]  # 11 after the failure; 7 never comes
        assert recipe.state() == {"since_id": 11}

        shown = recipe.show()
        assert shown.stdout.strip() == '{"since_id": 11}', shown.stderr
        published = [i for ran in (first, second, third) for body in ids_in(ran) for i in body]
        with urllib.request.urlopen(f"{server.url}{IDS}?limit=1000") as answer:
            served = sorted(record["id"] for record in json.load(answer))
    late = sorted(set(served) - set(published))
    line = (
        f"since id: runs: 4, ids served: {len(served)}, published: {len(published)} "
        f"(each once: {len(set(published)) == len(published)}), gap of 2 ids: nothing "
        f"lost, late ids not published: {late}"
    )
    print(line)
    summary(line)
    assert late == [7], line
