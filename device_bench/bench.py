"""The bench flow: per device (in parallel) and per model and decoding mode, push the
runner, the .pte and the requests, run, pull and score on the host.

Text mode (config text_mode, the default): the requests carry the sentences and the runner
(--text-meta) tokenizes, decodes and guards on the device with the .pte's metadata JSON, its
tokenizer.json and symspellpy's English word list, pushed beside the .pte; accuracy is scored from
the guarded text the device returned, and every request's guarded text is checked against the host
guard (evaluation.guard.guard(input, device raw text)): unit["guard_check"]. Id mode: prompt ids
in, ids out, detokenized and guarded on the host (the model-only figures).

Each (device, model, mode) is a *unit*; its record is written atomically to
reports/<run>/units/ as soon as it ends, so a rerun with the same --run skips finished
units and redoes failed ones (resume). A lost device fails its remaining units; a
crashing or hanging runner fails only that unit; the bench always goes on.
"""
from __future__ import annotations

import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NotRequired, TypedDict

from tqdm import tqdm

from core import decoding
from core.files import read_json
from core.paths import input_path
from core.runs import atomic_write_json
from device_bench import measure, protocol
from device_bench.adb import RUNNER_NAME, DeviceError, DeviceLostError
from device_bench.config import BenchConfig
from device_bench.dictionary import write_misspellings_dat
from device_bench.inputs import BenchInputError, ModelInfo, build_requests, fits, load_tokenizer

FINISHED = ("ok", "truncated")  # a rerun keeps these units; "truncated" would only repeat itself
MAIN_SET = "eval"  # the main set's name when run.py names none


class BenchUnit(TypedDict):
    """One (device, model, mode) record, as written to units/ and read back on resume."""
    device: str
    model: str
    mode: str                     # "plain" | "copy"
    status: str                   # "ok" | "truncated" (outputs cut at max_seq_len) | "failed"
    error: str | None
    reps: list[dict]              # one per runner process: results, summary, metrics
    metrics: dict                 # measure.unit_metrics over the reps
    fingerprint: dict             # what must match for a rerun to reuse the unit
    started: float
    finished: float
    outputs: NotRequired[list[str]]
    output_ids: NotRequired[dict]
    accuracy: NotRequired[dict]   # {"guarded": metrics, "raw": metrics} on the main (synthetic) set
    accuracy_by_set: NotRequired[dict]  # set -> {"guarded", "raw", "n", "latency_p50_ms"} for every set
    rows: NotRequired[list[dict]]
    truncation: NotRequired[dict]  # {"capped_requests", "hit_cap"}: budgets cut by max_seq_len
    text_mode: NotRequired[bool]   # text in -> guarded text out on the device
    guarded_outputs: NotRequired[list[str]]  # text mode: the device's guarded text per sample
    guard_check: NotRequired[dict]  # text mode: device guard vs host guard (guard_check())


def copy_settings(cfg: BenchConfig, model: ModelInfo) -> dict[str, int]:
    """draft_len, prefill_draft, max_ngram for copy mode: the config's where set, else what
    the model was exported with (ModelInfo.decoding)."""
    return {key: default if getattr(cfg, key) is None else getattr(cfg, key)
            for key, default in model.decoding.items()}


def fingerprint(cfg: BenchConfig, model: ModelInfo, mode: str, n: int, eval_sha: str,
                real_sha: str | None = None) -> dict:
    """What must match for a finished unit to be reused by a rerun (it also records the
    resolved copy-mode settings the runner got). A real slice adds its path and the sha256
    of its samples (the keys are absent without one, so older units still resume)."""
    copy = copy_settings(cfg, model) if mode == "copy" else dict.fromkeys(decoding.KEYS)
    real = {"real_eval": cfg.real_eval, "real_sha256": real_sha} if cfg.real_eval else {}
    text = {"text_mode": True} if cfg.text_mode else {}  # absent in id mode: older units still resume
    if cfg.dictionary:  # absent when off: older units still resume
        text["dictionary"] = {"misspellings": cfg.misspellings, "context": dict_context(cfg)}
    return {"model_sha256": model.sha256, "mode": mode, "n": n, "eval_sha256": eval_sha, **real, **text,
            "max_new_tokens": cfg.max_new_tokens, "warmup": cfg.warmup, "reps": cfg.reps,
            "threads": cfg.threads, **copy, "prefix_cache": cfg.prefix_cache}


def english_words_file() -> Path:
    """The guard's English word list, from the installed symspellpy (what evaluation/guard.py reads)."""
    from importlib import resources

    from evaluation.guard import ENGLISH_WORDS_FILE

    path = Path(str(resources.files("symspellpy") / ENGLISH_WORDS_FILE))
    if not path.is_file():
        raise BenchInputError(f"text mode: the guard's word list {path} is missing (reinstall symspellpy, "
                              "or text_mode=false for id mode)")
    return path


def text_files(model: ModelInfo) -> dict[str, Path]:
    """What text mode pushes beside the .pte: the metadata JSON the export wrote and the tokenizer
    file it names (tokenizer.file, beside it). Refused now, before any unit runs, when an older
    export lacks what the device's corrector reads (prompt.prompt_format, prompt.eos_ids)."""
    meta_path = model.path.with_suffix(".json")
    hint = "re-export the .pte (make export), or text_mode=false for id mode"
    if not meta_path.is_file():
        raise BenchInputError(f"text mode needs the metadata JSON beside {model.path}: {meta_path} not found "
                              f"({hint})")
    meta = read_json(meta_path, BenchInputError, what="metadata")
    prompt = meta.get("prompt") if isinstance(meta.get("prompt"), dict) else {}
    if not isinstance(prompt.get("prompt_format"), str) or "{text}" not in prompt["prompt_format"] \
            or not prompt.get("eos_ids"):
        raise BenchInputError(f"{meta_path}: text mode needs prompt.prompt_format (holding {{text}}) and "
                              f"prompt.eos_ids, which this export lacks ({hint})")
    tok = meta.get("tokenizer") if isinstance(meta.get("tokenizer"), dict) else {}
    name = tok.get("file") or "tokenizer.json"
    if not isinstance(name, str) or "/" in name or name in (".", ".."):
        raise BenchInputError(f"{meta_path}: tokenizer.file must be a plain file name beside it, "
                              f"got {name!r}")
    tok_path = meta_path.parent / name
    if not tok_path.is_file():
        raise BenchInputError(f"text mode: {tok_path} (tokenizer.file of {meta_path}) not found ({hint})")
    return {"metadata": meta_path, "tokenizer": tok_path}


def text_requests(requests: list[dict], samples: list[dict]) -> list[dict]:
    """Id-mode requests -> text-mode ones: the sentence instead of its prompt ids, same budget."""
    text = {s["id"]: s["input"] for s in samples}
    return [{"id": r["id"], "text": text[r["id"]], "max_new_tokens": r["max_new_tokens"]} for r in requests]


def unit_path(run_dir: Path, device: str, model: str, mode: str) -> Path:
    safe = device.replace(":", "_").replace("/", "_")
    return run_dir / "units" / f"{safe}__{model}__{mode}.json"


class Prepared:
    """Host-side inputs shared by every device: tokenizers, requests files, eval sets.

    `sets`: set name -> {"case_insensitive", "main", "sha256", ...}; a sample's "set" names its
    set (none = the main set). Real-slice sentences whose answer cannot fit a model's max_seq_len
    are left out (counted in the set's "left_out"): the main set is never cut."""

    def __init__(self, cfg: BenchConfig, models: list[ModelInfo], samples: list[dict],
                 run_dir: Path, eval_sha: str, sets: dict[str, dict] | None = None):
        self.cfg, self.models, self.run_dir = cfg, models, run_dir
        self.eval_sha = eval_sha
        self.sets = sets or {MAIN_SET: {"name": MAIN_SET, "case_insensitive": cfg.case_insensitive,
                                        "main": True}}
        self.main = next(name for name, info in self.sets.items() if info.get("main"))
        self.real_sha = next((i.get("sha256") for i in self.sets.values() if not i.get("main")), None)
        self.tokenizers = {m.name: load_tokenizer(m) for m in models}
        # text mode: the files the device's corrector reads, checked before anything is written
        self.text_files = {m.name: text_files(m) for m in models} if cfg.text_mode else {}
        self.english_words = english_words_file() if cfg.text_mode else None
        # the dictionary pass: SymSpell's list is the guard's word list; the misspelling lists as one .dat
        self.misspellings_dat = (write_misspellings_dat(input_path(cfg.misspellings),
                                                        run_dir / "inputs" / "misspellings.dat")
                                 if cfg.dictionary and cfg.misspellings else None)
        self.samples = self._fitting(samples)
        self.requests, self.request_files = {}, {}
        for m in models:  # all built (a sentence that cannot fit is refused) before any file is written
            tok = self.tokenizers[m.name]
            # the id-mode requests: the budgets (and prompt lengths for prefill tok/s) of both modes
            self.requests[m.name] = build_requests(tok, self.samples, cfg.max_new_tokens, m.max_seq_len)
        for m in models:
            path = run_dir / "inputs" / f"requests-{m.name}.jsonl"
            reqs = self.requests[m.name]
            protocol.write_requests(path, text_requests(reqs, self.samples) if cfg.text_mode else reqs)
            self.request_files[m.name] = path

    def unit_fingerprint(self, model: ModelInfo, mode: str) -> dict:
        return fingerprint(self.cfg, model, mode, len(self.samples), self.eval_sha, self.real_sha)

    def set_of(self, sample: dict) -> str:
        return sample.get("set") or self.main

    def _fitting(self, samples: list[dict]) -> list[dict]:
        keep = [s for s in samples if self.set_of(s) == self.main
                or all(fits(self.tokenizers[m.name], s["input"], m.max_seq_len) for m in self.models)]
        for name, info in self.sets.items():
            if not info.get("main"):
                info["n"] = sum(1 for s in keep if self.set_of(s) == name)
                info["left_out"] = sum(1 for s in samples if self.set_of(s) == name) - info["n"]
        return keep


def runner_argv(runner: str, model: str, req: str, res: str, summ: str, cfg: BenchConfig,
                mode: str, copy: dict[str, int] | None = None,
                text: tuple[str, str] | None = None,
                dictionary: tuple[str, str | None] | None = None) -> list[str]:
    """The runner's command line; `copy` (copy_settings) is passed in full in copy mode, so
    the runner never falls back on its own compiled-in defaults; `text` = (metadata JSON, English
    word list) on the device turns on the text mode; `dictionary` = (SymSpell's list, the
    misspellings .dat or None) on the device adds the dictionary pass."""
    argv = [runner, "--model", model, "--requests", req, "--results", res, "--summary", summ,
            "--warmup", str(cfg.warmup), "--reps", "1"]
    if cfg.threads:
        argv += ["--threads", str(cfg.threads)]
    if cfg.request_timeout_ms:
        argv += ["--timeout-ms", str(cfg.request_timeout_ms)]
    argv += ["--speculate", "copy" if mode == "copy" else "none"]
    if mode == "copy":
        if copy is None:
            raise ValueError("runner_argv: copy mode needs the copy settings (bench.copy_settings)")
        argv += ["--draft-len", str(copy["draft_len"]), "--prefill-draft", str(copy["prefill_draft"]),
                 "--max-ngram", str(copy["max_ngram"])]
    argv += ["--prefix-cache", "on" if cfg.prefix_cache else "off"]
    if text is not None:
        argv += ["--text-meta", text[0], "--english-words", text[1]]
    if text is not None and dictionary is not None:
        argv += ["--dictionary", dictionary[0]] + (["--misspellings", dictionary[1]] if dictionary[1] else [])
        argv += ["--dict-context", dict_context(cfg)]
    return argv


def dict_context(cfg: BenchConfig) -> str:
    """The pass's scoring context on the device: the bench's setting, else the evaluation's
    default (evaluation/dictpass.py), always passed, so the runner's compiled-in default never decides."""
    from evaluation.dictpass import DictConfig

    return cfg.dictionary_context or DictConfig.context


def describe_exit(code: int) -> str:
    if code in (124, 137):
        return f"runner timed out (exit {code}: killed at the deadline)"
    if code > 128 and code - 128 in signal.Signals._value2member_map_:
        return f"runner crashed: exit {code} ({signal.Signals(code - 128).name})"
    return f"runner failed: exit {code}"


def run_rep(target, remote: dict, local_dir: Path, cfg: BenchConfig, mode: str, rep: int,
            copy: dict[str, int] | None = None) -> dict:
    """One runner process: run, pull results and summary. Raises DeviceLostError."""
    res_r, sum_r = (target.remote_path(f"{remote['tag']}-{rep}.{ext}") for ext in ("jsonl", "json"))
    for r in (res_r, sum_r):
        target.remove(r)
    argv = runner_argv(remote["runner"], remote["model"], remote["requests"], res_r, sum_r, cfg, mode, copy,
                       remote.get("text"), remote.get("dictionary"))
    out = target.run(argv, cfg.timeout_s)
    rec = {"rep": rep, "returncode": out.returncode, "wall_s": out.wall_s,
           "stderr_tail": out.stderr[-2000:], "results": [], "summary": {}}
    res_l, sum_l = local_dir / f"{remote['tag']}-{rep}.jsonl", local_dir / f"{remote['tag']}-{rep}.json"
    if target.pull(res_r, res_l):
        rec["results"] = protocol.read_results(res_l, text_mode=remote.get("text") is not None)
    if target.pull(sum_r, sum_l):  # a fatal runner error still leaves a summary saying why
        rec["summary"] = protocol.read_summary(sum_l)
    if out.returncode != 0:
        rec["error"] = f"{describe_exit(out.returncode)}: {runner_error(rec['summary'], out.stderr)}"
    return rec


def runner_error(summary: dict, stderr: str) -> str:
    """The runner's own reason, not the last bytes of stderr (ExecuTorch's cpuinfo and log
    noise follow it): the summary's "error", else its `typo_runner:` lines, else the tail."""
    if isinstance(summary, dict) and summary.get("error"):
        return str(summary["error"])[:500]
    own = [line.strip() for line in stderr.splitlines() if line.strip().startswith("typo_runner:")]
    if own:
        return " | ".join(own)[-500:]
    return stderr.strip()[-300:]


def capped_requests(requests: list[dict], max_new_tokens: int, max_seq_len: int | None) -> dict[str, int]:
    """Requests whose new-token budget the model's static cache cut below the configured one:
    id -> the budget they got (inputs.build_requests caps at max_seq_len - prompt length)."""
    if max_seq_len is None:
        return {}
    return {r["id"]: r["max_new_tokens"] for r in requests
            if r["max_new_tokens"] == max_seq_len - len(r["prompt_ids"])
            and r["max_new_tokens"] < max_new_tokens}


def truncation(results: list[dict], capped: dict[str, int]) -> dict[str, int]:
    """How many requests were capped, and how many of those outputs ran into the cap (cut)."""
    hit = sum(1 for r in results if not r.get("warmup") and not r.get("error") and r["id"] in capped
              and int(r.get("new_tokens") or 0) >= capped[r["id"]])
    return {"capped_requests": len(capped), "hit_cap": hit}


def score_sets(samples: list[dict], outputs: list[str], sets: dict[str, dict],
               main: str, guarded: list[str] | None = None) -> tuple[dict, list[dict]]:
    """Score each set on its own (its case_insensitive flag): set -> {"guarded", "raw", "n"},
    and the per-sentence rows in sample order, each tagged with its set. `guarded` (text mode):
    the guarded texts the device returned, scored as they are (no host guard); else the host
    guard runs on `outputs` (evaluation.scoring.score_outputs)."""
    from evaluation.scoring import score_outputs

    by_set, rows = {}, [{}] * len(samples)
    for name, info in sets.items():
        idx = [i for i, s in enumerate(samples) if (s.get("set") or main) == name]
        if not idx:
            continue
        extra = {} if guarded is None else {"guarded": [guarded[i] for i in idx]}
        scores = score_outputs([samples[i]["input"] for i in idx], [samples[i]["output"] for i in idx],
                               [outputs[i] for i in idx], case_insensitive=bool(info.get("case_insensitive")),
                               fixes=tuple(info.get("fixes") or ("spelling", "case", "punctuation")),
                               **extra)
        by_set[name] = {"guarded": scores["guarded"], "raw": scores["raw"], "n": len(idx)}
        for i, row in zip(idx, scores.get("rows", [])):
            rows[i] = {**row, "set": name}
    return by_set, rows


def guard_check(samples: list[dict], results: list[dict]) -> dict:
    """The device's guarded text against the host guard's, evaluation.guard.guard(input, the
    device's raw text), on every decoded request: {"identical", "total", "differences"}; each
    difference names the request, its input, the raw text and both guarded texts."""
    from evaluation.guard import guard

    by_id = {r["id"]: r for r in results if not r.get("warmup") and not r.get("error")}
    total, differences = 0, []
    for s in samples:
        r = by_id.get(s["id"])
        if r is None:
            continue
        total += 1
        host = guard(s["input"], r["raw_text"])
        if host != r["guarded_text"]:
            differences.append({"id": s["id"], "input": s["input"], "raw_text": r["raw_text"],
                                "device_guarded": r["guarded_text"], "host_guarded": host})
    return {"identical": total - len(differences), "total": total, "differences": differences}


def set_latency_p50(reps: list[dict], ids: set[str]) -> float | None:
    """Median over the repetitions of the p50 sentence latency of the requests in `ids`."""
    per = [measure.percentile([measure.sentence_ms(r) for r in rep["results"] if r["id"] in ids
                               and not r.get("error") and not r.get("warmup")], 50)
           for rep in unit_reps(reps)]
    return measure.spread(per).get("median")


def unit_reps(reps: list[dict]) -> list[dict]:
    return [r for r in reps if not r.get("error") and r.get("results")]


def score_unit(unit: BenchUnit, prep: Prepared, model: ModelInfo) -> None:
    """Score each eval set of the first complete repetition with the eval metrics: text mode, the
    device's raw and guarded texts as returned (and the device guard checked against the host's);
    id mode, the output ids detokenized and guarded on the host."""
    from core.prompt import decode_answer

    rep = next(iter(unit_reps(unit["reps"])), None)
    if rep is None:
        return
    tok = prep.tokenizers[model.name]
    by_id = {r["id"]: r for r in rep["results"] if not r.get("warmup")}
    done = [s["id"] in by_id and not by_id[s["id"]].get("error") for s in prep.samples]
    guarded = None
    if prep.cfg.text_mode:
        outputs = [by_id[s["id"]]["raw_text"] if ok else "" for s, ok in zip(prep.samples, done)]
        guarded = [by_id[s["id"]]["guarded_text"] if ok else "" for s, ok in zip(prep.samples, done)]
        unit["guarded_outputs"] = guarded
        unit["guard_check"] = guard_check(prep.samples, rep["results"])
        if prep.cfg.dictionary:  # the pass's output (guarded again on the device) is what the user gets
            guarded = [by_id[s["id"]].get("dict_text", "") if ok else "" for s, ok in zip(prep.samples, done)]
            unit["dict_outputs"] = guarded
    else:
        outputs = [decode_answer(tok, by_id[s["id"]]["output_ids"]) if ok else ""
                   for s, ok in zip(prep.samples, done)]
    by_set, rows = score_sets(prep.samples, outputs, prep.sets, prep.main, guarded)
    for name, acc in by_set.items():
        acc["latency_p50_ms"] = set_latency_p50(unit["reps"], {s["id"] for s in prep.samples
                                                               if prep.set_of(s) == name})
    unit["outputs"] = outputs
    unit["output_ids"] = {s["id"]: by_id[s["id"]].get("output_ids") for s in prep.samples if s["id"] in by_id}
    main = by_set.get(prep.main, {})
    unit["accuracy"] = {"guarded": main.get("guarded", {}), "raw": main.get("raw", {})}
    unit["accuracy_by_set"] = by_set
    unit["rows"] = rows


def run_unit(target, model: ModelInfo, mode: str, prep: Prepared, runner: Path) -> BenchUnit:
    cfg = prep.cfg
    unit: BenchUnit = {"device": target.serial, "model": model.name, "mode": mode, "status": "failed",
                       "error": None, "reps": [], "metrics": {}, "started": time.time(), "finished": 0.0,
                       "fingerprint": prep.unit_fingerprint(model, mode)}
    local_dir = prep.run_dir / "raw" / target.serial.replace(":", "_")
    local_dir.mkdir(parents=True, exist_ok=True)
    remote = {"runner": target.push(runner, RUNNER_NAME), "model": target.push(model.path, model.path.name),
              "requests": target.push(prep.request_files[model.name], f"requests-{model.sha256[:12]}.jsonl"),
              "tag": f"results-{model.name}-{mode}"}
    if cfg.text_mode:  # the metadata with the tokenizer it names beside it, as the export wrote them
        files = prep.text_files[model.name]
        meta = target.push(files["metadata"], files["metadata"].name)
        target.push(files["tokenizer"], files["tokenizer"].name)
        remote["text"] = (meta, target.push(prep.english_words, prep.english_words.name))
        unit["text_mode"] = True
    if cfg.dictionary:  # SymSpell's list is the word list just pushed; the misspellings beside it
        dat = prep.misspellings_dat
        remote["dictionary"] = (remote["text"][1], target.push(dat, dat.name) if dat else None)
        unit["dictionary"] = True
    prompt_len = {r["id"]: len(r["prompt_ids"]) for r in prep.requests[model.name]}
    copy = copy_settings(cfg, model)
    for rep in range(cfg.reps):
        rec = run_rep(target, remote, local_dir, cfg, mode, rep, copy)
        rec["metrics"] = measure.rep_metrics(rec["results"], prompt_len, rec["summary"])
        unit["reps"].append(rec)
        if rec.get("error"):
            unit["error"] = rec["error"]
            break  # a crash or timeout is recorded; the bench moves on to the next unit
    unit["status"] = "ok" if unit["error"] is None else "failed"
    capped = capped_requests(prep.requests[model.name], cfg.max_new_tokens, model.max_seq_len)
    unit["truncation"] = truncation(unit["reps"][0]["results"] if unit["reps"] else [], capped)
    if unit["status"] == "ok" and unit["truncation"]["hit_cap"]:
        unit["status"] = "truncated"  # finished, but some outputs were cut by the cache length
    unit["metrics"] = measure.unit_metrics(unit["reps"])
    score_unit(unit, prep, model)
    unit["finished"] = time.time()
    return unit


def pick_runner(target, facts: dict, cfg: BenchConfig, override: str | None) -> Path:
    arm64 = target.kind != "host" and "arm64" in str(facts.get("abi") or "")
    if override:
        path = Path(override)
    elif not arm64:
        path = Path(cfg.runner_host)  # host mode, or an x86_64 device (emulator, loopback)
    else:
        path = Path(cfg.runner_android)
    path = input_path(path)
    if not path.is_file():
        hint = ("make android-runner (Docker) or make android-runner-static; for the emulated arm64 "
                "loopback device: make runner-arm64 and runner_android=android_runner/build/linux-arm64/"
                "typo_runner") if arm64 and not override else "make runner"
        raise DeviceError(f"runner binary not found: {path} (build it with: {hint})")
    return path


def run_device(target, prep: Prepared, runner_override: str | None, done: dict,
               on_unit, position: int = 0) -> dict:
    """All units of one device, in order; returns {"facts", "error"}."""
    cfg = prep.cfg
    todo = [(m, mode) for m in prep.models for mode in cfg.modes]
    info = {"serial": target.serial, "kind": target.kind, "facts": {}, "error": None}
    lost = None
    try:
        target.prepare()
        info["facts"] = target.facts()
        runner = pick_runner(target, info["facts"], cfg, runner_override)
    except DeviceError as exc:
        info["error"], lost = str(exc), exc
    bar = tqdm(todo, desc=f"bench {target.serial}", unit="run", leave=False, position=position)
    for i, (model, mode) in enumerate(bar):
        key = (target.serial, model.name, mode)
        if key in done:
            continue  # finished in an earlier run with the same inputs
        if lost is not None:
            on_unit(failed_unit(target.serial, model, mode, prep, f"not run: {lost}"))
            continue
        try:
            unit = run_unit(target, model, mode, prep, runner)
        except DeviceLostError as exc:
            lost, info["error"] = exc, str(exc)
            unit = failed_unit(target.serial, model, mode, prep, str(exc))
        except (DeviceError, protocol.ProtocolError) as exc:
            unit = failed_unit(target.serial, model, mode, prep, str(exc))
        on_unit(unit)
        if cfg.cooldown_s and i + 1 < len(todo):
            time.sleep(cfg.cooldown_s)  # let the SoC cool between models
    if lost is None:
        try:
            target.cleanup(cfg.keep_files)
        except DeviceError as exc:
            info["error"] = f"cleanup failed: {exc}"
    return info


def failed_unit(serial: str, model: ModelInfo, mode: str, prep: Prepared, error: str) -> BenchUnit:
    return {"device": serial, "model": model.name, "mode": mode, "status": "failed", "error": error,
            "reps": [], "metrics": measure.unit_metrics([]), "started": time.time(),
            "finished": time.time(),
            "fingerprint": prep.unit_fingerprint(model, mode)}


def load_done(run_dir: Path, prep: Prepared) -> dict:
    """Finished units of an earlier run with the same fingerprint (resume)."""
    done = {}
    for path in sorted((run_dir / "units").glob("*.json")):
        try:
            unit = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # unreadable = not done; it will be redone
        if not isinstance(unit, dict) or not isinstance(unit.get("mode"), str):
            continue  # not a unit record (a list, a foreign file): redone as well
        model = next((m for m in prep.models if m.name == unit.get("model")), None)
        if model is None or unit.get("status") not in FINISHED:
            continue
        want = prep.unit_fingerprint(model, unit["mode"])
        if unit.get("fingerprint") == want:
            done[(unit["device"], unit["model"], unit["mode"])] = unit
    return done


def run_all(targets: list, prep: Prepared, runner_override: str | None) -> tuple[list, dict]:
    """Devices in parallel (one thread each); returns (units, device infos)."""
    done = load_done(prep.run_dir, prep)
    units = dict(done)
    lock = threading.Lock()

    def on_unit(unit: dict) -> None:
        atomic_write_json(unit_path(prep.run_dir, unit["device"], unit["model"], unit["mode"]), unit)
        with lock:
            units[(unit["device"], unit["model"], unit["mode"])] = unit

    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        infos = list(pool.map(lambda it: run_device(it[1], prep, runner_override, done, on_unit, it[0]),
                              enumerate(targets)))
    order = [(t.serial, m.name, mode) for t in targets for m in prep.models for mode in prep.cfg.modes]
    return [units[k] for k in order if k in units], {i["serial"]: i for i in infos}
