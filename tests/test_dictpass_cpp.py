"""The dictionary pass in C++ (corrector/src/dictpass.cpp) against evaluation/dictpass.py, by
differential tests on real parts. The Python pass runs with the tiny model's real scorer
(hf_scorer) and every scorer call is recorded; the C++ pass (tc_tool dictpass) gets a scorer that
replays that table, so a query Python never made is a failure, and its output, `needed` and
changes must equal Python's: on hand-picked cases, every input of every dev set under
evaluation/devsets (raw = the input, the reference, an edited reference), hypothesis text, the
C API (ctypes) with the live model as the callback, and the arm64 build under qemu; the masked and
summed scoring contexts (dictionary.context) on hand-picked cases and the first messages, and
dictpass.masked itself on Unicode text. SymSpell's lookup is compared term for term first: the
pass's candidates start there."""
from __future__ import annotations

import ctypes
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import ConfigError
from evaluation.dictpass import DictConfig, DictionaryPass, hf_scorer, masked, misspelling_pairs, symspell
from tests.fixtures.corrector_cpp import (
    ARM64_BUILD,
    BUILD,
    ROOT,
    Tool,
    build,
    english_words_file,
    take_c_string,
    write_metadata,
)

MESSAGES = ROOT / "evaluation" / "devsets"
SHARED_LISTS = ROOT.parent / "shared" / "data" / "misspellings"
MAX_LEN = 512
HAND_PICKED = [
    ("thnaks for the batery", "than for the boat"),
    ("Thnaks, my phone batery is dead", "Than, my phone boat is dead."),
    ("i dont know alot abuot it", "i dont know alot abuot it"),          # apostrophe, split
    ("see you tomor row at 10:30", "see you tomor row at 10:30"),        # merge, a time
    ("THNAKS for teh help", "THNAKS for teh help"),                      # ALL CAPS
    ("Jhon sent it to jhon@exmaple.com at https://exmaple.com/batery", "Jhon sent it to jhon@exmaple.com"
     " at https://exmaple.com/batery"),                                  # names, protected spans
    ("the moive was grate. Programer said so!", "the motion was grate. Programer said so!"),
    ("pls call me tmrw abt the recieve form", "please call me tomorrow about the receive form"),
    ("i have 3 kats and 2 dgos", "i have 3 cats and 2 dogs"),            # numbers
    ("\"Thsi\" is (rly) weird...", "\"This\" is (really) weird..."),    # edge punctuation
    ("the form is here", "the xylophone is here"),                       # a refused change
    ("wont you comeback tommorow?", "won't you come back tomorrow?"),
    ("", ""), ("   ", " "), ("ok", "ok"), ("naïve café 😀 agian", "naïve café 😀 again"),
]


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def corrector_build() -> Path:
    return build()


@pytest.fixture(scope="module")
def words() -> Path:
    return english_words_file()


@pytest.fixture(scope="module")
def missp_dat(tmp_path_factory) -> Path | None:
    """The real misspelling lists joined into one .dat (what the device reads), or None."""
    from device_bench.dictionary import write_misspellings_dat

    if not SHARED_LISTS.is_dir():
        return None
    return write_misspellings_dat(SHARED_LISTS, tmp_path_factory.mktemp("missp") / "misspellings.dat")


@pytest.fixture(scope="module")
def tiny(tiny_base, tmp_path_factory):
    from core.loading import load_model, load_tokenizer

    meta = write_metadata(tiny_base, tmp_path_factory.mktemp("meta"))
    return load_model(str(tiny_base)).eval(), load_tokenizer(str(tiny_base)), meta


class Recorder:
    """A ScoreFn that records every call: the table the C++ side replays."""

    def __init__(self, score):
        self.score, self.calls = score, []

    def __call__(self, prefix, conts):
        out = self.score(prefix, conts)
        self.calls.append({"prefix": list(prefix), "conts": [list(c) for c in conts], "scores": list(out)})
        return out


class Both:
    """The Python pass and its C++ twin over one configuration."""

    def __init__(self, tiny, words: Path, dat: Path | None, **cfg):
        model, tok, meta = tiny
        self.rec = Recorder(hf_scorer(model, tok.pad_token_id))
        self.py = DictionaryPass(DictConfig(misspellings=str(dat or ""), **cfg), tok, self.rec, MAX_LEN)
        self.args = ["dictpass", str(meta), str(words), str(words), str(dat or "-"),
                     *(f"{k}={v if isinstance(v, str) else float(v)}" for k, v in cfg.items())]
        self.tool: Tool | None = None

    def request(self, inp: str, raw: str) -> tuple[dict, dict]:
        self.rec.calls = []
        res = self.py.run(inp, raw)
        want = {"output": res.output, "needed": res.needed, "changes": res.changes,
                "calls": len(self.rec.calls)}
        return {"input": inp, "raw": raw, "max_len": MAX_LEN, "calls": self.rec.calls}, want

    def compare_live(self, pairs: list[tuple[str, str]]) -> None:
        """Through one long-lived tc_tool (its dictionary loads once): for many small calls."""
        self.tool = self.tool or Tool(*self.args)
        for inp, raw in pairs:
            req, want = self.request(inp, raw)
            assert self.tool.ask(**req) == want, (inp, raw)

    def compare(self, pairs: list[tuple[str, str]], tool: Path = BUILD / "tc_tool", prefix=()) -> dict:
        reqs, wants = zip(*(self.request(i, r) for i, r in pairs))
        got = Tool.batch(self.args, list(reqs), prefix, tool)
        bad = [(p, w, g) for p, w, g in zip(pairs, wants, got) if g != w]
        assert not bad, bad[:5]
        return {"cases": len(pairs), "needed": sum(w["needed"] for w in wants),
                "changed": sum(bool(w["changes"]) for w in wants)}


@pytest.fixture(scope="module")
def both(corrector_build, tiny, words, missp_dat):
    pair = Both(tiny, words, missp_dat)
    yield pair
    if pair.tool:
        pair.tool.close()


def messages_pairs(limit: int | None = None) -> list[tuple[str, str]]:
    """Every dev set's inputs with three raw outputs: the input (a model that changed nothing),
    the reference (one that fixed everything) and an edited reference (one that rewrote)."""
    from evaluation.eval_sets import load_benchmarks
    from tests.test_corrector_cpp import raw_outputs

    rnd, out = random.Random(27), []
    for bench in load_benchmarks(str(MESSAGES / "messages")):
        for p in bench.pairs[:limit]:
            out += [(p.input, p.input), (p.input, p.reference)]
            out += [(p.input, r) for r in raw_outputs(p.input, p.reference, rnd)[:1]]
    return out


# ---------------------------------------------------------------- SymSpell
def test_symspell_lookup_identical(corrector_build, words):
    """lookup(word, Verbosity.ALL, d): the same terms, distances, counts, in the same order, for
    every word of the messages dev set and typos of them (both distances)."""
    from symspellpy import Verbosity

    from evaluation.eval_sets import load_benchmarks

    rnd = random.Random(5)
    vocab = sorted({w.lower().strip(".,!?\"'()") for b in load_benchmarks(str(MESSAGES / "messages"))
                    for p in b.pairs for w in (p.input + " " + p.reference).split()} - {""})
    typos = []
    for w in vocab[:400]:
        chars = list(w)
        if len(chars) > 2:
            i = rnd.randrange(len(chars) - 1)
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        typos.append("".join(chars) + rnd.choice(["", "e", "s"]))
    queries = [{"word": w, "max": d} for w in vocab + typos + ["a", "ab", "xyzzyq", "supercalifragilistic"]
               for d in (1, 2)]
    got = Tool.batch(["lookup", str(words)], queries)
    for q, g in zip(queries, got):
        want = [[s.term, s.distance, s.count] for s in symspell().lookup(q["word"], Verbosity.ALL,
                                                                         max_edit_distance=q["max"])]
        assert g["terms"] == want, q
    print(json.dumps({"lookups": len(queries)}))


def test_misspellings_dat_round_trips(missp_dat):
    if missp_dat is None:
        pytest.skip(f"real misspelling lists not found at {SHARED_LISTS}")
    assert misspelling_pairs(str(missp_dat)) == misspelling_pairs(str(SHARED_LISTS))


# ---------------------------------------------------------------- the pass
def test_pass_identical_on_hand_picked_cases(both):
    print(json.dumps(both.compare(HAND_PICKED)))


def test_pass_identical_with_other_settings(corrector_build, tiny, words):
    """Margins at zero (every winner taken), one edit, no splits/merges/refused words, a small cap."""
    for cfg in ({"margin": 0.0, "tie_margin": 0.0}, {"max_edit_distance": 1, "max_candidates": 2},
                {"splits": False, "merges": False, "refused_words": False, "min_word_len": 1,
                 "max_words": 2}):
        Both(tiny, words, None, **cfg).compare(HAND_PICKED[:10])


def test_pass_identical_on_the_first_messages(both):
    print(json.dumps(both.compare(messages_pairs(limit=25))))


# ---------------------------------------------------------------- the masked and summed contexts
MASK_CASES = [  # (input, words under review): what Python's regex does on Unicode text
    ("my batery is dead, Batery! BATERY", ["batery"]),
    ("thnaks for teh help thnaks_ 2thnaks thnaks2 x'thnaks thnaks'", ["thnaks,", "teh"]),
    ("dont don't dont' 'dont dont\u2019s \u2018dont\u2019", ["dont", "don't"]),
    ("\u212aat kat KAT", ["kat"]),                         # KELVIN SIGN folds to k
    ("\u0130t \u0131t it IT", ["it"]),                     # dotted and dotless i fold to i
    ("\u017fee see SEE", ["see"]),                          # long s folds to s
    ("caf\u00e9teh tehcaf\u00e9 \u00e9teh teh\u00e9 \u0416teh teh \U0001f600teh\U0001f600", ["teh"]),
    ("a\u0301teh teh\u0301 \u00b2teh teh\u0661 \u2167teh", ["teh"]),   # a combining mark, digits, numerals
    ("the form is here", []), ("", ["teh"]), ("alot a lot", ["alot", "tomor row"]),
]


def test_masked_identical(corrector_build):
    """tc_tool masked equals dictpass.masked: whole words in any case, Unicode word edges."""
    reqs = [{"input": i, "words": w, "mask": m} for i, w in MASK_CASES for m in ("___", "\u2588")]
    got = Tool.batch(["masked"], reqs)
    assert [g["masked"] for g in got] == [masked(r["input"], r["words"], r["mask"]) for r in reqs]
    assert got[0]["masked"] == "my ___ is dead, ___! ___"  # the test can fail: it masks something


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["teh", "dont", "kat", "see", "it"]) | st.text(max_size=4), min_size=1,
                max_size=8),
       st.lists(st.sampled_from(["teh", "dont", "don't", "kat", "see", "it", "Teh,", "(dont)"]), max_size=3))
def test_masked_identical_on_hypothesis_text(corrector_build, parts, words_):
    inp = "".join(parts)
    got = Tool.batch(["masked"], [{"input": inp, "words": words_, "mask": "___"}])[0]["masked"]
    assert got == masked(inp, words_, "___")


@pytest.mark.parametrize("context", ["masked", "both"])
def test_pass_identical_in_other_contexts(corrector_build, tiny, words, missp_dat, context):
    """The answers scored against the masked text (and summed with the typed one for "both"):
    the same scorer calls, in the same order, and the same outputs as Python."""
    pair = Both(tiny, words, missp_dat, context=context)
    res = pair.compare(HAND_PICKED + messages_pairs(limit=25))
    calls = sum(len(pair.request(i, r)[0]["calls"]) for i, r in HAND_PICKED[:3])
    assert calls == (6 if context == "both" else 3)  # one call per context for each needed sentence
    print(json.dumps(res))


@pytest.mark.integration  # 442 pairs x 3 raw outputs, two prompts each: a minute or two
def test_pass_identical_on_every_dev_set_input_in_both_contexts(corrector_build, tiny, words, missp_dat):
    """"both" runs the typed and the masked prompt: every dev set input covers both."""
    print(json.dumps(Both(tiny, words, missp_dat, context="both").compare(messages_pairs())))


@pytest.mark.parametrize("option,value", [("context", "nearby"), ("mask", "two words"), ("mask", "")])
def test_bad_context_or_mask_named_as_python_names_it(corrector_build, tiny, words, option, value):
    with pytest.raises(ConfigError) as py:
        DictConfig(**{option: value})
    _, _, meta = tiny
    done = Tool.batch_raw(["dictpass", str(meta), str(words), str(words), "-", f"{option}={value}"])
    assert done.returncode == 1 and done.stderr.strip() == f"tc_tool: {py.value}"


@pytest.mark.integration  # 442 pairs x 3 raw outputs through the Python pass: about a minute
def test_pass_identical_on_every_dev_set_input(both):
    print(json.dumps(both.compare(messages_pairs())))


WORDS = ["thnaks", "batery", "agian", "recieve", "the", "dont", "alot", "tomor", "row", "Jhon", "I", "im",
         "programer", "moive", "teh", "becuase", "wierd", "u", "pls", "3", "10:30", "www.exmaple.com", "café"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(WORDS) | st.text(alphabet="abcdeilnorstuy'", min_size=1, max_size=9),
                min_size=1, max_size=8),
       st.lists(st.sampled_from(["", ",", ".", "!", "?", "\"", "'"]), min_size=8, max_size=8),
       st.booleans(), st.randoms(use_true_random=False))
def test_pass_identical_on_hypothesis_text(both, words_, puncts, capital, rnd):
    toks = [w + p for w, p in zip(words_, puncts)]
    if capital:
        toks[0] = toks[0][:1].upper() + toks[0][1:]
    inp = " ".join(toks)
    raw = " ".join(t if rnd.random() < 0.7 else rnd.choice(WORDS) for t in toks)
    both.compare_live([(inp, raw), (inp, inp)])


# ---------------------------------------------------------------- the C API with the live model
SCORE_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t,
                            ctypes.POINTER(ctypes.POINTER(ctypes.c_int32)), ctypes.POINTER(ctypes.c_size_t),
                            ctypes.c_size_t, ctypes.POINTER(ctypes.c_double))


def _lib(build_dir: Path):
    lib = ctypes.CDLL(str(build_dir / "libtypo_corrector_c.so"))
    lib.tc_open_with_dictionary.argtypes = [ctypes.c_char_p] * 4 + [ctypes.c_void_p, ctypes.c_void_p,
                                                                     ctypes.POINTER(ctypes.c_void_p)]
    ptr = ctypes.POINTER(ctypes.c_void_p)
    lib.tc_dictionary_pass.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, SCORE_FN,
                                       ctypes.c_void_p, ctypes.c_size_t, ptr,
                                       ctypes.POINTER(ctypes.c_int), ptr]
    lib.tc_free.argtypes = [ctypes.c_void_p]
    lib.tc_dict_options_init.argtypes = [ctypes.POINTER(DictOptions)]
    return lib


class DictOptions(ctypes.Structure):  # tc_dict_options
    _fields_ = [("margin", ctypes.c_double), ("tie_margin", ctypes.c_double),
                ("max_edit_distance", ctypes.c_int32), ("max_candidates", ctypes.c_int32),
                ("max_words", ctypes.c_int32), ("min_word_len", ctypes.c_int32),
                ("edit_weight", ctypes.c_double), ("list_bonus", ctypes.c_double),
                ("refused_words", ctypes.c_int32), ("splits", ctypes.c_int32), ("merges", ctypes.c_int32),
                ("min_part_count", ctypes.c_int64), ("context", ctypes.c_char_p), ("mask", ctypes.c_char_p)]


@pytest.mark.parametrize("context", [None, "both"])
def test_c_api_runs_the_pass_with_a_model_callback(corrector_build, tiny, words, missp_dat, context):
    """tc_open_with_dictionary + tc_dictionary_pass, the tiny model scoring live through the
    callback: Python's outputs (the default options, and tc_dict_options with a context)."""
    model, tok, meta = tiny
    lib = _lib(corrector_build)
    handle, err = ctypes.c_void_p(), ctypes.c_void_p()
    dat = str(missp_dat).encode() if missp_dat else None
    opts = DictOptions()
    lib.tc_dict_options_init(ctypes.byref(opts))
    assert (opts.context.decode(), opts.mask.decode()) == (DictConfig.context, DictConfig.mask)
    if context:
        opts.context = context.encode()
    st_ = lib.tc_open_with_dictionary(str(meta).encode(), str(words).encode(), str(words).encode(), dat,
                                      ctypes.byref(opts) if context else None, ctypes.byref(handle),
                                      ctypes.byref(err))
    assert st_ == 0, take_c_string(lib, err)
    score = hf_scorer(model, tok.pad_token_id)

    @SCORE_FN
    def cb(_user, prefix, n_prefix, conts, lens, n_conts, out):
        got = score([prefix[i] for i in range(n_prefix)],
                    [[conts[c][i] for i in range(lens[c])] for c in range(n_conts)])
        for c, v in enumerate(got):
            out[c] = v
        return 0

    cfg = DictConfig(misspellings=str(missp_dat or ""), **({"context": context} if context else {}))
    py = DictionaryPass(cfg, tok, score, MAX_LEN)
    for inp, raw in HAND_PICKED[:8]:
        res, needed = ctypes.c_void_p(), ctypes.c_int()
        st_ = lib.tc_dictionary_pass(handle, inp.encode(), raw.encode(), cb, None, MAX_LEN, ctypes.byref(res),
                                     ctypes.byref(needed), ctypes.byref(err))
        assert st_ == 0, take_c_string(lib, err)
        want = py.run(inp, raw)
        assert (take_c_string(lib, res), bool(needed.value)) == (want.output, want.needed), inp
    lib.tc_close(handle)


def test_c_api_names_bad_dictionary_input(corrector_build, tiny, words, tmp_path):
    """A dictionary line that is no 'word count', a missing file, a misspelling list in another
    format: TC_ERR_FORMAT / TC_ERR_IO with the file (and line) in the message."""
    _, _, meta = tiny
    lib = _lib(corrector_build)
    bad = tmp_path / "dict.txt"
    bad.write_text("the 10\nof\n")
    cases = [(bad, None, 3, f"{bad}:2"), (tmp_path / "nowhere.txt", None, 2, "nowhere.txt"),
             (words, tmp_path / "lists.tsv", 3, "lists.tsv")]
    (tmp_path / "lists.tsv").write_text("Misspelling\tCorrection\nteh\tthe\n")
    for dic, missp, code, named in cases:
        handle, err = ctypes.c_void_p(), ctypes.c_void_p()
        st_ = lib.tc_open_with_dictionary(str(meta).encode(), str(words).encode(), str(dic).encode(),
                                          str(missp).encode() if missp else None, None, ctypes.byref(handle),
                                          ctypes.byref(err))
        msg = take_c_string(lib, err)
        assert (st_, named in msg) == (code, True), msg


@pytest.mark.parametrize("context", [None, "masked"])
def test_jni_binding_runs_the_pass(corrector_build, tiny, words, missp_dat, tmp_path, context):
    """TypoCorrector(meta, words, dictionary, misspellings[, context]).dictionaryPass through Java
    (Debian's JDK) with a fixed-formula Scorer equals evaluation/dictpass.py with the same formula."""
    javac, java = shutil.which("javac"), shutil.which("java")
    if not javac or not java:
        pytest.skip("no JDK: apt-get install openjdk-17-jdk-headless (.ci/run does)")
    _, tok, meta = tiny
    lib = corrector_build / "libtypo_corrector_jni.so"
    assert lib.exists(), "the JNI library was not built: CMake found no jni.h"
    classes = tmp_path / "classes"
    sources = sorted(str(p) for p in (ROOT / "corrector" / "java").rglob("*.java"))
    subprocess.run([javac, "-d", str(classes), *sources], check=True, capture_output=True)

    def formula(prefix, conts):
        return [-len(c) - 0.01 * sum(t % 7 for t in c) for c in conts]

    cfg = DictConfig(misspellings=str(missp_dat or ""), **({"context": context} if context else {}))
    py = DictionaryPass(cfg, tok, formula, 4096)
    for inp, raw in HAND_PICKED[:6]:
        args = [str(meta), str(words), str(words), str(missp_dat or "-"), inp, raw]
        args += [context] if context else []
        done = subprocess.run([java, f"-Dtypocorrector.library={lib}", "-cp", str(classes),
                               "org.typocorrector.DictDemo", *args],
                              capture_output=True, text=True, encoding="utf-8", timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout[:-1] == py.correct(inp, raw), inp


# ---------------------------------------------------------------- arm64
@pytest.mark.integration  # the cross-build and qemu: minutes
def test_arm64_pass_gives_the_host_outputs(both):
    if not (shutil.which("aarch64-linux-gnu-g++") and shutil.which("qemu-aarch64-static")):
        pytest.skip("g++-aarch64-linux-gnu or qemu-user-static missing (.ci/run installs them)")
    build(ARM64_BUILD, arm64=True)
    print(json.dumps(both.compare(HAND_PICKED + messages_pairs(limit=60), ARM64_BUILD / "tc_tool",
                                  ("qemu-aarch64-static",))))


# ---------------------------------------------------------------- the runner's text mode, end to end
def runner_vs_pte_dict(runner: Path, pte: Path, words: Path, dat: Path | None, texts: list[str],
                       out: Path, context: str | None = None) -> dict:
    """typo_runner --text-meta ... --dictionary [--dict-context C]: each result's dict_text equals
    Python `pte+dict` (export/corrector.py's PteCorrector raw output, then DictionaryPass over
    pte_scorer) on the same .pte, with the same answer budgets."""
    from core.prompt import prompt_ids
    from evaluation.correctors import answer_budget
    from export.corrector import PteCorrector
    from tests.fixtures.runner import run_runner

    pte_corr = PteCorrector(str(pte))
    tok, max_len = pte_corr.tok, pte_corr.model.max_seq_len
    cfg = DictConfig(misspellings=str(dat or ""), **({"context": context} if context else {}))
    dp = DictionaryPass.for_model(cfg, pte_corr.dictionary_model())
    keep = [t for t in texts if t.strip() and pte_corr._fits(t)]  # what correct() runs in one piece
    budgets = [min(answer_budget(pte_corr._n_tokens(t), *pte_corr.budget), max_len - len(prompt_ids(tok, t)))
               for t in keep]
    reqs = [{"id": k, "text": t, "max_new_tokens": b} for k, (t, b) in enumerate(zip(keep, budgets))]
    args = ["--text-meta", str(pte.with_suffix(".json")), "--english-words", str(words),
            "--dictionary", str(words)]
    args += ["--misspellings", str(dat)] if dat else []
    args += ["--dict-context", context] if context else []
    proc, results, summary = run_runner(runner, pte, reqs, out, *args)
    assert proc.returncode == 0 and summary["errors"] == 0, proc.stderr[-2000:]
    raws = pte_corr.correct(keep)
    same = 0
    for text, raw, r in zip(keep, raws, results):
        assert r["raw_text"] == raw, text
        want = dp.run(text, raw)
        assert (r["dict_text"], r["dict_needed"]) == (want.output, want.needed), text
        assert r["dict_ms"] >= 0 and r["end_to_end_ms"] >= r["guard_ms"] + r["dict_ms"] - 0.01
        same += 1
    return {"texts": same, "needed": sum(r["dict_needed"] for r in results),
            "changed": sum(r["dict_text"] != r["guarded_text"] for r in results)}


@pytest.mark.integration  # the tiny .pte export and the host runner build
def test_runner_text_mode_dictionary_equals_pte_plus_dict(host_runner, tiny_pte, words, missp_dat, tmp_path):
    from evaluation.eval_sets import load_benchmarks

    texts = [p.input for b in load_benchmarks(str(MESSAGES / "messages")) for p in b.pairs]
    print(json.dumps(runner_vs_pte_dict(host_runner, tiny_pte["fp32"], words, missp_dat, texts, tmp_path)))


@pytest.mark.integration  # the tiny .pte export and the host runner build
def test_runner_dict_context_both_equals_pte_plus_dict(host_runner, tiny_pte, words, missp_dat, tmp_path):
    """--dict-context both reaches the library: the runner's pass scores against both prompts."""
    from evaluation.eval_sets import load_benchmarks

    texts = [p.input for b in load_benchmarks(str(MESSAGES / "messages")) for p in b.pairs][:60]
    got = runner_vs_pte_dict(host_runner, tiny_pte["fp32"], words, missp_dat, texts, tmp_path, "both")
    assert got["needed"] > 0  # the pass ran (a context never used would pass trivially)
    print(json.dumps(got))


@pytest.mark.parametrize("extra, message", [
    (["--dict-context", "both"], "--dict-context needs --dictionary"),
    (["--dictionary", "w.txt", "--dict-context", "nearby"], "--dict-context must be typed, masked or both"),
])
def test_runner_refuses_a_bad_dict_context(host_runner, tmp_path, extra, message):
    files = ["--model", "m.pte", "--requests", "r", "--results", "o", "--summary", "s",
             "--text-meta", "m.json", "--english-words", "w.txt"]
    proc = subprocess.run([str(host_runner), *files, *extra], capture_output=True, text=True, cwd=tmp_path)
    assert (proc.returncode, message in proc.stderr) == (2, True), proc.stderr


# ---------------------------------------------------------------- device_bench: the files and the flags
def test_bench_pushes_the_dictionary_and_passes_the_flags(tmp_path):
    from core.config import ConfigError
    from device_bench.bench import runner_argv
    from device_bench.config import BenchConfig

    cfg = BenchConfig(dictionary=True, misspellings="")
    argv = runner_argv("r", "m.pte", "q", "s", "t", cfg, "plain", text=("m.json", "w.txt"),
                       dictionary=("w.txt", "l.dat"))
    assert argv[-8:] == ["--english-words", "w.txt", "--dictionary", "w.txt", "--misspellings", "l.dat",
                         "--dict-context", DictConfig.context]  # the host's rule, unless the bench sets one
    masked_cfg = BenchConfig(dictionary=True, misspellings="", dictionary_context="masked")
    argv = runner_argv("r", "m.pte", "q", "s", "t", masked_cfg, "plain", text=("m.json", "w.txt"),
                       dictionary=("w.txt", None))
    assert argv[-4:] == ["--dictionary", "w.txt", "--dict-context", "masked"]
    with pytest.raises(ConfigError, match="dictionary_context"):
        BenchConfig(dictionary=True, misspellings="", dictionary_context="nearby")
    off = runner_argv("r", "m.pte", "q", "s", "t", BenchConfig(), "plain", text=("m.json", "w.txt"))
    assert "--dictionary" not in off  # the off switch: the text mode alone
    with pytest.raises(ConfigError, match="needs text_mode"):
        BenchConfig(dictionary=True, text_mode=False, misspellings="")
    with pytest.raises(ConfigError, match="not found"):
        BenchConfig(dictionary=True, misspellings=str(tmp_path / "nowhere"))
