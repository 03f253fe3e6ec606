"""bfrun's command line: its options, and the checks of their values.

bfrun's options come first; the first word that is not one of them starts
the user's COMMAND, and everything from there on (words that look like
options included) belongs to the command.
"""

import argparse
import os
import re
import shlex
import sys

# Environment variables that options of bfrun stand for (see mpirun_command).
MPIRUN_ENV = "BLUEFOG_MPIRUN"
TIMELINE_ENV = "BLUEFOG_TIMELINE"
LOG_LEVEL_ENV = "BLUEFOG_LOG_LEVEL"

# One -H entry: "host" or "host:slots".
_HOST_ENTRY_RE = re.compile(r"^([^\s:,]+)(?::([^\s:,]*))?$")

# (flags, settings) of bfrun's options other than the hosts' (-H, --hostfile),
# in the order --help lists them after those. Each value is stored under the
# long name (--ssh-port: args.ssh_port).
_OPTIONS = (
    (("-np", "--num-proc"), dict(
        dest="np", type=int, metavar="N", help="number of processes (ranks) to start")),
    (("--network-interface",), dict(
        metavar="IF",
        help="network interface(s) to use for MPI traffic (comma-separated), e.g. eth0")),
    (("--timeline-filename",), dict(
        metavar="PREFIX",
        help=f"record a timeline; sets {TIMELINE_ENV}=PREFIX for the ranks")),
    (("-v", "--verbose"), dict(
        action="store_true",
        help=f"print the mpirun command before running it, and run the ranks with "
             f"{LOG_LEVEL_ENV}=debug unless it is set")),
    (("--extra-mpi-flags",), dict(
        metavar="FLAGS",
        help='extra flags for mpirun, as one shell-quoted string, e.g. '
             '--extra-mpi-flags "-mca btl ^tcp"')),
    (("-p", "--ssh-port"), dict(
        metavar="PORT",
        help="ssh port used to reach the other hosts (Open MPI only)")),
    (("--use-infiniband",), dict(
        action="store_true",
        help="communicate over InfiniBand: Open MPI's UCX layer (--mca pml ucx); refused "
             "for a local job on a host without InfiniBand devices, and for MPICH, whose "
             "network is chosen when it is built")),
    (("--prefix",), dict(
        metavar="DIR",
        help="Open MPI install prefix on the remote hosts (passed to mpirun --prefix; "
             "Open MPI only)")),
    (("--mpirun",), dict(
        metavar="PATH",
        help=f"the launcher to run (default: ${MPIRUN_ENV}, else mpirun on PATH), e.g. "
             f"mpiexec.mpich for a build against MPICH")),
)

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
        parser._print_message(f"bluefog {_bluefog_version()}\n", sys.stdout)
        parser.exit(0)


def _make_parser():
    """bfrun's parser, and the flags of its options that take a value."""
    parser = argparse.ArgumentParser(
        prog="bfrun",
        allow_abbrev=False,
        usage="%(prog)s -np N [options] COMMAND [ARGS...]",
        description="Launch a bluefog job on one or more hosts with mpirun (Open MPI's, or "
                    "MPICH's hydra). Options of bfrun must come before COMMAND; everything "
                    "from COMMAND on is passed to the ranks unchanged.",
    )
    hosts = parser.add_mutually_exclusive_group()
    actions = [
        hosts.add_argument("-H", "--hosts", metavar="HOSTS",
                           help="comma-separated hosts, each optionally with its number of "
                                "slots, e.g. server1:4,server2:4 (passed to mpirun -H)"),
        hosts.add_argument("-hostfile", "--hostfile", metavar="FILE",
                           help="hostfile (passed to Open MPI's mpirun --hostfile, or to "
                                "hydra's -f)"),
    ]
    actions += [parser.add_argument(*flags, **settings) for flags, settings in _OPTIONS]
    parser.add_argument("--version", action=_VersionAction,
                        help="print the bluefog version and exit")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND",
                        help="the program to run on every rank, with its arguments")
    value_flags = {flag for action in actions if action.nargs is None
                   for flag in action.option_strings}
    return parser, value_flags


def _normalize_argv(argv, value_flags):
    """bfrun's own options, with each ``--long-option VALUE`` whose VALUE
    starts with '-' (``--extra-mpi-flags "-mca btl ^tcp"``) joined into
    ``--long-option=VALUE``, which argparse would otherwise take for an
    option; the words from COMMAND on are left alone."""
    out = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--" or word == "-" or not word.startswith("-"):
            out.extend(argv[i:])  # the user's command
            break
        if word in value_flags and i + 1 < len(argv):
            value = argv[i + 1]
            if word.startswith("--") and value.startswith("-"):
                out.append(f"{word}={value}")
            else:
                out.extend([word, value])
            i += 2
            continue
        out.append(word)
        i += 1
    return out


def _slot_count(text):
    try:
        return int(text)
    except ValueError:
        return 0


def _host_list_problem(hosts):
    """What is wrong with a -H list, or None."""
    if not hosts.strip():
        return "empty host list"
    for entry in hosts.split(","):
        match = _HOST_ENTRY_RE.match(entry)
        if not match:
            return (f"malformed entry {entry!r}: expected HOST or HOST:SLOTS, separated by "
                    f"commas (e.g. server1:4,server2:4)")
        if match.group(2) is not None and _slot_count(match.group(2)) < 1:
            return f"malformed entry {entry!r}: the number of slots must be an integer >= 1"
    return None


def _ssh_port(parser, text):
    try:
        port = int(text)
    except ValueError:
        parser.error(f"argument -p/--ssh-port: port must be an integer, got {text!r}")
    if not 1 <= port <= 65535:
        parser.error(f"argument -p/--ssh-port: port must be in 1..65535, got {port}")
    return port


def _check_values(parser, args):
    if args.np is None:
        parser.error("the number of processes is required: -np N")
    if args.np < 1:
        parser.error(f"argument -np/--num-proc: must be >= 1, got {args.np}")
    if not args.command:
        parser.error("no command given: usage is bfrun -np N COMMAND [ARGS...]")
    if args.hosts is not None:
        problem = _host_list_problem(args.hosts)
        if problem:
            parser.error(f"argument -H/--hosts: {problem}")
    if args.hostfile is not None and not os.path.isfile(args.hostfile):
        parser.error(f"argument --hostfile: hostfile not found: {args.hostfile}")
    if args.ssh_port is not None:
        args.ssh_port = _ssh_port(parser, args.ssh_port)
    if args.network_interface is not None and not args.network_interface.strip():
        parser.error("argument --network-interface: empty interface name")
    if args.timeline_filename is not None and not args.timeline_filename:
        parser.error("argument --timeline-filename: empty prefix")
    if args.extra_mpi_flags is not None:
        try:
            shlex.split(args.extra_mpi_flags)
        except ValueError as exc:
            parser.error(f"argument --extra-mpi-flags: cannot split "
                         f"{args.extra_mpi_flags!r}: {exc}")


def parse_args(argv=None):
    """Parse and validate bfrun's command line. Invalid input makes argparse
    print a usage message and raise ``SystemExit(2)``."""
    if argv is None:
        argv = sys.argv[1:]
    parser, value_flags = _make_parser()
    args = parser.parse_args(_normalize_argv(list(argv), value_flags))
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    _check_values(parser, args)
    return args
