"""Training throughput on synthetic images for each way of communicating.

Every rank trains the same model on its own fixed batch of random 3x32x32
images (forward, backward and optimizer step per batch, SGD with momentum),
once per communication type, and rank 0 reports images per second:

    bfrun -np 4 python examples/pytorch_benchmark.py [--model resnet18|mlp]
        [--width 64] [--comm all|empty|neighbor_allreduce|...] [--batch-size 32]
        [--num-warmup-batches 3] [--num-batches-per-iter 5] [--num-iters 5] [--lr 0.01]

Communication types (``--comm all``, the default, runs each in turn):

    empty                            no communication: the speed of the computation alone
    neighbor_allreduce               adapt-with-combine over neighbor_allreduce
    dynamic_neighbor_allreduce       the same, one peer per step (exponential-2 schedule)
    atc                              adapt-then-combine over neighbor_allreduce
    hierarchical_neighbor_allreduce  adapt-with-combine, machine-level neighbours
                                     (skipped when local_size() < 2; emulate machines
                                     with BLUEFOG_NODES_PER_MACHINE)
    allreduce                        adapt-with-combine over allreduce
    gradient_allreduce               Horovod-style gradient averaging

Rank 0 prints one ``Iter #k: X img/sec per rank`` line per iteration (each the
average over ranks), the mean with a 95% interval (1.96 std), and at the end a
table with one ``RESULT comm=NAME per_rank=X total=Y vs_empty=Z sent_bytes=B``
line per type. ``vs_empty`` is the ratio to the ``empty`` run (``na`` when it
did not run). ``sent_bytes`` estimates the payload one rank sends per step:
out-degree copies of the parameters for neighbor_allreduce and atc, one for the
dynamic schedule, the machine's other ranks plus the destination machines for
hierarchical, and 2 (n-1)/n copies (ring) for the allreduce types.
"""

import argparse
import timeit

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import bluefog.torch as bf
from bluefog.common import topology_util

COMMS = ["empty", "neighbor_allreduce", "dynamic_neighbor_allreduce", "atc",
         "hierarchical_neighbor_allreduce", "allreduce", "gradient_allreduce"]


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 for 32x32 inputs: a 3x3 stem, no max-pool, [2, 2, 2, 2] blocks."""

    def __init__(self, width=64, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, in_planes = [], width
        for index, blocks in enumerate([2, 2, 2, 2]):
            planes = width * 2 ** index
            for block in range(blocks):
                stride = 2 if index > 0 and block == 0 else 1
                layers.append(BasicBlock(in_planes, planes, stride))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.linear = nn.Linear(in_planes, num_classes)

    def forward(self, x):
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def build_model(name, width):
    if name == "resnet18":
        return ResNet18(width)
    if name == "mlp":
        hidden = 8 * width
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, hidden), nn.ReLU(),
                             nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    raise ValueError(f"unknown model {name!r}")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["resnet18", "mlp"], default="resnet18")
    parser.add_argument("--width", type=int, default=64,
                        help="base channels of resnet18; the mlp's hidden size is 8x this")
    parser.add_argument("--comm", choices=["all", *COMMS], default="all")
    parser.add_argument("--batch-size", type=int, default=32, help="images per rank per batch")
    parser.add_argument("--num-warmup-batches", type=int, default=3)
    parser.add_argument("--num-batches-per-iter", type=int, default=5)
    parser.add_argument("--num-iters", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.01)
    return parser.parse_args()


def log(*args):
    if bf.rank() == 0:
        print(*args, flush=True)


def skip_reason(comm):
    if comm == "hierarchical_neighbor_allreduce" and bf.local_size() < 2:
        return (f"local_size() is {bf.local_size()}, it needs at least 2 ranks per machine "
                "(set BLUEFOG_NODES_PER_MACHINE to emulate machines)")
    return None


def make_optimizer(comm, model, lr):
    sgd = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    if comm == "gradient_allreduce":
        return bf.DistributedGradientAllreduceOptimizer(sgd, model)
    if comm == "atc":
        return bf.DistributedAdaptThenCombineOptimizer(
            sgd, model, communication_type=bf.CommunicationType.neighbor_allreduce)
    kind = {"empty": bf.CommunicationType.empty,
            "neighbor_allreduce": bf.CommunicationType.neighbor_allreduce,
            "dynamic_neighbor_allreduce": bf.CommunicationType.neighbor_allreduce,
            "hierarchical_neighbor_allreduce": bf.CommunicationType.hierarchical_neighbor_allreduce,
            "allreduce": bf.CommunicationType.allreduce}[comm]
    return bf.DistributedAdaptWithCombineOptimizer(sgd, model, communication_type=kind)


def sent_bytes(comm, model_bytes):
    """Estimated payload one rank sends per step (see the module docstring)."""
    n = bf.size()
    copies = {
        "empty": 0,
        "neighbor_allreduce": len(bf.out_neighbor_ranks()),
        "atc": len(bf.out_neighbor_ranks()),
        "dynamic_neighbor_allreduce": 1 if n > 1 else 0,
        "allreduce": 2 * (n - 1) / n,
        "gradient_allreduce": 2 * (n - 1) / n,
    }
    if comm == "hierarchical_neighbor_allreduce":
        return (bf.local_size() - 1 + len(bf.out_neighbor_machine_ranks())) * model_bytes
    return int(copies[comm] * model_bytes)


def benchmark(comm, args):
    """Per-rank images/sec of each timed iteration, averaged over ranks."""
    # A fresh model each time: the distributed optimizers hook into the model's
    # forward and backward and offer no way to remove the hooks, so an earlier
    # optimizer's hooks would keep firing on a reused model.
    torch.manual_seed(0)
    model = build_model(args.model, args.width)
    bf.broadcast_parameters(model.state_dict(), root_rank=0)
    optimizer = make_optimizer(comm, model, args.lr)

    schedule = None
    if comm == "dynamic_neighbor_allreduce":
        schedule = topology_util.GetDynamicOnePeerSendRecvRanks(bf.load_topology(), bf.rank())

    generator = torch.Generator().manual_seed(1000 + bf.rank())
    data = torch.randn(args.batch_size, 3, 32, 32, generator=generator)
    target = torch.randint(0, 10, (args.batch_size,), generator=generator)

    def train_batch():
        if schedule is not None:
            # Set before forward: adapt-with-combine starts sending there.
            send_ranks, recv_ranks = next(schedule)
            optimizer.dst_weights = send_ranks
            optimizer.src_weights = {r: 1.0 / (len(recv_ranks) + 1) for r in recv_ranks}
            optimizer.self_weight = 1.0 / (len(recv_ranks) + 1)
        optimizer.zero_grad()
        F.cross_entropy(model(data), target).backward()
        optimizer.step()

    log("Running warmup...")
    timeit.timeit(train_batch, number=args.num_warmup_batches)
    log("Running benchmark...")
    rates = []
    for index in range(args.num_iters):
        seconds = timeit.timeit(train_batch, number=args.num_batches_per_iter)
        rate = torch.tensor([args.batch_size * args.num_batches_per_iter / seconds],
                            dtype=torch.float64)
        rate = bf.allreduce(rate, average=True, name=f"benchmark.{comm}.{index}").item()
        log(f"Iter #{index}: {rate:.1f} img/sec per rank")
        rates.append(rate)
    return rates


def main():
    args = parse_args()
    bf.init()
    comms = COMMS if args.comm == "all" else [args.comm]

    params = sum(p.numel() for p in build_model(args.model, args.width).parameters())
    model_bytes = params * 4  # float32
    log(f"Model: {args.model} (width {args.width}), {params:,} parameters, "
        f"{model_bytes:,} bytes of parameters (or gradients) exchanged per step")
    log(f"MODEL name={args.model} width={args.width} params={params} bytes={model_bytes}")
    log(f"Batch size: {args.batch_size} per rank, {bf.size()} rank(s), "
        f"{bf.local_size()} per machine, {args.num_iters} iterations of "
        f"{args.num_batches_per_iter} batches after {args.num_warmup_batches} warmup batches")

    results = {}
    for comm in comms:
        log(f"\n== {comm}")
        reason = skip_reason(comm)
        if reason is not None:
            log(f"SKIP comm={comm} reason: {reason}")
            continue
        rates = benchmark(comm, args)
        mean, conf = np.mean(rates), 1.96 * np.std(rates)
        log(f"Img/sec per rank: {mean:.1f} +- {conf:.1f}")
        log(f"Total img/sec on {bf.size()} rank(s): {bf.size() * mean:.1f} "
            f"+- {bf.size() * conf:.1f}")
        results[comm] = mean

    baseline = results.get("empty")
    log(f"\n{'communication':<32} {'img/s per rank':>15} {'total img/s':>12} "
        f"{'vs empty':>9} {'MB sent/step':>13}")
    lines = []
    for comm, mean in results.items():
        ratio = f"{mean / baseline:.2f}" if baseline else "na"
        sent = sent_bytes(comm, model_bytes)
        log(f"{comm:<32} {mean:>15.1f} {bf.size() * mean:>12.1f} {ratio:>9} "
            f"{sent / 1e6:>13.2f}")
        lines.append(f"RESULT comm={comm} per_rank={mean:.1f} total={bf.size() * mean:.1f} "
                     f"vs_empty={ratio} sent_bytes={sent}")
    log("\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
