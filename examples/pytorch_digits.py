"""Decentralized training of a small CNN on scikit-learn's digits data set
(1797 8x8 images, shipped with python3-sklearn: no download).

    bfrun -np 4 python examples/pytorch_digits.py [--dist-optimizer neighbor_allreduce]
          [--atc-style] [--disable-dynamic-topology] [--epochs 20] [--no-baseline]

Each rank trains on its own shard of the training set. With the default
neighbor_allreduce and the dynamic topology, each rank averages its model
with one peer per iteration along the one-peer exponential-2 schedule (the
seed's loop: the optimizer's dst_weights, src_weights and self_weight are set
before every iteration). Other choices: hierarchical_neighbor_allreduce
(machine-level exponential-2 schedule), allreduce (parameters averaged over
all ranks), gradient_allreduce (Horovod-style), empty (no communication).
Rank 0 prints one line per epoch, then the test accuracy beside that of a
centralized run (gradient allreduce: synchronous SGD on the same shards).
"""

import argparse
import time

import torch
import torch.nn.functional as F

import bluefog.torch as bf
from bluefog.common import topology_util

CHOICES = ["neighbor_allreduce", "hierarchical_neighbor_allreduce", "allreduce",
           "gradient_allreduce", "empty"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist-optimizer", choices=CHOICES, default="neighbor_allreduce")
    parser.add_argument("--atc-style", action="store_true",
                        help="adapt-then-combine instead of adapt-with-combine")
    parser.add_argument("--disable-dynamic-topology", action="store_true",
                        help="average with every neighbour of the static graph each step")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32, help="per rank")
    parser.add_argument("--lr", type=float, default=0.1,
                        help="divided by 10 at half and at three quarters of the epochs")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the centralized run printed for comparison")
    return parser.parse_args()


class DigitsNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = torch.nn.Linear(32 * 4 * 4, 64)
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def load_data(seed):
    """(train images, train labels, test images, test labels): a fixed 80/20 split."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(labels))
    train, test = order[:cut], order[cut:]
    return images[train], labels[train], images[test], labels[test]


def make_optimizer(model, args, kind):
    sgd = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    if kind == "gradient_allreduce":
        return bf.DistributedGradientAllreduceOptimizer(sgd, model)
    factory = (bf.DistributedAdaptThenCombineOptimizer if args.atc_style
               else bf.DistributedAdaptWithCombineOptimizer)
    return factory(sgd, model, communication_type=bf.CommunicationType[kind])


def _uniform_updates(optimizer, schedule, send_attribute, recv_attribute):
    """Each step: the schedule's next (send, recv), the received averaged uniformly."""
    def update():
        send, recv = next(schedule)
        setattr(optimizer, send_attribute, send)
        setattr(optimizer, recv_attribute, {r: 1 / (len(recv) + 1) for r in recv})
        optimizer.self_weight = 1 / (len(recv) + 1)
    return update


def topology_updater(optimizer, args, kind):
    """The seed's dynamic-topology step: a function called before each
    iteration that points the optimizer at this iteration's peers."""
    if args.disable_dynamic_topology or bf.size() == 1:
        return lambda: None
    if kind == "neighbor_allreduce":
        schedule = topology_util.GetDynamicOnePeerSendRecvRanks(bf.load_topology(), bf.rank())
        return _uniform_updates(optimizer, schedule, "dst_weights", "src_weights")
    if kind == "hierarchical_neighbor_allreduce" and bf.machine_size() > 1:
        schedule = topology_util.GetExp2DynamicSendRecvMachineRanks(
            bf.size(), bf.local_size(), bf.rank(), bf.local_rank())
        return _uniform_updates(optimizer, schedule, "dst_machine_weights",
                                "src_machine_weights")
    return lambda: None


def accuracy(model, images, labels):
    model.eval()
    with torch.no_grad():
        correct = (model(images).argmax(1) == labels).sum().item()
    model.train()
    return correct / len(labels)


def mean_over_ranks(value, name):
    return bf.allreduce(torch.tensor([float(value)]), average=True, name=name).item()


def train(args, kind, data, label):
    """Trains from the same start on every rank; returns the test accuracy of
    the ranks' models, averaged over ranks."""
    train_x, train_y, test_x, test_y = data
    n, me = bf.size(), bf.rank()
    shard_x, shard_y = train_x[me::n], train_y[me::n]
    torch.manual_seed(args.seed)
    model = DigitsNet()
    bf.broadcast_parameters(model.state_dict(), root_rank=0)
    optimizer = make_optimizer(model, args, kind)
    update_topology = topology_updater(optimizer, args, kind)
    schedule = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, [args.epochs // 2, 3 * args.epochs // 4], gamma=0.1)
    # Same number of iterations on every rank, so that every exchange has a partner.
    batches = -(-len(train_y[0::n]) // args.batch_size)
    for epoch in range(1, args.epochs + 1):
        started = time.time()
        order = torch.randperm(len(shard_y),
                               generator=torch.Generator().manual_seed(args.seed + 1000 * epoch + me))
        total_loss = 0.0
        for b in range(batches):
            index = order[b * args.batch_size:(b + 1) * args.batch_size]
            if len(index) == 0:
                index = order[:args.batch_size]
            update_topology()
            optimizer.zero_grad()
            loss = F.cross_entropy(model(shard_x[index]), shard_y[index])
            loss.backward()
            optimizer.step()
            total_loss += loss.item()
        schedule.step()
        loss = mean_over_ranks(total_loss / batches, f"{label}.loss")
        acc = mean_over_ranks(accuracy(model, test_x, test_y), f"{label}.accuracy")
        if me == 0:
            print(f"[{label}] epoch {epoch:2d}/{args.epochs}  loss {loss:.4f}  "
                  f"test accuracy {100 * acc:.2f}%  ({time.time() - started:.2f} s)", flush=True)
    return acc


def describe(args, kind):
    if kind in ("gradient_allreduce", "empty"):
        return kind
    style = "adapt-then-combine" if args.atc_style else "adapt-with-combine"
    dynamic = "" if args.disable_dynamic_topology or "neighbor" not in kind \
        else ", dynamic one-peer exponential-2"
    return f"{kind} ({style}{dynamic})"


def main():
    args = parse_args()
    bf.init()
    data = load_data(args.seed)
    if bf.rank() == 0:
        print(f"digits: {len(data[1])} training images over {bf.size()} rank(s), "
              f"{len(data[3])} test images; {describe(args, args.dist_optimizer)}", flush=True)
    started = time.time()
    decentralized = train(args, args.dist_optimizer, data, "decentralized")
    seconds = time.time() - started
    if args.no_baseline:
        if bf.rank() == 0:
            print(f"test accuracy {100 * decentralized:.2f}% in {seconds:.1f} s")
        return
    started = time.time()
    centralized = train(args, "gradient_allreduce", data, "centralized")
    baseline_seconds = time.time() - started
    if bf.rank() == 0:
        print(f"\n{'run':<72} {'test accuracy':>14} {'time':>8}")
        print(f"{describe(args, args.dist_optimizer):<72} {100 * decentralized:>13.2f}% "
              f"{seconds:>7.1f}s")
        print(f"{'centralized (gradient allreduce, synchronous SGD)':<72} "
              f"{100 * centralized:>13.2f}% {baseline_seconds:>7.1f}s")


if __name__ == "__main__":
    main()
