"""Helpers of the training stage (train/train.py): data encoding, packing, loss,
checkpoints, evaluation, logging. Imports only torch/transformers/peft/stdlib at import
time, so the GPU benchmark (bench/bench_train_throughput.py) can use them anywhere."""
