# CUDA training image. Build: make image   Run: make train DOCKER=1 PRESET=smollm2-135m [RUN=name] [ARGS='k=v']
# (= docker run --rm --gpus all -e HF_TOKEN -v $PWD/data:/app/data -v $PWD/runs:/app/runs -v $PWD/models:/app/models
#    -v ~/.cache/huggingface:/root/.cache/huggingface typo-corrector-train python -m train.train --config ...)
# Same pins as the native install (requirements.txt + requirements.lock, torch first), but torch's CUDA build.
# HF_TOKEN is read from the environment at run time (docker run -e HF_TOKEN); it is never baked in.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

ARG TORCH_VERSION=2.13.0
ARG TORCH_CUDA=cu128
ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HOME=/root/.cache/huggingface TOKENIZERS_PARALLELISM=false PATH=/opt/venv/bin:$PATH

RUN apt-get update && apt-get install -y --no-install-recommends python3.11 python3.11-venv git ca-certificates \
    && rm -rf /var/lib/apt/lists/* && python3.11 -m venv /opt/venv && pip install --upgrade pip

WORKDIR /app
COPY requirements.txt requirements.lock pyproject.toml README.md ./
# torch first (executorch links libtorch without declaring it), from the CUDA wheel index
RUN pip install torch==${TORCH_VERSION} --index-url https://download.pytorch.org/whl/${TORCH_CUDA}
RUN pip install -r requirements.txt -c requirements.lock

# every stage a pod runs itself (python -m cloud.pipeline: data, train, eval, export; no Docker inside)
COPY core ./core
COPY datagen ./datagen
COPY train ./train
COPY evaluation ./evaluation
COPY export ./export
COPY cloud ./cloud
COPY bench ./bench
RUN pip install --no-deps -e . && python -c "import torch, transformers, peft; print(torch.__version__)"

CMD ["python", "-m", "train.train", "--config", "train/configs/smollm2-135m.yaml"]
