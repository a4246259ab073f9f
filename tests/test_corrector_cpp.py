"""The C++ corrector library (corrector/, issue 27) against the Python it ports, by
differential tests on real parts: token ids and decoded text against HF `tokenizers` on every
evaluation set's inputs and references and on hypothesis text; prompt ids against core.prompt;
guard decisions against evaluation/guard.py on every evaluation set with raw outputs made from
the references, and on the guard's own hypothesis strategies (same example counts); Levenshtein
opcodes against rapidfuzz; the C API through ctypes; the JNI binding through Debian's JDK."""
from __future__ import annotations

import ctypes
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluation.guard import GuardConfig, guard
from tests.fixtures.corrector_cpp import (
    ARM64_BUILD,
    GEMMA_GLOB,
    ROOT,
    SMOLLM2_GLOB,
    SOURCE,
    Tool,
    base_folder,
    build,
    english_words_file,
    take_c_string,
    write_metadata,
)
from tests.test_guard import ACCEPTED, FAST, REVERTED, _edit, candidates, real_sentences, sentences

SHARED_EVAL = ROOT.parent / "shared" / "data" / "eval"
MESSAGES = ROOT / "evaluation" / "devsets" / "messages"
README_INPUT = "hello how are you? ia amfi ne thank you"
README_ANSWER = "Hello, how are you? I am fine, thank you."
README_PARAPHRASE = "Hello, how are you? I am here to thank you."
# edits a model's raw output may carry, drawn without hypothesis (tests/test_guard.py's _edit)
RAW_KINDS = ["typo", "case", "shuffle", "swap", "synonym", "commentary", "drop_clause", "merge", "split",
             "digits", "duplicate", "negate", "number", "homoglyph"]


@pytest.fixture(scope="module")
def corrector_build() -> Path:
    """corrector/ built once (cmake, make -j1) into corrector/build/test."""
    return build()


@pytest.fixture(scope="module")
def words_file() -> Path:
    return english_words_file()


def eval_sets():
    from evaluation.eval_sets import load_benchmarks

    if not SHARED_EVAL.is_dir():
        pytest.skip(f"real evaluation data not found at {SHARED_EVAL} (see ../shared/data/README.md)")
    return load_benchmarks(str(SHARED_EVAL)) + load_benchmarks(str(MESSAGES))


def tokenizer_files(tiny_base: Path) -> dict[str, Path]:
    found = {"tiny": tiny_base / "tokenizer.json"}
    for name, pattern in (("smollm2", SMOLLM2_GLOB), ("gemma3", GEMMA_GLOB)):
        folder = base_folder(pattern)
        if folder is None:
            pytest.skip(f"models/base/gguf/{pattern} missing: run `make offline-models` (CI does)")
        found[name] = folder / "tokenizer.json"
    return found


def test_unicode_tables_are_generated_from_this_python(tmp_path):
    out = tmp_path / "unicode_data.inc"
    subprocess.run([sys.executable, str(SOURCE / "tools" / "gen_unicode.py"), str(out)], check=True)
    assert out.read_bytes() == (SOURCE / "src" / "unicode_data.inc").read_bytes(), \
        "regenerate: python corrector/tools/gen_unicode.py corrector/src/unicode_data.inc"


# ---------------------------------------------------------------- tokenizer
@pytest.fixture(scope="module")
def tokenizers_under_test(corrector_build, tiny_base):
    from tokenizers import Tokenizer

    out = {}
    for name, path in tokenizer_files(tiny_base).items():
        out[name] = (Tokenizer.from_file(str(path)), Tool("encode", str(path)))
    yield out
    for _, tool in out.values():
        tool.close()


def _same_tokens(hf, tool, text: str) -> bool:
    ids = hf.encode(text, add_special_tokens=False).ids
    got = tool.ask(text=text)
    return got["ids"] == ids and got["decoded"] == hf.decode(ids, skip_special_tokens=True)


def test_token_ids_identical_on_every_eval_set(corrector_build, tiny_base):
    from tokenizers import Tokenizer

    sets = eval_sets()
    texts = [t for bench in sets for p in bench.pairs for t in (p.input, p.reference)]
    report = {}
    for name, path in tokenizer_files(tiny_base).items():
        hf = Tokenizer.from_file(str(path))
        want = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
        decoded = hf.decode_batch(want, skip_special_tokens=True)
        got = Tool.batch(["encode", str(path)], [{"text": t} for t in texts])
        at = 0
        for bench in sets:
            n = 2 * len(bench.pairs)
            same = sum(g["ids"] == w and g["decoded"] == d
                       for g, w, d in zip(got[at:at + n], want[at:at + n], decoded[at:at + n]))
            report[f"{bench.name}/{name}"] = (same, n)
            at += n
    print(json.dumps(report))
    assert all(s == n for s, n in report.values()), report


unicode_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
spacey_text = st.lists(st.sampled_from(["a", "Word", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "'s",
                                        "'ll", "😀", "👍🏽", "日本", "ß", "İ", "\x00", "\x1b", "\u200b",
                                        "123",
                                        "3.14", "—", "<|im_end|>", "<|im_start|>", "<bos>", "\ufeff"]),
                       max_size=20).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.one_of(unicode_text, spacey_text))
def test_token_ids_identical_on_hypothesis_text(tokenizers_under_test, text):
    for name, (hf, tool) in tokenizers_under_test.items():
        assert _same_tokens(hf, tool, text), (name, text)


def test_prompt_ids_match_core_prompt(corrector_build, words_file, tiny_base, tmp_path):
    from core.prompt import prompt_ids
    from export.runtime import load_pte_tokenizer

    folders = {"tiny": tiny_base, "smollm2": base_folder(SMOLLM2_GLOB)}
    texts = [README_INPUT, "", "  x  ", "<|im_end|> a", "naïve 😀\nnew line", "{text}"]
    for name, folder in folders.items():
        if folder is None:
            pytest.skip("the SmolLM2 GGUF is missing: run `make offline-models`")
        meta = write_metadata(folder, tmp_path / name)
        tok = load_pte_tokenizer(meta.with_suffix(".pte"))  # what device_bench builds prompts with
        tool = Tool("prompt", str(meta), str(words_file))
        try:
            for text in texts:
                assert tool.ask(text=text)["ids"] == prompt_ids(tok, text), (name, text)
        finally:
            tool.close()


# ---------------------------------------------------------------- guard
@pytest.fixture(scope="module")
def cpp_guard(corrector_build, words_file):
    tools = {None: Tool("guard", str(words_file)), 16: Tool("guard", str(words_file), "16")}
    yield lambda x, y, window=None: tools[window].ask(input=x, output=y)["guarded"]
    for t in tools.values():
        t.close()


def raw_outputs(inp: str, ref: str, rnd: random.Random) -> list[str]:
    """Raw outputs a model could give: the reference, and the reference with one or two
    edits (typos, rewrites, commentary, meaning flips) the guard must judge."""
    toks = ref.split()
    for kind in rnd.sample(RAW_KINDS, rnd.choice([1, 2])):
        toks = _edit(toks, kind, rnd, None)
    return [ref, " ".join(toks)]


def test_guard_identical_on_every_eval_set(corrector_build, words_file):
    rnd = random.Random(27)
    report = {}
    for bench in eval_sets():
        cases = [(p.input, raw) for p in bench.pairs for raw in raw_outputs(p.input, p.reference, rnd)]
        got = Tool.batch(["guard", str(words_file)], [{"input": x, "output": y} for x, y in cases])
        want = [guard(x, y) for x, y in cases]
        diffs = [(c, w, g["guarded"]) for c, w, g in zip(cases, want, got) if w != g["guarded"]]
        report[bench.name] = (len(cases) - len(diffs), len(cases))
        assert len(got) == len(cases) and not diffs, (bench.name, diffs[:3])
    print(json.dumps(report))


def test_guard_identical_on_hand_cases(cpp_guard):
    """Every hand case of tests/test_guard.py (kept corrections, reverted rewrites)."""
    cases = ACCEPTED + [(x, y) for x, y, _ in REVERTED]
    assert [(x, y, cpp_guard(x, y)) for x, y in cases] == [(x, y, guard(x, y)) for x, y in cases]


def test_guard_readme_example(cpp_guard):
    assert cpp_guard(README_INPUT, README_ANSWER) == README_ANSWER
    assert cpp_guard(README_INPUT, README_PARAPHRASE) == guard(README_INPUT, README_PARAPHRASE) \
        != README_PARAPHRASE


# the guard's property tests' strategies and example counts (tests/test_guard.py FAST: 400)
@FAST
@given(st.data())
def test_guard_identical_on_candidates(cpp_guard, data):
    x = data.draw(sentences())
    y = data.draw(candidates(x))
    g = guard(x, y)
    assert cpp_guard(x, y) == g, (x, y)
    assert cpp_guard(x, g) == guard(x, g), (x, g)  # the idempotence property's second call


@FAST
@given(st.one_of(st.text(max_size=80), sentences()))
def test_guard_identical_on_identity(cpp_guard, x):
    assert cpp_guard(x, x) == guard(x, x) == x


@FAST
@given(st.data())
def test_guard_identical_on_meaning_edits(cpp_guard, data):
    x = data.draw(real_sentences())
    rnd = random.Random(data.draw(st.integers(0, 2**32 - 1)))
    toks = x.split()
    kinds = data.draw(st.lists(st.sampled_from(["typo", "case", "merge", "split", "duplicate"]), max_size=2))
    for kind in kinds + data.draw(st.lists(st.sampled_from(["negate", "number", "homoglyph"]), min_size=1,
                                           max_size=2)):
        toks = _edit(toks, kind, rnd, data.draw)
    y = " ".join(toks)
    assert cpp_guard(x, y) == guard(x, y), (x, y)


@FAST
@given(st.data())
def test_guard_identical_window_by_window(cpp_guard, data):
    x = data.draw(sentences())
    y = data.draw(candidates(x))
    assert cpp_guard(x, y, 16) == guard(x, y, GuardConfig(align_window=16)), (x, y)


@FAST
@given(st.text(max_size=40), st.text(max_size=40))
def test_guard_identical_on_unicode_noise(cpp_guard, x, y):
    x, y = (s.encode("utf-8", "replace").decode("utf-8", "replace") for s in (x, y))  # no lone surrogates
    assert cpp_guard(x, y) == guard(x, y), (x, y)


def test_guard_identical_on_long_inputs(cpp_guard):
    clean = ("please send the money back because the weather is good and we will meet at "
             "the station tomorrow . ").split() * 12
    noisy = [w[0] + w[2] + w[1] + w[3:] if len(w) > 4 and k % 3 == 0 else w for k, w in enumerate(clean)]
    inp, out = " ".join(noisy), " ".join(clean)
    for raw in (out, "Sure! Here is the corrected text: " + out + " I hope this helps.",
                out.replace("is good", "is not good", 3).replace("money", "cash", 2)):
        assert cpp_guard(inp, raw, 16) == guard(inp, raw, GuardConfig(align_window=16))
        assert cpp_guard(inp, raw) == guard(inp, raw)


@pytest.fixture(scope="module")
def opcode_tool(corrector_build):
    tool = Tool("opcodes")
    yield tool
    tool.close()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 4), max_size=30), st.lists(st.integers(0, 4), max_size=30))
def test_opcodes_identical_to_rapidfuzz(opcode_tool, a, b):
    """Equal-cost alignments are many: the guard follows rapidfuzz's choice among them."""
    from rapidfuzz.distance import Levenshtein

    want = [list(op) for op in Levenshtein.opcodes([str(v) for v in a], [str(v) for v in b])]
    assert opcode_tool.ask(a=a, b=b)["ops"] == want, (a, b)


# ---------------------------------------------------------------- the C API and the JNI binding
@pytest.fixture(scope="module")
def smollm2_meta(tmp_path_factory):
    folder = base_folder(SMOLLM2_GLOB)
    if folder is None:
        pytest.skip("the SmolLM2 GGUF is missing: run `make offline-models` (CI does)")
    return write_metadata(folder, tmp_path_factory.mktemp("smollm2"))


def _c_api(corrector_build):
    lib = ctypes.CDLL(str(corrector_build / "libtypo_corrector_c.so"))
    P = ctypes.POINTER
    lib.tc_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p, P(ctypes.c_void_p), P(ctypes.c_void_p)]
    lib.tc_guard.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, P(ctypes.c_void_p),
                             P(ctypes.c_void_p)]
    lib.tc_encode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, P(P(ctypes.c_int32)), P(ctypes.c_size_t),
                              P(ctypes.c_void_p)]
    lib.tc_correct.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p,
                               ctypes.c_size_t, P(ctypes.c_void_p), P(ctypes.c_void_p), P(ctypes.c_void_p)]
    lib.tc_free.argtypes = [ctypes.c_void_p]
    lib.tc_close.argtypes = [ctypes.c_void_p]
    return lib


def test_c_api_errors_are_codes_with_messages(corrector_build, words_file, smollm2_meta, tmp_path):
    lib = _c_api(corrector_build)
    h, err = ctypes.c_void_p(), ctypes.c_void_p()
    words = str(words_file).encode()
    assert lib.tc_open(b"/nonexistent.json", words, ctypes.byref(h), ctypes.byref(err)) == 2
    assert "/nonexistent.json" in take_c_string(lib, err)
    bad = tmp_path / "bad.json"
    bad.write_text('{"prompt": {}}', encoding="utf-8")
    shutil.copyfile(smollm2_meta.parent / "tokenizer.json", tmp_path / "tokenizer.json")
    assert lib.tc_open(str(bad).encode(), str(words_file).encode(), ctypes.byref(h), ctypes.byref(err)) == 3
    assert "prompt_format" in take_c_string(lib, err)
    assert lib.tc_open(None, None, ctypes.byref(h), ctypes.byref(err)) == 1
    take_c_string(lib, err)
    assert lib.tc_open(str(smollm2_meta).encode(), str(words_file).encode(), ctypes.byref(h),
                       ctypes.byref(err)) == 0
    out = ctypes.c_void_p()
    assert lib.tc_guard(h, b"caf\xc3", b"cafe", ctypes.byref(out), ctypes.byref(err)) == 4
    assert "UTF-8" in take_c_string(lib, err)
    lib.tc_close(h)


def test_c_api_corrects_through_a_model_callback(corrector_build, words_file, smollm2_meta):
    """tc_correct: prompt ids to the caller's model, its ids back to guarded text. The model
    here answers with the README's paraphrase (what the released model says raw)."""
    from tokenizers import Tokenizer

    hf = Tokenizer.from_file(str(smollm2_meta.parent / "tokenizer.json"))
    answer = hf.encode(README_PARAPHRASE, add_special_tokens=False).ids + [hf.token_to_id("<|im_end|>"), 7]
    seen = []
    GEN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t,
                           ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t))

    def model(_user, prompt, n, out, max_out, n_out):
        seen.append([prompt[k] for k in range(n)])
        for k, t in enumerate(answer[:max_out]):
            out[k] = t
        n_out[0] = min(len(answer), max_out)
        return 0

    lib = _c_api(corrector_build)
    h, err, raw, out = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
    assert lib.tc_open(str(smollm2_meta).encode(), str(words_file).encode(), ctypes.byref(h),
                       ctypes.byref(err)) == 0
    cb = GEN(model)
    st_ = lib.tc_correct(h, README_INPUT.encode(), ctypes.cast(cb, ctypes.c_void_p), None, 64,
                         ctypes.byref(raw), ctypes.byref(out), ctypes.byref(err))
    assert st_ == 0
    assert take_c_string(lib, raw) == README_PARAPHRASE
    assert take_c_string(lib, out) == guard(README_INPUT, README_PARAPHRASE)
    failing = GEN(lambda *a: 1)
    assert lib.tc_correct(h, b"x", ctypes.cast(failing, ctypes.c_void_p), None, 8, None, ctypes.byref(out),
                          ctypes.byref(err)) == 5
    take_c_string(lib, err)
    lib.tc_close(h)
    from core.prompt import prompt_ids
    from export.runtime import load_pte_tokenizer

    assert seen[0] == prompt_ids(load_pte_tokenizer(smollm2_meta.with_suffix(".pte")), README_INPUT)


def test_jni_binding_corrects_the_readme_example(corrector_build, words_file, smollm2_meta, tmp_path):
    javac, java = shutil.which("javac"), shutil.which("java")
    if not javac or not java:
        pytest.skip("no JDK: apt-get install openjdk-17-jdk-headless (.ci/run does)")
    lib = corrector_build / "libtypo_corrector_jni.so"
    assert lib.exists(), "the JNI library was not built: CMake found no jni.h"
    classes = tmp_path / "classes"
    sources = sorted(str(p) for p in (SOURCE / "java").rglob("*.java"))
    subprocess.run([javac, "-d", str(classes), *sources], check=True, capture_output=True)
    for raw in (README_ANSWER, README_PARAPHRASE):
        args = [str(smollm2_meta), str(words_file), README_INPUT, raw]
        done = subprocess.run([java, f"-Dtypocorrector.library={lib}", "-cp", str(classes),
                               "org.typocorrector.Demo", *args],
                              capture_output=True, text=True, encoding="utf-8", timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        got = dict(line.split("\t", 1) for line in done.stdout.splitlines())
        want = guard(README_INPUT, raw)
        assert got["guarded"] == got["finished"] == want
        assert got["missing"].startswith("2 ") and ".missing" in got["missing"]
    from core.prompt import prompt_ids
    from export.runtime import load_pte_tokenizer

    ids = prompt_ids(load_pte_tokenizer(smollm2_meta.with_suffix(".pte")), README_INPUT)
    assert got["prompt_ids"] == str(ids)


def test_android_image_packages_the_corrector():
    docker = (ROOT / "docker" / "android.Dockerfile").read_text()
    # before the runner's build: its text mode links the library
    assert docker.index("COPY corrector /src/corrector") < docker.index("cmake -S /src/android_runner")
    assert "--target typo_corrector_jni typo_corrector_shared" in docker
    assert "/out/corrector/${ANDROID_ABI}" in docker


# ---------------------------------------------------------------- arm64
@pytest.mark.integration  # a cross-build (~20 s at -j1) plus qemu runs: the minutes tier
def test_arm64_build_gives_the_host_outputs(corrector_build, words_file, tiny_base):
    """The library cross-built for aarch64 (static, Debian's g++-aarch64-linux-gnu) and run
    under qemu gives byte-identical token ids, decoded text and guarded text to the host
    build, on the messages dev set and BEA-322 (inputs, references and raw variants)."""
    if not (shutil.which("aarch64-linux-gnu-g++") and shutil.which("qemu-aarch64-static")):
        pytest.skip("g++-aarch64-linux-gnu or qemu-user-static missing (.ci/run installs them)")
    build(ARM64_BUILD, arm64=True)
    qemu = ("qemu-aarch64-static",)
    sets = [b for b in eval_sets() if b.name in ("messages", "neuspell-bea322")]
    texts = [{"text": t} for b in sets for p in b.pairs for t in (p.input, p.reference)]
    for name, path in tokenizer_files(tiny_base).items():
        args = ["encode", str(path)]
        host = Tool.batch(args, texts)
        assert Tool.batch(args, texts, qemu, ARM64_BUILD / "tc_tool") == host, name
    rnd = random.Random(6)
    cases = [{"input": p.input, "output": raw} for b in sets for p in b.pairs
             for raw in raw_outputs(p.input, p.reference, rnd)]
    args = ["guard", str(words_file)]
    host = Tool.batch(args, cases)
    assert Tool.batch(args, cases, qemu, ARM64_BUILD / "tc_tool") == host
    print(json.dumps({"arm64_identical": {"texts": len(texts), "guard_cases": len(cases)}}))


# ---------------------------------------------------------------- the runner's text mode
@pytest.mark.integration  # the tiny .pte export and the host runner build (shared with the runner tests)
def test_runner_text_mode_equals_the_python_pipeline(host_runner, tiny_pte, words_file, tmp_path):
    """typo_runner --text-meta: requests carry text; results carry raw and guarded text and the
    stage timings. Same output ids as id mode fed core.prompt's ids, raw text = core.prompt's
    decode_answer, guarded text = evaluation/guard.py, on real inputs."""
    from core.prompt import decode_answer, prompt_ids
    from export.runtime import load_pte_tokenizer
    from tests.fixtures.runner import run_runner

    pte = tiny_pte["fp32"]
    tok = load_pte_tokenizer(pte)
    texts = [p.input for b in eval_sets() if b.name in ("messages", "neuspell-bea4660") for p in b.pairs[:25]]
    texts += [README_INPUT, "  spaces  ", "naïve 😀 <|im_end|>"]
    text_args = ("--text-meta", str(pte.with_suffix(".json")), "--english-words", str(words_file))
    text_reqs = [{"id": k, "text": t, "max_new_tokens": 24} for k, t in enumerate(texts)]
    id_reqs = [{"id": k, "prompt_ids": prompt_ids(tok, t), "max_new_tokens": 24} for k, t in enumerate(texts)]
    proc, by_text, summary = run_runner(host_runner, pte, text_reqs, tmp_path / "t", *text_args)
    assert proc.returncode == 0 and summary["errors"] == 0, proc.stderr[-2000:]
    _, by_ids, _ = run_runner(host_runner, pte, id_reqs, tmp_path / "i")
    for text, r, ref in zip(texts, by_text, by_ids):
        assert r["output_ids"] == ref["output_ids"], text
        assert r["raw_text"] == decode_answer(tok, r["output_ids"]), text
        assert r["guarded_text"] == guard(text, r["raw_text"]), text
        assert all(r[k] >= 0 for k in ("tokenize_ms", "prefill_ms", "decode_ms", "guard_ms", "end_to_end_ms"))
    # id mode is unchanged; text without text mode is a per-request error naming the flags
    proc, bad, _ = run_runner(host_runner, pte, [{"id": 0, "text": "x"}], tmp_path / "n")
    assert proc.returncode == 0 and "--text-meta" in bad[0]["error"]


@FAST
@given(st.text(alphabet="ab !?.", max_size=24), st.text(alphabet="ab !?.", max_size=24))
def test_guard_identical_on_exclamations(cpp_guard, x, y):
    """calm(): a '!' the writer did not type becomes '.' ('?!' -> '?') on both sides alike."""
    assert cpp_guard(x, y) == guard(x, y), (x, y)
    for raw in ("We had fun today!", "Really?! Wow!!", "Thanks!!! See you?!"):
        assert cpp_guard("we had fun today", raw) == guard("we had fun today", raw)
