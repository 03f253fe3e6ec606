"""Records user activities from the main thread and two more threads, then
shuts down at once (no sleep): shutdown must write the last events. Prints
what each call returned; run with or without BLUEFOG_TIMELINE."""

import threading
import warnings

import bluefog.torch as bf

warnings.simplefilter("ignore", RuntimeWarning)  # the off case warns; the test reads returns
bf.init()
rank = bf.rank()
returns = [bf.timeline_start_activity("main", "MAIN_ACTIVITY")]


def work(k):
    with bf.timeline_context("thread{}".format(k), "THREAD_ACTIVITY"):
        pass


for k in (1, 2):  # one after the other: tids in this order
    thread = threading.Thread(target=work, args=(k,))
    thread.start()
    thread.join()
bf.barrier()
returns.append(bf.timeline_end_activity("main"))
with bf.timeline_context("last", "JUST_BEFORE_SHUTDOWN"):
    pass
bf.shutdown()
returns.append(bf.timeline_start_activity("after", "AFTER_SHUTDOWN"))
print("TIMELINE-RETURNS rank {} {}".format(rank, " ".join(str(r) for r in returns)), flush=True)
