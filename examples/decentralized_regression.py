"""Decentralized least squares and logistic regression with four algorithms.

    bfrun -np 4 python examples/decentralized_regression.py [--iters N] [--dim D]
        [--samples-per-rank M] [--problems linear,logistic] [--plot PATH]

Rank i holds a shard (A_i, b_i) of synthetic data and the local loss f_i; all
ranks together minimise f(x) = (1/n) sum_i f_i(x), where
    linear:   f_i(x) = 1/(2M) ||A_i x - b_i||^2
    logistic: f_i(x) = 1/M sum_m log(1 + exp(-b_im a_im^T x)) + rho/2 ||x||^2.
The shards differ on purpose (each has its own ground truth and feature
shift), so the local minimisers are far from the global one x*. Every rank
generates all shards from a fixed seed, so each can compute x* by itself.

With W the mixing matrix (x_i <- sum_j W_ji x_j is one neighbor_allreduce),
grad the stacked local gradients and a the step size:
  1. diffusion (adapt then combine):  x+ = W (x - a grad(x))
     converges only to a neighbourhood of x* whose size grows with a.
  2. exact diffusion (Yuan et al.), Wbar = (W + I) / 2, psi_{-1} = x_0:
        psi_k = x_k - a grad(x_k);  phi_k = psi_k + x_k - psi_{k-1};  x_{k+1} = Wbar phi_k
  3. gradient tracking, y_0 = grad(x_0):
        x_{k+1} = W x_k - a y_k;  y_{k+1} = W y_k + grad(x_{k+1}) - grad(x_k)
  4. push-DIGing over a directed graph with a column-stochastic C (each sender
     splits its mass equally among itself and its out-neighbours),
     u_0 = x_0, v_0 = 1, y_0 = grad(x_0):
        u_{k+1} = C (u_k - a y_k);  v_{k+1} = C v_k;  x_{k+1} = u_{k+1} / v_{k+1}
        y_{k+1} = C y_k + grad(x_{k+1}) - grad(x_k)
Methods 2-4 converge linearly to x* itself.

W is the symmetric exponential-2 graph made lazy, W = (I + W0) / 2: on up to
4 ranks W0 is the exact average, which would hide diffusion's bias. C comes
from the directed exponential-2 graph with some edges dropped so out-degrees
differ: C is then not row-stochastic and push-sum's weight v really matters.

Rank 0 prints `<problem> <algorithm> iter <k> distance <d>` lines, where d
is max_i ||x_i - x*|| / ||x*||, a summary table, and saves a plot.
"""

import argparse
import sys

import networkx as nx
import numpy as np
import torch

import bluefog.torch as bf
from bluefog.common import topology_util

ALGORITHMS = ("diffusion", "exact-diffusion", "gradient-tracking", "push-DIGing")
PROBLEMS = ("linear", "logistic")
RHO = 1e-2  # L2 weight of the logistic loss
# Step size = STEP / L, L the largest smoothness constant of the f_i. The
# tracking methods diverge here from about 1.5 / L, so they get a margin.
STEP = {"diffusion": 1.0, "exact-diffusion": 1.0, "gradient-tracking": 0.5,
        "push-DIGing": 0.5}


def make_shards(n, dim, samples, problem, seed):
    """All n shards [(A_i, b_i)], identical on every rank."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    truth = randn(dim) / dim ** 0.5
    shards = []
    for _ in range(n):
        x_i = truth + 0.5 * randn(dim) / dim ** 0.5
        A = randn(samples, dim) + 0.3 * randn(dim)
        z = A @ x_i
        if problem == "linear":
            b = z + 0.1 * randn(samples)
        else:
            b = torch.where(torch.rand(samples, generator=gen, dtype=torch.float64)
                            < torch.sigmoid(z), 1.0, -1.0).to(torch.float64)
        shards.append((A, b))
    return shards


def gradient(problem, A, b, x):
    if problem == "linear":
        return A.T @ (A @ x - b) / len(b)
    return -A.T @ (b * torch.sigmoid(-b * (A @ x))) / len(b) + RHO * x


def smoothness(problem, A):
    top = torch.linalg.eigvalsh(A.T @ A / len(A))[-1].item()
    return top if problem == "linear" else top / 4 + RHO


def global_optimum(problem, shards):
    A = torch.cat([a for a, _ in shards])
    b = torch.cat([b for _, b in shards])
    if problem == "linear":
        return torch.linalg.solve(A.T @ A, A.T @ b)

    # Equal shard sizes, so f is the loss on the stacked data. Newton with a
    # backtracking line search while the Newton decrement is large, full steps
    # once it is small (quadratic convergence, and no loss comparisons that
    # rounding would spoil).
    def loss(x):
        return torch.nn.functional.softplus(-b * (A @ x)).mean() + RHO / 2 * x.dot(x)

    x = torch.zeros(A.shape[1], dtype=torch.float64)
    for _ in range(100):
        s = torch.sigmoid(b * (A @ x))
        hessian = (A.T * (s * (1 - s))) @ A / len(b) + RHO * torch.eye(len(x), dtype=x.dtype)
        g = gradient(problem, A, b, x)
        step = torch.linalg.solve(hessian, g)
        decrement = g.dot(step)
        t = 1.0
        while decrement > 1e-8 and loss(x - t * step) > loss(x) - t * decrement / 4:
            t /= 2
        x = x - t * step
        if step.norm() <= 1e-15 * x.norm():
            break
    return x


def lazy_symmetric_graph(n):
    """W = (I + W0) / 2, W0 the symmetric exponential-2 graph."""
    W0 = nx.to_numpy_array(topology_util.SymmetricExponentialGraph(n, base=2),
                           nodelist=range(n))
    return nx.from_numpy_array((np.eye(n) + W0) / 2, create_using=nx.DiGraph)


def push_out_neighbors(rank, n):
    """Rank i keeps its first 1 + (i mod L) exponential-2 out-edges (of L)."""
    targets = [(rank + 2 ** t) % n for t in range(n.bit_length()) if 2 ** t < n]
    return targets[:1 + rank % len(targets)] if targets else []


def run(algo, problem, A, b, x_star, lr, iters):
    """Local relative distance ||x_i - x*|| / ||x*|| at iterations 0..iters."""
    n, me = bf.size(), bf.rank()
    grad = lambda v: gradient(problem, A, b, v)  # noqa: E731
    name = f"{problem}.{algo}"
    dim = len(x_star)
    x = torch.zeros(dim, dtype=torch.float64)
    g = grad(x)
    history = torch.empty(iters + 1, dtype=torch.float64)
    history[0] = (x - x_star).norm() / x_star.norm()

    if algo == "exact-diffusion":
        self_w, src_w = topology_util.GetRecvWeights(bf.load_topology(), me)
        bar_self, bar_src = (1 + self_w) / 2, {j: w / 2 for j, w in src_w.items()}
        psi_prev = x
    elif algo == "gradient-tracking":
        y = g
    elif algo == "push-DIGing":
        outs = push_out_neighbors(me, n)
        ins = [j for j in range(n) if me in push_out_neighbors(j, n)]
        share = 1.0 / (len(outs) + 1)
        u, y, v = x, g, torch.ones(1, dtype=torch.float64)

    for k in range(1, iters + 1):
        g_old = g
        if algo == "diffusion":
            x = bf.neighbor_allreduce(x - lr * g, enable_topo_check=False, name=name)
        elif algo == "exact-diffusion":
            psi = x - lr * g
            x = bf.neighbor_allreduce(psi + x - psi_prev, self_weight=bar_self,
                                      src_weights=bar_src, enable_topo_check=False,
                                      name=name)
            psi_prev = psi
        elif algo == "gradient-tracking":
            # W x and W y in one message.
            mixed = bf.neighbor_allreduce(torch.cat([x, y]), enable_topo_check=False,
                                          name=name)
            x, y = mixed[:dim] - lr * y, mixed[dim:]
        else:
            # The sender scales its copy by `share` (dst_weights); receivers add
            # the copies as they come (src_weights 1). v travels with u and y.
            mixed = bf.neighbor_allreduce(
                torch.cat([u - lr * y, y, v]), self_weight=share,
                src_weights={j: 1.0 for j in ins}, dst_weights={j: share for j in outs},
                enable_topo_check=False, name=name)
            u, y, v = mixed[:dim], mixed[dim:2 * dim], mixed[2 * dim:]
            x = u / v
        g = grad(x)
        if algo in ("gradient-tracking", "push-DIGing"):
            y = y + g - g_old
        history[k] = (x - x_star).norm() / x_star.norm()
    return history


def save_plot(path, curves, n):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: no plot written to {path} "
              "(pip install matplotlib, or pass --plot '' to silence this)", file=sys.stderr)
        return
    problems = list(dict.fromkeys(p for p, _ in curves))
    fig, axes = plt.subplots(1, len(problems), figsize=(6 * len(problems), 4.5), squeeze=False)
    for ax, problem in zip(axes[0], problems):
        for (p, algo), dist in curves.items():
            if p == problem:
                ax.semilogy(dist.clamp(min=1e-300).numpy(), label=f"{algo} (step {STEP[algo]:g}/L)")
        ax.set_title("least squares" if problem == "linear"
                     else f"logistic regression (L2 {RHO:g})")
        ax.set_xlabel("iteration")
        ax.set_ylabel(r"$\max_i \|x_i - x^*\| / \|x^*\|$")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"Decentralized regression on {n} rank{'s' if n != 1 else ''}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"plot saved to {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--dim", type=int, default=20)
    parser.add_argument("--samples-per-rank", type=int, default=100)
    parser.add_argument("--problems", default="linear,logistic",
                        help="comma-separated subset of: " + ",".join(PROBLEMS))
    parser.add_argument("--print-every", type=int, default=None,
                        help="report interval (default iters/10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default="regression.png", help="PNG path; '' disables")
    args = parser.parse_args()
    problems = [p for p in args.problems.split(",") if p]
    unknown = set(problems) - set(PROBLEMS)
    if unknown or not problems:
        parser.error(f"--problems: unknown {sorted(unknown)}; choose from {PROBLEMS}")
    if args.iters < 1:
        parser.error("--iters must be positive")
    every = args.print_every or max(1, args.iters // 10)

    bf.init(lazy_symmetric_graph, is_weighted=True)
    n, me = bf.size(), bf.rank()
    if "linear" in problems and n * args.samples_per_rank < args.dim:
        parser.error("least squares needs size * samples-per-rank >= dim for a unique x*")

    curves = {}
    for problem in problems:
        shards = make_shards(n, args.dim, args.samples_per_rank, problem, args.seed)
        A, b = shards[me]
        x_star = global_optimum(problem, shards)
        L = max(smoothness(problem, a) for a, _ in shards)
        for algo in ALGORITHMS:
            local = run(algo, problem, A, b, x_star, STEP[algo] / L, args.iters)
            # One gather at the end instead of a reduction every iteration.
            dist = bf.allgather(local.unsqueeze(0), name=f"{problem}.{algo}.history").max(0)[0]
            curves[problem, algo] = dist
            if me == 0:
                for k in list(range(0, args.iters, every)) + [args.iters]:
                    print(f"{problem} {algo} iter {k} distance {dist[k]:.3e}", flush=True)

    if me == 0:
        print(f"\nsummary on {n} rank{'s' if n != 1 else ''} after {args.iters} iterations "
              "(max_i ||x_i - x*|| / ||x*||)")
        print(f"{'problem':<10} {'algorithm':<18} final distance")
        for (problem, algo), dist in curves.items():
            print(f"{problem:<10} {algo:<18} {dist[-1]:.3e}")
        if args.plot:
            save_plot(args.plot, curves, n)


if __name__ == "__main__":
    main()
