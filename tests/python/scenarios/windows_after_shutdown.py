"""Window ops after shutdown raise RuntimeError naming the shutdown."""

import torch

import bluefog.torch as bf

bf.init()
x = torch.zeros(4)
bf.win_create(x, "w")
bf.shutdown()
calls = {
    "win_put": lambda: bf.win_put(x, "w"),
    "win_accumulate": lambda: bf.win_accumulate(x, "w"),
    "win_get": lambda: bf.win_get("w"),
    "win_update": lambda: bf.win_update("w"),
    "win_create": lambda: bf.win_create(torch.zeros(2), "v"),
}
for op, call in calls.items():
    try:
        call()
    except RuntimeError as e:
        assert "shut down" in str(e), (op, e)
        print(f"AFTER-SHUTDOWN {op} RuntimeError", flush=True)
