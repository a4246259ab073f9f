"""CLI of the data stage: `python -m datagen --help` lists every option.

    python -m datagen                                   # offline default (built-in English)
    python -m datagen --corpus ../shared/data/corpus train_pairs=500000
    python -m datagen --corpus hf:wikitext:wikitext-103-raw-v1 column=text
    python -m datagen --pairs my_pairs.jsonl --corpus everyday
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.cli import Flag, flag_overrides, run_cli, stage_parser
from core.config import load_config
from datagen.config import DataConfig

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "default.yaml"
PAIR_SUFFIXES = (".jsonl", ".csv", ".tsv")


def corpus_source(spec: str) -> dict:
    """`--corpus` value -> a source entry: everyday | python | builtin (both) |
    hf:NAME[:CONFIG] | hf-pairs:NAME[:CONFIG] | a file or folder (pairs when .jsonl/.csv/.tsv)."""
    for prefix, kind in (("hf-pairs:", "hf_pairs"), ("hf:", "hf")):
        if spec.startswith(prefix):
            name, _, config = spec[len(prefix):].partition(":")
            return {"kind": kind, "path": name, "hf_config": config}
    if spec in ("everyday", "python"):
        return {"kind": spec}
    kind = "pairs" if spec.lower().endswith(PAIR_SUFFIXES) else "text"
    return {"kind": kind, "path": spec}


def config_keys() -> list[str]:
    """Every DataConfig key with its default, for --help."""
    import dataclasses

    from datagen.config import SourceConfig

    def walk(obj, prefix):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                yield from walk(value, f"{prefix}{f.name}.")
            elif f.name == "sources":
                keys = ", ".join(x.name for x in dataclasses.fields(SourceConfig))
                yield f"  {prefix}sources=[{{kind: ..., path: ...}}, ...]   (source keys: {keys})"
            else:
                yield f"  {prefix}{f.name}={value!r}"
    return list(walk(DataConfig(), ""))


FLAGS = (
    Flag("--run", "run_name", "run name: runs/data/<RUN>/ (default: a timestamp)"),
    Flag("--out", "out_dir", "output folder for train_data.json/eval_data.json (default: data)"),
    Flag("--misspellings", "noise.misspellings_path", "real misspelling lists (.dat/.tsv files or a "
         "folder) used by the misspelling corruption", metavar="PATH"),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = stage_parser("python -m datagen", (
        "Build noisy->clean training pairs: writes <out_dir>/train_data.json and eval_data.json "
        "(JSON Lines: one {\"input\", \"output\", \"source\", \"errors\"} per line) and "
        "runs/data/<run>/stats.json. Every config key (see --config) can be overridden as key=value, "
        "e.g. train_pairs=50000 eval_pairs=1000 seed=1 workers=2 noise.clean_share=0.2 "
        "noise.adjacent_key=0.03 clean.max_words=25 max_passes=4 bad_lines=skip."),
        str(DEFAULT_CONFIG), FLAGS)
    ap.add_argument("--corpus", action="append", default=[], metavar="SRC", help=(
        "clean text source, repeatable; replaces the config's sources: a file or folder of text, "
        "a pairs file (.jsonl/.csv/.tsv), 'everyday', 'python', 'builtin' (both), hf:NAME[:CONFIG] "
        "(Hugging Face text dataset; split=/column= via sources.*), hf-pairs:NAME[:CONFIG] "
        "(C4_200M-style input/output rows)"))
    ap.add_argument("--pairs", action="append", default=[], metavar="FILE",
                    help="add your own pairs (JSON Lines, CSV with input,output header, or TSV), repeatable")
    ap.add_argument("--decontaminate", nargs="+", default=[], metavar="PATH",
                    help="evaluation sets (files or folders) whose sentences must not be trained on; "
                         "../shared/data/eval and <out>/eval_data.json are added when present "
                         "(turn off: decontaminate_defaults=false)")
    ap.add_argument("--split", help="Hugging Face split for hf: sources (default train)")
    ap.add_argument("--column", help="text column for hf: sources (default text)")
    ap.epilog = "config keys (key=default; override any as key=value):\n" + "\n".join(config_keys())
    # key=value anywhere; `--decontaminate A B x=1`: key=value words are overrides, not paths
    return ap.parse_args(argv)


def to_overrides(args: argparse.Namespace) -> list[str]:
    """Command-line flags become config overrides, applied before the user's key=value."""
    out = []
    specs = []
    for spec in args.corpus:
        specs += [{"kind": "everyday"}, {"kind": "python"}] if spec == "builtin" else [corpus_source(spec)]
    specs += [{"kind": "pairs", "path": p} for p in args.pairs]
    for s in specs:
        if s["kind"] in ("hf", "hf_pairs"):
            s.update({k: v for k, v in (("split", args.split), ("column", args.column)) if v})
    if specs:
        if not args.corpus:  # --pairs alone adds to the configured sources
            from core.config import load_config as _lc

            base = _lc(DataConfig, args.config)
            specs = [vars(s) for s in base.sources] + specs
        out.append("sources=" + json.dumps(specs))
    if args.decontaminate:
        out.append("decontaminate=" + json.dumps(args.decontaminate))
    return out + flag_overrides(args, FLAGS) + list(args.overrides)


def check_input_kinds(cfg: DataConfig) -> None:
    """Every local input is a regular file or a folder (or missing: its reader says so), checked
    with stat before anything opens it: a named pipe would block a reader or pass for an empty
    folder, a symlink loop for a missing file."""
    from core.errors import DataError
    from core.files import refuse_special
    from core.paths import input_path
    from datagen.decontam import eval_files
    from datagen.misspellings import list_files
    from datagen.sources import PAIR_SUFFIXES, TEXT_SUFFIXES, _files

    for i, src in enumerate(cfg.sources):
        if src.path and src.kind not in ("hf", "hf_pairs", "everyday", "python"):
            path = input_path(src.path)
            refuse_special(path, f"sources[{i}] ({src.kind})", DataError)
            if src.kind in ("text", "pairs") and path.exists():
                # the build reads them after making its run folder: what stat can tell, told first
                if path.is_file() and path.stat().st_size == 0:
                    raise DataError(f"sources[{i}] ({src.kind}) {path}: empty file (0 bytes)")
                _files(path, TEXT_SUFFIXES if src.kind == "text" else PAIR_SUFFIXES)  # a folder of none
    for p in cfg.decontaminate:  # read (and a run folder made) only later: named before that
        refuse_special(input_path(p), "decontaminate", DataError)
        eval_files(input_path(p))
    if cfg.noise.misspellings_path:
        refuse_special(input_path(cfg.noise.misspellings_path), "noise.misspellings_path", DataError)
        list_files(input_path(cfg.noise.misspellings_path))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def body() -> int:
        from datagen.build import build_dataset

        cfg = load_config(DataConfig, args.config, to_overrides(args))
        check_input_kinds(cfg)
        report(build_dataset(cfg))
        return 0
    return run_cli(body)


UNSHAPED_WARN = 0.05  # r1's data had 22 % (WordNet's lower-case examples): its case and punctuation suffered


def report(stats: dict) -> None:
    """The closing summary of a build (counts, speed, noise, drops, shortfalls)."""
    n = stats["pairs"]
    print(f"wrote {n.get('train', 0)} train + {n.get('eval', 0)} eval pairs "
          f"to {Path(stats['files']['train']).parent} "
          f"in {stats['seconds']} s ({stats['pairs_per_second']:.0f} pairs/s, {stats['workers']} workers); "
          f"clean share {stats['share_clean']}, mean CER {stats['cer']['mean']}; "
          f"decontamination dropped {stats['dropped'].get('contaminated', 0)}; "
          f"stats: {stats['run_dir']}/stats.json")
    for source, share in (stats.get("unshaped_reference_share") or {}).items():
        if share > UNSHAPED_WARN:
            print(f"warning: {share:.0%} of the references from {source} do not start with a capital or end "
                  "with . ! ? — a model trained on them learns to leave case and final punctuation alone "
                  "(give that source form: fix or form: sentence; datagen/configs/messages.yaml does)",
                  file=sys.stderr)
    for split, missing in stats["shortfall"].items():
        print(f"warning: {split} is {missing} pairs short of the requested size: the corpus ran out "
              f"(raise max_passes or give more text)", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
