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
  root namespace by a veth pair, with a /30 of that /24 and a default route
  through the root namespace, so the service address is one hop away.
  `NetHost.popen(argv)` starts a process inside it (`ip netns exec`).
* `NetHost.cut()` makes both ends of its veth pair drop every packet: their
  queue becomes a `pfifo` of length 0, so nothing is sent, no RST, no ICMP,
  and no error reaches the sender, as with a pulled cable or a DROP rule.
  Packets already queued are dropped with it. `NetHost.restore()` undoes it.
* `NetHost.throttle(rate)` puts a token bucket (`tbf`) on both ends, so that a
  large statement or answer stays in flight for a while; `cut()` and
  `restore()` keep it.

Every name starts with `stcol<pid>` (namespaces, links), the pid of the
pytest process that made it. Everything a test made is removed when it ends,
however it ends (the `partition_hosts` fixture), and the session's own links
when the session ends; a session that was killed leaves its names behind, and
the next session removes those whose pid no longer runs (`remove_leftovers()`).

Without root, `ip` or `tc`, or where namespaces cannot be made (a container
without CAP_SYS_ADMIN), the tests that use these fixtures are skipped with the
reason; with `STATEFUL_COLLECTORS_REQUIRE_NETNS=1` (set by `.ci/run`) they fail.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from tests.support.postgresql import PostgresServer, local_postgresql, postgresql_missing_reason

__all__ = [
    "NetHost",
    "Network",
    "partition_hosts",
    "partition_missing_reason",
    "partition_network",
    "partition_postgresql",
    "remove_leftovers",
]

REQUIRE_NETNS_ENV_VAR = "STATEFUL_COLLECTORS_REQUIRE_NETNS"
"""Set to 1 (as `.ci/run` does) to turn a machine that cannot make partitions into a failure."""
PREFIX = "stcol"
"""The start of every namespace and link name these helpers make."""
_NAME_RE = re.compile(rf"^{PREFIX}(\d+)[a-z]\d*$")
_RANGE = ipaddress.ip_network("198.18.0.0/15")
_SUBNETS = list(_RANGE.subnets(new_prefix=24))
_HOSTS_PER_NETWORK = 60  # /30s from .8 on, in one /24


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
    """One host: a namespace, its veth pair to the root namespace, and its address."""

    def __init__(self, network: Network, label: str, index: int) -> None:
        self.network, self.label, self.index = network, label, index
        self.name = f"{network.tag}h{index}"
        """The namespace's name, and the root end of its veth pair."""
        base = network.subnet.network_address + 8 + 4 * index
        self.gateway, self.address = str(base + 1), str(base + 2)
        self._shape: list[str] = []  # the qdisc both ends keep when not cut
        self.is_cut = False
        self.processes: list[subprocess.Popen[Any]] = []

    def _create(self) -> None:
        ns = ("ip", "-n", self.name)
        _run("ip", "netns", "add", self.name)
        _run("ip", "link", "add", self.name, "type", "veth", "peer", "name", "eth0", "netns", ns[2])
        _run("ip", "addr", "add", f"{self.gateway}/30", "dev", self.name)
        _run("ip", "link", "set", self.name, "up")
        _run(*ns, "link", "set", "lo", "up")
        _run(*ns, "addr", "add", f"{self.address}/30", "dev", "eth0")
        _run(*ns, "link", "set", "eth0", "up")
        _run(*ns, "route", "add", "default", "via", self.gateway)

    def _ends(self) -> list[tuple[str, ...]]:
        """`tc` for the root end, and for the end inside the namespace."""
        return [("tc",), ("tc", "-n", self.name)]

    def _apply(self, qdisc: Sequence[str]) -> None:
        for tc, device in zip(self._ends(), (self.name, "eth0"), strict=True):
            if qdisc:
                _run(*tc, "qdisc", "replace", "dev", device, "root", *qdisc)
            else:
                _run(*tc, "qdisc", "del", "dev", device, "root", check=False)

    def cut(self) -> None:
        """Drop every packet both ways, from now on, and those queued (silently)."""
        self._apply(["pfifo", "limit", "0"])
        self.is_cut = True

    def restore(self) -> None:
        """Let packets through again (throttled, if the host was)."""
        self._apply(self._shape)
        self.is_cut = False

    def throttle(self, rate: str = "8mbit") -> None:
        """Both ends send at most `rate` (a token bucket; `cut()` and `restore()` keep it)."""
        self._shape = ["tbf", "rate", rate, "burst", "16kb", "latency", "2s"]
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
        _run("ip", "netns", "delete", self.name, check=False)
        _run("ip", "link", "delete", self.name, check=False)  # gone with its peer, usually


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
    if os.environ.get(REQUIRE_NETNS_ENV_VAR) == "1":
        pytest.fail(f"{reason} ({REQUIRE_NETNS_ENV_VAR}=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)


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

        if os.environ.get(REQUIRE_POSTGRESQL_ENV_VAR) == "1":
            pytest.fail(
                f"{reason} ({REQUIRE_POSTGRESQL_ENV_VAR}=1 forbids skipping)", pytrace=False
            )
        pytest.skip(reason)
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
