"""Running the launcher: bfrun waits for it and passes it the signals that
bfrun gets, so that Ctrl-C or a batch system's SIGTERM reaches the job."""

import signal
import subprocess
import sys

_FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_forwarding_signals(cmd, env):
    """Run ``cmd``, forwarding SIGINT/SIGTERM to it; return its exit code
    (a shell's 128 + N when a signal N killed it; 126 or 127 when it could
    not be started)."""
    state = {"proc": None, "pending": []}

    def forward(signum, _frame):
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
            previous[sig] = signal.signal(sig, forward)
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
            sys.stderr.write(f"bfrun: error: cannot run {cmd[0]}: {exc}\n")
            return 126 if isinstance(exc, PermissionError) else 127
        state["proc"] = proc
        for signum in state["pending"]:
            forward(signum, None)
        returncode = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - returncode if returncode < 0 else returncode
