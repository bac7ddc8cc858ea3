"""The benchmark suite behind `make bench`: every figure measured against a baseline in the same run.

Run it as `python -m bench` from the repository root; it starts its own brokers on ephemeral
loopback ports, its own controller and simulator processes, and writes `bench/results/latest.md`
and `latest.json`.
"""
