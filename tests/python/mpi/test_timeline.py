"""The timeline while the job runs, at 1-4 ranks: every rank's own file
(conftest.py turns the timeline on) parses at any moment and shows the user
activities with their names, phases and tids within a bounded wait."""

import os
import re
import threading
import warnings

import pytest
import torch

import bluefog.torch as bf
import timeline_reader

WAIT = 10.0  # seconds: bound on "reaches the file" (it takes about 50 ms)


def _name(label):
    return "{}.rank{}".format(label, bf.rank())


def _wait_for_events(path, tensor, count):
    view = timeline_reader.wait_until(path, lambda v: len(v.of(tensor)) >= count, WAIT)
    assert len(view.of(tensor)) == count, (tensor, view.of(tensor))
    return view


def test_each_rank_writes_its_own_file_starting_with_the_clock(timeline_path):
    assert os.path.basename(timeline_path).endswith("{}.json".format(bf.rank()))
    view = timeline_reader.read(timeline_path)
    assert view.clock["name"] == "bluefog_clock"
    assert view.clock["args"]["rank"] == bf.rank()
    assert view.clock["args"]["size"] == bf.size()
    assert view.clock["args"]["steady_origin_us"] > 0
    assert view.clock["args"]["system_origin_us"] > 1.5e15  # after 2017, in microseconds


def test_activity_is_visible_while_the_job_runs(timeline_path):
    tensor = _name("live")
    assert bf.timeline_start_activity(tensor, "FAKE_ACTIVITY") is True
    view = _wait_for_events(timeline_path, tensor, 1)
    begin = view.of(tensor)[0]
    assert (begin["ph"], begin["name"]) == ("B", "FAKE_ACTIVITY")
    assert bf.timeline_end_activity(tensor) is True
    view = _wait_for_events(timeline_path, tensor, 2)
    end = view.of(tensor)[1]
    assert end["ph"] == "E" and "name" not in end
    assert end["tid"] == begin["tid"] >= 1
    assert end["ts"] >= begin["ts"]
    assert view.thread_names[(begin["pid"], begin["tid"])] == "thread {}".format(begin["tid"])


def test_file_text_has_0_3s_form(timeline_path):
    tensor = _name("text_form")
    with bf.timeline_context(tensor, "TEXT"):
        pass
    _wait_for_events(timeline_path, tensor, 2)
    with open(timeline_path, encoding="utf-8") as f:
        text = f.read()
    assert re.search(r'\{"ph": "B", "name": "TEXT", "ts": \d+, "pid": \d+, "tid": \d+\},\n', text)
    assert re.search(r'\{"ph": "E", "ts": \d+, "pid": \d+, "tid": \d+\},\n', text)
    assert text.startswith("[\n")


def test_context_nests_and_ends_when_the_block_raises(timeline_path):
    outer, inner = _name("ctx_outer"), _name("ctx_inner")
    with pytest.raises(KeyError):
        with bf.timeline_context(outer, "OUTER"):
            with bf.timeline_context(outer, "NESTED"):
                with bf.timeline_context(inner, "INNER"):
                    raise KeyError("boom")
    view = _wait_for_events(timeline_path, outer, 4)
    assert view.phases(outer) == ["B:OUTER", "B:NESTED", "E", "E"]
    assert view.phases(inner) == ["B:INNER", "E"]
    ordered = [(e["tensor"], e["ph"]) for e in view.events if e["tensor"] in (outer, inner)]
    assert ordered == [(outer, "B"), (outer, "B"), (inner, "B"), (inner, "E"),
                       (outer, "E"), (outer, "E")]
    with pytest.warns(RuntimeWarning, match="no activity is open"):
        assert bf.timeline_end_activity(outer) is False  # all closed: nothing to end


def test_threads_get_new_tids_in_order_of_first_use(timeline_path):
    tensors = [_name("thread{}".format(k)) for k in range(3)]

    def work(tensor):
        with bf.timeline_context(tensor, "THREAD"):
            pass

    for tensor in tensors:  # one after the other: first uses in this order
        thread = threading.Thread(target=work, args=(tensor,))
        thread.start()
        thread.join()
    main = _name("thread_main")
    with bf.timeline_context(main, "MAIN"):
        pass
    view = _wait_for_events(timeline_path, main, 2)
    tids = [view.of(t)[0]["tid"] for t in tensors]
    for t in tensors:
        assert view.phases(t) == ["B:THREAD", "E"]
        assert len({e["tid"] for e in view.of(t)}) == 1
    assert tids == [tids[0], tids[0] + 1, tids[0] + 2]
    first = view.events.index(view.of(tensors[0])[0])
    users = [e["tid"] for e in view.events[:first] if e["tid"] < 100000]  # not the peers' tids
    assert tids[0] > max(users + [0]), "tid reused"
    assert view.of(main)[0]["tid"] not in tids


def test_concurrent_threads_while_a_reader_parses(timeline_path):
    threads_count, pairs = 4, 150
    shared = _name("shared")
    errors = []

    def work(k):
        own = _name("own{}".format(k))
        try:
            for i in range(pairs):
                tensor = shared if i % 2 else own
                assert bf.timeline_start_activity(tensor, "STEP{}".format(i)) is True
                assert bf.timeline_end_activity(tensor) is True
        except Exception as error:  # reported on the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(threads_count)]
    for t in threads:
        t.start()
    reads = 0
    while any(t.is_alive() for t in threads) or reads < 3:
        timeline_reader.read(timeline_path)  # must parse whenever it is read
        reads += 1
    for t in threads:
        t.join()
    assert not errors, errors
    view = _wait_for_events(timeline_path, shared, threads_count * pairs)
    tids = set()
    for k in range(threads_count):
        own = view.of(_name("own{}".format(k)))
        assert len(own) == pairs
        tids |= {e["tid"] for e in own}
    assert len(tids) == threads_count
    depth = {}
    for e in view.of(shared):
        key = e["tid"]
        depth[key] = depth.get(key, 0) + (1 if e["ph"] == "B" else -1)
        assert 0 <= depth[key] <= 1, "an E before its B on tid {}".format(key)
    assert set(depth) == tids and all(d == 0 for d in depth.values())


def test_names_needing_escapes_round_trip(timeline_path):
    names = ['quote"d', "back\\slash", "new\nline", "tab\t\x01", "été 漢字 😀"]
    for name in names:
        with bf.timeline_context(_name(name), "ACT " + name):
            pass
    last = _name(names[-1])
    view = _wait_for_events(timeline_path, last, 2)
    for name in names:
        assert view.phases(_name(name)) == ["B:ACT " + name, "E"]


def test_end_without_an_open_activity_returns_false(timeline_path):
    tensor = _name("never_started")
    with pytest.warns(RuntimeWarning, match="no activity is open"):
        assert bf.timeline_end_activity(tensor) is False
    marker = _name("after_unmatched")
    with bf.timeline_context(marker, "MARK"):
        pass
    view = _wait_for_events(timeline_path, marker, 2)
    assert view.of(tensor) == []


def test_another_thread_can_end_an_activity(timeline_path):
    tensor = _name("cross_thread")
    assert bf.timeline_start_activity(tensor, "HOOK")
    result = []
    thread = threading.Thread(target=lambda: result.append(bf.timeline_end_activity(tensor)))
    thread.start()
    thread.join()
    assert result == [True]
    view = _wait_for_events(timeline_path, tensor, 2)
    begin, end = view.of(tensor)
    assert end["ph"] == "E" and end["tid"] == begin["tid"]


def test_arguments_must_be_strings():
    with pytest.raises(TypeError, match="tensor_name must be a str"):
        bf.timeline_start_activity(3, "A")
    with pytest.raises(TypeError, match="activity_name must be a str"):
        bf.timeline_start_activity("x", None)
    with pytest.raises(TypeError, match="tensor_name must be a str"):
        bf.timeline_end_activity(b"x")


def test_ops_run_with_the_timeline_on():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # recording must not warn when on
        with bf.timeline_context(_name("op"), "AROUND_ALLREDUCE"):
            result = bf.allreduce(torch.full((3,), float(bf.rank())), average=False,
                                  name="timeline_op")
    assert torch.equal(result, torch.full((3,), float(sum(range(bf.size())))))

