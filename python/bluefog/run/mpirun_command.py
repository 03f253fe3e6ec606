"""From bfrun's parsed options to the launcher's command line and environment.

The launcher is ``--mpirun PATH``, else ``$BLUEFOG_MPIRUN``, else ``mpirun``
on ``PATH``. It must belong to the MPI that bluefog was built against: Open
MPI's ``mpirun`` by default, MPICH's (hydra) ``mpiexec.mpich`` for a build
with ``-DBLUEFOG_MPI=mpich``. A launcher whose name, or the name of the file
it links to, contains "hydra" or "mpich" is driven with hydra's options; any
other with Open MPI's.

:func:`build_command` is a pure function of the options and an environment
mapping, so the command can be checked without launching anything.
"""

import os
import re
import shlex
import shutil

from bluefog.run.options import LOG_LEVEL_ENV, MPIRUN_ENV, TIMELINE_ENV

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

_INSTALL_HINT = (
    "bfrun launches jobs with Open MPI's `mpirun`, which was not found.\n"
    "Install Open MPI, e.g. on Debian/Ubuntu:\n"
    "    apt-get install openmpi-bin libopenmpi-dev\n"
    f"or set {MPIRUN_ENV} (or --mpirun) to the full path of an mpirun executable;\n"
    f"a build with -DBLUEFOG_MPI=mpich needs MPICH's, e.g. {MPIRUN_ENV}=mpiexec.mpich."
)


class MpirunNotFoundError(RuntimeError):
    """Raised by :func:`build_command` when no ``mpirun`` can be found."""


class UnsupportedOptionError(ValueError):
    """Raised by :func:`build_command` for an option the launcher lacks."""


def _find_mpirun(environ, option=None):
    path = environ.get("PATH", os.defpath)
    override = option or environ.get(MPIRUN_ENV)
    if override:
        found = shutil.which(override, path=path)
        if found is None:
            source = "--mpirun" if option else MPIRUN_ENV
            raise MpirunNotFoundError(
                f"{source}={override!r} does not name an executable mpirun.\n{_INSTALL_HINT}")
        return found
    found = shutil.which("mpirun", path=path)
    if found is None:
        raise MpirunNotFoundError("`mpirun` is not on PATH.\n" + _INSTALL_HINT)
    return found


def _is_hydra(launcher):
    # Debian: mpirun.mpich -> mpiexec.hydra; a source install of MPICH:
    # bin/mpirun -> mpiexec.hydra.
    names = (os.path.basename(launcher), os.path.basename(os.path.realpath(launcher)))
    return any("hydra" in name or "mpich" in name for name in names)


def _hydra_command(launcher, args):
    """The command line for MPICH's hydra: it forwards the whole
    environment, allows running as root and more ranks than cores, and
    binds nothing unless asked, so none of the Open MPI flags apply."""
    if args.prefix is not None:
        raise UnsupportedOptionError(
            f"--prefix is an Open MPI option; MPICH's launcher {launcher} has none")
    if args.use_infiniband:
        raise UnsupportedOptionError(
            "--use-infiniband is an Open MPI option; MPICH picks its network when it is "
            f"built (e.g. ch4:ucx for InfiniBand), and its launcher {launcher} has no "
            "option for it")
    if args.ssh_port is not None:
        raise UnsupportedOptionError(
            f"-p/--ssh-port is an Open MPI option; with MPICH's launcher {launcher} set "
            "the port in ~/.ssh/config")
    cmd = [launcher, "-np", str(args.np)]
    if args.hosts is not None:
        cmd += ["-hosts", args.hosts]
    elif args.hostfile is not None:
        cmd += ["-f", args.hostfile]
    if args.network_interface is not None:
        if "," in args.network_interface:
            raise UnsupportedOptionError(
                f"MPICH's launcher takes one --network-interface, got "
                f"{args.network_interface!r}")
        cmd += ["-iface", args.network_interface]
    return cmd


def _infiniband_flags(args):
    """Open MPI 4 reaches InfiniBand through UCX (its openib transport is
    deprecated, and Debian disables both by default: the command line
    overrides that). A local job on a host without InfiniBand would fail in
    UCX or quietly use another network, so it is refused here instead."""
    if args.hosts is None and args.hostfile is None:
        try:
            devices = os.listdir(INFINIBAND_SYSFS)
        except OSError:
            devices = []
        if not devices:
            raise UnsupportedOptionError(
                f"--use-infiniband: this host has no InfiniBand device ({INFINIBAND_SYSFS} "
                "lists none); leave the option out to use shared memory and TCP")
    return ["--mca", "pml", "ucx"]


def _forwardable(name):
    if not _ENV_NAME_RE.match(name) or name in _DENY_NAMES:
        return False
    return not name.startswith(_DENY_PREFIXES)


def _open_mpi_command(launcher, args, env):
    """The command line for Open MPI's mpirun, without the user's command;
    may add mpirun's own variables to `env`."""
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
        # Open MPI offers one slot per core and refuses more ranks than
        # that. Ranks mostly wait on communication and users commonly test
        # with more ranks than cores, so a local job may oversubscribe (the
        # flag changes nothing when -np <= cores); with -H/--hostfile the
        # user states the slots, so Open MPI's check is kept.
        cmd.append("--oversubscribe")
    if args.prefix is not None:
        cmd += ["--prefix", args.prefix]
    if args.ssh_port is not None:
        cmd += ["-mca", "plm_rsh_args", f"-p {args.ssh_port}"]
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
    return cmd


def build_command(args, environ):
    """Return ``(argv, env)``: the mpirun command line and its environment.

    ``args`` is the namespace from :func:`bluefog.run.options.parse_args`;
    ``environ`` is the environment to launch from (it is not modified).
    Raises :class:`MpirunNotFoundError` when no mpirun can be found and
    :class:`UnsupportedOptionError` for an option the launcher lacks.
    """
    env = dict(environ)
    launcher = _find_mpirun(env, args.mpirun)
    if args.timeline_filename is not None:
        env[TIMELINE_ENV] = args.timeline_filename
    if args.verbose and LOG_LEVEL_ENV not in env:
        env[LOG_LEVEL_ENV] = "debug"
    if _is_hydra(launcher):
        cmd = _hydra_command(launcher, args)
    else:
        cmd = _open_mpi_command(launcher, args, env)
    if args.extra_mpi_flags:
        cmd += shlex.split(args.extra_mpi_flags)
    return cmd + list(args.command), env
