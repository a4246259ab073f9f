"""The evaluation stage (the plan's TEST phase): metrics, the guard, correctors by name,
the readers of the real evaluation sets, and the `make eval` CLI (`python -m evaluation`).
Depends on `core` only; later stages register their backends through entry points."""
