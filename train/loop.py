"""The training loop of train/train.py: set-up, steps, eval, checkpoints, final outputs."""
from __future__ import annotations

import contextlib
import json
import math
import random
import sys
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import torch

from core.config import to_dict
from core.errors import TrainError
from core.progress import progress
from core.runs import atomic_write_json
from train import checkpoint, distributed, logs
from train.batches import encode_pairs, load_pairs
from train.config import TrainConfig
from train.loss import LossModule
from train.model import build, count_params, pick_device, pick_dtype, save_outputs, warn_instruction_change
from train.packing import collate, make_plan
from train.prefix import collate_prefixed, common_prefix
from train.validation import eval_loss, exact_match


class StepResult(NamedTuple):
    loss: float        # mean over answer tokens (NaN/inf when the step overflowed)
    tokens: int        # real (non-padding) tokens
    grad_norm: float   # before clipping; not finite when the step was skipped
    applied: bool      # False: non-finite gradients, the optimizer did not step


class Data:
    """Encoded pairs and the deterministic batch plan of every epoch."""

    def __init__(self, cfg: TrainConfig, tokenizer, train_path: Path, eval_path: Path, dist: dict):
        d = cfg.data
        self.cfg, self.dist, self.pad = cfg, dist, tokenizer.pad_token_id
        self.train, self.dropped = encode_pairs(tokenizer, load_pairs(train_path, d.max_train_samples),
                                                d.max_length)
        self.eval_pairs = load_pairs(eval_path, max(d.max_eval_samples, cfg.eval.samples))
        self.eval, _ = encode_pairs(tokenizer, self.eval_pairs[: d.max_eval_samples], d.max_length)
        self._plans: dict[int, list] = {}
        self.prefix = common_prefix(self.train) if d.share_prefix else 0

    def plan(self, epoch: int) -> list:
        if epoch not in self._plans:
            c = self.cfg
            full = make_plan(self.train, c.seed, epoch, c.data.packing, c.data.row_tokens,
                             c.train.batch_tokens)
            world = self.dist["world"]
            full = full[: max(world, len(full) - len(full) % world)]  # DDP: equal shares, or ranks hang
            self._plans = {epoch: full[self.dist["rank"]::world]}  # every rank its share
        return self._plans[epoch]

    def batch(self, epoch: int, index: int, device) -> dict:
        c = self.cfg
        if self.prefix:
            b = collate_prefixed(self.train, self.plan(epoch)[index][0], self.prefix, self.pad,
                                 c.data.shape_multiple)
        else:
            b = collate(self.train, self.plan(epoch)[index], c.data.packing, c.data.row_tokens,
                        c.train.batch_tokens, self.pad, c.data.shape_multiple)
        return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in b.items()}

    def total_steps(self) -> int:
        t = self.cfg.train
        if t.max_steps > 0:
            return t.max_steps
        return max(1, math.ceil(t.epochs * len(self.plan(0)) / t.grad_accum))


def make_optimizer(cfg: TrainConfig, model, device):
    params = [p for p in model.parameters() if p.requires_grad]
    o = cfg.optim
    fused = o.fused and device.type in ("cuda", "cpu")
    opt = torch.optim.AdamW(params, lr=o.lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay,
                            fused=fused)
    return opt


def make_scheduler(cfg: TrainConfig, optimizer, total: int):
    o = cfg.optim

    def factor(step: int) -> float:
        if step < o.warmup_steps:
            return (step + 1) / (o.warmup_steps + 1)
        if o.schedule == "constant":
            return 1.0
        frac = min(1.0, (step - o.warmup_steps) / max(1, total - o.warmup_steps))
        shape = 0.5 * (1 + math.cos(math.pi * frac)) if o.schedule == "cosine" else 1.0 - frac
        return o.min_lr_ratio + (1 - o.min_lr_ratio) * shape

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: Path, dist: dict, train_path: Path, eval_path: Path):
        from core.loading import load_tokenizer
        from core.prompt import set_instruction

        self.cfg, self.run_dir, self.dist = cfg, run_dir, dist
        self.main, self.world = dist["rank"] == 0, dist["world"]
        self.device = (distributed.setup(cfg.train.device, dist) if self.world > 1
                       else pick_device(cfg.train.device))
        self.dtype = pick_dtype(cfg.train.precision, self.device)
        # fp16 needs loss scaling (its range underflows small gradients); bf16/fp32 do not, and a
        # disabled scaler is a no-op pass-through.
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        self.tokenizer = load_tokenizer(cfg.model.base)
        set_instruction(self.tokenizer, cfg.data.instruction)  # saved with adapter/ and merged/
        if cfg.lora.init_from:
            warn_instruction_change(cfg.lora.init_from, cfg.data.instruction)
        self.data = Data(cfg, self.tokenizer, train_path, eval_path, dist)
        self.model = build(cfg, self.device, self.dtype)
        self.model.train()
        self.loss_mod = self._wrap(LossModule(self.model, multiple=cfg.data.shape_multiple))
        self.total = self.data.total_steps()
        self.opt = make_optimizer(cfg, self.model, self.device)
        self.sched = make_scheduler(cfg, self.opt, self.total)
        self.log_path = run_dir / "log.jsonl"
        self.pos = checkpoint.Position(world=self.world)

    def _wrap(self, mod):
        """DDP under torchrun: it broadcasts rank 0's weights once, then averages the gradients."""
        if self.world == 1:
            return mod
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(mod, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def autocast(self):
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def resume(self) -> None:
        prog = checkpoint.load_latest(self.run_dir / "checkpoints", self.model, self.opt, self.sched,
                                      self.scaler, rank=self.dist["rank"], world=self.world)
        if self.world > 1:  # several machines: each reads the run folder rank 0 writes
            steps = distributed.all_gather(prog.step if prog else 0)
            if len(set(steps)) > 1:
                raise TrainError(f"the ranks resume from different checkpoints (steps by rank: {steps}): "
                                 f"every machine must see the same {self.run_dir} (a shared filesystem)")
        if prog is not None:
            self.pos = prog
            if prog.cpu_seconds < 0:  # an older checkpoint: its wall seconds x threads, an upper bound
                prog.cpu_seconds = prog.seconds * torch.get_num_threads()
            if self.main:
                logs.truncate_log(self.log_path, prog.step)
                print(f"resumed from step {prog.step} ({self.run_dir / 'checkpoints'})", file=sys.stderr)
        elif self.main and self.log_path.exists():
            self.log_path.unlink()  # no checkpoint yet: start the log over

    def next_batch(self) -> dict:
        plan = self.data.plan(self.pos.epoch)
        if self.pos.index >= len(plan):
            self.pos.epoch += 1
            self.pos.index = 0
        b = self.data.batch(self.pos.epoch, self.pos.index, self.device)
        self.pos.index += 1
        return b

    def step(self) -> tuple[float, int]:
        """One optimizer step: (loss, real tokens), as the benches read it; the rest of the
        step's result (gradient norm, applied or skipped) is kept in self.last_step."""
        self.last_step = self.train_step()
        return self.last_step.loss, self.last_step.tokens

    def train_step(self) -> StepResult:
        """One optimizer step over grad_accum micro-batches on every rank; loss = mean over the
        answer tokens of all of them. Under DDP each rank scales its loss sum by world / (answer
        tokens of all ranks), so DDP's gradient average is the gradient of that global mean: N
        processes with grad_accum=1 step as one process with grad_accum=N (same batches)."""
        batches = [self.next_batch() for _ in range(self.cfg.train.grad_accum)]
        n_targets = sum(int((b["targets"] != -100).sum()) for b in batches)
        n_real = sum(b["n_real"] for b in batches)
        if self.world > 1:
            n_targets = int(distributed.all_sum([n_targets], self.device)[0])
        total = 0.0
        for i, b in enumerate(batches):
            last = i == len(batches) - 1  # DDP: all-reduce the gradients once, after the last
            with contextlib.nullcontext() if self.world == 1 or last else self.loss_mod.no_sync():
                with self.autocast():
                    loss, _ = self.loss_mod(b)
                scaled = loss / max(1, n_targets)
                self.scaler.scale(scaled * self.world if self.world > 1 else scaled).backward()
            total += float(loss.detach())
        if self.world > 1:
            total, n_real = distributed.all_sum([total, n_real], self.device)
            n_real = int(n_real)
        norm, applied = self.update()
        return StepResult(total / max(1, n_targets), n_real, norm, applied)

    def grad_norm(self) -> float:
        """Total gradient norm, clipped to optim.grad_clip when that is on."""
        params = [p for p in self.model.parameters() if p.grad is not None]
        if self.cfg.optim.grad_clip > 0:
            return float(torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.grad_clip))
        return float(torch.nn.utils.get_total_norm([p.grad for p in params]))

    def update(self) -> tuple[float, bool]:
        """Apply the gradients unless they are not finite; a skipped step still advances the
        schedule and the step count, so a run's length and resume points do not depend on it."""
        if self.scaler.is_enabled():
            self.scaler.unscale_(self.opt)  # clip the true gradients, not the scaled ones
            norm = self.grad_norm()
            scale = self.scaler.get_scale()
            self.scaler.step(self.opt)  # skips the step itself when it found inf/NaN
            self.scaler.update()
            applied = self.scaler.get_scale() >= scale  # the scale backs off only after an overflow
        else:
            norm = self.grad_norm()
            applied = math.isfinite(norm)
            if applied:
                self.opt.step()
        with warnings.catch_warnings():
            # a skipped first step makes torch warn that the schedule moved before the optimizer
            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step", UserWarning)
            self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        if not applied:
            self.pos.skipped += 1
        return norm, applied

    def evaluate(self) -> dict:
        c = self.cfg
        self.model.eval()
        try:  # eager: generation shapes change every token, compiled layers would recompile
            with self.autocast(), torch.compiler.set_stance("force_eager"):
                loss = eval_loss(self.model, self.data.eval, c.data.row_tokens, c.train.batch_tokens,
                                 self.data.pad, self.device, self.autocast)
                em, rows = exact_match(self.model, self.tokenizer, self.data.eval_pairs[: c.eval.samples],
                                       c.eval.max_new_tokens, self.device)
        finally:
            self.model.train()
        return {"eval_loss": loss, "exact_match": em, "rows": rows}

    def save_checkpoint(self) -> None:
        """Rank 0 writes (weights and optimizer are the same on every rank), with every rank's RNG."""
        rngs = distributed.all_gather(checkpoint.rng_state()) if self.world > 1 else None
        if self.main:
            checkpoint.save(self.run_dir / "checkpoints", self.model, self.opt, self.sched, self.pos,
                            self.cfg.checkpoint.keep, self.scaler, rank_rngs=rngs)
        if self.world > 1:
            torch.distributed.barrier()

    def record(self, rec: dict, trackers) -> None:
        if self.main:
            logs.append(self.log_path, rec)
            trackers.log(rec)

    def loop(self, trackers) -> None:
        c = self.cfg
        bar = progress(desc="train", total=self.total, initial=self.pos.step, unit="step",
                       disable=not self.main)
        while self.pos.step < self.total:
            t0, c0 = time.perf_counter(), time.process_time()
            loss, n_tok = self.step()
            norm = self.last_step.grad_norm
            dt = time.perf_counter() - t0
            self.pos.step += 1
            self.pos.tokens += n_tok
            self.pos.seconds += dt
            self.pos.cpu_seconds = max(0.0, self.pos.cpu_seconds) + time.process_time() - c0
            step = self.pos.step
            epoch = self.pos.epoch + self.pos.index / max(1, len(self.data.plan(self.pos.epoch)))
            rec = {"step": step, "epoch": epoch,
                   "loss": loss, "lr": self.sched.get_last_lr()[0], "tokens": n_tok,
                   "tokens_per_s": n_tok / dt, "memory_mb": logs.memory_mb(self.device),
                   "grad_norm": norm, "skipped_steps": self.pos.skipped}
            if self.scaler.is_enabled():
                rec["loss_scale"] = self.scaler.get_scale()
            if step % c.output.log_every == 0 or step == self.total:
                self.record(rec, trackers)
                if self.main:
                    bar.write(logs.progress_line(rec, self.total))
            bar.update(1)
            if c.eval.every and step % c.eval.every == 0 and step < self.total and self.main:
                ev = self.evaluate()  # rank 0 only; the others wait at the next step
                self.record({"step": step, "eval_loss": ev["eval_loss"], "exact_match": ev["exact_match"]},
                            trackers)
            if step % c.checkpoint.every == 0 or step == self.total:
                self.save_checkpoint()
        bar.close()

    def finish(self, trackers=None) -> Path:
        """Final eval, adapter/merged outputs, loss.png, summary.json (rank 0)."""
        if not self.main:
            return self.run_dir / "merged"
        ev = self.evaluate()
        step = self.pos.step
        final = {"step": step, "eval_loss": ev["eval_loss"], "exact_match": ev["exact_match"]}
        logs.append(self.log_path, final)
        if trackers is not None:  # W&B / TensorBoard get every record log.jsonl gets
            trackers.log(final)
        atomic_write_json(self.run_dir / "eval_samples.json", ev["rows"])
        train_recs = [r for r in logs.read_log(self.log_path) if "loss" in r]
        summary = {"steps": step, "final_loss": train_recs[-1]["loss"] if train_recs else None,
                   "first_loss": train_recs[0]["loss"] if train_recs else None,
                   "eval_loss": ev["eval_loss"], "exact_match": ev["exact_match"],
                   "train_tokens": self.pos.tokens, "train_seconds": self.pos.seconds,
                   "train_cpu_seconds": self.pos.cpu_seconds,
                   "tokens_per_s": self.pos.tokens / max(1e-9, self.pos.seconds),
                   "skipped_steps": self.pos.skipped,
                   "dropped_pairs": self.data.dropped, "params": count_params(self.model),
                   "device": str(self.device), "dtype": str(self.dtype).replace("torch.", "")}
        meta = {"base": self.cfg.model.base, "run": self.run_dir.name, "summary": summary}
        merged = save_outputs(self.model, self.tokenizer, self.run_dir, self.cfg.model.full_finetune, meta)
        logs.plot_loss(self.log_path, self.run_dir / "loss.png")
        atomic_write_json(self.run_dir / "summary.json", summary)
        print(json.dumps({k: v for k, v in summary.items() if k != "params"}), file=sys.stderr)
        return merged


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def run(cfg: TrainConfig, run_dir: Path, dist: dict, train_path: Path, eval_path: Path) -> Path:
    """Train (resuming if a checkpoint exists) and write the final outputs."""
    try:
        tr = Trainer(cfg, run_dir, dist, train_path, eval_path)
        tr.resume()
        if tr.main:
            print(f"run dir {run_dir}: {len(tr.data.train)} train pairs "
                  f"({tr.data.dropped} too long, dropped), "
                  f"{tr.total} steps, {count_params(tr.model)} params, {tr.device}/{tr.dtype}",
                  file=sys.stderr)
        out = cfg.output
        trackers = (logs.Trackers(run_dir, run_dir.name, to_dict(cfg), out.wandb, out.tensorboard)
                    if tr.main else logs.Trackers(run_dir, "", {}, False, False))
        try:
            tr.loop(trackers)
            return tr.finish(trackers)
        finally:
            trackers.close()
    except (RuntimeError, torch.OutOfMemoryError) as exc:
        if _is_oom(exc):
            raise TrainError(f"out of memory on {cfg.train.device}: lower train.batch_tokens (now "
                             f"{cfg.train.batch_tokens}; raise train.grad_accum to keep the step size), "
                             "lower data.row_tokens, or set model.gradient_checkpointing=true") from exc
        raise
