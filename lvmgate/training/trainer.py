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

from lvmgate.errors import InputError, LvmgateError
from lvmgate.io import file_sha256
from lvmgate.lvm.checkpoint import load_lvm, read_checkpoint, save_checkpoint
from lvmgate.lvm.evaluate import window_scores
from lvmgate.lvm.losses import LossSpec
from lvmgate.lvm.mamba import LVM, PLAN_LABELS, LVMConfig, preset
from lvmgate.results import Result
from lvmgate.sequences.augment import Augmentation
from lvmgate.sequences.loader import SequenceSet, read_meta
from lvmgate.training import distributed as ddp
from lvmgate.training.checkpoints import epoch_path, latest_checkpoint, retention, run_paths
from lvmgate.training.logging import (
    Scalars,
    TrainingLog,
    loss_not_decreasing,
    nonfinite_message,
    now,
    peak_memory_gib,
    val_diverging,
)

METRIC_TOLERANCE = 1e-4  # re-measured vs logged validation cosine (same code, same data)
# settings a resumed run must share with the checkpoint (they decide the numbers)
RUN_KEYS = ("epochs", "batch_size", "lr", "loss", "seed", "warmup", "min_lr_ratio", "weight_decay",
            "grad_clip", "mixed_precision", "augment")  # fmt: skip


class TrainingError(LvmgateError):
    """The run stopped on a red flag or failed verification (exit code 1); the log says why."""


@dataclass(frozen=True)
class TrainConfig(Result):
    """The run's settings; field names follow the plan's flags."""

    data: str
    output: str
    val_data: str | None = None  # default: the val split listed in the data's meta
    log_dir: str | None = None  # TensorBoard event files
    model_size: str = "small"
    d_model: int | None = None
    n_layers: int | None = None
    epochs: int = 3
    batch_size: int = 32
    lr: float = 5e-4
    loss: str = "cosine"
    seed: int = 0
    mixed_precision: bool = False  # bf16 autocast
    gradient_checkpointing: bool = False
    device: str = "auto"
    threads: int | None = None
    warmup: float = 0.05  # share of all steps spent warming up
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    keep_best: int = 3
    store: str | None = None  # override the store recorded in the data's meta
    augment: str = "auto"  # auto (the set's own setting) | on | off
    overwrite: bool = False
    log_every: int = 0  # steps between logged step losses; 0 = about 50 per epoch

    def validate(self) -> None:
        ints = {"epochs": 1, "batch_size": 1, "keep_best": 1, "log_every": 0}
        for name, low in ints.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise InputError(f"--{name.replace('_', '-')} must be an integer >= {low}, got {v!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"--lr must be a positive number, got {self.lr}")
        if not 0.0 <= self.warmup < 1.0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise InputError("warmup must be in [0, 1) and min_lr_ratio in [0, 1]")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise InputError("weight_decay and grad_clip must be >= 0")
        if self.augment not in ("auto", "on", "off"):
            raise InputError(f"augment must be auto, on or off, got {self.augment!r}")
        if self.threads is not None and self.threads < 1:
            raise InputError("--threads must be >= 1")


@dataclass(frozen=True)
class TrainResult(Result):
    """What a finished run reports (the log has everything)."""

    status: str
    output: str
    log: str
    epochs_completed: int
    val_loss: float | None
    val_cosine: float | None
    copy_last_val_cosine: float
    context_mean_val_cosine: float
    parameters: int
    seconds: float
    red_flags: list[str] = field(default_factory=list)


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
        cfg.model_size, d_model=cfg.d_model, n_layers=cfg.n_layers, dim=int(train_set.shape[2])
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
    try:
        return _run(
            cfg, loss_spec, paths, train_set, val_set, data, model_cfg, body, info, progress, metric_tolerance
        )
    finally:
        ddp.shutdown(info)


def _run(cfg, loss_spec, paths, train_set, val_set, data, model_cfg, body, info, progress, tolerance):
    say = progress if (progress and info.is_main) else (lambda _m: None)
    dev = _resolve_device(cfg.device, info.local_rank)
    if cfg.mixed_precision and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise InputError("--mixed-precision uses bf16, which this GPU does not support; drop the flag")
    if cfg.mixed_precision and dev.type == "mps":
        raise InputError("--mixed-precision (bf16 autocast) is not supported on mps; drop the flag")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = LVM(model_cfg)
    model.gradient_checkpointing = cfg.gradient_checkpointing
    start_epoch, step = 0, 0
    if body is not None:
        model.load_state_dict(body["model"])
        start_epoch, step = int(body["epoch"]), int(body["step"])
    model.to(dev)
    fused = model.prefer_fused()
    net: torch.nn.Module = model
    if info.active:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)

    steps_per_epoch = len(
        ddp.epoch_batches(len(train_set), cfg.batch_size, epoch=0, seed=cfg.seed, info=info)
    )
    if steps_per_epoch == 0:
        raise InputError(
            f"{len(train_set)} training windows make no full step for {info.world_size} process(es)"
        )
    total = steps_per_epoch * cfg.epochs
    warmup_steps = max(1, round(cfg.warmup * total)) if cfg.warmup > 0 else 0
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, total, warmup_steps, cfg.min_lr_ratio)
    )
    if body is not None:
        opt.load_state_dict(body["optimizer"])
        sched.load_state_dict(body["scheduler"])
        torch.set_rng_state(body["rng"]["torch"])
        if dev.type == "cuda" and body["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(body["rng"]["cuda"], dev)

    if cfg.augment == "off":
        aug = None
    elif cfg.augment == "on":
        saved = train_set.meta.get("augment") or {}
        aug = Augmentation.from_dict(saved) if "mask_frac" in saved else Augmentation.from_policy()
    else:
        aug = train_set.augmentation()
    log_every = cfg.log_every or max(1, steps_per_epoch // 50)
    base = baseline_cosines(val_set) if info.is_main else {}
    n_params = sum(p.numel() for p in model.parameters())

    log = scalars = None
    if info.is_main:
        paths["output"].parent.mkdir(parents=True, exist_ok=True)
        if body is None and cfg.overwrite:  # only now, after every check passed
            for old in [paths["output"], paths["log"], *paths["checkpoints"].glob("epoch_*.pt")]:
                old.unlink(missing_ok=True)
        paths["checkpoints"].mkdir(parents=True, exist_ok=True)
        history = (body or {}).get("history", {})
        log = TrainingLog.new(
            paths["log"],
            run={
                "output": str(paths["output"].resolve()),
                "log_dir": str(Path(cfg.log_dir).resolve()) if cfg.log_dir else None,
                "started_at": now(),
                "device": str(dev),
                "world_size": info.world_size,
                "backend": info.backend,
                "threads": torch.get_num_threads(),
                "fused_kernels": fused,
                "torch_version": str(torch.__version__),
                "lvmgate_version": _version(),
                "resumed_from": [*history.get("resumed_from", []), *([body["_source"]] if body else [])],
            },
            config=cfg.to_dict(),
            model={
                "preset": cfg.model_size,
                "plan_label": PLAN_LABELS.get(cfg.model_size),
                "config": model_cfg.to_dict(),
                "parameters": model_cfg.param_count(),
                "parameters_counted": n_params,
            },
            data=data,
            baselines={f"{k}_val_cosine": v for k, v in base.items()},
            epochs=list(history.get("epochs", [])),
            steps=list(history.get("steps", [])),
            checkpoints=list(history.get("checkpoints", [])),
            red_flags=list(history.get("red_flags", [])),
        )
        log.save()
        scalars = Scalars(cfg.log_dir, purge_step=step if body is not None else None)
        say(
            f"training {cfg.model_size} LVM ({n_params:,} parameters, d_model {model_cfg.d_model}, "
            f"{model_cfg.n_layers} layers) on {len(train_set):,} windows x {train_set.context_window}, "
            f"val {len(val_set):,}; {cfg.epochs} epochs x {steps_per_epoch} steps on {dev}"
            + (f" x {info.world_size} processes" if info.active else "")
            + (f"; resuming after epoch {start_epoch}" if body is not None else "")
        )
        say(
            f"baselines on val: copy-last cos {base['copy_last']:.4f}, context-mean cos {base['context_mean']:.4f}"
        )

    run_started = time.perf_counter()
    train_seconds = 0.0
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        model.train()
        batches = ddp.epoch_batches(len(train_set), cfg.batch_size, epoch=epoch, seed=cfg.seed, info=info)
        losses: list[float] = []
        norms: list[float] = []
        seen = 0
        t0 = time.perf_counter()
        stop: str | None = None
        for i, idx in enumerate(batches):
            ctx, tgt = train_set.gather(idx)
            if aug is not None:
                global_batch = i * info.world_size + info.rank
                ctx = aug.apply(ctx, np.random.default_rng([cfg.seed, epoch, 1, global_batch]))
            x, t = torch.from_numpy(ctx).to(dev), torch.from_numpy(tgt).to(dev)
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=cfg.mixed_precision):
                pred = net(x)  # (b, dim)
            loss, _parts = loss_spec(pred, t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            clip = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
            norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip))
            value = float(loss.detach())
            step += 1
            if not (math.isfinite(value) and math.isfinite(norm)):  # same verdict on every rank
                what = "the training loss" if not math.isfinite(value) else "the gradient norm"
                stop = nonfinite_message(step, epoch, cfg.lr, what)
                break
            opt.step()
            sched.step()
            losses.append(value)
            norms.append(norm)
            seen += len(idx)
            if info.is_main and (step % log_every == 0 or i == 0):
                lr_now = sched.get_last_lr()[0]
                log.data["steps"].append(
                    {"step": step, "epoch": epoch, "loss": value, "lr": lr_now, "grad_norm": norm}
                )
                scalars.add({"train/loss": value, "train/grad_norm": norm, "train/lr": lr_now}, step)
        seconds = time.perf_counter() - t0
        train_seconds += seconds
        if stop is not None:
            if info.is_main:
                log.flag("nonfinite_loss", stop, epoch=epoch, step=step)
                log.data["status"] = "failed"
                log.data["totals"] = _totals(log, train_seconds, run_started, dev, info)
                log.save()
                scalars.close()
            raise TrainingError(f"{stop}. Log: {paths['log']}")

        sums = ddp.all_reduce([sum(losses), len(losses), float(seen)], info)
        peak, kind = peak_memory_gib(dev)
        peak = ddp.all_reduce([peak], info, op="max")[0]
        error = None
        if info.is_main:
            k = max(1, len(losses) // 20)
            entry = {
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
            try:
                _end_of_epoch(cfg, log, scalars, entry, model, opt, sched, val_set, loss_spec, data,
                              model_cfg, paths, dev, step, base, tolerance, say)  # fmt: skip
            except TrainingError as exc:
                error = str(exc)
                log.flag("checkpoint_mismatch", error, epoch=epoch, step=step)
            log.data["totals"] = _totals(log, train_seconds, run_started, dev, info)
            if error:
                log.data["status"] = "failed"
            log.save()
        error = ddp.broadcast(error, info)
        if error:
            if scalars:
                scalars.close()
            raise TrainingError(error)

    result = None
    if info.is_main:
        try:
            _write_final(cfg, log, model, model_cfg, val_set, loss_spec, data, paths, dev, step, tolerance)
        except TrainingError:
            log.data["status"] = "failed"
            log.save()
            scalars.close()
            raise
        log.data["status"] = "completed"
        log.data["totals"] = _totals(log, train_seconds, run_started, dev, info)
        log.save()
        scalars.close()
        last = log.data["epochs"][-1] if log.data["epochs"] else {}
        result = TrainResult(
            status="completed",
            output=str(paths["output"]),
            log=str(paths["log"]),
            epochs_completed=len(log.data["epochs"]),
            val_loss=last.get("val_loss"),
            val_cosine=last.get("val_cosine"),
            copy_last_val_cosine=base["copy_last"],
            context_mean_val_cosine=base["context_mean"],
            parameters=n_params,
            seconds=time.perf_counter() - run_started,
            red_flags=[f["message"] for f in log.data["red_flags"]],
        )
        say(f"wrote {paths['output']} and {paths['log']}")
    if info.active:
        torch.distributed.barrier()
    return ddp.broadcast(result, info)


def _end_of_epoch(cfg, log, scalars, entry, model, opt, sched, val_set, loss_spec, data, model_cfg,
                  paths, dev, step, base, tolerance, say) -> None:  # fmt: skip
    """Validate, checkpoint, reload and re-measure, retain, flag, log (rank 0)."""
    epoch = entry["epoch"]
    val_loss, val_cos = validate(model, val_set, loss_spec, batch_size=cfg.batch_size, device=dev)
    entry.update(val_loss=val_loss, val_cosine=val_cos, margin_over_copy_last=val_cos - base["copy_last"])
    epochs = [*log.data["epochs"], entry]
    flags = []
    if epoch == 1:
        msg = loss_not_decreasing(entry["initial_loss"], entry["final_steps_loss"])
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
        "epochs": epochs,
        "steps": log.data["steps"],
        "checkpoints": [*log.data["checkpoints"], record],
        "red_flags": log.data["red_flags"],
        "resumed_from": log.data["run"].get("resumed_from", []),
    }
    payload = {
        "kind": "epoch",
        "path": str(path),
        "config": model_cfg.to_dict(),
        "preset": cfg.model_size,
        "model": model.state_dict(),
        "epoch": epoch,
        "step": step,
        "metrics": {"val_loss": val_loss, "val_cosine": val_cos, "train_loss": entry["train_loss"]},
        "train_config": cfg.to_dict(),
        "data": data,
        "log": paths["log"].name,
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None,
        },
        "history": history,
    }
    digest = save_checkpoint(path, payload)
    record.update(weights_digest=digest, sha256=file_sha256(path))
    log.data["epochs"].append(entry)
    log.data["checkpoints"].append(record)
    remeasured = _verify(path, digest, val_cos, val_set, loss_spec, cfg.batch_size, dev, tolerance)
    record["remeasured_val_cosine"] = remeasured
    keep = retention(log.data["checkpoints"], cfg.keep_best)
    for rec in log.data["checkpoints"]:
        rec["kept"] = rec["epoch"] in keep
        if not rec["kept"]:
            (paths["log"].parent / rec["path"]).unlink(missing_ok=True)
    entry["checkpoint"] = record["path"]
    log.data["totals"]["peak_memory_gib"] = max(e["peak_memory_gib"] for e in log.data["epochs"])
    scalars.add(
        {
            "train/epoch_loss": entry["train_loss"],
            "val/loss": val_loss,
            "val/cosine": val_cos,
            "val/margin_over_copy_last": entry["margin_over_copy_last"],
            "train/grad_norm_epoch_mean": entry["grad_norm_mean"],
            "train/lr": entry["lr"],
            "perf/sequences_per_s": entry["sequences_per_s"],
            "perf/peak_memory_gib": entry["peak_memory_gib"],
        },
        step,
    )
    say(
        f"epoch {epoch}/{cfg.epochs}: loss {entry['train_loss']:.4f}, val loss {val_loss:.4f}, val cos "
        f"{val_cos:.4f} ({entry['margin_over_copy_last']:+.4f} vs copy-last), "
        f"{entry['sequences_per_s'] or 0:,.0f} seq/s, peak {entry['peak_memory_gib']:.2f} GiB; "
        f"{path.name} re-measured {remeasured:.4f}"
    )
    for f in flags:
        say(f"red flag: {f['message']}")


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


def _write_final(cfg, log, model, model_cfg, val_set, loss_spec, data, paths, dev, step, tolerance) -> None:
    last = log.data["epochs"][-1]
    payload = {
        "kind": "final",
        "path": str(paths["output"]),
        "config": model_cfg.to_dict(),
        "preset": cfg.model_size,
        "model": model.state_dict(),
        "epoch": last["epoch"],
        "step": step,
        "metrics": {k: last[k] for k in ("val_loss", "val_cosine", "train_loss")},
        "train_config": cfg.to_dict(),
        "data": data,
        "log": paths["log"].name,
    }
    digest = save_checkpoint(paths["output"], payload)
    remeasured = _verify(
        paths["output"], digest, last["val_cosine"], val_set, loss_spec, cfg.batch_size, dev, tolerance
    )
    log.data["final"] = {
        "path": paths["output"].name,
        "epoch": last["epoch"],
        "val_loss": last["val_loss"],
        "val_cosine": last["val_cosine"],
        "remeasured_val_cosine": remeasured,
        "weights_digest": digest,
        "sha256": file_sha256(paths["output"]),
    }


def _totals(
    log: TrainingLog, train_seconds: float, started: float, dev: torch.device, info
) -> dict[str, Any]:
    epochs = log.data["epochs"]
    peak, kind = peak_memory_gib(dev)
    rates = [e["sequences_per_s"] for e in epochs if e.get("sequences_per_s")]
    return {
        "train_seconds": sum(e["seconds"] for e in epochs) if epochs else train_seconds,
        "wall_seconds_this_process": time.perf_counter() - started,
        "peak_memory_gib": max([peak, *(e["peak_memory_gib"] for e in epochs)]),
        "memory_kind": kind,
        "sequences_per_s": float(np.mean(rates)) if rates else None,
        "steps": sum(e["steps"] for e in epochs),
        "world_size": info.world_size,
    }


def _version() -> str:
    from lvmgate import __version__

    return __version__
