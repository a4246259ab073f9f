"""The CUDA training image (docker/train.Dockerfile): no Docker engine runs here, so we
check what can be checked: it parses, pins exactly what the native install pins, and
`make train DOCKER=1` passes HF_TOKEN by name only."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "docker/train.Dockerfile"
KEYWORDS = {"FROM", "ARG", "ENV", "RUN", "WORKDIR", "COPY", "CMD", "LABEL", "ENTRYPOINT", "USER", "EXPOSE"}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, with `\\` continuations joined."""
    out, buf = [], ""
    for line in path.read_text().splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        buf += line.rstrip("\\").strip() + " " if line.endswith("\\") else line.strip()
        if not line.endswith("\\"):
            kw, _, rest = buf.partition(" ")
            out.append((kw.upper(), rest.strip()))
            buf = ""
    assert not buf, "dangling line continuation"
    return out


def args_of(kind: str) -> dict[str, str]:
    return dict(a.split("=", 1) for k, a in instructions(DOCKERFILE) if k == kind)


def native_torch_pin() -> str:
    m = re.search(r"pip install -q torch==([\w.]+)", (REPO / "Makefile").read_text())
    assert m, "Makefile setup no longer pins torch"
    return m.group(1)


def test_dockerfile_parses_with_cuda_base():
    ins = instructions(DOCKERFILE)
    assert {k for k, _ in ins} <= KEYWORDS
    assert ins[0][0] == "FROM" and ins[0][1].startswith("nvidia/cuda:") and "runtime" in ins[0][1]
    assert any(k == "CMD" and "train.train" in a for k, a in ins)


def test_image_pins_match_native_install():
    assert args_of("ARG")["TORCH_VERSION"] == native_torch_pin()
    assert f'"torch=={native_torch_pin()}"' in (REPO / "pyproject.toml").read_text()
    runs = [a for k, a in instructions(DOCKERFILE) if k == "RUN"]
    torch_run = next(r for r in runs if "torch==${TORCH_VERSION}" in r)
    assert re.search(r"--index-url https://download\.pytorch\.org/whl/\$\{TORCH_CUDA\}", torch_run)
    assert re.fullmatch(r"cu\d{3}", args_of("ARG")["TORCH_CUDA"])
    # the very pip arguments `make setup` uses, after torch (same files, copied into the image)
    native = re.search(r"pip install -q (-r requirements\.txt -c requirements\.lock)",
                       (REPO / "Makefile").read_text())
    req_runs = [r for r in runs if "requirements.txt" in r]
    assert native and len(req_runs) == 1 and native.group(1) in req_runs[0]
    assert runs.index(torch_run) < runs.index(req_runs[0])
    copied = " ".join(a for k, a in instructions(DOCKERFILE) if k == "COPY").split()
    assert {"requirements.txt", "requirements.lock", "pyproject.toml"} <= set(copied)


def test_requirements_are_exact_pins():
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[\w.]+", line.strip()), line


def test_hf_token_is_never_baked_in():
    for kind, arg in instructions(DOCKERFILE):
        if kind in {"ENV", "ARG", "RUN", "LABEL"}:
            assert "HF_TOKEN" not in arg and "HUGGING_FACE_HUB_TOKEN" not in arg, (kind, arg)
    ignore = (REPO / "docker/train.Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[1] == "*" or "*" in ignore  # build context = code + pins only (no data/, runs/, .env)


def test_make_train_docker_passes_token_by_name(tmp_path):
    """Run for real against a stand-in `docker` that records its argv and environment: the token and
    ARGS travel by name (`-e`), so no shell on the host parses ARGS; core.stage splits it in the image."""
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > {tmp_path / 'argv'}\n"
                    f"printf '%s' \"$ARGS\" > {tmp_path / 'args'}\n")
    fake.chmod(0o755)
    out = subprocess.run(["make", "--no-print-directory", "-o", "setup", "train", "DOCKER=1",
                          "PRESET=smollm2-135m",
                          "RUN=r1", "ARGS=train.max_steps=5 'run_note=a b'"],
                         cwd=REPO, capture_output=True, text=True, timeout=60,
                         env={"PATH": f"{fake.parent}:/usr/bin:/bin", "HF_TOKEN": "hf_secret"})
    assert out.returncode == 0, out.stderr
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[0] == "run" and "--gpus" in argv and argv[argv.index("--gpus") + 1] == "all"
    passed = [argv[i + 1] for i, a in enumerate(argv) if a == "-e"]
    assert passed == ["HF_TOKEN", "ARGS"] and "hf_secret" not in out.stdout + "".join(argv)
    mounts = [argv[i + 1].rsplit(":", 1)[1] for i, a in enumerate(argv) if a == "-v"]
    assert {"/app/data", "/app/runs", "/app/models", "/root/.cache/huggingface"} <= set(mounts)
    assert argv[-6:] == ["python", "-m", "core.stage", "train.train",
                         "--config=train/configs/smollm2-135m.yaml",
                         "run_name=r1"]
    assert (tmp_path / "args").read_text() == "train.max_steps=5 'run_note=a b'"
