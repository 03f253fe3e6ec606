"""Initialises bluefog and reports the outcome (for env-variable tests)."""

import bluefog.torch as bf

try:
    bf.init()
except ValueError as error:
    print(f"INIT-VALUEERROR: {error}", flush=True)
else:
    print(f"INIT-OK rank {bf.rank()} local_size {bf.local_size()} "
          f"machine_size {bf.machine_size()} machine_rank {bf.machine_rank()}", flush=True)
