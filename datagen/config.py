"""Typed config of the data stage (YAML: datagen/configs/default.yaml)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from core.config import check
from datagen.noise import NoiseConfig
from datagen.text import CleanConfig

SourceKind = Literal["everyday", "messages", "python", "text", "hf", "pairs", "hf_pairs"]
BUILTIN_KINDS = ("everyday", "messages", "python")
JOINABLE_KINDS = ("everyday", "messages", "text")


# How people type messages on a phone: lower-case starts, no final full stop, dropped
# apostrophes and commas, a lower-case "i", chat abbreviations; word typos as in prose.
# Sentence-level rates set with `python -m datagen.realism --config datagen/configs/messages.yaml`
# beside the typed dev set's habits (evaluation/devsets/messages).
MESSAGES_NOISE = dict(clean_share=0.12, lowercase_start=0.85, drop_final_punct=0.92, apostrophe=0.85,
                      lowercase_i=0.75, drop_comma=0.6, chat_abbrev=0.15, lowercase_all=0.35,
                      drop_inner_punct=0.7,
                      adjacent_key=0.025, omission=0.028, transposition=0.012, insertion=0.006,
                      misspelling=0.016, merge_words=0.008, real_word=0.02)


@dataclass
class SourceConfig:
    kind: SourceKind = "everyday"
    path: str = ""            # file/folder (text, pairs) or dataset name / saved folder (hf, hf_pairs)
    name: str = ""            # label in stats.json (default: kind:path)
    format: Literal["auto", "running", "lines"] = "auto"  # text: wrapped prose or one unit per line
    hf_config: str = ""
    split: str = "train"
    column: str = "text"
    input_column: str = "input"
    output_column: str = "output"
    limit: int = 0            # at most this many raw units (32 KB blocks of a text file, python paragraphs,
                              # rows, everyday sentences); 0 = all
    profile: Literal["prose", "messages"] = "prose"  # noise: `noise:` (prose) or `messages_noise:`
    # reference shape: any | sentence (keep only capitalised, punctuated ones) | fix (make them so)
    form: Literal["any", "sentence", "fix"] = "any"
    max_words: int = 0        # a tighter clean.max_words for this source (0 = clean.max_words)
    # share of this source's sentences sent together with the next one as one message
    # ("My phone died, sorry. Just saw your messages."): a lone chat line never teaches the
    # model where a typed message's sentence breaks go. Each part is shaped (`form`) first.
    join: float = 0.0
    share: float = 0.0        # of train and eval pairs from this source (0 everywhere = no quotas)

    def __post_init__(self) -> None:
        check(self.kind in BUILTIN_KINDS or bool(self.path),
              f"sources: a {self.kind!r} source needs a path")
        check(self.limit >= 0, "sources: limit must be >= 0")
        check(self.max_words >= 0, "sources: max_words must be >= 0")
        check(0.0 <= self.share <= 1.0, f"sources: share must be in [0, 1], got {self.share}")
        check(0.0 <= self.join <= 1.0, f"sources: join must be in [0, 1], got {self.join}")
        check(self.join == 0.0 or self.kind in JOINABLE_KINDS,
              f"sources: join needs sentences or lines to join: a {self.kind!r} source has none "
              f"(join works with kinds {list(JOINABLE_KINDS)})")
        if not self.name:
            self.name = self.kind if not self.path else f"{self.kind}:{self.path}"


@dataclass
class DataConfig:
    seed: int = 0
    run_name: str = ""                 # runs/data/<run_name>/ (default: a timestamp)
    out_dir: str = "data"              # train_data.json and eval_data.json land here
    runs_root: str = "runs"
    train_pairs: int = 12_000
    eval_pairs: int = 600
    sources: list[SourceConfig] = field(
        default_factory=lambda: [SourceConfig(kind="everyday"), SourceConfig(kind="python")])
    decontaminate: list[str] = field(default_factory=list)  # eval sets (files/folders) to keep out
    decontaminate_defaults: bool = True  # also ../shared/data/eval and <out_dir>/eval_data.json if present
    max_passes: int = 8                # re-noise the corpus until the sizes are reached
    workers: int = 0                   # 0 = every core; 1 = in-process
    chunk_chars: int = 65_536          # work unit sent to a worker
    # undecodable or malformed input lines: "auto" skips (and counts) bad text lines but stops
    # at a bad line in a pairs file; "error" always stops; "skip" always counts and goes on
    bad_lines: Literal["auto", "error", "skip"] = "auto"
    progress: bool = True
    # A build that fills less than this share of train_pairs or eval_pairs, and fewer pairs than
    # the dataset already in out_dir, fails instead of replacing it (0 = replace whatever it is).
    min_fill: float = 0.5
    fresh: bool = False                # true: reuse a run_name whose stats came from another config
    clean: CleanConfig = field(default_factory=CleanConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    # the noise of `profile: messages` sources: typed into a phone (see datagen/configs/messages.yaml)
    messages_noise: NoiseConfig = field(default_factory=lambda: NoiseConfig(**MESSAGES_NOISE))

    def __post_init__(self) -> None:
        check(self.train_pairs >= 1, f"train_pairs must be >= 1, got {self.train_pairs}")
        check(self.eval_pairs >= 0, f"eval_pairs must be >= 0, got {self.eval_pairs}")
        check(bool(self.sources), "sources: give at least one source")
        check(self.max_passes >= 1, "max_passes must be >= 1")
        check(self.workers >= 0, "workers must be >= 0")
        check(self.chunk_chars >= 1024, "chunk_chars must be >= 1024")
        check(0.0 <= self.min_fill <= 1.0, f"min_fill must be in [0, 1], got {self.min_fill}")
        shares = [s.share for s in self.sources]
        check(not any(shares) or (all(shares) and abs(sum(shares) - 1.0) < 1e-6),
              f"sources: give every source a share, summing to 1 (got {shares}), or none")
        check(all(s.kind not in ("pairs", "hf_pairs") or s.profile == "prose" for s in self.sources),
              "sources: a pairs source brings its own inputs, it takes no noise profile")

    def noise_for(self, src: SourceConfig) -> NoiseConfig:
        return self.messages_noise if src.profile == "messages" else self.noise
