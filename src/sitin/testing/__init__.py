"""Real third-party components set up for sitin's tests and benchmarks (never loaded by the
service): a private network namespace, and a Janus server inside it."""
