"""Framework-independent helpers (topologies, environment utilities)."""
