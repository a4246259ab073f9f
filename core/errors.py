"""One error family. Every error a user can fix (a bad config, a missing file, a device
that went away) derives from PipelineError, with one base per stage below it. Each stage's
main() catches only this family and prints the message; anything else is a bug and keeps
its traceback."""
from __future__ import annotations


class PipelineError(Exception):
    """Something the user can fix; the message says what."""


class OverwriteError(PipelineError, ValueError):
    """Any stage: an output would write over one of the stage's inputs, or over a file or
    folder the stage did not write itself (core/paths.py: the overwrite rule)."""


class BusyError(PipelineError, RuntimeError):
    """Any stage: another process is writing the same output (run folder, out_dir, report) right
    now; two writers would interleave their files (core.runs.run_lock)."""


class DataError(PipelineError, ValueError):
    """datagen: a corpus, pairs file or misspellings list is unusable."""


class TrainError(PipelineError, RuntimeError):
    """train: the run cannot start or go on (pairs file, checkpoint, memory)."""


class EvalError(PipelineError, ValueError):
    """evaluation: an evaluation set or a corrector backend is unusable."""


class ExportError(PipelineError, RuntimeError):
    """export: a model cannot be exported, or a .pte cannot be loaded or run."""


class BenchError(PipelineError, RuntimeError):
    """device_bench: a device, the runner protocol or the bench inputs failed."""
