"""Speed benchmarks, run as modules from the repository root (`python -m bench.NAME`).
They print ratios against a baseline measured in the same run and write JSON; none is a
timed test."""
