"""turn_on_timeline / turn_off_timeline: each parameter's FORWARD and
GRADIENT COMPT. activities (BlueFog 0.3's names), recorded through
bluefog.torch.timeline_start_activity / timeline_end_activity (patched here),
in the row named after the parameter's op."""

import pytest
import torch

import bluefog.torch as bf

N, ME = bf.size(), bf.rank()
PARAMS = ["0.weight", "0.bias", "2.weight", "2.bias"]


def small_net():
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))


@pytest.fixture
def events(monkeypatch):
    recorded = []
    monkeypatch.setattr(bf, "timeline_start_activity",
                        lambda name, activity: recorded.append((name, activity)) or True,
                        raising=False)
    monkeypatch.setattr(bf, "timeline_end_activity",
                        lambda name: recorded.append((name, "end")) or True, raising=False)
    return recorded


FACTORIES = {
    "awc": bf.DistributedAdaptWithCombineOptimizer,
    "atc": bf.DistributedAdaptThenCombineOptimizer,
    "gradient_allreduce": bf.DistributedGradientAllreduceOptimizer,
    "win_put": lambda o, m: bf.DistributedWinPutOptimizer(o, m, window_prefix="tl"),
}


def iteration(model, optimizer):
    optimizer.zero_grad()
    model(torch.ones(2, 4)).sum().backward()
    optimizer.step()


STEP_ROW = ".optimizer.step"


def rows(events):
    """{row: [activity or "end", ...]} of the parameters' rows."""
    by_row = {}
    for name, what in events:
        if not name.endswith(STEP_ROW):
            by_row.setdefault(name, []).append(what)
    return by_row


def step_rows(events):
    by_row = {}
    for name, what in events:
        if name.endswith(STEP_ROW):
            by_row.setdefault(name, []).append(what)
    return by_row


@pytest.mark.parametrize("kind", list(FACTORIES))
def test_each_parameter_row_gets_its_phases(kind, events):
    model = small_net()
    optimizer = FACTORIES[kind](torch.optim.SGD(model.parameters(), lr=0.1), model)
    try:
        optimizer.turn_on_timeline()
        iteration(model, optimizer)
        got = rows(events)
        assert len(got) == len(PARAMS)
        for param in PARAMS:
            row = [name for name in got if name.endswith(param)]
            assert len(row) == 1, (param, sorted(got))
            assert got[row[0]] == ["FORWARD", "end", "GRADIENT COMPT.", "end"], row[0]
        assert list(step_rows(events).values()) == [["STEP", "SYNCHRONIZE", "end", "end"]]
        if kind == "win_put":
            assert sorted(got) == sorted(f"tl.{p}" for p in PARAMS)  # the windows' names
        optimizer.turn_off_timeline()
        events.clear()
        iteration(model, optimizer)
        assert events == []
    finally:
        if kind == "win_put":
            optimizer.unregister_window()


def test_a_module_run_twice_records_twice_and_backward_once(events):
    model = small_net()
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.1), model)
    optimizer.turn_on_timeline()
    optimizer.zero_grad()
    (model(torch.ones(2, 4)).sum() + model(torch.zeros(1, 4)).sum()).backward()
    optimizer.step()
    for name, phases in rows(events).items():
        assert phases.count("FORWARD") == 2 and phases.count("GRADIENT COMPT.") == 1, name
        assert phases.count("end") == 3, name


def test_on_by_default_with_bluefog_timeline(events, monkeypatch, tmp_path):
    monkeypatch.setenv("BLUEFOG_TIMELINE", str(tmp_path / "tl"))
    model = small_net()
    optimizer = bf.DistributedGradientAllreduceOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.1), model)
    iteration(model, optimizer)
    assert len(rows(events)) == len(PARAMS)


def test_step_is_recorded_and_ended_when_it_raises(events):
    model = small_net()
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.1), model)
    optimizer.turn_on_timeline()
    iteration(model, optimizer)
    optimizer.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))]})
    events.clear()
    with pytest.raises(bf.InvalidArgumentError, match="parameters changed"):
        optimizer.step()
    assert list(step_rows(events).values()) == [["STEP", "end"]]


def test_without_the_timeline_functions_it_says_so(monkeypatch):
    monkeypatch.delattr(bf, "timeline_start_activity", raising=False)
    model = small_net()
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.1), model)
    with pytest.raises(RuntimeError, match="no timeline_start_activity / timeline_end_activity"):
        optimizer.turn_on_timeline()
    optimizer.turn_off_timeline()  # harmless when off
