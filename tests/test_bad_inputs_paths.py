"""Bad paths and user text (issue 28, build items 2 and 3), one table per rule:

- no stage writes over its own inputs or over files it did not write (core/paths.py: the
  overwrite rule; the C++ runner checks the same itself): the runner, train.snapshot, export,
  the device bench's push folder and its cleanup;
- no shell ever sees user text: cloud.pipeline builds argv lists, no Python file (or notebook
  cell) hands formatted text to shell=True, and the loopback device runs no pushed script.

Every case states the outcome exactly (error class or exit code, the file or flag named in the
message) and compares the folder's files and hashes before and after: nothing written, nothing
deleted."""
from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from core.config import ConfigError
from core.errors import BenchError, OverwriteError
from core.paths import check_not_an_input, check_own_folder, same_file, write_marker
from tests.fixtures.base import REPO


def tree(root: Path) -> dict[str, str]:
    """Every entry under root: file -> sha256, folder -> "dir", symlink -> its target."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# -- the shared predicates (core/paths.py) -------------------------------------------------
def _files(tmp: Path) -> dict[str, Path]:
    (tmp / "model").mkdir()
    (tmp / "model" / "tokenizer.json").write_text("{}")
    (tmp / "a.txt").write_text("a")
    (tmp / "b.txt").write_text("b")
    (tmp / "link.txt").symlink_to(tmp / "a.txt")
    os.link(tmp / "a.txt", tmp / "hard.txt")
    return {"model": tmp / "model", "a": tmp / "a.txt"}


@pytest.mark.parametrize("a, b, same", [
    ("a.txt", "a.txt", True),
    ("a.txt", "link.txt", True),            # through a symlink
    ("a.txt", "hard.txt", True),            # a hard link: one inode
    ("a.txt", "model/../a.txt", True),
    ("new.json", "./new.json", True),       # two spellings of a file not written yet
    ("a.txt", "b.txt", False),
    ("a.txt", "new.json", False),
])
def test_same_file(tmp_path, a, b, same):
    _files(tmp_path)
    assert same_file(tmp_path / a, tmp_path / b) is same


@pytest.mark.parametrize("output, message", [
    ("a.txt", r"out .*a\.txt is --in .*a\.txt: an output never writes over an input"),
    ("link.txt", r"out .*link\.txt is --in .*a\.txt"),
    ("hard.txt", r"out .*hard\.txt is --in .*a\.txt"),
    ("model", r"out .*model is --model .*model"),
    ("model/tokenizer.json", r"lies inside --model .*model: an output never writes into an input folder"),
    ("model/new.pte", r"lies inside --model"),
    (".", r"out .* holds --model .*model: writing there could replace or delete an input"),
])
def test_an_output_is_never_an_input(tmp_path, output, message):
    inputs = _files(tmp_path)
    before = tree(tmp_path)
    with pytest.raises(OverwriteError, match=message):
        check_not_an_input(tmp_path / output, "out", {"--model": inputs["model"], "--in": inputs["a"],
                                                     "optional": None})
    assert tree(tmp_path) == before


def test_an_output_beside_its_inputs_passes(tmp_path):
    inputs = _files(tmp_path)
    assert check_not_an_input(tmp_path / "out" / "x.pte", "out", {"--model": inputs["model"]}) \
        == tmp_path / "out" / "x.pte"


def _own(folder: Path, writer: str = "train.snapshot", extra: str | None = None) -> Path:
    folder.mkdir()
    (folder / "adapter_model.safetensors").write_text("w")
    write_marker(folder, writer)
    if extra:
        (folder / extra).write_text("someone else's")
    return folder


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("x"), r"out .* is a file, not a folder"),
    (lambda p: p.symlink_to(p.parent), r"out .* is a symlink"),
    (lambda p: (p.mkdir(), (p / "thesis.tex").write_text("x")), r"is a folder train\.snapshot did not "
                                                               r"write \(it holds thesis\.tex\)"),
    (lambda p: _own(p, writer="export"), r"is a folder train\.snapshot did not write"),
    (lambda p: _own(p, extra="notes.txt"), r"notes\.txt in it were not written by train\.snapshot"),
])
def test_a_folder_replaced_whole_must_be_our_own(tmp_path, make, message):
    out = tmp_path / "out"
    make(out)
    before = tree(tmp_path)
    with pytest.raises(OverwriteError, match=message):
        check_own_folder(out, "out", "train.snapshot")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("make", [lambda p: None, lambda p: p.mkdir(), lambda p: _own(p)])
def test_a_new_empty_or_own_folder_may_be_replaced(tmp_path, make):
    make(tmp_path / "out")
    assert check_own_folder(tmp_path / "out", "out", "train.snapshot") == tmp_path / "out"


# -- the C++ runner ------------------------------------------------------------------------
def _runner_dir(tmp: Path) -> Path:
    (tmp / "m.pte").write_bytes(b"not a model, and not results either")
    (tmp / "r.jsonl").write_text('{"id": "a", "prompt_ids": [1, 2]}\n')
    (tmp / "link.pte").symlink_to("m.pte")
    os.link(tmp / "r.jsonl", tmp / "hard.jsonl")
    (tmp / "m.pte.tmp").write_text("an input whose name is another output's temp file")
    return tmp


# (--model, --requests, --results, --summary) -> the two flags the message names
RUNNER_CLASHES = [
    (("m.pte", "r.jsonl", "m.pte", "s.json"), "--results m.pte is the same file as --model m.pte"),
    (("m.pte", "r.jsonl", "o.jsonl", "r.jsonl"), "--summary r.jsonl is the same file as --requests r.jsonl"),
    (("m.pte", "r.jsonl", "o.jsonl", "o.jsonl"), "--results o.jsonl is the same file as --summary o.jsonl"),
    (("m.pte", "r.jsonl", "o.jsonl", "./o.jsonl"),
     "--results o.jsonl is the same file as --summary ./o.jsonl"),
    (("link.pte", "r.jsonl", "m.pte", "s.json"), "--results m.pte is the same file as --model link.pte"),
    (("m.pte", "hard.jsonl", "r.jsonl", "s.json"),
     "--results r.jsonl is the same file as --requests hard.jsonl"),
    (("m.pte.tmp", "r.jsonl", "m.pte", "s.json"),
     "--results's temporary file m.pte.tmp is the same file as --model m.pte.tmp"),
]


@pytest.mark.parametrize("files, message", RUNNER_CLASHES)
def test_the_runner_never_writes_over_its_inputs(host_runner, tmp_path, files, message):
    """Before: `--results M.pte` replaced the model with a results file, exit 0 (or 3)."""
    d = _runner_dir(tmp_path)
    before = tree(d)
    flags = ["--model", "--requests", "--results", "--summary"]
    argv = [str(host_runner)] + [x for pair in zip(flags, files) for x in pair]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=d, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"typo_runner: {message}: the runner never writes over its inputs" in proc.stderr
    assert tree(d) == before  # nothing written, nothing replaced


def test_the_runner_refuses_a_requests_folder(host_runner, tmp_path):
    """Before: a folder read as an empty requests file: "0 requests, 0 errors", exit 0."""
    d = _runner_dir(tmp_path)
    (d / "reqs").mkdir()
    proc = subprocess.run([str(host_runner), "--model", "m.pte", "--requests", "reqs", "--results", "o.jsonl",
                           "--summary", "s.json"], capture_output=True, text=True, cwd=d, timeout=60)
    assert proc.returncode == 3
    assert "typo_runner: fatal: --requests reqs is a folder, not a requests file" in proc.stderr
    summary = json.loads((d / "s.json").read_text())
    assert summary["error"] == "--requests reqs is a folder, not a requests file" and summary["requests"] == 0
    assert not (d / "o.jsonl").exists()  # no requests, so no results file


# Request ids with lone UTF-16 surrogates come back as the same escape (before: as raw CESU
# bytes, which a strict UTF-8 reader rejects and a lenient one turns into U+FFFD).
SURROGATE_IDS = ["\ud800", "\udfff", "\udc00x", "a\ud800\u0041", "\U0001f600", "\ud800\ud800", "\U0010ffff"]


def test_surrogate_ids_round_trip(host_runner, tmp_path):
    from tests.fixtures.runner import run_runner

    reqs = [{"id": i, "prompt_ids": [1, 2]} for i in SURROGATE_IDS]
    # a missing model: the fatal path echoes every id, the same quote() a decoded result uses
    proc, results, _ = run_runner(host_runner, tmp_path / "missing.pte", reqs, tmp_path)
    assert proc.returncode == 3
    assert [r["id"] for r in results] == SURROGATE_IDS
    raw = (tmp_path / "results.jsonl").read_text(encoding="utf-8")  # strict UTF-8: no raw surrogates
    for i in SURROGATE_IDS[:3]:
        assert json.dumps(i) in raw  # the same \uXXXX escape Python wrote


def test_raw_surrogate_bytes_are_refused_naming_the_line(host_runner, tmp_path):
    req = tmp_path / "requests.jsonl"
    req.write_bytes(b'{"id": "ok", "prompt_ids": [1]}\n{"id": "\xed\xa0\x80", "prompt_ids": [1]}\n')
    proc = subprocess.run([str(host_runner), "--model", str(tmp_path / "missing.pte"), "--requests", str(req),
                           "--results", str(tmp_path / "o"), "--summary", str(tmp_path / "s")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3  # the missing model; the lines still get their own errors
    results = [json.loads(line) for line in (tmp_path / "o").read_text().splitlines()]
    assert results[0]["id"] == "ok" and results[1]["id"] is None
    assert results[1]["error"].startswith("requests line 2: invalid JSON at byte 9: a UTF-16 surrogate "
                                          "written as raw bytes")


# -- train.snapshot ------------------------------------------------------------------------
def _fake_run(tmp: Path) -> Path:
    """A LoRA run folder as far as the snapshot's checks read it (they run before any weights)."""
    run = tmp / "run"
    (run / "checkpoints" / "step-00000001").mkdir(parents=True)
    (run / "checkpoints" / "step-00000001" / "state.pt").write_bytes(b"not read")
    cfg = yaml.safe_load((REPO / "train/configs/tiny.yaml").read_text())
    cfg["model"]["full_finetune"] = False
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    return run


SNAPSHOT_OUTS = [
    # (--out relative to tmp, how to make it, the message)
    ("thesis", lambda p: (p.mkdir(), (p / "thesis.tex").write_text("x")),
     r"--out .*thesis is a folder train\.snapshot did not write \(it holds thesis\.tex\)"),
    ("file.txt", lambda p: p.write_text("x"), r"--out .*file\.txt is a file, not a folder"),
    ("run", None, r"--out .*run is a folder train\.snapshot did not write"),
    ("run/checkpoints/step-00000001", None,
     r"is a folder train\.snapshot did not write \(it holds state\.pt\)"),
    ("alias", lambda p: p.symlink_to("thesis2"), r"--out .*alias is a symlink"),
    ("own", lambda p: _own(p, extra="notes.txt"), r"notes\.txt in it were not written by train\.snapshot"),
]


@pytest.mark.parametrize("out, make, message", SNAPSHOT_OUTS)
def test_snapshot_never_replaces_what_it_did_not_write(tmp_path, capsys, out, make, message):
    """Before: --out replaced any folder whole (deleting what was in it) or a file with a folder."""
    from train.snapshot import main, snapshot

    run = _fake_run(tmp_path)
    if make is not None:
        make(tmp_path / out)
    before = tree(tmp_path)
    assert main([str(run), "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    with pytest.raises(OverwriteError, match=message):
        snapshot(run, None, tmp_path / out)
    assert tree(tmp_path) == before


# -- export --------------------------------------------------------------------------------
@pytest.mark.parametrize("out_dir, message", [
    ("model", r"lies inside --model .*model: an output never writes into an input folder"),
    ("model/sub", r"lies inside --model"),
])
def test_export_never_writes_into_its_model_folder(tmp_path, out_dir, message):
    """Before: out_dir=<the merged model folder> replaced the model's own tokenizer.json."""
    from export.config import ExportConfig
    from export.export_to_pte import check_not_inputs, check_outputs
    from export.source import resolve_source

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "tokenizer.json").write_text('{"mine": true}')
    cfg = ExportConfig(model=str(model), out_dir=str(tmp_path / out_dir), eval_data="",
                       recipes=["xnnpack-fp32"])
    before = tree(tmp_path)
    with pytest.raises(OverwriteError, match=message):
        check_not_inputs(cfg, check_outputs(cfg), resolve_source(cfg.model), None)
    assert tree(tmp_path) == before


# -- the device bench ----------------------------------------------------------------------
SHARED_REMOTE_DIRS = [
    ("/data/local/tmp//", "which is /data/local/tmp: a shared folder"),
    ("/data/local/tmp/./", "which is /data/local/tmp: a shared folder"),
    ("/data/local/tmp", "which is /data/local/tmp: a shared folder"),
    ("/data/local", "which is /data/local: a shared folder"),
    ("/data", "which is /data: a shared folder"),
    ("/", "which is /: a shared folder"),
    ("//", "which is //: a shared folder"),
    ("/sdcard/typo", "which is /sdcard/typo: outside it"),
    ("/storage/emulated/0/x", "outside it"),
    ("/data/local/tmpfoo", "which is /data/local/tmpfoo: outside it"),
    ("/data/local/tmp/x/..", "must not climb with '..'"),
    ("data/local/tmp/x", "must be an absolute device path"),
]


@pytest.mark.parametrize("remote_dir, message", SHARED_REMOTE_DIRS)
def test_the_push_folder_is_a_folder_of_its_own(remote_dir, message):
    """Before: remote_dir=/data/local/tmp// passed, and cleanup ran `rm -rf /data/local/tmp`."""
    from device_bench import adb
    from device_bench.config import BenchConfig

    with pytest.raises(ConfigError, match=r"^remote_dir must ") as cfg_exc:
        BenchConfig(remote_dir=remote_dir)
    assert message in str(cfg_exc.value)
    with pytest.raises(BenchError) as exc:
        adb.AdbTarget(type("Dev", (), {"serial": "x"})(), remote_dir)
    assert message in str(exc.value) and repr(remote_dir) in str(exc.value)


@pytest.mark.parametrize("remote_dir", ["/data/local/tmp/typo_bench", "/data/local/tmp/typo_bench/",
                                        "/data/local/tmp/a/b"])
def test_a_push_folder_of_its_own_passes(remote_dir):
    from device_bench.config import BenchConfig

    assert BenchConfig(remote_dir=remote_dir).remote_dir == remote_dir


def test_the_cli_refuses_a_shared_push_folder(tmp_path, capsys):
    from device_bench.__main__ import main

    (tmp_path / "m.pte").write_bytes(b"x")
    (tmp_path / "e.json").write_text('{"input": "a", "output": "a"}\n')
    rc = main(["run", "--models", str(tmp_path / "m.pte"), "--eval", str(tmp_path / "e.json"),
               "remote_dir=/data/local/tmp//", f"reports_dir={tmp_path / 'reports'}"])
    assert rc == 2 and "which is /data/local/tmp: a shared folder" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("model, eval_, message", [
    ("reports/r1/m.pte", "e.json", r"the report folder .*reports/r1 holds --models .*reports/r1/m\.pte"),
    ("m.pte", "reports/r1/e.json", r"the report folder .*reports/r1 holds --eval .*reports/r1/e\.json"),
    ("m.pte", "reports", r"the report folder .*reports/r1 lies inside --eval .*reports"),
])
def test_the_bench_report_folder_holds_no_input(tmp_path, capsys, model, eval_, message):
    """The bench writes requests, results and reports into reports/<run>/ (again on a resume)."""
    from device_bench.__main__ import main

    (tmp_path / "reports" / "r1").mkdir(parents=True)
    for f in (model, eval_):
        if not (tmp_path / f).exists():
            (tmp_path / f).write_text('{"input": "a", "output": "a"}\n')
    before = tree(tmp_path)
    rc = main(["run", "--models", str(tmp_path / model), "--eval", str(tmp_path / eval_), "--run", "r1",
               f"reports_dir={tmp_path / 'reports'}"])
    err = capsys.readouterr().err
    assert rc == 2 and re.search(message, err), err
    assert tree(tmp_path) == before


@pytest.mark.parametrize("existed", [True, False])
def test_cleanup_removes_only_what_the_bench_pushed(adb_server, loopback, tmp_path, existed):
    """The push folder keeps every file the bench did not put there; the folder itself goes only
    when the bench created it (rmdir, never rm -rf)."""
    from device_bench import adb

    dev = loopback()
    folder = dev.root / "data/local/tmp/typo_bench"
    shared = dev.root / "data/local/tmp/other_tool.bin"
    shared.write_text("another tool's file")
    if existed:
        folder.mkdir()
        (folder / "user_notes.txt").write_text("mine")
    before = tree(dev.root / "data/local/tmp")
    target = adb.AdbTarget(adb.adb_client(port=adb_server.port).device(dev.serial), progress=False)
    target.prepare()
    (tmp_path / "m.pte").write_text("model")
    target.push(tmp_path / "m.pte", "m.pte")
    (folder / "results-0.jsonl").write_text("what the runner wrote")  # a runner output, named by the bench
    target.remote_path("results-0.jsonl")
    target.cleanup(keep=False)
    assert tree(dev.root / "data/local/tmp") == before


def test_host_cleanup_keeps_what_it_did_not_write(tmp_path):
    from device_bench import adb

    work = tmp_path / "work"
    work.mkdir()
    (work / "model.pte").write_text("the user's model, run in place")
    before = tree(tmp_path)
    target = adb.HostTarget(work)
    target.prepare()
    Path(target.remote_path("results-0.jsonl")).write_text("runner output")
    target.cleanup(keep=False)
    assert tree(tmp_path) == before  # before: rmtree(workdir) took the model too


# -- the loopback device runs no pushed script ---------------------------------------------
def _evil(tmp: Path, outside: Path) -> Path:
    evil = tmp / "evil.sh"
    evil.write_text(f"#!/bin/sh\ntouch {outside}/pwned\necho ran\n")
    evil.chmod(0o755)
    return evil


LOOPBACK_REFUSED = [
    # (local file, pushed as, command line)
    ("evil.sh", "evil.sh", "{remote}"),
    ("evil.sh", "evil.sh", "timeout 5 {remote}"),
    ("evil.sh", "typo_runner", "{remote} --help"),  # a script under the runner's name
    ("elf", "evil", "{remote}"),                    # an ELF under another name
]


@pytest.mark.parametrize("local, name, command", LOOPBACK_REFUSED)
def test_the_loopback_device_runs_no_pushed_script(adb_server, loopback, tmp_path, local, name, command):
    """Before: `adb push evil.sh /data/local/tmp/; adb shell /data/local/tmp/evil.sh` ran it, and
    it could write outside the sandbox root."""
    from device_bench import adb

    dev = loopback()
    outside = tmp_path / "outside"
    outside.mkdir()
    files = {"evil.sh": _evil(tmp_path, outside), "elf": tmp_path / "elf"}
    shutil.copyfile(shutil.which("touch"), files["elf"])
    target = adb.AdbTarget(adb.adb_client(port=adb_server.port).device(dev.serial), progress=False)
    target.prepare()
    remote = target.push(files[local], name)
    before = tree(dev.root)
    r = adb_server.run("-s", dev.serial, "shell", command.format(remote=remote) + f" {outside}/pwned2")
    assert r.returncode == 126, r
    assert f"loopback sandbox: refused: {remote}: only the pushed runner (an ELF file named typo_runner)" \
        in r.stderr
    assert "ran" not in r.stdout and list(outside.iterdir()) == [] and tree(dev.root) == before


# -- cloud.pipeline: the preset never reaches a shell --------------------------------------
@pytest.mark.parametrize("preset", ["tiny.yaml --help; touch X; echo ", "tiny; touch X", "$(touch X)",
                                    "../configs/tiny", "tiny.yaml", ""])
def test_cloud_preset_is_a_shipped_name(tmp_path, capsys, monkeypatch, preset):
    """Before: --preset 'tiny.yaml --help; touch X; echo ' ran `touch X` (shell=True)."""
    from cloud.pipeline import CloudError, main, stage_commands

    monkeypatch.chdir(tmp_path)
    assert main(["--state", str(tmp_path / "vol"), "--preset", preset, "--stages", "train"]) == 2
    err = capsys.readouterr().err
    assert f"--preset {preset!r} is not a shipped preset" in err and "smollm2-135m, " in err
    assert list(tmp_path.iterdir()) == [] and not (REPO / "X").exists()
    with pytest.raises(CloudError, match="not a shipped preset"):
        stage_commands(preset)


# -- no shell=True with built text, anywhere in the repository ----------------------------
SHELL_FUNCTIONS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"),
                   ("subprocess", "getstatusoutput")}


def _kind(node: ast.expr) -> str:
    if isinstance(node, ast.JoinedStr):
        return "an f-string"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return "% formatting"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return "concatenation"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return ".format()"
    return "a value built elsewhere"


def _name(func: ast.expr) -> tuple[str, str] | None:
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id, func.attr
    return None


def shell_findings(source: str, where: str) -> list[str]:
    """`where:line: ...` for every shell=True (or os.system-like call) whose command is not one
    constant string."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        shell = next((k.value for k in node.keywords if k.arg == "shell"), None)
        uses_shell = (shell is not None and not (isinstance(shell, ast.Constant) and shell.value is False)) \
            or _name(node.func) in SHELL_FUNCTIONS
        if not uses_shell:
            continue
        cmd = node.args[0] if node.args else \
            next((k.value for k in node.keywords if k.arg in ("args", "cmd")), None)
        if isinstance(cmd, ast.Constant) and isinstance(cmd.value, str):
            continue
        kind = _kind(cmd) if cmd is not None else "nothing given"
        found.append(f"{where}:{node.lineno}: a shell runs {kind}")
    return found


def _python_sources() -> list[tuple[str, str]]:
    git = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "*.py", "*.ipynb"]
    listed = subprocess.run(git, cwd=REPO, capture_output=True, text=True, check=True).stdout.split("\0")
    out = []
    for rel in listed:
        path = REPO / rel
        if not rel or not path.is_file():
            continue  # deleted in the work tree
        text = path.read_text(encoding="utf-8")
        if rel.endswith(".ipynb"):
            cells = json.loads(text)["cells"]
            for i, c in enumerate(cells):
                if c["cell_type"] == "code":
                    out.append((f"{rel} cell {i}", "".join(c["source"])))
        else:
            out.append((rel, text))
    return out


def test_no_shell_runs_text_built_from_input():
    sources = _python_sources()
    assert any(name == "cloud/pipeline.py" for name, _ in sources)
    found = [f for name, text in sources for f in shell_findings(text, name)]
    assert found == [], "run an argv list instead (no shell=True):\n" + "\n".join(found)


@pytest.mark.parametrize("code, kind", [
    ("subprocess.run(f'ls {x}', shell=True)", "an f-string"),
    ("subprocess.run('ls %s' % x, shell=True)", "% formatting"),
    ("subprocess.Popen('ls ' + x, shell=True)", "concatenation"),
    ("subprocess.call('ls {}'.format(x), shell=True)", ".format()"),
    ("subprocess.run(cmd, shell=True)", "a value built elsewhere"),
    ("subprocess.run(args=cmd, shell=1)", "a value built elsewhere"),
    ("os.system(f'rm {x}')", "an f-string"),
])
def test_the_shell_scan_catches(code, kind):
    assert shell_findings(code, "x.py") == [f"x.py:1: a shell runs {kind}"]


@pytest.mark.parametrize("code", ["subprocess.run('ls -l', shell=True)", "subprocess.run(['ls', x])",
                                  "subprocess.run(cmd, shell=False)", "os.system('true')"])
def test_the_shell_scan_passes(code):
    assert shell_findings(code, "x.py") == []


# ---------------------------------------------------------------- datagen and evaluation outputs
def test_datagen_never_replaces_a_pairs_file_it_reads(tmp_path):
    from core.config import load_config
    from core.paths import OverwriteError as OE
    from datagen import DataConfig, build_dataset

    out = tmp_path / "data"
    out.mkdir()
    mine = out / "train_data.json"
    mine.write_text('{"input": "teh cat", "output": "the cat"}\n', encoding="utf-8")
    before = mine.read_bytes()
    cfg = load_config(DataConfig, None, [f"out_dir={out}", f"runs_root={tmp_path / 'runs'}", "progress=false",
                                         "workers=1", "decontaminate_defaults=false",
                                         f"sources=[{{kind: pairs, path: '{mine}'}}]"])
    with pytest.raises(OE, match="sources\\[0\\].path"):
        build_dataset(cfg)
    assert mine.read_bytes() == before and not (tmp_path / "runs").exists()


def test_eval_run_folder_never_holds_its_benchmark(tmp_path):
    from core.config import load_config
    from core.paths import OverwriteError as OE
    from evaluation.config import EvalConfig
    from evaluation.run import evaluate

    bench = tmp_path / "runs" / "eval" / "r" / "set"
    bench.mkdir(parents=True)
    (bench / "corrupt.txt").write_text("teh cat\n", encoding="utf-8")
    (bench / "correct.txt").write_text("the cat\n", encoding="utf-8")
    listing = sorted(p.name for p in bench.iterdir())
    cfg = load_config(EvalConfig, None, [f"benchmarks={bench}", "backends=[identity]", "run_name=r",
                                         f"runs_root={tmp_path / 'runs'}", "root_copy=", "own_pairs="])
    with pytest.raises(OE, match="--benchmarks"):
        evaluate(cfg)
    assert sorted(p.name for p in bench.iterdir()) == listing
