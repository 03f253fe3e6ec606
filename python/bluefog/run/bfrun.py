"""``bfrun``: launch a bluefog job with ``mpirun``.

``bfrun`` is a thin wrapper: it turns its own small set of options into an
``mpirun`` command line, forwards the caller's environment to every rank,
runs ``mpirun`` and returns the job's exit status.

The launcher is ``--mpirun PATH``, else ``$BLUEFOG_MPIRUN``, else ``mpirun``
on ``PATH``.  It must belong to the MPI that bluefog was built against:
Open MPI's ``mpirun`` by default, MPICH's (hydra) ``mpiexec.mpich`` for a
build with ``-DBLUEFOG_MPI=mpich``.  A launcher whose name, or the name of
the file it links to, contains "hydra" or "mpich" is driven with hydra's
options; any other with Open MPI's.

Example::

    bfrun -np 4 python train.py --epochs 3

The command line is split in two parts: bfrun's options come first, and the
first word that is not one of bfrun's options starts the user's COMMAND;
everything from there on (including words that look like options) belongs
to the command.

:func:`build_command` is a pure function of the parsed options and an
environment mapping, so the generated ``mpirun`` invocation can be checked
without launching anything.
"""

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys

__all__ = ["main", "parse_args", "build_command", "MpirunNotFoundError",
           "UnsupportedOptionError"]

# Environment variable naming the mpirun executable to use instead of the one
# found on PATH (for tests and unusual installs).
MPIRUN_ENV = "BLUEFOG_MPIRUN"
# Environment variable the ranks read to enable the timeline.
TIMELINE_ENV = "BLUEFOG_TIMELINE"
# ... and their log level, which --verbose sets to debug (as BlueFog 0.3 did)
# unless the caller chose one.
LOG_LEVEL_ENV = "BLUEFOG_LOG_LEVEL"
# Where Linux lists this host's InfiniBand devices.
INFINIBAND_SYSFS = "/sys/class/infiniband"

# Variables that must not be copied to the ranks with ``-x``: they describe
# the launching shell only, or they are set by mpirun itself for each rank.
_DENY_NAMES = frozenset({"HOSTNAME", "PWD", "OLDPWD", "SHLVL", "_"})
# OMPI_*/PMIX_* are set by mpirun for every rank (and OMPI_MCA_* parameters
# are read and propagated by mpirun itself); BASH_FUNC_* are exported shell
# functions, which are not valid identifiers anyway.
_DENY_PREFIXES = ("OMPI_", "PMIX_", "BASH_FUNC_")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# One -H entry: "host" or "host:slots".
_HOST_ENTRY_RE = re.compile(r"^([^\s:,]+)(?::([^\s:,]*))?$")

# Long options that take a value.  A value that starts with '-' (typical for
# --extra-mpi-flags "-mca btl ^tcp") would otherwise be mistaken by argparse
# for an option; see _normalize_argv.
_LONG_VALUE_OPTIONS = frozenset({
    "--num-proc", "--hosts", "--hostfile", "--network-interface",
    "--timeline-filename", "--extra-mpi-flags", "--ssh-port", "--prefix",
    "--mpirun",
})
_SHORT_VALUE_OPTIONS = frozenset({"-np", "-H", "-p", "-hostfile"})

_INSTALL_HINT = (
    "bfrun launches jobs with Open MPI's `mpirun`, which was not found.\n"
    "Install Open MPI, e.g. on Debian/Ubuntu:\n"
    "    apt-get install openmpi-bin libopenmpi-dev\n"
    "or set {env} (or --mpirun) to the full path of an mpirun executable;\n"
    "a build with -DBLUEFOG_MPI=mpich needs MPICH's, e.g. "
    "{env}=mpiexec.mpich."
).format(env=MPIRUN_ENV)


class MpirunNotFoundError(RuntimeError):
    """Raised by :func:`build_command` when no ``mpirun`` can be found."""


class UnsupportedOptionError(ValueError):
    """Raised by :func:`build_command` for an option the launcher lacks."""


def _bluefog_version():
    try:
        import bluefog  # pylint: disable=import-outside-toplevel
        return str(getattr(bluefog, "__version__", "unknown"))
    except Exception:  # pylint: disable=broad-except
        return "unknown"


class _VersionAction(argparse.Action):
    """Like argparse's 'version' action, but looks the version up lazily."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS,
                 default=argparse.SUPPRESS, help=None):  # pylint: disable=redefined-builtin
        super().__init__(option_strings=option_strings, dest=dest,
                         default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser._print_message("bluefog {}\n".format(_bluefog_version()),
                              sys.stdout)
        parser.exit(0)


def _make_parser():
    parser = argparse.ArgumentParser(
        prog="bfrun",
        allow_abbrev=False,
        usage="%(prog)s -np N [options] COMMAND [ARGS...]",
        description="Launch a bluefog job on one or more hosts with mpirun "
                    "(Open MPI's, or MPICH's hydra). Options of bfrun must "
                    "come before COMMAND; "
                    "everything from COMMAND on is passed to the ranks "
                    "unchanged.",
    )
    parser.add_argument("-np", "--num-proc", dest="np", type=int,
                        metavar="N", help="number of processes (ranks) to start")
    hosts = parser.add_mutually_exclusive_group()
    hosts.add_argument("-H", "--hosts", dest="hosts", metavar="HOSTS",
                       help="comma-separated hosts, each optionally with its "
                            "number of slots, e.g. server1:4,server2:4 "
                            "(passed to mpirun -H)")
    hosts.add_argument("-hostfile", "--hostfile", dest="hostfile", metavar="FILE",
                       help="hostfile (passed to Open MPI's mpirun "
                            "--hostfile, or to hydra's -f)")
    parser.add_argument("--network-interface", dest="network_interface",
                        metavar="IF",
                        help="network interface(s) to use for MPI traffic "
                             "(comma-separated), e.g. eth0")
    parser.add_argument("--timeline-filename", dest="timeline_filename",
                        metavar="PREFIX",
                        help="record a timeline; sets %s=PREFIX for the "
                             "ranks" % TIMELINE_ENV)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print the mpirun command before running it, and "
                             "run the ranks with %s=debug unless it is set"
                             % LOG_LEVEL_ENV)
    parser.add_argument("--extra-mpi-flags", dest="extra_mpi_flags",
                        metavar="FLAGS",
                        help='extra flags for mpirun, as one shell-quoted '
                             'string, e.g. --extra-mpi-flags "-mca btl ^tcp"')
    parser.add_argument("-p", "--ssh-port", dest="ssh_port", metavar="PORT",
                        help="ssh port used to reach the other hosts "
                             "(Open MPI only)")
    parser.add_argument("--use-infiniband", dest="use_infiniband",
                        action="store_true",
                        help="communicate over InfiniBand: Open MPI's UCX "
                             "layer (--mca pml ucx); refused for a local job "
                             "on a host without InfiniBand devices, and for "
                             "MPICH, whose network is chosen when it is built")
    parser.add_argument("--prefix", dest="prefix", metavar="DIR",
                        help="Open MPI install prefix on the remote hosts "
                             "(passed to mpirun --prefix; Open MPI only)")
    parser.add_argument("--mpirun", dest="mpirun", metavar="PATH",
                        help="the launcher to run (default: $%s, else "
                             "mpirun on PATH), e.g. mpiexec.mpich for a "
                             "build against MPICH" % MPIRUN_ENV)
    parser.add_argument("--version", action=_VersionAction,
                        help="print the bluefog version and exit")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        metavar="COMMAND",
                        help="the program to run on every rank, with its "
                             "arguments")
    return parser


def _normalize_argv(argv):
    """Join ``--long-option VALUE`` into ``--long-option=VALUE`` when VALUE
    starts with '-', so argparse takes it as the value instead of an option.

    Only bfrun's own options (before COMMAND) are touched.
    """
    out = []
    i = 0
    n = len(argv)
    while i < n:
        tok = argv[i]
        if tok == "--" or not tok.startswith("-") or tok == "-":
            # End of bfrun's options: the rest is the user's command.
            out.extend(argv[i:])
            break
        if tok in _LONG_VALUE_OPTIONS and i + 1 < n:
            value = argv[i + 1]
            if value.startswith("-"):
                out.append("{}={}".format(tok, value))
            else:
                out.extend([tok, value])
            i += 2
            continue
        if tok in _SHORT_VALUE_OPTIONS and i + 1 < n:
            out.extend([tok, argv[i + 1]])
            i += 2
            continue
        out.append(tok)
        i += 1
    return out


def _check_hosts(parser, hosts):
    if not hosts.strip():
        parser.error("argument -H/--hosts: empty host list")
    for entry in hosts.split(","):
        match = _HOST_ENTRY_RE.match(entry)
        if not match:
            parser.error("argument -H/--hosts: malformed entry {!r}: expected "
                         "HOST or HOST:SLOTS, separated by commas "
                         "(e.g. server1:4,server2:4)".format(entry))
        slots = match.group(2)
        if slots is not None:
            try:
                slots_n = int(slots)
            except ValueError:
                slots_n = 0
            if slots_n < 1:
                parser.error("argument -H/--hosts: malformed entry {!r}: the "
                             "number of slots must be an integer >= 1"
                             .format(entry))


def parse_args(argv=None):
    """Parse and validate bfrun's command line.

    Invalid input makes argparse print a usage message and raise
    ``SystemExit(2)``.
    """
    if argv is None:
        argv = sys.argv[1:]
    parser = _make_parser()
    args = parser.parse_args(_normalize_argv(list(argv)))

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    args.command = command

    if args.np is None:
        parser.error("the number of processes is required: -np N")
    if args.np < 1:
        parser.error("argument -np/--num-proc: must be >= 1, got {}"
                     .format(args.np))
    if not args.command:
        parser.error("no command given: usage is bfrun -np N COMMAND [ARGS...]")
    if args.hosts is not None:
        _check_hosts(parser, args.hosts)
    if args.hostfile is not None and not os.path.isfile(args.hostfile):
        parser.error("argument --hostfile: hostfile not found: {}"
                     .format(args.hostfile))
    if args.ssh_port is not None:
        try:
            port = int(args.ssh_port)
        except ValueError:
            parser.error("argument -p/--ssh-port: port must be an integer, "
                         "got {!r}".format(args.ssh_port))
        if not 1 <= port <= 65535:
            parser.error("argument -p/--ssh-port: port must be in 1..65535, "
                         "got {}".format(port))
        args.ssh_port = port
    if args.network_interface is not None and not args.network_interface.strip():
        parser.error("argument --network-interface: empty interface name")
    if args.timeline_filename is not None and not args.timeline_filename:
        parser.error("argument --timeline-filename: empty prefix")
    if args.extra_mpi_flags is not None:
        try:
            shlex.split(args.extra_mpi_flags)
        except ValueError as exc:
            parser.error("argument --extra-mpi-flags: cannot split {!r}: {}"
                         .format(args.extra_mpi_flags, exc))
    return args


def _find_mpirun(environ, option=None):
    path = environ.get("PATH", os.defpath)
    override = option or environ.get(MPIRUN_ENV)
    if override:
        found = shutil.which(override, path=path)
        if found is None:
            raise MpirunNotFoundError(
                "{}={!r} does not name an executable mpirun.\n{}"
                .format("--mpirun" if option else MPIRUN_ENV, override,
                        _INSTALL_HINT))
        return found
    found = shutil.which("mpirun", path=path)
    if found is None:
        raise MpirunNotFoundError(
            "`mpirun` is not on PATH.\n" + _INSTALL_HINT)
    return found


def _is_hydra(launcher):
    # Debian: mpirun.mpich -> mpiexec.hydra; a source install of MPICH:
    # bin/mpirun -> mpiexec.hydra.
    names = (os.path.basename(launcher),
             os.path.basename(os.path.realpath(launcher)))
    return any("hydra" in name or "mpich" in name for name in names)


def _hydra_command(launcher, args):
    """The command line for MPICH's hydra: it forwards the whole
    environment, allows running as root and more ranks than cores, and
    binds nothing unless asked, so none of the Open MPI flags apply."""
    if args.prefix is not None:
        raise UnsupportedOptionError(
            "--prefix is an Open MPI option; MPICH's launcher {} has none"
            .format(launcher))
    if args.use_infiniband:
        raise UnsupportedOptionError(
            "--use-infiniband is an Open MPI option; MPICH picks its network "
            "when it is built (e.g. ch4:ucx for InfiniBand), and its launcher "
            "{} has no option for it".format(launcher))
    if args.ssh_port is not None:
        raise UnsupportedOptionError(
            "-p/--ssh-port is an Open MPI option; with MPICH's launcher {} "
            "set the port in ~/.ssh/config".format(launcher))
    cmd = [launcher, "-np", str(args.np)]
    if args.hosts is not None:
        cmd += ["-hosts", args.hosts]
    elif args.hostfile is not None:
        cmd += ["-f", args.hostfile]
    if args.network_interface is not None:
        if "," in args.network_interface:
            raise UnsupportedOptionError(
                "MPICH's launcher takes one --network-interface, got {!r}"
                .format(args.network_interface))
        cmd += ["-iface", args.network_interface]
    return cmd


def _infiniband_flags(args):
    """Open MPI 4 reaches InfiniBand through UCX (its openib transport is
    deprecated, and Debian disables both by default: the command line
    overrides that). A local job on a host without InfiniBand would fail in
    UCX or quietly use another network, so it is refused here instead."""
    local = args.hosts is None and args.hostfile is None
    if local:
        try:
            devices = os.listdir(INFINIBAND_SYSFS)
        except OSError:
            devices = []
        if not devices:
            raise UnsupportedOptionError(
                "--use-infiniband: this host has no InfiniBand device ({} "
                "lists none); leave the option out to use shared memory and "
                "TCP".format(INFINIBAND_SYSFS))
    return ["--mca", "pml", "ucx"]


def _forwardable(name):
    if not _ENV_NAME_RE.match(name) or name in _DENY_NAMES:
        return False
    return not name.startswith(_DENY_PREFIXES)


def build_command(args, environ):
    """Return ``(argv, env)``: the mpirun command line and its environment.

    ``args`` is the namespace from :func:`parse_args`; ``environ`` is the
    environment to launch from (it is not modified).  Raises
    :class:`MpirunNotFoundError` when no mpirun can be found.
    """
    env = dict(environ)
    launcher = _find_mpirun(env, args.mpirun)
    if args.timeline_filename is not None:
        env[TIMELINE_ENV] = args.timeline_filename
    if args.verbose and LOG_LEVEL_ENV not in env:
        env[LOG_LEVEL_ENV] = "debug"
    if _is_hydra(launcher):
        cmd = _hydra_command(launcher, args)
        if args.extra_mpi_flags:
            cmd += shlex.split(args.extra_mpi_flags)
        return cmd + list(args.command), env

    cmd = [launcher, "-np", str(args.np),
           # Each rank runs its own engine threads; binding every rank to a
           # single core would starve them.
           "--bind-to", "none",
           "--map-by", "slot"]

    if os.geteuid() == 0:
        # Open MPI refuses to run as root unless told otherwise; the
        # environment variables are for mpirun itself (never forwarded).
        cmd.append("--allow-run-as-root")
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"

    if args.hosts is not None:
        cmd += ["-H", args.hosts]
    elif args.hostfile is not None:
        cmd += ["--hostfile", args.hostfile]
    else:
        # Local run: Open MPI offers one slot per core and refuses to start
        # more ranks than that.  Ranks here are mostly waiting on
        # communication, and users commonly test with more ranks than cores,
        # so always allow it locally.  The flag only permits oversubscription;
        # it changes nothing when -np <= cores.  With -H/--hostfile the user
        # states the slots explicitly, so Open MPI's check is kept.
        cmd.append("--oversubscribe")

    if args.prefix is not None:
        cmd += ["--prefix", args.prefix]
    if args.ssh_port is not None:
        cmd += ["-mca", "plm_rsh_args", "-p {}".format(args.ssh_port)]
    if args.network_interface is not None:
        cmd += ["-mca", "btl_tcp_if_include", args.network_interface,
                "-mca", "oob_tcp_if_include", args.network_interface]
    if args.use_infiniband:
        cmd += _infiniband_flags(args)

    # Forward by name only: mpirun reads the values from its own
    # environment, which keeps values out of the command line.
    for name in sorted(env):
        if _forwardable(name):
            cmd += ["-x", name]

    if args.extra_mpi_flags:
        cmd += shlex.split(args.extra_mpi_flags)

    cmd += list(args.command)
    return cmd, env


_FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _run(cmd, env):
    """Run ``cmd``, forwarding SIGINT/SIGTERM to it; return its exit code."""
    state = {"proc": None, "pending": []}

    def _forward(signum, _frame):
        proc = state["proc"]
        if proc is None:
            state["pending"].append(signum)
            return
        try:
            proc.send_signal(signum)
        except (ProcessLookupError, OSError):
            pass

    previous = {}
    for sig in _FORWARDED_SIGNALS:
        try:
            previous[sig] = signal.signal(sig, _forward)
        except ValueError:  # not in the main thread: cannot forward
            pass
    try:
        try:
            # mpirun gets its own session, so a Ctrl-C at the terminal reaches
            # only bfrun, which forwards it: mpirun sees each signal once
            # instead of twice (from the terminal and from bfrun), and a
            # repeated SIGINT means "abort forcibly" to mpirun.
            proc = subprocess.Popen(cmd, env=env, start_new_session=True)
        except OSError as exc:
            sys.stderr.write("bfrun: error: cannot run {}: {}\n"
                             .format(cmd[0], exc))
            return 126 if isinstance(exc, PermissionError) else 127
        state["proc"] = proc
        for signum in state["pending"]:
            _forward(signum, None)
        returncode = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if returncode < 0:
        # Killed by a signal: report it the way a shell does.
        return 128 - returncode
    return returncode


def main(argv=None):
    """Entry point of the ``bfrun`` command; returns the exit code."""
    try:
        args = parse_args(argv)
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        sys.stderr.write("{}\n".format(exc.code))
        return 1

    try:
        cmd, env = build_command(args, os.environ)
    except MpirunNotFoundError as exc:
        sys.stderr.write("bfrun: error: {}\n".format(exc))
        return 127
    except UnsupportedOptionError as exc:
        sys.stderr.write("bfrun: error: {}\n".format(exc))
        return 2

    if args.verbose:
        sys.stderr.write("bfrun: {}\n".format(shlex.join(cmd)))
        sys.stderr.flush()
    sys.stdout.flush()
    return _run(cmd, env)


if __name__ == "__main__":
    sys.exit(main())
