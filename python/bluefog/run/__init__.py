"""Launch utilities for bluefog jobs (the ``bfrun`` command)."""
