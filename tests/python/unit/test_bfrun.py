"""Tests of the ``bfrun`` launcher (run in a plain process, not under MPI)."""

import os
import pathlib
import shlex
import shutil
import signal
import subprocess
import sys

import pytest

REPO_PYTHON = pathlib.Path(__file__).resolve().parents[2] / "python"

try:
    from bluefog.run import bfrun, mpirun_command
except ImportError:  # not installed and PYTHONPATH not set
    sys.path.insert(0, str(REPO_PYTHON))
    from bluefog.run import bfrun, mpirun_command

TIMEOUT = 120


# --------------------------------------------------------------------------
# helpers


@pytest.fixture
def fake_mpirun(tmp_path):
    """Factory: an executable that records its argv and exits with ``code``.

    Returns ``(path, args_file)``; after a run, ``args_file`` holds one
    argument per line.
    """
    counter = [0]

    def make(code=0):
        counter[0] += 1
        path = tmp_path / "fake_mpirun_{}".format(counter[0])
        args_file = tmp_path / "fake_args_{}".format(counter[0])
        path.write_text(
            "#!/bin/sh\n"
            "for a in \"$@\"; do printf '%s\\n' \"$a\"; done > {}\n"
            "echo FAKE_MPIRUN_RAN\n"
            "exit {}\n".format(shlex.quote(str(args_file)), code))
        path.chmod(0o755)
        return str(path), args_file

    return make


def _environ(mpirun, **extra):
    env = {"PATH": os.environ.get("PATH", os.defpath),
           "BLUEFOG_MPIRUN": mpirun}
    env.update(extra)
    return env


def _build(argv, environ):
    return bfrun.build_command(bfrun.parse_args(argv), environ)


def _forwarded(cmd):
    return {cmd[i + 1] for i, tok in enumerate(cmd) if tok == "-x"}


def _contains_seq(cmd, seq):
    n = len(seq)
    return any(cmd[i:i + n] == seq for i in range(len(cmd) - n + 1))


def _subprocess_env(**extra):
    env = dict(os.environ)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = (str(REPO_PYTHON) if not old
                         else str(REPO_PYTHON) + os.pathsep + old)
    env.update(extra)
    return env


def _bfrun_argv(*args):
    return [sys.executable, "-m", "bluefog.run.bfrun"] + list(args)


# --------------------------------------------------------------------------
# build_command (pure)


def test_basic_layout(fake_mpirun):
    mpirun, _ = fake_mpirun()
    cmd, _ = _build(["-np", "4", "python", "train.py", "--lr", "0.1"],
                    _environ(mpirun))
    assert cmd[0] == mpirun
    assert _contains_seq(cmd, ["-np", "4"])
    assert _contains_seq(cmd, ["--bind-to", "none"])
    assert _contains_seq(cmd, ["--map-by", "slot"])
    assert cmd[-4:] == ["python", "train.py", "--lr", "0.1"]


def test_command_options_are_not_eaten(fake_mpirun):
    mpirun, _ = fake_mpirun()
    args = bfrun.parse_args(["-np", "2", "python", "-v", "x.py", "-np", "3",
                             "--verbose", "-H", "h"])
    assert args.np == 2
    assert not args.verbose
    assert args.hosts is None
    assert args.command == ["python", "-v", "x.py", "-np", "3", "--verbose",
                            "-H", "h"]
    cmd, _ = bfrun.build_command(args, _environ(mpirun))
    assert cmd[-8:] == args.command
    # "--" ends bfrun's options and is dropped.
    args = bfrun.parse_args(["-np", "2", "--", "-weird-prog", "a"])
    assert args.command == ["-weird-prog", "a"]


def test_num_proc_and_long_aliases(fake_mpirun):
    mpirun, _ = fake_mpirun()
    args = bfrun.parse_args(["--num-proc", "3", "--hosts", "a:2,b",
                             "--ssh-port", "2200", "--verbose", "prog"])
    assert (args.np, args.hosts, args.ssh_port, args.verbose) == \
        (3, "a:2,b", 2200, True)
    assert bfrun.parse_args(["-np", "1", "-v", "prog"]).verbose


def test_root_flags(fake_mpirun, monkeypatch):
    mpirun, _ = fake_mpirun()
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    cmd, env = _build(["-np", "2", "prog"], _environ(mpirun))
    assert "--allow-run-as-root" in cmd
    assert env["OMPI_ALLOW_RUN_AS_ROOT"] == "1"
    assert env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] == "1"
    # mpirun's own settings, not forwarded to the ranks.
    assert not {"OMPI_ALLOW_RUN_AS_ROOT",
                "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"} & _forwarded(cmd)


def test_no_root_flags_for_normal_user(fake_mpirun, monkeypatch):
    mpirun, _ = fake_mpirun()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    cmd, env = _build(["-np", "2", "prog"], _environ(mpirun))
    assert "--allow-run-as-root" not in cmd
    assert "OMPI_ALLOW_RUN_AS_ROOT" not in env


def test_oversubscribe_only_locally(fake_mpirun, tmp_path):
    mpirun, _ = fake_mpirun()
    cmd, _ = _build(["-np", "2", "prog"], _environ(mpirun))
    assert "--oversubscribe" in cmd
    cmd, _ = _build(["-np", "2", "-H", "a:1,b:1", "prog"], _environ(mpirun))
    assert "--oversubscribe" not in cmd
    hostfile = tmp_path / "hosts"
    hostfile.write_text("a slots=1\nb slots=1\n")
    cmd, _ = _build(["-np", "2", "--hostfile", str(hostfile), "prog"],
                    _environ(mpirun))
    assert "--oversubscribe" not in cmd


def test_env_forwarding(fake_mpirun):
    mpirun, _ = fake_mpirun()
    environ = _environ(
        mpirun, BF_CUSTOM_VAR="hello world", HOME="/root",
        HOSTNAME="h", PWD="/x", OLDPWD="/y", SHLVL="2", _="/usr/bin/env",
        OMPI_COMM_WORLD_RANK="0", OMPI_MCA_btl="self", PMIX_RANK="0",
        **{"BASH_FUNC_foo%%": "() { :; }", "BAD-NAME": "1"})
    before = dict(environ)
    cmd, env = _build(["-np", "2", "prog"], environ)
    forwarded = _forwarded(cmd)
    assert {"BF_CUSTOM_VAR", "HOME", "PATH"} <= forwarded
    for name in ("HOSTNAME", "PWD", "OLDPWD", "SHLVL", "_",
                 "OMPI_COMM_WORLD_RANK", "OMPI_MCA_btl", "PMIX_RANK",
                 "BASH_FUNC_foo%%", "BAD-NAME"):
        assert name not in forwarded, name
    # Forwarded by name only: values never appear on the command line.
    assert "hello world" not in " ".join(cmd)
    # mpirun itself still sees the whole environment (e.g. OMPI_MCA_*).
    assert env["OMPI_MCA_btl"] == "self"
    assert env["BF_CUSTOM_VAR"] == "hello world"
    assert environ == before, "build_command must not modify its input"


def test_ssh_port(fake_mpirun):
    mpirun, _ = fake_mpirun()
    cmd, _ = _build(["-np", "2", "-H", "a,b", "-p", "2222", "prog"],
                    _environ(mpirun))
    assert _contains_seq(cmd, ["-mca", "plm_rsh_args", "-p 2222"])


def test_network_interface(fake_mpirun):
    mpirun, _ = fake_mpirun()
    cmd, _ = _build(["-np", "2", "--network-interface", "eth1", "prog"],
                    _environ(mpirun))
    assert _contains_seq(cmd, ["-mca", "btl_tcp_if_include", "eth1"])
    assert _contains_seq(cmd, ["-mca", "oob_tcp_if_include", "eth1"])
    cmd, _ = _build(["-np", "2", "prog"], _environ(mpirun))
    assert "btl_tcp_if_include" not in cmd


def test_timeline_filename(fake_mpirun):
    mpirun, _ = fake_mpirun()
    cmd, env = _build(["-np", "2", "--timeline-filename", "/tmp/tl_", "prog"],
                      _environ(mpirun, BLUEFOG_TIMELINE="old"))
    assert env["BLUEFOG_TIMELINE"] == "/tmp/tl_"
    assert "BLUEFOG_TIMELINE" in _forwarded(cmd)
    cmd, env = _build(["-np", "2", "prog"], _environ(mpirun))
    assert "BLUEFOG_TIMELINE" not in env
    assert "BLUEFOG_TIMELINE" not in _forwarded(cmd)


@pytest.mark.parametrize("form", ["separate", "equals"])
def test_extra_mpi_flags(fake_mpirun, form):
    mpirun, _ = fake_mpirun()
    flags = "-v --mca btl 'self,vader' --display-map"
    opt = (["--extra-mpi-flags", flags] if form == "separate"
           else ["--extra-mpi-flags=" + flags])
    args = bfrun.parse_args(["-np", "2"] + opt + ["prog", "arg"])
    assert not args.verbose  # the "-v" belongs to the flags
    cmd, _ = bfrun.build_command(args, _environ(mpirun))
    assert cmd[-7:] == ["-v", "--mca", "btl", "self,vader", "--display-map",
                        "prog", "arg"]


def test_hosts_hostfile_prefix_passthrough(fake_mpirun, tmp_path):
    mpirun, _ = fake_mpirun()
    cmd, _ = _build(["-np", "4", "-H", "server1:2,server2:2", "prog"],
                    _environ(mpirun))
    assert _contains_seq(cmd, ["-H", "server1:2,server2:2"])
    hostfile = tmp_path / "hosts"
    hostfile.write_text("server1 slots=2\n")
    cmd, _ = _build(["-np", "2", "--hostfile", str(hostfile), "prog"],
                    _environ(mpirun))
    assert _contains_seq(cmd, ["--hostfile", str(hostfile)])
    assert "-H" not in cmd[:-1]
    cmd, _ = _build(["-np", "2", "--prefix", "/opt/ompi", "prog"],
                    _environ(mpirun))
    assert _contains_seq(cmd, ["--prefix", "/opt/ompi"])


def test_single_dash_hostfile_as_in_0_3(fake_mpirun, tmp_path):
    mpirun, _ = fake_mpirun()
    hostfile = tmp_path / "hosts"
    hostfile.write_text("server1 slots=2\n")
    args = bfrun.parse_args(["-np", "2", "-hostfile", str(hostfile), "prog", "-hostfile"])
    assert args.hostfile == str(hostfile) and args.command == ["prog", "-hostfile"]
    cmd, _ = bfrun.build_command(args, _environ(mpirun))
    assert _contains_seq(cmd, ["--hostfile", str(hostfile)])
    with pytest.raises(SystemExit):
        bfrun.parse_args(["-np", "2", "-hostfile", str(tmp_path / "none"), "prog"])


def test_verbose_turns_on_debug_logging_unless_set(fake_mpirun):
    mpirun, _ = fake_mpirun()
    cmd, env = _build(["-np", "2", "--verbose", "prog"], _environ(mpirun))
    assert env["BLUEFOG_LOG_LEVEL"] == "debug"
    assert "BLUEFOG_LOG_LEVEL" in _forwarded(cmd)
    _, env = _build(["-np", "2", "--verbose", "prog"],
                    _environ(mpirun, BLUEFOG_LOG_LEVEL="error"))
    assert env["BLUEFOG_LOG_LEVEL"] == "error"  # the user's choice wins
    _, env = _build(["-np", "2", "prog"], _environ(mpirun))
    assert "BLUEFOG_LOG_LEVEL" not in env


def test_use_infiniband_selects_ucx(fake_mpirun, tmp_path, monkeypatch):
    mpirun, _ = fake_mpirun()
    sysfs = tmp_path / "infiniband"
    sysfs.mkdir()
    monkeypatch.setattr(mpirun_command, "INFINIBAND_SYSFS", str(sysfs))
    with pytest.raises(bfrun.UnsupportedOptionError, match="no InfiniBand device"):
        _build(["-np", "2", "--use-infiniband", "prog"], _environ(mpirun))
    (sysfs / "mlx5_0").mkdir()
    plain, _ = _build(["-np", "2", "prog"], _environ(mpirun))
    ib, _ = _build(["-np", "2", "--use-infiniband", "prog"], _environ(mpirun))
    assert _contains_seq(ib, ["--mca", "pml", "ucx"]) and not _contains_seq(plain, ["ucx"])
    assert ib[-1] == "prog"
    # Across hosts the local host's devices say nothing about the others'.
    monkeypatch.setattr(mpirun_command, "INFINIBAND_SYSFS", str(tmp_path / "missing"))
    cmd, _ = _build(["-np", "2", "-H", "a:1,b:1", "--use-infiniband", "prog"],
                    _environ(mpirun))
    assert _contains_seq(cmd, ["--mca", "pml", "ucx"])


def test_use_infiniband_refused_here_without_launching(fake_mpirun, monkeypatch, capsys,
                                                       tmp_path):
    """This machine has no InfiniBand: a clear error, and nothing runs."""
    mpirun, args_file = fake_mpirun()
    monkeypatch.setattr(mpirun_command, "INFINIBAND_SYSFS", str(tmp_path / "missing"))
    monkeypatch.setenv("BLUEFOG_MPIRUN", mpirun)
    assert bfrun.main(["-np", "2", "--use-infiniband", "prog"]) == 2
    assert "no InfiniBand device" in capsys.readouterr().err
    assert not args_file.exists()


# --------------------------------------------------------------------------
# MPICH's hydra launcher


@pytest.fixture
def fake_hydra(fake_mpirun, tmp_path):
    """A fake launcher named like Debian's MPICH one (mpiexec.mpich)."""
    mpirun, args_file = fake_mpirun()
    path = tmp_path / "mpiexec.mpich"
    os.rename(mpirun, path)
    return str(path), args_file


def test_hydra_gets_no_open_mpi_flags(fake_hydra, monkeypatch):
    hydra, _ = fake_hydra
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    cmd, env = _build(["-np", "4", "python", "train.py"],
                      _environ(hydra, BF_CUSTOM_VAR="x"))
    # hydra forwards the environment itself, runs as root, oversubscribes
    # and leaves ranks unbound by default.
    assert cmd == [hydra, "-np", "4", "python", "train.py"]
    assert "OMPI_ALLOW_RUN_AS_ROOT" not in env
    assert env["BF_CUSTOM_VAR"] == "x"


def test_hydra_is_recognised_through_a_link(fake_hydra, tmp_path):
    hydra, _ = fake_hydra
    link = tmp_path / "bin" / "mpirun"
    link.parent.mkdir()
    link.symlink_to(hydra)
    cmd, _ = _build(["-np", "2", "prog"], _environ(str(link)))
    assert cmd == [str(link), "-np", "2", "prog"]


def test_hydra_options(fake_hydra, tmp_path):
    hydra, _ = fake_hydra
    cmd, _ = _build(["-np", "4", "-H", "a:2,b:2", "--network-interface", "eth1",
                     "prog"], _environ(hydra))
    assert cmd == [hydra, "-np", "4", "-hosts", "a:2,b:2", "-iface", "eth1", "prog"]
    hostfile = tmp_path / "hosts"
    hostfile.write_text("a:2\n")
    cmd, env = _build(["-np", "2", "--hostfile", str(hostfile),
                       "--timeline-filename", "/tmp/tl_",
                       "--extra-mpi-flags", "-prepend-rank", "prog"], _environ(hydra))
    assert cmd == [hydra, "-np", "2", "-f", str(hostfile), "-prepend-rank", "prog"]
    assert env["BLUEFOG_TIMELINE"] == "/tmp/tl_"


@pytest.mark.parametrize("argv, message", [
    (["--prefix", "/opt/ompi"], "--prefix is an Open MPI option"),
    (["-H", "a,b", "-p", "2222"], "~/.ssh/config"),
    (["--network-interface", "eth0,eth1"], "one --network-interface"),
    (["--use-infiniband"], "MPICH picks its network when it is built"),
])
def test_hydra_refuses_open_mpi_only_options(fake_hydra, monkeypatch, capsys,
                                             argv, message):
    hydra, args_file = fake_hydra
    monkeypatch.setenv("BLUEFOG_MPIRUN", hydra)
    assert bfrun.main(["-np", "2"] + argv + ["prog"]) == 2
    err = capsys.readouterr().err
    assert "bfrun: error:" in err and message in err
    assert not args_file.exists(), "nothing may be launched"


def test_mpirun_option_overrides_environment(fake_mpirun, fake_hydra):
    mpirun, _ = fake_mpirun()
    hydra, _ = fake_hydra
    cmd, _ = _build(["-np", "2", "--mpirun", hydra, "prog"], _environ(mpirun))
    assert cmd == [hydra, "-np", "2", "prog"]
    with pytest.raises(bfrun.MpirunNotFoundError, match="--mpirun"):
        _build(["-np", "2", "--mpirun", "/nowhere/mpirun", "prog"], _environ(mpirun))


# --------------------------------------------------------------------------
# validation


@pytest.mark.parametrize("argv, message", [
    (["prog"], "-np"),
    (["-np", "0", "prog"], ">= 1"),
    (["-np", "-3", "prog"], ">= 1"),
    (["-np", "two", "prog"], "invalid int"),
    (["-np", "2"], "no command"),
    (["-np", "2", "-H", "a", "--hostfile", "HOSTFILE", "prog"],
     "not allowed with"),
    (["-np", "2", "-H", "a:0", "prog"], "malformed"),
    (["-np", "2", "-H", "a:x", "prog"], "malformed"),
    (["-np", "2", "-H", "a,,b", "prog"], "malformed"),
    (["-np", "2", "-H", "a:1:2", "prog"], "malformed"),
    (["-np", "2", "-H", ":4", "prog"], "malformed"),
    (["-np", "2", "--hostfile", "MISSING", "prog"], "hostfile not found"),
    (["-np", "2", "-p", "abc", "prog"], "must be an integer"),
    (["-np", "2", "-p", "70000", "prog"], "65535"),
    (["-np", "2", "--bogus", "prog"], "unrecognized"),
])
def test_validation_errors(argv, message, tmp_path, capsys, monkeypatch,
                           fake_mpirun):
    mpirun, args_file = fake_mpirun()
    monkeypatch.setenv("BLUEFOG_MPIRUN", mpirun)
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("localhost slots=2\n")
    argv = [str(hostfile) if a == "HOSTFILE"
            else str(tmp_path / "missing") if a == "MISSING" else a
            for a in argv]
    assert bfrun.main(argv) == 2
    err = capsys.readouterr().err
    assert "bfrun: error:" in err
    assert message in err
    assert "Traceback" not in err
    assert not args_file.exists(), "nothing may be launched"
    with pytest.raises(SystemExit) as info:
        bfrun.parse_args(argv)
    assert info.value.code == 2


def test_version_and_help(capsys):
    assert bfrun.main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("bluefog ")
    assert bfrun.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "-np" in out and "--hostfile" in out and "COMMAND" in out


# --------------------------------------------------------------------------
# running (fake mpirun)


def test_verbose_prints_command_and_propagates_exit_code(fake_mpirun):
    mpirun, args_file = fake_mpirun(code=7)
    proc = subprocess.run(
        _bfrun_argv("--verbose", "-np", "2", "prog", "--flag", "a b"),
        env=_subprocess_env(BLUEFOG_MPIRUN=mpirun),
        capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 7, proc.stderr
    assert "FAKE_MPIRUN_RAN" in proc.stdout
    lines = [l for l in proc.stderr.splitlines() if l.startswith("bfrun: ")]
    assert len(lines) == 1, proc.stderr
    printed = shlex.split(lines[0][len("bfrun: "):])
    launched = [mpirun] + args_file.read_text().splitlines()
    assert printed == launched
    assert printed[-3:] == ["prog", "--flag", "a b"]


def test_not_verbose_prints_nothing(fake_mpirun):
    mpirun, _ = fake_mpirun(code=0)
    proc = subprocess.run(_bfrun_argv("-np", "2", "prog"),
                          env=_subprocess_env(BLUEFOG_MPIRUN=mpirun),
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0
    assert "bfrun:" not in proc.stderr


def test_main_returns_exit_code(fake_mpirun, monkeypatch, capfd):
    mpirun, args_file = fake_mpirun(code=7)
    monkeypatch.setenv("BLUEFOG_MPIRUN", mpirun)
    assert bfrun.main(["-np", "3", "prog"]) == 7
    assert "FAKE_MPIRUN_RAN" in capfd.readouterr().out
    assert args_file.read_text().splitlines()[-1] == "prog"


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_signals_are_forwarded(tmp_path, signame):
    fake = tmp_path / "fake_mpirun"
    fake.write_text("#!/bin/sh\n"
                    "trap 'exit 42' TERM\n"
                    "trap 'exit 43' INT\n"
                    "echo ready\n"
                    # gives up by itself if the signal never comes
                    "i=0; while [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\n"
                    "exit 1\n")
    fake.chmod(0o755)
    proc = subprocess.Popen(_bfrun_argv("-np", "2", "prog"),
                            env=_subprocess_env(BLUEFOG_MPIRUN=str(fake)),
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(getattr(signal, signame))
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert code == (42 if signame == "SIGTERM" else 43)


# --------------------------------------------------------------------------
# missing mpirun


def test_missing_mpirun_override(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("BLUEFOG_MPIRUN", str(tmp_path / "nowhere" / "mpirun"))
    assert bfrun.main(["-np", "2", "prog"]) == 127
    err = capsys.readouterr().err
    assert "mpirun" in err and "Open MPI" in err
    assert "apt-get install openmpi-bin libopenmpi-dev" in err
    assert "BLUEFOG_MPIRUN" in err
    assert "Traceback" not in err


def test_missing_mpirun_on_path(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = _subprocess_env(PATH=str(empty))
    env.pop("BLUEFOG_MPIRUN", None)
    proc = subprocess.run(_bfrun_argv("-np", "2", "prog"), env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 127
    assert "`mpirun` is not on PATH" in proc.stderr
    assert "apt-get install openmpi-bin libopenmpi-dev" in proc.stderr
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------
# real launches with Open MPI

needs_mpirun = pytest.mark.skipif(shutil.which("mpirun") is None,
                                  reason="Open MPI's mpirun is not installed")

# One write per rank: with PYTHONUNBUFFERED, print() writes its pieces
# separately and mpirun may interleave them with another rank's.
_CHECK_VAR = ("import os, sys\n"
              "os.write(1, ('rank %s\\n' % os.environ['OMPI_COMM_WORLD_RANK']).encode())\n"
              "sys.exit(0 if os.environ.get('BF_TEST_VAR') == 'x' else 5)\n")


@needs_mpirun
def test_real_launch_forwards_environment():
    env = _subprocess_env(BF_TEST_VAR="x")
    env.pop("BLUEFOG_MPIRUN", None)
    proc = subprocess.run(_bfrun_argv("-np", "2", sys.executable, "-c",
                                      _CHECK_VAR),
                          env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(proc.stdout.split("\n"))[-2:] == ["rank 0", "rank 1"]


@needs_mpirun
def test_real_launch_timeline_filename_reaches_every_rank():
    # tests/python/unit/test_timeline.py checks the files the ranks then write.
    check = ("import os\n"
             "os.write(1, ('rank %s %s\\n' % (os.environ['OMPI_COMM_WORLD_RANK'],\n"
             "                                os.environ['BLUEFOG_TIMELINE'])).encode())\n")
    env = _subprocess_env(BLUEFOG_TIMELINE="stale")
    env.pop("BLUEFOG_MPIRUN", None)
    proc = subprocess.run(_bfrun_argv("-np", "3", "--timeline-filename", "/tmp/tl_prefix_",
                                      sys.executable, "-c", check),
                          env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(proc.stdout.split("\n"))[-3:] == [
        "rank {} /tmp/tl_prefix_".format(r) for r in range(3)]


@needs_mpirun
def test_real_launch_more_ranks_than_cores():
    nproc = (os.cpu_count() or 1) + 1
    env = _subprocess_env(BF_TEST_VAR="x")
    env.pop("BLUEFOG_MPIRUN", None)
    proc = subprocess.run(_bfrun_argv("-np", str(nproc), sys.executable, "-c",
                                      _CHECK_VAR),
                          env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("rank ") == nproc


@pytest.mark.skipif(shutil.which("mpiexec.mpich") is None,
                    reason="MPICH's mpiexec.mpich is not installed")
def test_real_launch_with_hydra_forwards_environment():
    check = _CHECK_VAR.replace("OMPI_COMM_WORLD_RANK", "PMI_RANK")
    proc = subprocess.run(_bfrun_argv("--mpirun", "mpiexec.mpich", "-np", "2",
                                      sys.executable, "-c", check),
                          env=_subprocess_env(BF_TEST_VAR="x"), capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(proc.stdout.split("\n"))[-2:] == ["rank 0", "rank 1"]


@needs_mpirun
def test_real_launch_failure_is_reported():
    env = _subprocess_env()
    env.pop("BLUEFOG_MPIRUN", None)
    proc = subprocess.run(_bfrun_argv("-np", "2", sys.executable, "-c",
                                      "import sys; sys.exit(3)"),
                          env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode != 0
