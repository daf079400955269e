"""`lvmgate train`: the plan's LVM training run (2.2, the 3.1 grid, 4.2) as one plain loop.

    train(TrainConfig(data="artifacts/lvm/x.npz", output="models/x.pt", model_size="small", ...))

Per step: a seeded batch of windows (B, w, D) -> model -> loss -> backward -> clip -> AdamW -> LR
(linear warm-up, then cosine decay to min_lr_ratio * lr). bf16 autocast with --mixed-precision.
Per epoch: validation loss and cosine on the article-disjoint validation split, margin over
copy-last, a checkpoint that is reloaded from disk and measured again (a mismatch stops the run),
retention of the best `keep_best` checkpoints plus the latest, TensorBoard scalars and the JSON
log. Red flags (logging.py) are written to the log; NaN/Inf stops the run with exit code 1.
Resume (`resume=PATH` or "auto") restores weights, optimizer, scheduler and RNG state and redoes
the next epoch from its start. Batch order and augmentation are functions of (seed, epoch, batch),
so a resumed run repeats the numbers of an uninterrupted one.

Long on purpose: the training loop is kept in one readable file (nanoGPT's directness): data,
steps, validation, checkpoints and red flags, in the order they happen.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lvmgate.errors import InputError
from lvmgate.io import file_sha256
from lvmgate.lvm.checkpoint import load_lvm, read_checkpoint, save_checkpoint
from lvmgate.lvm.evaluate import window_scores
from lvmgate.lvm.losses import LossSpec
from lvmgate.lvm.mamba import LVM, PLAN_LABELS, LVMConfig, preset
from lvmgate.sequences.augment import Augmentation
from lvmgate.sequences.loader import SequenceSet, read_meta
from lvmgate.training import distributed as ddp
from lvmgate.training.checkpoints import epoch_path, latest_checkpoint, retention, run_paths
from lvmgate.training.config import TrainConfig, TrainingError, TrainResult
from lvmgate.training.logging import (
    Scalars,
    TrainingLog,
    loss_not_decreasing,
    nonfinite_message,
    now,
    peak_memory_gib,
    val_diverging,
)

PROBE_WINDOWS = 512  # training windows whose loss epoch 1 must lower (the same ones before and after)
MIN_DELTA = 1e-4  # val cosine gain that counts as an improvement (early stopping, final model choice)
METRIC_TOLERANCE = 1e-4  # re-measured vs logged validation cosine (same code, same data)
# settings a resumed run must share with the checkpoint (they decide the numbers)
RUN_KEYS = ("epochs", "batch_size", "lr", "loss", "seed", "warmup", "min_lr_ratio", "weight_decay",
            "grad_clip", "mixed_precision", "augment", "dropout")  # fmt: skip


def lr_factor(step: int, total: int, warmup_steps: int, min_ratio: float) -> float:
    """Multiplier of the peak lr at `step`: linear warm-up over warmup_steps, then cosine to min_ratio."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def validate(
    model: LVM, val: SequenceSet, loss: LossSpec, *, batch_size: int, device: torch.device
) -> tuple[float, float]:
    """(mean loss, mean cosine) over `val` in order, float32, eval mode, batches of `batch_size`."""
    was_training = model.training
    model.eval()
    total_loss = total_cos = 0.0
    n = len(val)
    with torch.no_grad():
        for lo in range(0, n, batch_size):
            ctx, tgt = val.gather(np.arange(lo, min(n, lo + batch_size)))
            x, t = torch.from_numpy(ctx).to(device), torch.from_numpy(tgt).to(device)
            pred = model(x)  # (b, dim)
            value, _ = loss(pred, t)
            total_loss += float(value) * len(x)
            total_cos += float(torch.nn.functional.cosine_similarity(pred.double(), t.double(), dim=-1).sum())
    model.train(was_training)
    return total_loss / max(n, 1), total_cos / max(n, 1)


def baseline_cosines(val: SequenceSet, batch_size: int = 4096) -> dict[str, float]:
    """Mean validation cosine of copy-last and context-mean (the bar every epoch is shown against)."""
    sums = {"copy_last": 0.0, "context_mean": 0.0}
    for lo in range(0, len(val), batch_size):
        ctx, tgt = val.gather(np.arange(lo, min(len(val), lo + batch_size)))
        sums["copy_last"] += float(window_scores(ctx[:, -1], ctx, tgt)[0].sum())
        sums["context_mean"] += float(window_scores(ctx.mean(1), ctx, tgt)[0].sum())
    return {k: v / max(len(val), 1) for k, v in sums.items()}


# -- inputs ----------------------------------------------------------------------------------------
def describe_set(s: SequenceSet, path: str) -> dict[str, Any]:
    """What the log records about a split file (the meta's sha256 was verified on load)."""
    entry = s.meta.get("splits", {}).get(s.split, {})
    bank = s.meta.get("bank", {})
    return {
        "path": str(Path(path).resolve()),
        "split": s.split,
        "sha256": entry.get("sha256"),
        "n_windows": len(s),
        "n_articles": len(np.unique(s.article)),
        "context_window": s.context_window,
        "dim": s.shape[2],
        "dataset": bank.get("dataset"),
        "fingerprint": bank.get("fingerprint"),
        "store": bank.get("store"),
    }


def shared_article_ids(a: SequenceSet, b: SequenceSet) -> int | None:
    """Articles listed in both splits' metas (by article id), or None when a meta lacks the lists."""
    ids_a = a.meta.get("splits", {}).get(a.split, {}).get("article_ids")
    ids_b = b.meta.get("splits", {}).get(b.split, {}).get("article_ids")
    if ids_a is None or ids_b is None:
        return None
    return len(set(ids_a) & set(ids_b))


def load_data(cfg: TrainConfig) -> tuple[SequenceSet, SequenceSet, str]:
    """Training and validation splits, checked: held-out split, same dimension, no shared articles."""
    train = SequenceSet.load(cfg.data, store=cfg.store)
    if train.split != "train":
        raise InputError(f"--data {cfg.data} is the {train.split!r} split; pass the training file (NAME.npz)")
    val_path = cfg.val_data
    if val_path is None:
        from lvmgate.sequences.loader import meta_path_for

        mpath = meta_path_for(cfg.data)
        entry = read_meta(mpath).get("splits", {}).get("val")
        if not entry:
            raise InputError(f"{cfg.data}: the set has no val split; pass --val-data")
        val_path = str(mpath.parent / entry["file"])
    val = SequenceSet.load(val_path, store=cfg.store)
    if val.split not in ("val", "test"):
        raise InputError(
            f"--val-data {val_path} is the {val.split!r} split; pass a held-out file (NAME_val.npz)"
        )
    if len(train) == 0 or len(val) == 0:
        raise InputError("training and validation splits must both have windows")
    if train.shape[2] != val.shape[2]:
        raise InputError(f"vector dimension differs: train {train.shape[2]}, val {val.shape[2]}")
    shared = shared_article_ids(train, val)
    if shared:
        raise InputError(f"{shared} article(s) are in both {cfg.data} and {val_path}: validation would leak")
    return train, val, val_path


def _check_resume(body: dict[str, Any], cfg: TrainConfig, model_cfg: LVMConfig, data: dict[str, Any]) -> None:
    if body.get("kind") != "epoch" or "optimizer" not in body:
        raise InputError(
            "--resume needs an epoch checkpoint (NAME.checkpoints/epoch_N.pt), not a final model"
        )
    if body["config"] != model_cfg.to_dict():
        diff = {
            k: (v, model_cfg.to_dict().get(k))
            for k, v in body["config"].items()
            if model_cfg.to_dict().get(k) != v
        }
        raise InputError(
            f"--resume: the checkpoint's model differs from the flags (checkpoint vs flags: {diff})"
        )
    saved = body.get("train_config", {})
    diff = {k: (saved.get(k), getattr(cfg, k)) for k in RUN_KEYS if saved.get(k) != getattr(cfg, k)}
    if diff:
        raise InputError(
            f"--resume continues the same run; these settings differ (checkpoint vs flags): {diff}"
        )
    for split in ("train", "val"):
        if body.get("data", {}).get(split, {}).get("sha256") != data[split]["sha256"]:
            raise InputError(
                f"--resume: the {split} data differs from the data the checkpoint was trained on"
            )


def _resolve_device(name: str, info_local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise InputError(f"--device {name!r}: not a device (cpu, cuda, cuda:N, mps)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available here")
        if dev.index is None:
            dev = torch.device("cuda", info_local_rank)
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError("--device mps: MPS is not available here")
    return dev


def _param_groups(model: LVM, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weight matrices only (not biases, norms, A_log or D, as in mamba-ssm)."""
    decay, plain = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and not name.endswith("A_log") else plain).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


# -- the run ---------------------------------------------------------------------------------------
def train(
    cfg: TrainConfig,
    *,
    resume: str | None = None,
    progress: Callable[[str], None] | None = print,
    metric_tolerance: float = METRIC_TOLERANCE,
) -> TrainResult:
    """Train (or resume) one run; see the module docstring. Bad input raises InputError before any
    file is written; a red flag that stops the run raises TrainingError after the log is saved."""
    cfg.validate()
    loss_spec = LossSpec.parse(cfg.loss)
    paths = run_paths(cfg.output)
    train_set, val_set, val_path = load_data(cfg)
    data = {"train": describe_set(train_set, cfg.data), "val": describe_set(val_set, val_path)}
    model_cfg = preset(
        cfg.model_size,
        d_model=cfg.d_model,
        n_layers=cfg.n_layers,
        dim=int(train_set.shape[2]),
        head=cfg.head,
        dropout=cfg.dropout,
    )

    body = None
    if resume is not None:
        src = latest_checkpoint(paths["checkpoints"]) if resume == "auto" else Path(resume)
        if src is None:
            raise InputError(f"--resume auto: no epoch checkpoint in {paths['checkpoints']}")
        body = read_checkpoint(src)
        _check_resume(body, cfg, model_cfg, data)
        body["_source"] = str(src)
    else:
        existing = [p for p in (paths["output"], paths["log"]) if p.exists()]
        existing += sorted(paths["checkpoints"].glob("epoch_*.pt")) if paths["checkpoints"].is_dir() else []
        if existing and not cfg.overwrite:
            raise InputError(
                f"{existing[0]} exists (an earlier run); pass --resume auto to continue it or --overwrite "
                "to start over"
            )

    info = ddp.init_distributed(_resolve_device(cfg.device).type)
    say = progress if (progress and info.is_main) else (lambda _m: None)
    run = _Run(cfg, loss_spec, paths, train_set, val_set, data, model_cfg, body, info, metric_tolerance, say)
    try:
        run.build()
        if info.is_main:
            run.open_log()
        for epoch in range(run.start_epoch + 1, cfg.epochs + 1):
            entry = run.train_epoch(epoch)
            if run.end_of_epoch(entry):
                break
        result = run.finish() if info.is_main else None
        if info.active:
            torch.distributed.barrier()
        return ddp.broadcast(result, info)
    finally:
        ddp.shutdown(info)


@dataclass
class _Run:
    """One process's training run: what `train` resolved, then what `build` makes; rank 0 logs.
    Methods in the order they happen: build, open_log, train_epoch, end_of_epoch, finish."""

    cfg: TrainConfig
    loss: LossSpec
    paths: dict[str, Path]
    train_set: SequenceSet
    val_set: SequenceSet
    data: dict[str, Any]
    model_cfg: LVMConfig
    body: dict[str, Any] | None  # the epoch checkpoint resumed from
    info: ddp.DistInfo
    tolerance: float
    say: Callable[[str], None]
    step: int = 0
    start_epoch: int = 0
    train_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    log: TrainingLog | None = None
    scalars: Scalars | None = None

    def build(self) -> None:
        """Device, model (resumed weights), DDP wrapper, optimizer, schedule, augmentation, baselines."""
        cfg, info = self.cfg, self.info
        dev = self.dev = _resolve_device(cfg.device, info.local_rank)
        if cfg.mixed_precision and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise InputError("--mixed-precision uses bf16, which this GPU does not support; drop the flag")
        if cfg.mixed_precision and dev.type == "mps":
            raise InputError("--mixed-precision (bf16 autocast) is not supported on mps; drop the flag")
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)  # dropout; a resumed run restores the RNG state below
        model = self.model = _initial_model(self.model_cfg, cfg.seed)
        model.gradient_checkpointing = cfg.gradient_checkpointing
        if self.body is not None:
            model.load_state_dict(self.body["model"])
            self.start_epoch, self.step = int(self.body["epoch"]), int(self.body["step"])
        model.to(dev)
        self.fused = model.prefer_fused()
        self.net: torch.nn.Module = model
        if info.active:
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
        n = len(self.train_set)
        self.steps_per_epoch = len(ddp.epoch_batches(n, cfg.batch_size, epoch=0, seed=cfg.seed, info=info))
        if self.steps_per_epoch == 0:
            raise InputError(f"{n} training windows make no full step for {info.world_size} process(es)")
        total = self.steps_per_epoch * cfg.epochs
        warmup_steps = max(1, round(cfg.warmup * total)) if cfg.warmup > 0 else 0
        self.opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95))
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: lr_factor(s, total, warmup_steps, cfg.min_lr_ratio)
        )
        if self.body is not None:
            self.opt.load_state_dict(self.body["optimizer"])
            self.sched.load_state_dict(self.body["scheduler"])
            torch.set_rng_state(self.body["rng"]["torch"])
            if dev.type == "cuda" and self.body["rng"].get("cuda") is not None:
                torch.cuda.set_rng_state(self.body["rng"]["cuda"], dev)
        if cfg.augment == "off":
            self.aug = None
        elif cfg.augment == "on":
            saved = self.train_set.meta.get("augment") or {}
            self.aug = Augmentation.from_dict(saved) if "mask_frac" in saved else Augmentation.from_policy()
        else:
            self.aug = self.train_set.augmentation()
        self.log_every = cfg.log_every or max(1, self.steps_per_epoch // 50)
        self.base = baseline_cosines(self.val_set) if info.is_main else {}
        self.n_params = sum(p.numel() for p in model.parameters())

    def open_log(self) -> None:
        """Rank 0: the run's folders and its JSON log (continued from the checkpoint's history)."""
        cfg, paths, body, model_cfg = self.cfg, self.paths, self.body, self.model_cfg
        paths["output"].parent.mkdir(parents=True, exist_ok=True)
        if body is None and cfg.overwrite:  # only now, after every check passed
            for old in [paths["output"], paths["log"], *paths["checkpoints"].glob("epoch_*.pt")]:
                old.unlink(missing_ok=True)
        paths["checkpoints"].mkdir(parents=True, exist_ok=True)
        history = (body or {}).get("history", {})
        self.log = TrainingLog.new(
            paths["log"],
            run={
                "output": str(paths["output"].resolve()),
                "log_dir": str(Path(cfg.log_dir).resolve()) if cfg.log_dir else None,
                "started_at": now(),
                "device": str(self.dev),
                "world_size": self.info.world_size,
                "backend": self.info.backend,
                "threads": torch.get_num_threads(),
                "fused_kernels": self.fused,
                "torch_version": str(torch.__version__),
                "lvmgate_version": _version(),
                "resumed_from": [*history.get("resumed_from", []), *([body["_source"]] if body else [])],
            },
            config=cfg.to_dict(),
            model={
                "preset": cfg.model_size,
                "plan_label": PLAN_LABELS.get(cfg.model_size),
                "head": model_cfg.head,
                "config": model_cfg.to_dict(),
                "parameters": model_cfg.param_count(),
                "parameters_counted": self.n_params,
            },
            data=self.data,
            baselines={f"{k}_val_cosine": v for k, v in self.base.items()},
            start=history.get("start") or self._measure_start(),
            epochs=list(history.get("epochs", [])),
            steps=list(history.get("steps", [])),
            checkpoints=list(history.get("checkpoints", [])),
            red_flags=list(history.get("red_flags", [])),
        )
        self.log.save()
        self.scalars = Scalars(cfg.log_dir, purge_step=self.step if body is not None else None)
        start = self.log["start"]
        self.say(
            f"training {cfg.model_size} LVM ({self.n_params:,} parameters, d_model {model_cfg.d_model}, "
            f"{model_cfg.n_layers} layers, {model_cfg.head} head) on {len(self.train_set):,} windows x "
            f"{self.train_set.context_window}, val {len(self.val_set):,}; {cfg.epochs} epochs x "
            f"{self.steps_per_epoch} steps on {self.dev}"
            + (f" x {self.info.world_size} processes" if self.info.active else "")
            + (f"; resuming after epoch {self.start_epoch}" if body is not None else "")
        )
        self.say(
            f"baselines on val: copy-last cos {self.base['copy_last']:.4f}, context-mean cos "
            f"{self.base['context_mean']:.4f}; the model starts at {start['val_cosine']:.4f}"
        )

    def _measure_start(self) -> dict[str, Any]:
        """Epoch 0: the untrained model on val (the residual head's start is the context mean)."""
        val_loss, val_cos = validate(
            self.model, self.val_set, self.loss, batch_size=self.cfg.batch_size, device=self.dev
        )
        return {"epoch": 0, "val_loss": val_loss, "val_cosine": val_cos}

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        """One pass over the training windows; the epoch's numbers (all ranks agree on a stop)."""
        cfg, info, model, opt, sched, dev = self.cfg, self.info, self.model, self.opt, self.sched, self.dev
        probe = self._probe_loss() if epoch == 1 else None
        model.train()
        batches = ddp.epoch_batches(
            len(self.train_set), cfg.batch_size, epoch=epoch, seed=cfg.seed, info=info
        )
        losses: list[float] = []
        norms: list[float] = []
        seen = 0
        t0 = time.perf_counter()
        clip = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
        for i, idx in enumerate(batches):
            ctx, tgt = self.train_set.gather(idx)  # (b, w, dim), (b, dim)
            if self.aug is not None:
                global_batch = i * info.world_size + info.rank
                ctx = self.aug.apply(ctx, np.random.default_rng([cfg.seed, epoch, 1, global_batch]))
            x, t = torch.from_numpy(ctx).to(dev), torch.from_numpy(tgt).to(dev)
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=cfg.mixed_precision):
                pred = self.net(x)  # (b, dim)
            loss, _parts = self.loss(pred, t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip))
            value = float(loss.detach())
            self.step += 1
            if not (math.isfinite(value) and math.isfinite(norm)):  # same verdict on every rank
                what = "the training loss" if not math.isfinite(value) else "the gradient norm"
                self._fail("nonfinite_loss", nonfinite_message(self.step, epoch, cfg.lr, what), epoch)
            opt.step()
            sched.step()
            losses.append(value)
            norms.append(norm)
            seen += len(idx)
            if info.is_main and (self.step % self.log_every == 0 or i == 0):
                lr_now = sched.get_last_lr()[0]
                self.log["steps"].append(
                    {"step": self.step, "epoch": epoch, "loss": value, "lr": lr_now, "grad_norm": norm}
                )
                self.scalars.add(
                    {"train/loss": value, "train/grad_norm": norm, "train/lr": lr_now}, self.step
                )
        seconds = time.perf_counter() - t0
        self.train_seconds += seconds
        sums = ddp.all_reduce([sum(losses), len(losses), float(seen)], info)
        peak, kind = peak_memory_gib(dev)
        peak = ddp.all_reduce([peak], info, op="max")[0]
        k = max(1, len(losses) // 20)
        if probe is not None:  # the same windows before and after: no batch-to-batch noise
            probe = {"probe_loss_start": probe, "probe_loss_end": self._probe_loss()}
        return {
            **(probe or {}),
            "epoch": epoch,
            "steps": len(losses),
            "train_loss": sums[0] / max(sums[1], 1),
            "initial_loss": float(np.mean(losses[:k])),
            "final_steps_loss": float(np.mean(losses[-k:])),
            "grad_norm_mean": float(np.mean(norms)),
            "grad_norm_max": float(np.max(norms)),
            "lr": sched.get_last_lr()[0],
            "seconds": seconds,
            "sequences_per_s": sums[2] / seconds if seconds > 0 else None,
            "peak_memory_gib": peak,
            "memory_kind": kind,
        }

    def _probe_loss(self) -> float:
        """Loss on the first PROBE_WINDOWS training windows, eval mode (epoch 1's red flag reads it)."""
        probe = self.train_set.subset(np.arange(min(PROBE_WINDOWS, len(self.train_set))))
        loss, _ = validate(self.model, probe, self.loss, batch_size=self.cfg.batch_size, device=self.dev)
        return loss

    def _fail(self, code: str, message: str, epoch: int) -> None:
        """Record the red flag, save the log as failed, raise TrainingError (every rank)."""
        if self.info.is_main:
            self.log.flag(code, message, epoch=epoch, step=self.step)
            self.log["status"] = "failed"
            self.log["totals"] = self.totals()
            self.log.save()
            self.scalars.close()
        raise TrainingError(f"{message}. Log: {self.paths['log']}")

    def end_of_epoch(self, entry: dict[str, Any]) -> bool:
        """Validate, checkpoint, reload and re-measure, retain, flag, log (rank 0); True = stop early."""
        error = stop = None
        if self.info.is_main:
            try:
                stop = self._checkpoint_epoch(entry)
            except TrainingError as exc:
                error = str(exc)
                self.log.flag("checkpoint_mismatch", error, epoch=entry["epoch"], step=self.step)
            self.log["totals"] = self.totals()
            if error:
                self.log["status"] = "failed"
            self.log.save()
        error, stop = ddp.broadcast((error, stop), self.info)
        if error:
            if self.scalars:
                self.scalars.close()
            raise TrainingError(error)
        return bool(stop)

    def _checkpoint_epoch(self, entry: dict[str, Any]) -> bool:
        cfg, log, paths, step = self.cfg, self.log, self.paths, self.step
        epoch = entry["epoch"]
        val_loss, val_cos = validate(
            self.model, self.val_set, self.loss, batch_size=cfg.batch_size, device=self.dev
        )
        margin = val_cos - self.base["copy_last"]
        entry.update(val_loss=val_loss, val_cosine=val_cos, margin_over_copy_last=margin)
        epochs = [*log["epochs"], entry]
        flags = []
        if epoch == 1:
            msg = loss_not_decreasing(
                entry.get("probe_loss_start", entry["initial_loss"]),
                entry.get("probe_loss_end", entry["final_steps_loss"]),
            )
            if msg:
                flags.append(log.flag("loss_not_decreasing", msg, epoch=epoch, step=step))
        if math.isfinite(val_loss):
            msg = val_diverging(epochs)
            if msg:
                flags.append(log.flag("val_diverging", msg, epoch=epoch, step=step))
        path = epoch_path(paths["checkpoints"], epoch)
        record = {
            "epoch": epoch,
            "path": os.path.relpath(path, paths["log"].parent),
            "val_loss": val_loss,
            "val_cosine": val_cos,
        }
        history = {
            "start": log["start"],
            "epochs": epochs,
            "steps": log["steps"],
            "checkpoints": [*log["checkpoints"], record],
            "red_flags": log["red_flags"],
            "resumed_from": log["run"].get("resumed_from", []),
        }
        payload = {
            **self._payload("epoch", path, epoch, {"val_loss": val_loss, "val_cosine": val_cos,
                                                   "train_loss": entry["train_loss"]}),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state(self.dev) if self.dev.type == "cuda" else None,
            },
            "history": history,
        }  # fmt: skip
        digest = save_checkpoint(path, payload)
        record.update(weights_digest=digest, sha256=file_sha256(path))
        log["epochs"].append(entry)
        log["checkpoints"].append(record)
        remeasured = _verify(
            path, digest, val_cos, self.val_set, self.loss, cfg.batch_size, self.dev, self.tolerance
        )
        record["remeasured_val_cosine"] = remeasured
        keep = retention(log["checkpoints"], cfg.keep_best)
        for rec in log["checkpoints"]:
            rec["kept"] = rec["epoch"] in keep
            if not rec["kept"]:
                (paths["log"].parent / rec["path"]).unlink(missing_ok=True)
        entry["checkpoint"] = record["path"]
        log["totals"]["peak_memory_gib"] = max(e["peak_memory_gib"] for e in log["epochs"])
        self.scalars.add(
            {
                "train/epoch_loss": entry["train_loss"],
                "val/loss": val_loss,
                "val/cosine": val_cos,
                "val/margin_over_copy_last": margin,
                "train/grad_norm_epoch_mean": entry["grad_norm_mean"],
                "train/lr": entry["lr"],
                "perf/sequences_per_s": entry["sequences_per_s"],
                "perf/peak_memory_gib": entry["peak_memory_gib"],
            },
            step,
        )
        best = best_epoch(log["start"], log["epochs"])
        self.say(
            f"epoch {epoch}/{cfg.epochs}: loss {entry['train_loss']:.4f}, val loss {val_loss:.4f}, val cos "
            f"{val_cos:.4f} ({margin:+.4f} vs copy-last; best epoch {best['epoch']}), "
            f"{entry['sequences_per_s'] or 0:,.0f} seq/s, peak {entry['peak_memory_gib']:.2f} GiB; "
            f"{path.name} re-measured {remeasured:.4f}"
        )
        for f in flags:
            self.say(f"red flag: {f['message']}")
        stale = epoch - best["epoch"]
        if cfg.patience and stale >= cfg.patience and epoch < cfg.epochs:
            log["early_stop"] = {
                "after_epoch": epoch,
                "best_epoch": best["epoch"],
                "reason": f"val cosine has not improved on epoch {best['epoch']}'s {best['val_cosine']:.4f} "
                f"for {stale} epoch(s) (--patience {cfg.patience})",
            }
            self.say(f"early stop: {log['early_stop']['reason']}")
            return True
        return False

    def _payload(self, kind: str, path: Path, epoch: int, metrics: dict[str, float]) -> dict[str, Any]:
        """What every checkpoint file holds (an epoch one adds optimizer, scheduler, RNG, history)."""
        return {
            "kind": kind,
            "path": str(path),
            "config": self.model_cfg.to_dict(),
            "preset": self.cfg.model_size,
            "model": self.model.state_dict(),
            "epoch": epoch,
            "step": self.step,
            "metrics": metrics,
            "train_config": self.cfg.to_dict(),
            "data": self.data,
            "log": self.paths["log"].name,
        }

    def finish(self) -> TrainResult:
        """Rank 0: the best epoch's weights (by val cosine, the start included) become the final model."""
        log, paths = self.log, self.paths
        try:
            best = best_epoch(log["start"], log["epochs"])
            self._restore(best)
            self._write_final(best)
        except TrainingError:
            log["status"] = "failed"
            log.save()
            self.scalars.close()
            raise
        log["status"] = "completed"
        log["totals"] = self.totals()
        log.save()
        self.scalars.close()
        self.say(
            f"final model: epoch {best['epoch']} (val cos {best['val_cosine']:.4f}; context-mean "
            f"{self.base['context_mean']:.4f}, copy-last {self.base['copy_last']:.4f})"
        )
        self.say(f"wrote {paths['output']} and {paths['log']}")
        return TrainResult(
            status="completed",
            output=str(paths["output"]),
            log=str(paths["log"]),
            epochs_completed=len(log["epochs"]),
            val_loss=best.get("val_loss"),
            val_cosine=best.get("val_cosine"),
            copy_last_val_cosine=self.base["copy_last"],
            context_mean_val_cosine=self.base["context_mean"],
            parameters=self.n_params,
            seconds=time.perf_counter() - self.started,
            red_flags=[f["message"] for f in log["red_flags"]],
            best_epoch=best["epoch"],
            stopped_early=log.data.get("early_stop") is not None,
        )

    def _restore(self, best: dict[str, Any]) -> None:
        """Load the weights of epoch `best` into the model (epoch 0: the seeded initial model)."""
        last = self.log["epochs"][-1]["epoch"] if self.log["epochs"] else 0
        if best["epoch"] == last:
            return
        if best["epoch"] == 0:
            state = _initial_model(self.model_cfg, self.cfg.seed).state_dict()
        else:
            state = read_checkpoint(epoch_path(self.paths["checkpoints"], best["epoch"]))["model"]
        self.model.load_state_dict(state)

    def _write_final(self, best: dict[str, Any]) -> None:
        metrics = {k: best.get(k) for k in ("val_loss", "val_cosine", "train_loss")}
        out = self.paths["output"]
        digest = save_checkpoint(out, self._payload("final", out, best["epoch"], metrics))
        remeasured = _verify(
            out,
            digest,
            best["val_cosine"],
            self.val_set,
            self.loss,
            self.cfg.batch_size,
            self.dev,
            self.tolerance,
        )
        self.log["final"] = {
            "path": out.name,
            "epoch": best["epoch"],
            "selected_by": "val_cosine",
            "val_loss": best["val_loss"],
            "val_cosine": best["val_cosine"],
            "remeasured_val_cosine": remeasured,
            "weights_digest": digest,
            "sha256": file_sha256(out),
        }

    def totals(self) -> dict[str, Any]:
        epochs = self.log["epochs"]
        peak, kind = peak_memory_gib(self.dev)
        rates = [e["sequences_per_s"] for e in epochs if e.get("sequences_per_s")]
        return {
            "train_seconds": sum(e["seconds"] for e in epochs) if epochs else self.train_seconds,
            "wall_seconds_this_process": time.perf_counter() - self.started,
            "peak_memory_gib": max([peak, *(e["peak_memory_gib"] for e in epochs)]),
            "memory_kind": kind,
            "sequences_per_s": float(np.mean(rates)) if rates else None,
            "steps": sum(e["steps"] for e in epochs),
            "world_size": self.info.world_size,
        }


def best_epoch(
    start: dict[str, Any], epochs: list[dict[str, Any]], min_delta: float = MIN_DELTA
) -> dict[str, Any]:
    """The epoch with the best val cosine, the untrained start (epoch 0) included; a later epoch
    replaces an earlier best only when it is better by more than `min_delta` (noise is no progress)."""
    best = start
    for e in epochs:
        if (
            math.isfinite(e.get("val_cosine", float("nan")))
            and e["val_cosine"] > best["val_cosine"] + min_delta
        ):
            best = e
    return best


def _initial_model(model_cfg: LVMConfig, seed: int) -> LVM:
    """The model before any step: a function of (config, seed) only."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return LVM(model_cfg)


def _verify(
    path: Path, digest: str, logged_cos: float, val_set, loss_spec, batch_size, dev, tolerance
) -> float:
    """Reload `path` from disk and measure it again; raise TrainingError unless it is what was logged."""
    loaded = load_lvm(path, device=dev)
    if loaded.weights_digest != digest:
        raise TrainingError(f"{path}: the weights read back differ from the weights written")
    _, cos = validate(loaded.model, val_set, loss_spec, batch_size=batch_size, device=dev)
    if not abs(cos - logged_cos) <= tolerance:
        raise TrainingError(
            f"{path}: reloaded, it measures val cosine {cos:.4f} but training measured {logged_cos:.4f}; "
            "the saved checkpoint is not the trained model"
        )
    return cos


def _version() -> str:
    from lvmgate import __version__

    return __version__
