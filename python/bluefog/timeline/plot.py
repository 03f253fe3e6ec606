"""A job's Gantt chart: one lane per rank, split in three sub-lanes (user
activities, ops coloured by kind, waiting and transfers), on the aligned
clock in ms. matplotlib is imported only here, when drawing."""

from .job import load_job, warn_to_stderr
from .reader import TimelineError
from .spans import op_kind


class MissingDependency(TimelineError):
    """matplotlib is not installed."""


def _matplotlib():
    try:
        import matplotlib  # noqa: F401  (the package itself first: its absence is the error)
        # The Agg canvas directly: no pyplot, so a caller's backend is left alone.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
    except ImportError as e:
        raise MissingDependency(
            "plotting needs matplotlib ({}): install the Debian package python3-matplotlib "
            "(or pip install matplotlib)".format(e)) from None
    return Figure, FigureCanvasAgg, Patch, Line2D


def _union(intervals):
    """Sorted, merged (start, width) pairs: fewer, equal-looking bars."""
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, max(e - s, 0)) for s, e in merged]


def _lighter(colour, amount=0.55):
    r, g, b = colour[:3]
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


# Sub-lanes inside a rank's lane (top to bottom) and their heights.
USER, OPS, WAIT = 0, 1, 2
LANE_TOP = {USER: 0.05, OPS: 0.32, WAIT: 0.68}
LANE_HEIGHT = {USER: 0.22, OPS: 0.32, WAIT: 0.22}


def plot_job(job, output, title=None, dpi=110, between=None):
    """Draws ``job`` to ``output`` (format from its extension, e.g. .png);
    ``between=(from_ms, to_ms)`` draws only that stretch."""
    Figure, FigureCanvasAgg, Patch, Line2D = _matplotlib()
    from matplotlib import colormaps
    kinds = sorted({op_kind(s.name) for t in job.ranks.values() for s in t.spans
                    if s.tid == 0 and s.name.startswith("MPI_")})
    palette = colormaps["tab20"] if len(kinds) > 10 else colormaps["tab10"]
    colour = {k: palette(n % palette.N) for n, k in enumerate(kinds)}

    n = max(len(job.ranks), 1)
    fig = Figure(figsize=(12, 1.4 + 0.9 * n))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    lanes = {}  # (y, sub-lane, style) -> intervals in ms
    markers = {"FAILED": ([], []), "STALL": ([], [])}
    end_ms = 0.0
    for y, (rank, t) in enumerate(job.ranks.items()):
        for s in t.spans:
            a, b = t.aligned(s.start) / 1000, t.aligned(s.end) / 1000
            end_ms = max(end_ms, b)
            if s.tid == 0 and s.name.startswith("MPI_"):
                key = (y, OPS, op_kind(s.name))
            elif s.name.startswith("WAIT_FOR_RANK_"):
                key = (y, WAIT, "wait")
            elif s.name.startswith("TRANSFER_FROM_RANK_"):
                key = (y, WAIT, "transfer")
            elif 0 < s.tid < 100000:
                key = (y, USER, "user")
            else:
                continue
            lanes.setdefault(key, []).append((a, b))
        for i in t.instants:
            for kind, (xs, ys) in markers.items():
                if i.name.startswith(kind):
                    xs.append(t.aligned(i.ts) / 1000)
                    ys.append(y + LANE_TOP[OPS] + LANE_HEIGHT[OPS] / 2)

    grey = (0.55, 0.55, 0.55)
    wait_face, wait_hatch = (0.96, 0.91, 0.78), (0.55, 0.42, 0.1)
    # Waiting first, transfers over it: the hatched part left is pure waiting.
    order = {"wait": 0, "transfer": 1}
    for (y, sub, style), intervals in sorted(lanes.items(),
                                             key=lambda kv: (kv[0][0], kv[0][1],
                                                             order.get(kv[0][2], 2))):
        yrange = (y + LANE_TOP[sub], LANE_HEIGHT[sub])
        bars = _union(intervals)
        if style == "wait":
            ax.broken_barh(bars, yrange, facecolor=wait_face, edgecolor=wait_hatch,
                           hatch="////", linewidth=0)
        elif style == "transfer":
            ax.broken_barh(bars, yrange, facecolor=(0.2, 0.35, 0.7), linewidth=0)
        elif style == "user":
            ax.broken_barh(bars, yrange, facecolor=_lighter(grey, 0.3), linewidth=0)
        else:
            ax.broken_barh(bars, yrange, facecolor=colour[style], linewidth=0)

    handles = [Patch(facecolor=colour[k], label=k) for k in kinds]
    handles.append(Patch(facecolor=wait_face, edgecolor=wait_hatch, hatch="////",
                         label="waiting for a peer"))
    handles.append(Patch(facecolor=(0.2, 0.35, 0.7), label="transfer"))
    handles.append(Patch(facecolor=_lighter(grey, 0.3), label="user activity"))
    for kind, (xs, ys), style in (("FAILED", markers["FAILED"], dict(color="red", marker="X")),
                                  ("STALL", markers["STALL"], dict(color="darkorange",
                                                                   marker="v"))):
        if xs:
            ax.scatter(xs, ys, s=60, zorder=5, edgecolors="black", linewidths=0.5,
                       **style)
        handles.append(Line2D([], [], linestyle="none", markersize=8,
                              markeredgecolor="black", label=kind.lower(), **style))

    ax.set_ylim(n, 0)
    ax.set_yticks([y + 0.5 for y in range(n)])
    ax.set_yticklabels(["rank {}\n{}".format(r, t.hostname) if t.hostname else "rank {}".format(r)
                        for r, t in job.ranks.items()] or [""])
    for y in range(1, n):
        ax.axhline(y, color=(0.85, 0.85, 0.85), linewidth=0.8)
    if between is not None:
        ax.set_xlim(*between)
    else:
        ax.set_xlim(-end_ms * 0.01, end_ms * 1.02 if end_ms > 0 else 1)
    ax.set_xlabel("time (ms, on rank 0's steady clock, 0 at the first event)")
    ax.set_title(title or "BlueFog timeline {} ({} of {} ranks)".format(
        job.prefix, len(job.ranks), job.size))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
              frameon=False)
    fig.tight_layout()
    fig.savefig(output, dpi=dpi)
    return output


def plot(prefix, output, warn=warn_to_stderr, **kwargs):
    """Draws the Gantt chart of every ``PREFIX<rank>.json`` to ``output``."""
    _matplotlib()  # fail before reading anything when it is missing
    return plot_job(load_job(prefix, warn=warn), output, **kwargs)
