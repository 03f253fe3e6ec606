"""scripts/cluster.sh: emulated hosts in bfc- network namespaces, each with
an address on 10.213.0.0/24, an sshd that reports hostname bfc-h<i>, an Open
MPI hostfile, optional tbf shaping; argument errors and a missing netem make
nothing; `down` removes everything. Needs root (CI runs as root)."""

import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "scripts", "cluster.sh")
CLUSTER = os.path.join(ROOT, "build", "cluster")
SSH_CONFIG = os.path.join(CLUSTER, "ssh_config")

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="cluster.sh makes network namespaces: needs root")
pytestmark = [needs_root, pytest.mark.timeout(120)]


def cluster(*args, check=True):
    result = subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True, timeout=90)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def in_ns(ns, *cmd):
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                          timeout=30)


def namespaces():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                         timeout=10).stdout
    return sorted(line.split()[0] for line in out.splitlines() if line.startswith("bfc-"))


def sshd_pids():
    pids = {}
    for name in sorted(os.listdir(CLUSTER)):
        path = os.path.join(CLUSTER, name, "sshd.started")
        if os.path.exists(path):
            pids[name] = int(open(path).read())
    return pids


def running(pid):
    """Alive and not a zombie (a dead sshd may wait for its reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def clean():
    """No cluster before; `down` after, even when the test failed."""
    cluster("down")
    yield
    cluster("down")
    assert namespaces() == []
    assert not os.path.exists(CLUSTER)


def test_up_two_hosts(clean):
    out = cluster("up", "2").stdout
    assert "hostfile" in out and SSH_CONFIG in out and "bfc-h0" in out
    assert namespaces() == ["bfc-h0", "bfc-h1", "bfc-switch"]
    for i in range(2):
        addr = in_ns(f"bfc-h{i}", "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
        assert f"10.213.0.{i + 1}/24" in addr
    ping = in_ns("bfc-h0", "ping", "-c1", "-W2", "10.213.0.2")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    ssh = in_ns("bfc-h0", "ssh", "-F", SSH_CONFIG, "bfc-h1", "hostname")
    assert ssh.returncode == 0, ssh.stderr
    assert ssh.stdout.strip() == "bfc-h1"
    ssh = in_ns("bfc-h1", "ssh", "-F", SSH_CONFIG, "10.213.0.1", "hostname")
    assert ssh.stdout.strip() == "bfc-h0", ssh.stderr
    with open(os.path.join(CLUSTER, "hostfile")) as f:
        assert f.read().splitlines() == ["10.213.0.1 slots=2", "10.213.0.2 slots=2"]
    status = cluster("status").stdout
    assert status.count("alive") == 2, status


def test_slots_and_port(clean):
    cluster("up", "1", "--slots", "3", "--ssh-port", "2222")
    with open(os.path.join(CLUSTER, "hostfile")) as f:
        assert f.read().splitlines() == ["10.213.0.1 slots=3"]
    ssh = in_ns("bfc-h0", "ssh", "-F", SSH_CONFIG, "bfc-h0", "hostname")
    assert ssh.stdout.strip() == "bfc-h0", ssh.stderr


def test_bandwidth_shapes_both_ends(clean):
    cluster("up", "2", "--bandwidth", "100mbit")
    for i in range(2):
        here = in_ns(f"bfc-h{i}", "tc", "qdisc", "show", "dev", "eth0").stdout
        there = in_ns("bfc-switch", "tc", "qdisc", "show", "dev", f"p{i}").stdout
        for qdisc in (here, there):
            assert "tbf" in qdisc and "rate 100Mbit" in qdisc, qdisc
    assert "rate 100Mbit" in cluster("status").stdout


def test_up_again_replaces(clean):
    cluster("up", "2")
    old = sshd_pids()
    assert len(old) == 2 and all(running(pid) for pid in old.values())
    cluster("up", "3")
    assert namespaces() == ["bfc-h0", "bfc-h1", "bfc-h2", "bfc-switch"]
    assert not any(running(pid) for pid in old.values())
    new = sshd_pids()
    assert len(new) == 3 and all(running(pid) for pid in new.values())
    with open(os.path.join(CLUSTER, "hostfile")) as f:
        assert len(f.read().splitlines()) == 3
    ssh = in_ns("bfc-h0", "ssh", "-F", SSH_CONFIG, "bfc-h2", "hostname")
    assert ssh.stdout.strip() == "bfc-h2", ssh.stderr


def test_down_removes_everything_and_twice_is_fine(clean):
    cluster("up", "2")
    pids = sshd_pids()
    out = cluster("down").stdout
    assert "down" in out
    assert namespaces() == []
    assert not any(running(pid) for pid in pids.values())
    assert not os.path.exists(CLUSTER)
    again = cluster("down")
    assert "no cluster" in again.stdout


@pytest.mark.parametrize("args, message", [
    (["0"], "HOSTS must be an integer from 1 to 16"),
    (["17"], "HOSTS must be an integer from 1 to 16"),
    (["x"], "HOSTS must be an integer from 1 to 16"),
    ([], "give the number of hosts"),
    (["2", "--bandwidth", "fast"], "tc rate"),
    (["2", "--bandwidth", "0mbit"], "tc rate"),
    (["2", "--delay", "abc"], "milliseconds"),
    (["2", "--loss", "101"], "percentage"),
    (["2", "--slots", "0"], "--slots"),
    (["2", "--bogus", "1"], "unknown option"),
])
def test_bad_arguments_make_nothing(clean, args, message):
    result = cluster("up", *args, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert namespaces() == [] and not os.path.exists(CLUSTER)


def kernel_has_netem():
    probe = subprocess.run(["unshare", "--net", "tc", "qdisc", "add", "dev", "lo", "root",
                            "netem", "delay", "1ms"], capture_output=True, timeout=10)
    return probe.returncode == 0


@pytest.mark.parametrize("option", ["--delay", "--loss"])
def test_delay_or_loss_without_netem(clean, option):
    if kernel_has_netem():
        pytest.skip("this kernel has netem; the message is for kernels without it")
    result = cluster("up", "2", option, "5", check=False)
    assert result.returncode != 0
    assert "lacks" in result.stderr and "netem" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert namespaces() == [] and not os.path.exists(CLUSTER)


@pytest.mark.parametrize("command", ["up 2", "down", "status"])
def test_needs_root(clean, command):
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             "bash", SCRIPT, *command.split()],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "needs root" in result.stderr, result.stderr
    assert namespaces() == []


def mpirun_on_host0(np, *program):
    """mpirun from host 0 (hostname bfc-h0), one rank per host, over ssh."""
    import bluefog  # the package this test run imports, wherever it lives
    pythonpath = os.path.dirname(os.path.dirname(os.path.abspath(bluefog.__file__)))
    return subprocess.run(
        ["bash", SCRIPT, "run", "0", "mpirun", "--allow-run-as-root", "--oversubscribe",
         "--hostfile", os.path.join(CLUSTER, "hostfile"), "-np", str(np), "--map-by", "node",
         "--mca", "plm_rsh_agent", f"ssh -F {SSH_CONFIG}",
         "--mca", "btl_tcp_if_include", "10.213.0.0/24",
         "--mca", "oob_tcp_if_include", "10.213.0.0/24",
         "-x", f"PYTHONPATH={pythonpath}", *program],
        capture_output=True, text=True, timeout=90)


def tbf_sent_bytes(ns, dev):
    out = in_ns(ns, "tc", "-s", "qdisc", "show", "dev", dev).stdout
    return int(out.split("Sent ", 1)[1].split()[0])


def test_mpirun_across_hosts(clean):
    cluster("up", "2", "--bandwidth", "1gbit")
    result = mpirun_on_host0(2, "hostname")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(result.stdout.split()) == ["bfc-h0", "bfc-h1"], result.stdout


def test_bluefog_init_across_hosts_goes_through_the_shaped_links(clean):
    import sys
    cluster("up", "2", "--bandwidth", "1gbit")
    before = tbf_sent_bytes("bfc-h0", "eth0"), tbf_sent_bytes("bfc-switch", "p0")
    result = mpirun_on_host0(
        2, sys.executable, "-c",
        "import socket, bluefog.torch as bf; bf.init(); "
        "print('RANK', socket.gethostname(), bf.rank(), bf.size(), bf.local_size(), "
        "bf.machine_size())")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = sorted(line.split()[1:] for line in result.stdout.splitlines()
                   if line.startswith("RANK "))
    assert lines == [["bfc-h0", "0", "2", "1", "2"], ["bfc-h1", "1", "2", "1", "2"]], \
        result.stdout + result.stderr
    after = tbf_sent_bytes("bfc-h0", "eth0"), tbf_sent_bytes("bfc-switch", "p0")
    assert after[0] > before[0] and after[1] > before[1], (before, after)
