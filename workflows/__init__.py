"""One workflow per case kind: the readable story of a case. Deterministic; no I/O."""
