"""Real network partitions: collector "hosts" in network namespaces, cut off from the database.

A partition is not a process that dies: the packets stop, both ways, and
nobody is told. These helpers make one for real, with iproute2 (`ip`, `tc`),
as root (CI runs as root):

* `Network` (the `partition_network` fixture, one per session and worker)
  puts a *service address*, `198.18.K.1` (RFC 2544's benchmarking range, one
  /24 per session, chosen from the process id and skipped when taken), on a
  veth pair of its own in the root namespace. The partition tests' PostgreSQL
  server (`partition_postgresql`) and their feeds listen there.
* `Network.host(name)` gives a `NetHost`: a network namespace joined to the
  root namespace through a second one, its "wire", which forwards between
  two veth pairs; the host has a default route through it, so the service
  address is two hops away. `NetHost.popen(argv)` starts a process in the
  host's namespace (`ip netns exec`).
* `NetHost.cut()` makes both of the wire's links drop every packet: their
  queue becomes a `pfifo` of length 0. Neither the host's kernel nor the
  root namespace's learns anything (no RST, no ICMP, no error on sending:
  each sent its packets, which vanish on the way), as when a cable or a
  router between two machines fails. Packets queued on the wire are dropped
  with it. `NetHost.restore()` undoes it.
* `NetHost.throttle(rate)` puts a token bucket (`tbf`) on both of the wire's
  links, so that a large statement or answer stays in flight for a while;
  `cut()` and `restore()` keep it.

Every name starts with `stcol<pid>` (namespaces, links), the pid of the
pytest process that made it. Everything a test made is removed when it ends,
however it ends (the `partition_hosts` fixture), and the session's own links
when the session ends; a session that was killed leaves its names behind, and
the next session removes those whose pid no longer runs (`remove_leftovers()`).

Without root, `ip` or `tc`, or where namespaces cannot be made (a container
without CAP_SYS_ADMIN), the tests that use these fixtures are skipped with the
reason; with `STATEFUL_COLLECTORS_REQUIRE_NETNS=1` (set by `.ci/run`) they fail.

For the partition tests' runs: `CollectorHost` is one host's config file for
`tests.support.collectors.partitioned_feed:PartitionedFeedCollector` (its
identity, lane, keepalives, logs and gates) and starts `stateful-collectors
run` in the host's namespace (`Run`); `StateTable` watches the state's table
from the root namespace: who holds a lane's lock, which saves landed (a
trigger records each one in the transaction that makes it), and a commit
made slow on purpose, so that a test can cut a host while its `COMMIT` waits
for an answer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from stateful_collectors.demo import DemoFeed
from tests.support import ROOT, clean_env, skip_unless_required
from tests.support.postgresql import PostgresServer, local_postgresql, postgresql_missing_reason
from tests.support.processes import CLI

__all__ = [
    "CollectorHost",
    "Lane",
    "NetHost",
    "Network",
    "partition_hosts",
    "partition_lanes",
    "partition_missing_reason",
    "partition_network",
    "partition_postgresql",
    "Run",
    "StateTable",
    "remove_leftovers",
    "row_key",
]

REQUIRE_NETNS_ENV_VAR = "STATEFUL_COLLECTORS_REQUIRE_NETNS"
"""Set to 1 (as `.ci/run` does) to turn a machine that cannot make partitions into a failure."""
PREFIX = "stcol"
"""The start of every namespace and link name these helpers make."""
_NAME_RE = re.compile(rf"^{PREFIX}(\d+)[a-z]\d*$")
_RANGE = ipaddress.ip_network("198.18.0.0/15")
_SUBNETS = list(_RANGE.subnets(new_prefix=24))
_HOSTS_PER_NETWORK = 30  # /29s from .8 on, in one /24


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")
    return done


def partition_missing_reason() -> str | None:
    """Why partitions cannot be made here, or `None` when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs these tests as root)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"'{tool}' not found; install iproute2 (apt-get install iproute2)"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers() -> list[str]:
    """Delete the namespaces and links of sessions whose pid no longer runs; their names."""
    removed = []
    namespaces = _run("ip", "netns", "list", check=False).stdout.split("\n")
    for line in namespaces:
        name = line.split(" ")[0]
        found = _NAME_RE.match(name)
        if found and not _alive(int(found.group(1))):
            _run("ip", "netns", "delete", name, check=False)
            removed.append(name)
    for line in _run("ip", "-o", "link", "show", check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        found = _NAME_RE.match(name)
        if found and not _alive(int(found.group(1))):
            _run("ip", "link", "delete", name, check=False)
            removed.append(name)
    return removed


def _taken(subnet: ipaddress.IPv4Network) -> bool:
    text = _run("ip", "-4", "-o", "addr", "show", check=False).stdout
    text += _run("ip", "-4", "route", "show", "table", "all", check=False).stdout
    for word in re.findall(r"\d+\.\d+\.\d+\.\d+(?:/\d+)?", text):
        if ipaddress.ip_network(word, strict=False).overlaps(subnet):
            return True
    return False


class NetHost:
    """One host: its namespace, and the "wire" namespace between it and the root namespace.

    The host's packets leave its own kernel as on any network; the wire
    namespace forwards them to the root namespace (and back), and a cut drops
    them there, on both of its links: neither end's kernel knows they were
    lost, as when a cable or a router between two machines fails.
    """

    def __init__(self, network: Network, label: str, index: int) -> None:
        self.network, self.label, self.index = network, label, index
        self.name = f"{network.tag}h{index}"
        """The host's namespace."""
        self.wire = f"{network.tag}w{index}"
        """The wire's namespace, and the root end of its link to the root namespace."""
        base = network.subnet.network_address + 8 + 8 * index  # a /29 each
        self.address = str(base + 2)  # the host's; base + 1 is the wire's, facing it
        self._up_root, self._up_wire = str(base + 5), str(base + 6)  # the wire's uplink
        self._shape: list[str] = []  # the qdisc both wire links keep when not cut
        self.is_cut = False
        self.processes: list[subprocess.Popen[Any]] = []

    def _create(self) -> None:
        host, wire = ("ip", "-n", self.name), ("ip", "-n", self.wire)
        base = ipaddress.ip_address(self.address) - 2
        _run("ip", "netns", "add", self.name)
        _run("ip", "netns", "add", self.wire)
        _run(
            *wire,
            "link",
            "add",
            "tohost",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            self.name,
        )
        _run(
            "ip",
            "link",
            "add",
            self.wire,
            "type",
            "veth",
            "peer",
            "name",
            "toroot",
            "netns",
            self.wire,
        )
        _run(*host, "link", "set", "lo", "up")
        _run(*host, "addr", "add", f"{self.address}/30", "dev", "eth0")
        _run(*host, "link", "set", "eth0", "up")
        _run(*host, "route", "add", "default", "via", str(base + 1))
        _run(*wire, "addr", "add", f"{base + 1}/30", "dev", "tohost")
        _run(*wire, "addr", "add", f"{self._up_wire}/30", "dev", "toroot")
        _run(*wire, "link", "set", "tohost", "up")
        _run(*wire, "link", "set", "toroot", "up")
        _run(*wire, "route", "add", "default", "via", self._up_root)
        _run("ip", "netns", "exec", self.wire, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        _run("ip", "addr", "add", f"{self._up_root}/30", "dev", self.wire)
        _run("ip", "link", "set", self.wire, "up")
        _run("ip", "route", "add", f"{self.address}/32", "via", self._up_wire, "dev", self.wire)

    def _apply(self, qdisc: Sequence[str], devices: Sequence[str] = ("tohost", "toroot")) -> None:
        for device in devices:
            tc = ("tc", "-n", self.wire)
            if qdisc:
                _run(*tc, "qdisc", "replace", "dev", device, "root", *qdisc)
            else:
                _run(*tc, "qdisc", "del", "dev", device, "root", check=False)

    def cut(self, *, outgoing_only: bool = False) -> None:
        """Drop every packet both ways, from now on, and those queued (silently).

        With `outgoing_only`, only what the host sends is dropped: its requests
        vanish while answers still reach it.
        """
        self._apply(["pfifo", "limit", "0"], ["toroot"] if outgoing_only else ["tohost", "toroot"])
        self.is_cut = True

    def restore(self) -> None:
        """Let packets through again (throttled, if the host was)."""
        self._apply(self._shape)
        self.is_cut = False

    def throttle(self, rate: str = "8mbit") -> None:
        """The wire carries at most `rate` each way (a token bucket; `cut()` and `restore()`
        keep it)."""
        self._shape = ["tbf", "rate", rate, "burst", "16kb", "latency", "200ms"]
        if not self.is_cut:
            self._apply(self._shape)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start `argv` inside the namespace; the process is killed when the host is removed."""
        process = subprocess.Popen(["ip", "netns", "exec", self.name, *argv], **kwargs)
        self.processes.append(process)
        return process

    def remove(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for namespace in (self.name, self.wire):
            _run("ip", "netns", "delete", namespace, check=False)
        _run("ip", "link", "delete", self.wire, check=False)  # gone with its peer, usually


class Network:
    """The session's service address, and the hosts of the test that runs (see the module)."""

    def __init__(self) -> None:
        pid = os.getpid()
        self.tag = f"{PREFIX}{pid}"
        start = pid % len(_SUBNETS)
        for offset in range(len(_SUBNETS)):
            subnet = _SUBNETS[(start + offset) % len(_SUBNETS)]
            if not _taken(subnet):
                break
        else:  # pragma: no cover - 512 /24s in use
            raise RuntimeError(f"no free /24 in {_RANGE}")
        self.subnet = subnet
        self.service = str(subnet.network_address + 1)
        """The address the database and the feeds listen on (in the root namespace)."""
        self._link = f"{self.tag}s"
        self._hosts: dict[int, NetHost] = {}

    def start(self) -> None:
        remove_leftovers()
        _run("ip", "link", "add", self._link, "type", "veth", "peer", "name", f"{self.tag}t")
        _run("ip", "addr", "add", f"{self.service}/32", "dev", self._link)
        _run("ip", "link", "set", self._link, "up")
        _run("ip", "link", "set", f"{self.tag}t", "up")

    def host(self, label: str) -> NetHost:
        """A new host, in a namespace of its own (see `NetHost`)."""
        index = next(i for i in range(_HOSTS_PER_NETWORK) if i not in self._hosts)
        host = NetHost(self, label, index)
        self._hosts[index] = host
        try:
            host._create()
        except BaseException:
            self.remove(host)
            raise
        return host

    def remove(self, host: NetHost) -> None:
        host.remove()
        self._hosts.pop(host.index, None)

    def close(self) -> None:
        for host in list(self._hosts.values()):
            self.remove(host)
        _run("ip", "link", "delete", self._link, check=False)


def _unavailable(reason: str) -> None:
    skip_unless_required(reason, REQUIRE_NETNS_ENV_VAR)


@pytest.fixture(scope="session")
def partition_network() -> Iterator[Network]:
    """The session's `Network` (see the module); skipped, with the reason, where there is none."""
    reason = partition_missing_reason()
    if reason:
        _unavailable(reason)
    network = Network()
    try:
        network.start()
    except RuntimeError as exc:
        network.close()
        _unavailable(f"cannot make network namespaces here: {exc}")
    try:
        yield network
    finally:
        network.close()


@pytest.fixture(scope="session")
def partition_postgresql(partition_network: Network) -> Iterator[PostgresServer]:
    """A PostgreSQL server of its own listening on the service address (and the loopback one)."""
    reason = postgresql_missing_reason()
    if reason:
        from tests.support.postgresql import REQUIRE_POSTGRESQL_ENV_VAR

        skip_unless_required(reason, REQUIRE_POSTGRESQL_ENV_VAR)
    with local_postgresql(also_listen=partition_network.service) as server:
        yield server


@pytest.fixture
def partition_hosts(partition_network: Network) -> Iterator[Callable[..., list[NetHost]]]:
    """`partition_hosts("host-a", "host-b")`: new hosts, removed (with their processes) after."""
    made: list[NetHost] = []

    def make(*labels: str) -> list[NetHost]:
        hosts = [partition_network.host(label) for label in labels]
        made.extend(hosts)
        return hosts

    yield make
    for host in made:
        with contextlib.suppress(Exception):
            partition_network.remove(host)


# -- runs of a collector on a host, and the state's table seen from the root namespace

COLLECTOR = "tests.support.collectors.partitioned_feed:PartitionedFeedCollector"
TABLE = "collector_state"


def row_key(lane: str) -> str:
    """The state row's key of a lane (see `PartitionedFeedCollector`)."""
    return f"tests.support.collectors.partitioned_feed.PartitionedFeedCollector-{lane}.json"


@dataclasses.dataclass
class Run:
    """One `stateful-collectors run` in a host's namespace."""

    host: CollectorHost
    process: subprocess.Popen[str]
    started: float
    deadline: float
    returncode: int | None = None
    stderr: str = ""
    elapsed: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def line(self) -> str:
        """Its last line on stderr (the summary line)."""
        lines = self.stderr.splitlines()
        return lines[-1] if lines else ""

    def finish(self, timeout: float = 120) -> Run:
        """Wait for the end (killing it after `timeout` seconds); note status, stderr, time."""
        try:
            _, self.stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, self.stderr = self.process.communicate()
        self.elapsed = time.monotonic() - self.started
        self.returncode = self.process.returncode
        return self

    def reached(self, log: Path) -> bool:
        return log.exists() and str(self.pid) in log.read_text().split()

    @property
    def past_deadline(self) -> float | None:
        """Seconds from its deadline to its end (`finish()` first); `None` if the deadline
        never started (the run was made in `began_log` just after it did)."""
        log = self.host.began_log
        for line in log.read_text().splitlines() if log.exists() else []:
            pid, began = line.split()
            if int(pid) == self.pid:
                return self.started + self.elapsed - (float(began) + self.deadline)
        return None


class CollectorHost:
    """A host's config for `PartitionedFeedCollector` in one lane, and its runs (see the module)."""

    def __init__(
        self,
        net: NetHost,
        directory: Path,
        *,
        dsn: str,
        feed_url: str,
        lane: str,
        padding: int = 0,
        keepalives: tuple[int, int, int] | None = None,
        connect_timeout: int = 2,
    ) -> None:
        self.net = net
        self.name = net.label
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # the outbox's, private
        self.started_log = directory / "started.log"
        self.published_log = directory / "published.log"
        self.began_log = directory / "began.log"
        self.save_gate = directory / f"save-gate-{self.name}"
        self.outbox = directory / "outbox.jsonl"
        self.config = directory / f"{self.name}.conf"
        keepalive_lines = ""
        if keepalives is not None:
            idle, interval, count = keepalives
            keepalive_lines = (
                f"keepalives_idle = {idle}\nkeepalives_interval = {interval}\n"
                f"keepalives_count = {count}\n"
            )
        self.config.write_text(
            "[shared_feed]\n"
            f"state_dir = {directory / 'unused-state-dir'}\n"
            f"url = {feed_url}/items.json\n"
            f"started_log = {self.started_log}\n"
            f"published_log = {self.published_log}\n"
            f"began_log = {self.began_log}\n"
            f"padding = {padding}\n"
            f"lane = {lane}\n"
            "[postgresql]\n"
            f"dsn = {dsn}\n"
            f"identity = {self.name}\n"
            f"connect_timeout = {connect_timeout}\n"
            + keepalive_lines
            + f"[outbox]\npath = {self.outbox}\n"
        )

    def start(self, deadline: float, *, wait_at_save: bool = False) -> Run:
        """`stateful-collectors run --deadline SECONDS` in the namespace; with `wait_at_save`,
        the run waits before its save until `open_save_gate()`."""
        config = self.config.read_text()
        gate = f"save_gate = {self.save_gate}\n" if wait_at_save else ""
        config = re.sub(r"(?m)^save_gate = .*\n", "", config)
        self.config.write_text(config.replace("[shared_feed]\n", "[shared_feed]\n" + gate, 1))
        self.save_gate.unlink(missing_ok=True)
        started = time.monotonic()
        process = self.net.popen(
            [*CLI, "run", COLLECTOR, "--config", str(self.config), "--deadline", f"{deadline:g}"],
            cwd=ROOT,
            env=clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        return Run(self, process, started, deadline)

    def open_save_gate(self) -> None:
        self.save_gate.touch()


class StateTable:
    """The state table of one database, watched from the root namespace (see the module)."""

    def __init__(self, server: PostgresServer, dsn: str) -> None:
        from stateful_collectors.state.stores.postgresql import lock_key, schema_sql

        self.server, self.dsn, self._lock_key = server, dsn, lock_key
        server.execute(dsn, schema_sql(TABLE))
        server.execute(
            dsn,
            "CREATE TABLE saves (key text, version bigint, last_id bigint, saved_by text, "
            "at timestamptz DEFAULT clock_timestamp())",
        )
        server.execute(dsn, "CREATE TABLE delays (step text PRIMARY KEY, seconds float8)")
        server.execute(dsn, "INSERT INTO delays VALUES ('commit', 0), ('update', 0)")
        server.execute(
            dsn,
            "CREATE FUNCTION note_save() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO saves (key, version, last_id, saved_by) VALUES (NEW.key, NEW.version, "
            "(convert_from(NEW.data, 'UTF8')::jsonb ->> 'last_id')::bigint, NEW.saved_by); "
            "RETURN NULL; END $$",
        )
        server.execute(
            dsn,
            f"CREATE TRIGGER note_save AFTER INSERT OR UPDATE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION note_save()",
        )
        server.execute(
            dsn,
            "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "PERFORM pg_sleep(seconds) FROM delays WHERE step = 'commit'; RETURN NULL; END $$",
        )
        server.execute(
            dsn,
            "CREATE FUNCTION slow_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "PERFORM pg_sleep(seconds) FROM delays WHERE step = 'update'; RETURN NEW; END $$",
        )
        server.execute(
            dsn,
            f"CREATE TRIGGER slow_update BEFORE UPDATE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION slow_update()",
        )
        server.execute(
            dsn,
            f"CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT OR UPDATE ON {TABLE} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()",
        )

    def delay(self, step: str, seconds: float) -> None:
        """Make every save's `COMMIT` (`step="commit"`, before it commits) or its `UPDATE`
        (`"update"`) take `seconds` on the server."""
        self.server.execute(
            self.dsn, "UPDATE delays SET seconds = %s WHERE step = %s", [seconds, step]
        )

    def running(self, pid_phrase: str, statement: str) -> bool:
        """Whether the session of `pid N on HOST` runs a statement starting with `statement`."""
        rows = self.server.execute(
            self.dsn,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
            "AND state = 'active' AND starts_with(query, %s)",
            ["stateful-collectors: " + pid_phrase, statement],
        )
        return bool(rows[0][0])

    def lock_held(self, lane: str) -> bool:
        """Whether some session holds the advisory lock of the lane's row."""
        unsigned = self._lock_key(TABLE, row_key(lane)) & 0xFFFFFFFFFFFFFFFF
        rows = self.server.execute(
            self.dsn,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND objsubid = 1 AND classid::bigint = %s AND objid::bigint = %s",
            [unsigned >> 32, unsigned & 0xFFFFFFFF],
        )
        return bool(rows[0][0])

    def wait_until_free(self, lane: str, timeout: float) -> float:
        """Seconds until the lane's lock is free (`timeout` if it never is)."""
        started = time.monotonic()
        while self.lock_held(lane):
            if time.monotonic() - started > timeout:
                break
            time.sleep(0.02)
        return time.monotonic() - started

    def saves(self, lane: str) -> list[tuple[int, int, str]]:
        """Every save that landed in the lane's row: (version, last_id, saved_by), in order."""
        rows = self.server.execute(
            self.dsn,
            "SELECT version, last_id, saved_by FROM saves WHERE key = %s ORDER BY at",
            [row_key(lane)],
        )
        return [(int(v), int(i), str(by)) for v, i, by in rows]

    def sending(self, pid_phrase: str) -> bool:
        """Whether the session of `pid N on HOST` waits to send an answer to its client."""
        rows = self.server.execute(
            self.dsn,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
            "AND wait_event = 'ClientWrite'",
            ["stateful-collectors: " + pid_phrase],
        )
        return bool(rows[0][0])

    def last_id(self, lane: str) -> int:
        rows = self.server.execute(
            self.dsn, f"SELECT data FROM {TABLE} WHERE key = %s", [row_key(lane)]
        )
        return int(json.loads(bytes(rows[0][0]))["last_id"]) if rows else 0


@dataclasses.dataclass
class Lane:
    """A collector's row of its own, its feed, and the hosts that run it."""

    name: str
    table: StateTable
    feed: DemoFeed
    hosts: list[CollectorHost]

    def lock_held(self) -> bool:
        return self.table.lock_held(self.name)

    def saves(self) -> list[tuple[int, int, str]]:
        return self.table.saves(self.name)


@pytest.fixture
def partition_lanes(
    partition_network: Network,
    partition_postgresql: PostgresServer,
    partition_hosts: Callable[..., list[NetHost]],
    tmp_path: Path,
) -> Iterator[Callable[..., Lane]]:
    """`partition_lanes("lane", keepalives=(1, 1, 1), padding=0)`: a `Lane` with two hosts,
    `LANE-a` and `LANE-b`, in a fresh database (one per test; dropped after)."""
    dbname = f"test_{secrets.token_hex(4)}"
    dsn = partition_postgresql.fresh_database(dbname)
    table = StateTable(partition_postgresql, dsn)
    host_dsn = partition_postgresql.dsn(dbname, host=partition_network.service)
    stack = contextlib.ExitStack()

    def make(
        name: str = "lane",
        *,
        keepalives: tuple[int, int, int] | None = None,
        padding: int = 0,
        history: int = 3,
    ) -> Lane:
        feed = DemoFeed(history=history, start="2026-11-27T20:00:00Z")
        served = stack.enter_context(feed.serve(host=partition_network.service))
        nets = partition_hosts(f"{name}-a", f"{name}-b")
        hosts = [
            CollectorHost(
                net,
                tmp_path / name,
                dsn=host_dsn,
                feed_url=served.url,
                lane=name,
                padding=padding,
                keepalives=keepalives,
            )
            for net in nets
        ]
        return Lane(name, table, feed, hosts)

    try:
        yield make
    finally:
        stack.close()
        with contextlib.suppress(Exception):
            partition_postgresql.drop_database(dbname)
