"""python -m bluefog.timeline {merge,summary,plot} PREFIX ..."""

import argparse
import os
import sys

from .reader import TimelineError

PROG = "python -m bluefog.timeline"

DESCRIPTION = """\
Offline tools for the timeline files a BlueFog job writes with
BLUEFOG_TIMELINE=PREFIX (or bfrun --timeline-filename PREFIX): one file
PREFIX<rank>.json per rank.

  merge    one Chrome/Perfetto trace of all ranks on rank 0's clock
  summary  time per op kind and tensor, who waited for whom, failures
  plot     a per-rank Gantt chart (needs matplotlib)
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, "{}: error: {} (see {} --help)\n".format(PROG, message, self.prog))


def _parser():
    parser = _Parser(prog=PROG, description=DESCRIPTION,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="{merge,summary,plot}")
    commands.required = True
    prefix_help = "the job's timeline prefix: reads every PREFIX<rank>.json"

    merge = commands.add_parser(
        "merge", help="merge every rank's file into one trace (open it in Perfetto)",
        description="Merges every PREFIX<rank>.json into one closed JSON trace with a process "
                    "per rank and a thread per (tensor, thread), timestamps on rank 0's steady "
                    "clock. Clock drift between init and shutdown is reported in otherData.")
    merge.add_argument("prefix", metavar="PREFIX", help=prefix_help)
    merge.add_argument("-o", "--output", required=True, metavar="FILE",
                       help="the merged trace to write (e.g. job.json)")

    summary = commands.add_parser(
        "summary", help="print where the time went, who waited for whom, failures",
        description="Prints tables of queued, waiting, transferring and reducing time per op "
                    "kind and per tensor (summed over ranks), the matrix of who waited for "
                    "whom with the straggler, and every failure and stall.")
    summary.add_argument("prefix", metavar="PREFIX", help=prefix_help)

    plot = commands.add_parser(
        "plot", help="draw a per-rank Gantt chart (needs matplotlib)",
        description="Draws one lane per rank: ops coloured by kind, waiting hatched, "
                    "transfers, user activities, failures and stalls as markers.")
    plot.add_argument("prefix", metavar="PREFIX", help=prefix_help)
    plot.add_argument("-o", "--output", required=True, metavar="FILE",
                      help="the picture to write (format from the extension: .png, .svg, .pdf)")
    plot.add_argument("--between", nargs=2, type=float, metavar=("FROM_MS", "TO_MS"),
                      help="draw only this stretch of the run (ms on the merged clock, as the "
                           "full chart's axis shows them), e.g. a few steps")
    return parser


def _check_writable(path):
    if os.path.isdir(path):
        raise TimelineError("cannot write {}: it is a directory".format(path))
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise TimelineError("cannot write {}: no directory {}".format(path, parent))
    if not os.access(parent, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise TimelineError("cannot write {}: permission denied".format(path))


def _run(args):
    if args.command == "merge":
        from .merge import merge, write_trace
        _check_writable(args.output)
        trace = merge(args.prefix)
        try:
            write_trace(trace, args.output)
        except OSError as e:
            raise TimelineError("cannot write {}: {}".format(args.output, e.strerror or e))
        events = sum(1 for e in trace["traceEvents"] if e.get("ph") != "M")
        print("wrote {} ({} ranks, {} events)".format(args.output,
                                                       len(trace["otherData"]["ranks"]), events))
    elif args.command == "summary":
        from .summary import format_summary, summarize
        sys.stdout.write(format_summary(summarize(args.prefix)))
    elif args.command == "plot":
        from .plot import plot
        _check_writable(args.output)
        if args.between is not None and not args.between[0] < args.between[1]:
            raise TimelineError("--between {:g} {:g}: the first time must be the earlier".format(
                *args.between))
        try:
            plot(args.prefix, args.output, between=args.between)
        except OSError as e:
            raise TimelineError("cannot write {}: {}".format(args.output, e.strerror or e))
        except ValueError as e:  # e.g. an extension matplotlib has no writer for
            raise TimelineError("cannot write {}: {}".format(args.output, e))
        print("wrote {}".format(args.output))


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        _run(args)
    except TimelineError as e:
        print("{}: error: {}".format(PROG, e), file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. summary | head
        sys.stderr.close()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
