"""Distributed optimizers: wrapping, the first iterate computed by hand,
overlap of communication with forward/backward, step schedules, and errors."""

import time

import pytest
import torch

import bluefog.torch as bf
import quadratic_model
from bluefog.common import topology_util

N, ME = bf.size(), bf.rank()
CT = bf.CommunicationType
LR = 0.1


def Quadratic(rank):
    """f_r(w) = 0.5 |w - c_r|^2, so grad f_r(w) = w - c_r; w starts at w0_r."""
    return quadratic_model.Quadratic(start(rank), target(rank))


def start(rank):
    return torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64) * (rank + 1)


def target(rank):
    return torch.tensor([rank, -rank, 2.0 * rank], dtype=torch.float64)


def one_step(factory, configure=None):
    model = Quadratic(ME)
    optimizer = factory(torch.optim.SGD(model.parameters(), lr=LR), model)
    if configure:
        configure(optimizer)
    model().backward()
    optimizer.step()
    return model.w.detach()


def combine(values, self_weight, src_weights):
    return self_weight * values(ME) + sum(w * values(r) for r, w in src_weights.items())


def adapted(rank):
    return start(rank) - LR * (start(rank) - target(rank))


def weights(dynamic):
    """(self weight, {src: weight}, configure(optimizer)) for the first step:
    the static graph's, or the one-peer schedule's set as the seed's loop does."""
    if not dynamic:
        self_weight, src = topology_util.GetRecvWeights(bf.load_topology(), ME)
        return self_weight, src, None
    send, recv = next(topology_util.GetDynamicOnePeerSendRecvRanks(bf.load_topology(), ME))
    self_weight = 1.0 / (len(recv) + 1)
    src = {r: self_weight for r in recv}

    def configure(optimizer):
        optimizer.dst_weights, optimizer.src_weights = send, src
        optimizer.self_weight = self_weight
    return self_weight, src, configure


@pytest.mark.parametrize("dynamic", [False, True])
def test_adapt_with_combine_first_iterate(dynamic):
    """x1 = sum_j w_j x0_j - lr * grad f(x0) (the gradient at the old point)."""
    self_weight, src, configure = weights(dynamic)
    got = one_step(bf.DistributedAdaptWithCombineOptimizer, configure)
    want = combine(start, self_weight, src) - LR * (start(ME) - target(ME))
    assert torch.allclose(got, want, rtol=0, atol=1e-12), (got, want)


@pytest.mark.parametrize("dynamic", [False, True])
def test_adapt_then_combine_first_iterate(dynamic):
    """x1 = sum_j w_j (x0_j - lr * grad f_j(x0_j))."""
    self_weight, src, configure = weights(dynamic)
    got = one_step(bf.DistributedAdaptThenCombineOptimizer, configure)
    want = combine(adapted, self_weight, src)
    assert torch.allclose(got, want, rtol=0, atol=1e-12), (got, want)


def test_gradient_allreduce_first_iterate():
    got = one_step(bf.DistributedGradientAllreduceOptimizer)
    mean_grad = sum(start(r) - target(r) for r in range(N)) / N
    assert torch.allclose(got, start(ME) - LR * mean_grad, rtol=0, atol=1e-12)


def test_allreduce_combination_first_iterates():
    mean = sum(start(r) for r in range(N)) / N
    awc = one_step(bf.DistributedAllreduceOptimizer)
    assert torch.allclose(awc, mean - LR * (start(ME) - target(ME)), rtol=0, atol=1e-12)
    atc = one_step(lambda o, m: bf.DistributedAdaptThenCombineOptimizer(
        o, m, communication_type=CT.allreduce))
    assert torch.allclose(atc, sum(adapted(r) for r in range(N)) / N, rtol=0, atol=1e-12)


def small_net():
    torch.manual_seed(7)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))


def batches(count):
    g = torch.Generator().manual_seed(11 + ME)
    return [(torch.randn(8, 6, generator=g), torch.randn(8, 2, generator=g))
            for _ in range(count)]


BUILT_IN = [
    (torch.optim.SGD, dict(lr=0.1)),
    (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (torch.optim.SGD, dict(lr=0.1, momentum=0.5, dampening=0.1)),
    (torch.optim.Adam, dict(lr=0.01, weight_decay=0.01, amsgrad=True)),
    (torch.optim.AdamW, dict(lr=0.01)),
    (torch.optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
    (torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.1)),
    (torch.optim.Adadelta, dict(lr=1.0, weight_decay=0.01)),
]


@pytest.mark.parametrize("optimizer_class, options", BUILT_IN,
                         ids=[f"{c.__name__}{i}" for i, (c, _) in enumerate(BUILT_IN)])
def test_adapt_then_combine_local_step_matches_the_plain_optimizer(optimizer_class, options):
    """With nothing to combine, the per-parameter steps taken in backward
    must be exactly the wrapped optimizer's own steps."""
    data = batches(4)
    plain, wrapped = small_net(), small_net()
    reference = optimizer_class(plain.parameters(), **options)
    optimizer = bf.DistributedAdaptThenCombineOptimizer(
        optimizer_class(wrapped.parameters(), **options), wrapped,
        communication_type=CT.empty)
    for x, y in data:
        for model, opt in ((plain, reference), (wrapped, optimizer)):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
    for a, b in zip(plain.parameters(), wrapped.parameters()):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7)


class SignDescent(torch.optim.Optimizer):
    """Not a built-in: adapt-then-combine needs its step function."""

    def __init__(self, params, lr):
        super().__init__(params, dict(lr=lr))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad.sign(), alpha=-group["lr"])


def test_adapt_then_combine_other_optimizers_need_a_step_function():
    model = Quadratic(ME)
    optimizer = bf.DistributedAdaptThenCombineOptimizer(
        SignDescent(model.parameters(), lr=0.5), model, communication_type=CT.empty)
    with pytest.raises(TypeError, match="register_step_function"):
        model().backward()
    calls = []

    def sign_step(opt, param, grad, group):
        calls.append(param)
        param.add_(grad.sign(), alpha=-group["lr"])

    optimizer.register_step_function(sign_step)
    optimizer.zero_grad()
    model().backward()
    optimizer.step()
    assert calls == [model.w]
    assert torch.equal(model.w.detach(), start(ME) - 0.5 * (start(ME) - target(ME)).sign())


@pytest.mark.parametrize("factory", [bf.DistributedAdaptWithCombineOptimizer,
                                     bf.DistributedAdaptThenCombineOptimizer,
                                     bf.DistributedGradientAllreduceOptimizer])
def test_wrapper_is_the_wrapped_class_and_keeps_its_state(factory):
    model = small_net()
    inner = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = batches(1)[0]
    torch.nn.functional.mse_loss(model(x), y).backward()
    inner.step()  # momentum buffers exist before wrapping
    optimizer = factory(inner, model)
    assert isinstance(optimizer, torch.optim.SGD)
    assert type(optimizer).__name__ == "SGD"
    assert optimizer.param_groups is inner.param_groups
    assert len(optimizer.state_dict()["state"]) == 4
    saved = optimizer.state_dict()
    optimizer.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()
    optimizer.load_state_dict(saved)
    for key, value in saved["state"].items():
        assert torch.equal(optimizer.state_dict()["state"][key]["momentum_buffer"],
                           value["momentum_buffer"])


def test_lr_scheduler_drives_the_wrapped_optimizer():
    model = Quadratic(ME)
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=1.0), model, communication_type=CT.empty)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    for _ in range(2):
        before = model.w.detach().clone()
        optimizer.zero_grad()
        model().backward()
        gradient = model.w.grad.clone()
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        schedule.step()
        assert torch.allclose(model.w.detach(), before - lr * gradient)
    assert optimizer.param_groups[0]["lr"] == 0.25


def wait_until_exchanged(optimizer, what):
    """Every parameter's exchange has been started and completes without this
    rank calling step(): communication overlaps the computation."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        handles = optimizer._handles
        if len(handles) == len(optimizer._names) and all(bf.poll(h) for h in handles.values()):
            return
        time.sleep(0.005)
    pytest.fail(f"the exchange did not complete {what}")


def test_adapt_with_combine_exchanges_during_forward():
    model = small_net()
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.1), model)
    x, y = batches(1)[0]
    loss = torch.nn.functional.mse_loss(model(x), y)
    wait_until_exchanged(optimizer, "after forward, before backward")
    loss.backward()
    optimizer.step()


@pytest.mark.parametrize("factory", [bf.DistributedAdaptThenCombineOptimizer,
                                     bf.DistributedGradientAllreduceOptimizer])
def test_backward_hooks_exchange_before_step(factory):
    model = small_net()
    optimizer = factory(torch.optim.SGD(model.parameters(), lr=0.1), model)
    x, y = batches(1)[0]
    torch.nn.functional.mse_loss(model(x), y).backward()
    wait_until_exchanged(optimizer, "after backward, before step()")
    optimizer.step()


def test_evaluation_forward_does_not_communicate():
    model = small_net()
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.1), model)
    x, y = batches(1)[0]
    with torch.no_grad():
        model(x)
    assert not optimizer._handles
    torch.nn.functional.mse_loss(model(x), y).backward()
    model(x)  # a second forward in the same step sends nothing new
    optimizer.step()
    assert not optimizer._handles


@pytest.mark.skipif(N == 1, reason="needs several ranks")
def test_num_steps_per_communication_combines_every_kth_step():
    model = Quadratic(ME)
    optimizer = bf.DistributedAdaptThenCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model, communication_type=CT.allreduce,
        num_steps_per_communication=2)
    spread = []
    for _ in range(4):
        optimizer.zero_grad()
        model().backward()
        optimizer.step()
        everyone = bf.allgather(model.w.detach().unsqueeze(0), name="nspc.check")
        spread.append((everyone - everyone[0]).abs().max().item())
    assert spread[0] > 0.1 and spread[2] > 0.1
    assert spread[1] < 1e-12 and spread[3] < 1e-12


def test_gradient_allreduce_averages_accumulated_gradients():
    model = Quadratic(ME)
    optimizer = bf.DistributedGradientAllreduceOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model)
    model().backward()
    model().backward()  # accumulate: grad = 2 (w0 - c)
    optimizer.step()
    mean_grad = sum(2 * (start(r) - target(r)) for r in range(N)) / N
    assert torch.allclose(model.w.detach(), start(ME) - LR * mean_grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [1, 2])
def test_adapt_then_combine_rejects_more_than_k_backward_passes_before_step(k):
    model = Quadratic(ME)
    optimizer = bf.DistributedAdaptThenCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model, num_steps_per_communication=k)
    for _ in range(k):
        model().backward()
    with pytest.raises(RuntimeError, match=f"more than num_steps_per_communication={k} "
                                           "backward passes before step"):
        model().backward()
    optimizer.step()


def test_settable_attributes_and_their_checks():
    model = Quadratic(ME)
    optimizer = bf.DistributedNeighborAllreduceOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model)
    assert optimizer.communication_type is CT.neighbor_allreduce
    assert optimizer.self_weight is None and optimizer.src_weights is None
    assert optimizer.dst_weights is None and optimizer.enable_topo_check is False
    assert optimizer.src_machine_weights is None and optimizer.dst_machine_weights is None
    optimizer.communication_type = CT.allreduce
    optimizer.num_steps_per_communication = 3
    with pytest.raises(ValueError, match="communication_type must be"):
        optimizer.communication_type = "allreduce"
    with pytest.raises(ValueError, match="num_steps_per_communication"):
        optimizer.num_steps_per_communication = 0
    assert [t.name for t in CT] == ["neighbor_allreduce", "hierarchical_neighbor_allreduce",
                                    "allreduce", "empty"]


def test_bad_arguments_name_the_problem():
    model = Quadratic(ME)
    sgd = torch.optim.SGD(model.parameters(), lr=LR)
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        bf.DistributedAdaptWithCombineOptimizer(model, model)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        bf.DistributedAdaptWithCombineOptimizer(sgd, "model")
    with pytest.raises(ValueError, match="num_steps_per_communication"):
        bf.DistributedGradientAllreduceOptimizer(sgd, model, num_steps_per_communication=0)
    with pytest.raises(ValueError, match="communication_type"):
        bf.DistributedAdaptThenCombineOptimizer(sgd, model, communication_type="empty")
    with pytest.raises(ValueError, match="not a parameter of `model`"):
        bf.DistributedAdaptWithCombineOptimizer(sgd, Quadratic(ME))
    wrapped = bf.DistributedAdaptWithCombineOptimizer(sgd, model)
    with pytest.raises(TypeError, match="already a distributed optimizer"):
        bf.DistributedAdaptWithCombineOptimizer(wrapped, model)


def test_parameters_added_after_wrapping_are_reported():
    model = Quadratic(ME)
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model, communication_type=CT.empty)
    optimizer.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2))]})
    with pytest.raises(ValueError, match="changed after it was wrapped"):
        optimizer.step()


@pytest.mark.skipif(N < 4, reason="needs a rank that is not an in-neighbour")
def test_bad_weights_raise_at_forward():
    model = Quadratic(ME)
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model)
    stranger = next(r for r in range(N) if r != ME and r not in bf.in_neighbor_ranks())
    optimizer.self_weight, optimizer.src_weights = 0.5, {stranger: 0.5}
    with pytest.raises(ValueError, match="not in-neighbours"):
        model()


@pytest.mark.skipif(bf.local_size() > 1, reason="needs one rank per machine")
def test_hierarchical_needs_local_peers():
    model = Quadratic(ME)
    optimizer = bf.DistributedHierarchicalNeighborAllreduceOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model)
    with pytest.raises(ValueError, match="local_size"):
        model()
    assert optimizer.communication_type is CT.hierarchical_neighbor_allreduce


@pytest.mark.parametrize("first", [bf.DistributedAdaptWithCombineOptimizer,
                                   bf.DistributedAdaptThenCombineOptimizer,
                                   bf.DistributedGradientAllreduceOptimizer])
@pytest.mark.parametrize("detach", ["del", "remove_hooks"])
def test_switching_optimizers_on_one_model(first, detach):
    """A dropped (or detached) optimizer no longer acts on the model: the
    next optimizer's steps are exactly its own."""
    model = Quadratic(ME)
    old = first(torch.optim.SGD(model.parameters(), lr=LR), model)
    model().backward()
    old.step()
    if detach == "del":
        del old  # no gc.collect(): the hooks must not keep it alive
    else:
        old.remove_hooks()
    optimizer = bf.DistributedGradientAllreduceOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model)
    for _ in range(2):
        optimizer.zero_grad()
        x = model.w.detach().clone()
        model().backward()
        optimizer.step()
        all_x = bf.allgather(x.unsqueeze(0), name="switch.x")
        mean_grad = sum(all_x[r] - target(r) for r in range(N)) / N
        assert torch.allclose(model.w.detach(), x - LR * mean_grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("factory", [bf.DistributedWinPutOptimizer,
                                     bf.DistributedPullGetOptimizer,
                                     bf.DistributedPushSumOptimizer])
def test_window_optimizers_own_one_window_per_parameter(factory):
    model = small_net()
    optimizer = factory(torch.optim.SGD(model.parameters(), lr=0.1), model,
                        window_prefix="mine")
    assert isinstance(optimizer, torch.optim.SGD)
    names = bf.get_current_created_window_names()
    assert len(names) == 4 and all(n.startswith("mine.") for n in names)
    x, y = batches(1)[0]
    torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()
    optimizer.unregister_window()
    assert bf.get_current_created_window_names() == []
    with pytest.raises(RuntimeError, match="unregister_window"):
        optimizer.step()


def test_win_put_combines_only_the_buffers_written_since_the_last_step():
    """Every rank puts to its first out-neighbour only: a rank mixes what its
    writers put and gives a silent in-neighbour's weight to itself; at a step
    where nobody puts, the combination leaves the parameters alone."""
    graph = bf.load_topology()

    def first_out(rank):
        return sorted(r for r in graph.successors(rank) if r != rank)[:1]

    model = Quadratic(ME)
    optimizer = bf.DistributedWinPutOptimizer(torch.optim.SGD(model.parameters(), lr=LR),
                                              model, window_prefix="fresh")
    optimizer.force_barrier = True  # every put in place before anyone combines
    try:
        optimizer.dst_weights = {r: 1.0 for r in first_out(ME)}
        model().backward()
        optimizer.step()
        self_weight, src = topology_util.GetRecvWeights(graph, ME)
        writers = {r for r in src if first_out(r) == [ME]}
        kept = self_weight + sum(w for r, w in src.items() if r not in writers)
        mixed = kept * start(ME) + sum(src[r] * start(r) for r in writers)
        x1 = mixed - LR * (start(ME) - target(ME))
        assert torch.allclose(model.w.detach(), x1, rtol=0, atol=1e-12)

        optimizer.dst_weights = {}
        optimizer.zero_grad()
        model().backward()
        optimizer.step()
        assert torch.allclose(model.w.detach(), x1 - LR * (x1 - target(ME)), rtol=0, atol=1e-12)
    finally:
        bf.barrier()
        optimizer.unregister_window()
