"""The training stage (`make train`): `train/train.py` is the CLI; the other modules are
its parts (batches, packing, loss, model, loop, checkpoints, validation, logs). Imports
only torch/transformers/peft/stdlib at import time, so the GPU benchmark
(bench.bench_train_throughput) can use them anywhere."""
