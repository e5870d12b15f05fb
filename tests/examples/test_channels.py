"""examples/channels.py: one cursor per channel, advanced together or not at all.

The recipe runs as a real process against the demo feed's
`/cookbook/channels/NAME.json`: a first run (one message per channel), a run
where only one channel has new records, a run where one channel's source
fails while both have new records (nothing published, no cursor moves), the
run after it (both published), and a run after a channel was added to the
config (it starts from its first record).
"""

from __future__ import annotations

import urllib.request

from tests.support.cookbook import Recipe, served_cookbook


def post(server, path: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(server.url + path, method="POST")):
        pass


def published(ran) -> dict[str, list[int]]:
    return {
        m.routing_key.split(".")[1]: [record["id"] for record in body]
        for m, body in zip(ran.messages, ran.bodies(), strict=True)
    }


def test_all_cursors_or_none(tmp_path, summary):
    with served_cookbook() as server:
        recipe = Recipe("channels", "ChannelsCollector", tmp_path, server)
        first = recipe.run()
        assert first.returncode == 0, first
        assert published(first) == {"phishing": [1, 2, 3, 4, 5], "malware": [1, 2, 3, 4, 5]}
        assert {m.routing_key for m in first.messages} == {"channels.phishing", "channels.malware"}
        assert recipe.state() == {"phishing": 5, "malware": 5}

        post(server, "/cookbook/channels/add?channel=malware&count=2")
        second = recipe.run()
        assert published(second) == {"malware": [6, 7]}
        assert recipe.state() == {"phishing": 5, "malware": 7}
        stamp = recipe.state_stamp()

        post(server, "/cookbook/channels/add?channel=phishing&count=1")
        post(server, "/cookbook/channels/add?channel=malware&count=1")
        path = "/cookbook/channels/malware.json"
        server.cookbook.faults.add(path, status=500, count=4, retry_after=0)
        failed = recipe.run()
        assert failed.returncode == 1
        assert f"{path}?after=7: the server answered 500" in failed.summary
        cursors = {"phishing": 5, "malware": 7}
        moved = sum(1 for channel, last in cursors.items() if recipe.state()[channel] != last)
        assert failed.messages == [] and recipe.state_stamp() == stamp and moved == 0

        fourth = recipe.run()
        assert published(fourth) == {"phishing": [6], "malware": [8]}
        assert recipe.state() == {"phishing": 6, "malware": 8}

        recipe.set(channels="phishing, malware, botnet")
        fifth = recipe.run()
        assert published(fifth) == {"botnet": [1, 2, 3, 4, 5]}
        assert recipe.state() == {"phishing": 6, "malware": 8, "botnet": 5}
        shown = recipe.show()
        assert shown.stdout.strip() == '{"botnet": 5, "malware": 8, "phishing": 6}', shown
    runs = [first, second, failed, fourth, fifth]
    line = (
        f"channels: runs: {len(runs)}, messages: {sum(len(r.messages) for r in runs)} (one "
        f"per channel with new records), the run with a failing channel: published "
        f"{len(failed.messages)}, cursors moved {moved} of {len(cursors)}"
    )
    print(line)
    summary(line)
