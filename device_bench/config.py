"""Typed bench config (device_bench/configs/default.yaml + key=value overrides)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.config import ConfigError, check
from core.decoding import MINIMUM as DECODING_MINIMUM
from core.paths import input_path
from device_bench.adb import remote_dir_problem
from evaluation.correctors import CorrectorError, check_backend_name

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
MODES = ("plain", "copy")


@dataclass
class BenchConfig:
    limit: int = 0
    max_new_tokens: int = 96
    warmup: int = 2
    reps: int = 3
    # runner threads; 0 = the runner's default (XNNPACK: one per core). 2: on an idle 2-core VM the lean
    # INT4 file answers 1.54x sooner with 2 threads than with 1 (p50 59 against 91 ms, same answers;
    # export/README.md, issue 25); with other work on the cores 1 was faster, so the loopback harness,
    # which benches the host and loopback devices at once on one machine, passes threads=1. The report
    # records what ran.
    threads: int = 2
    modes: list[str] = field(default_factory=lambda: list(MODES))
    # Copy-mode decoding; None = the .pte's metadata ("decoding", recorded at export), else
    # core/decoding_defaults.json: a model is benched with the settings it was exported for.
    draft_len: int | None = None
    prefill_draft: int | None = None
    max_ngram: int | None = None
    prefix_cache: bool = True
    # Text in -> guarded text out on the device (the runner's --text-meta mode): requests carry the
    # sentence, the device tokenizes, decodes, guards and times each stage; accuracy is scored from
    # the device's guarded text. false = id mode (prompt ids in, ids out: the model-only figures).
    text_mode: bool = True
    # The dictionary pass on the device (evaluation/dictpass.py in C++): the runner's --dictionary
    # (SymSpell's list, the guard's word list) and --misspellings (the lists below joined into one
    # .dat, pushed); accuracy is then scored from the pass's output (dict_text). Needs text_mode.
    dictionary: bool = False
    misspellings: str = "../shared/data/misspellings"  # the real misspelling lists; "" = no list bonus
    # what the model scores the pass's answers against (the runner's --dict-context): typed, masked
    # or both; "" = evaluation's dictionary.context default, so the device runs the host's rule
    dictionary_context: str = ""
    cooldown_s: float = 0.0
    timeout_s: float = 1800.0
    request_timeout_ms: int = 0
    remote_dir: str = "/data/local/tmp/typo_bench"
    keep_files: bool = False
    baselines: list[str] = field(default_factory=lambda: ["identity", "symspell"])
    case_insensitive: bool = False
    # A real human-typo slice scored beside the eval set, in the same runner calls: a benchmark path
    # evaluation/eval_sets.py reads (e.g. ../shared/data/eval/neuspell-bea4660); "" = none.
    real_eval: str = ""
    real_limit: int = 200          # its first N pairs (0 = all)
    note: str = ""                 # shown at the top of report.md / report.html
    runner_host: str = "android_runner/build/host/typo_runner"
    runner_android: str = "android_runner/build/android-arm64/typo_runner"
    reports_dir: str = "reports"

    def __post_init__(self) -> None:
        check(self.limit >= 0, f"limit must be >= 0, got {self.limit}")
        check(self.max_new_tokens >= 1, f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        # the runner's own ranges (android_runner/src/options.cpp): outside them every unit would fail
        check(0 <= self.warmup <= 1000, f"warmup must be in [0, 1000], got {self.warmup}")
        check(1 <= self.reps <= 1000, f"reps must be in [1, 1000], got {self.reps}")
        check(0 <= self.threads <= 256,
              f"threads must be in [0, 256] (0 = the runner's default), got {self.threads}")
        check(0 <= self.request_timeout_ms <= 2 ** 30,
              f"request_timeout_ms must be in [0, {2 ** 30}] (0 = none), got {self.request_timeout_ms}")
        check(bool(self.modes) and all(m in MODES for m in self.modes),
              f"modes must be a non-empty subset of {list(MODES)}, got {self.modes}")
        check(len(set(self.modes)) == len(self.modes), f"modes repeats an entry: {self.modes}")
        for key, low in DECODING_MINIMUM.items():
            value = getattr(self, key)
            check(value is None or value >= low, f"{key} must be >= {low} or null (the default), got {value}")
        check(self.cooldown_s >= 0 and self.timeout_s > 0, "cooldown_s >= 0 and timeout_s > 0")
        check(self.timeout_s >= 1, f"timeout_s must be >= 1 (whole seconds: the runner is stopped by "
              f"`timeout N`), got {self.timeout_s}")
        check(self.text_mode or not self.dictionary,
              "dictionary=true runs the pass on the device: it needs text_mode=true")
        check(self.dictionary_context in ("", "typed", "masked", "both"),
              f"dictionary_context must be typed, masked, both or \"\" (the evaluation's default), "
              f"got {self.dictionary_context!r}")
        check(not (self.dictionary and self.misspellings) or input_path(self.misspellings).exists(),
              f"misspellings {self.misspellings!r}: not found (the real misspelling lists, "
              "e.g. ../shared/data/misspellings; \"\" = no list bonus)")
        check(self.real_limit >= 0, f"real_limit must be >= 0 (0 = all pairs), got {self.real_limit}")
        check(not self.real_eval or input_path(self.real_eval).exists(),
              f"real_eval {self.real_eval!r}: not found (a benchmark folder such as "
              "../shared/data/eval/neuspell-bea4660, or a pairs .json file; \"\" = none)")
        for name in self.baselines:  # host baselines by backend name: never `module:function`
            try:
                check_backend_name(name)
            except CorrectorError as exc:
                raise ConfigError(f"baselines: {exc}") from None
        problem = remote_dir_problem(self.remote_dir)  # the bench pushes there and cleans it up
        check(problem is None, problem or "")
