"""`lvmgate train --data NAME.npz --val-data NAME_val.npz --model-size small --output models/x.pt ...`

The plan's training command (2.2, 3.1, 4.2), with its flags plus --loss, --seed, --resume and
--device. Writes models/x.pt (final model), models/x_training.json (the log gate 2.2 reads),
models/x.checkpoints/epoch_N.pt and TensorBoard scalars under --log-dir. Multi-process:
`torchrun --nproc_per_node N -m lvmgate train ...`. Exit codes: 0 trained, 1 stopped on a red flag
(NaN/Inf loss) or a checkpoint that does not measure what was logged, 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse


def _default(name: str):
    """TrainConfig's default for a flag: one home for every default (the library's)."""
    from lvmgate.training.config import TrainConfig

    return TrainConfig.__dataclass_fields__[name].default


def register(sub) -> None:
    d = _default
    p = sub.add_parser("train", help="train the Mamba LVM on prepared windows (plan 2.2 / 3.1 / 4.2)")
    p.add_argument(
        "--data", required=True, metavar="NAME.npz", help="training windows (from lvmgate prepare)"
    )
    p.add_argument(
        "--val-data", metavar="NAME_val.npz", help="validation windows (default: the set's val split)"
    )
    p.add_argument("--output", required=True, metavar="MODEL.pt", help="final model; siblings get the log")
    p.add_argument("--log-dir", metavar="DIR", help="TensorBoard scalars here")
    p.add_argument(
        "--model-size", default=d("model_size"), help="tiny | small | medium | large (default small)"
    )
    p.add_argument("--d-model", type=int, default=None, help="override the preset's d_model")
    p.add_argument("--n-layers", type=int, default=None, help="override the preset's number of layers")
    p.add_argument(
        "--head",
        default=d("head"),
        help="residual: start at the context mean and learn a correction (default); plain: random start",
    )
    p.add_argument("--dropout", type=float, default=d("dropout"), help=f"dropout (default {d('dropout')})")
    p.add_argument(
        "--epochs", type=int, default=d("epochs"), help=f"at most this many (default {d('epochs')})"
    )
    p.add_argument(
        "--patience",
        type=int,
        default=d("patience"),
        help=f"stop after this many epochs without a better val cosine (default {d('patience')}; 0 = never); "
        "the final model is always the best epoch's",
    )
    p.add_argument("--batch-size", type=int, default=d("batch_size"), help="per process (default 32)")
    p.add_argument("--lr", type=float, default=d("lr"), help=f"peak learning rate (default {d('lr')})")
    p.add_argument("--loss", default=d("loss"), help="cosine | mse | infonce | e.g. cosine+0.5*infonce")
    p.add_argument("--seed", type=int, default=d("seed"))
    p.add_argument("--mixed-precision", action="store_true", help="bf16 autocast (CPU and recent GPUs)")
    p.add_argument("--gradient-checkpointing", action="store_true", help="recompute blocks in backward")
    p.add_argument("--resume", metavar="CKPT|auto", help="continue from an epoch checkpoint (auto = latest)")
    p.add_argument("--device", default=d("device"), help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument(
        "--warmup", type=float, default=d("warmup"), help="share of steps warming up (default 0.05)"
    )
    p.add_argument(
        "--weight-decay", type=float, default=d("weight_decay"), help=f"AdamW (default {d('weight_decay')})"
    )
    p.add_argument(
        "--grad-clip", type=float, default=d("grad_clip"), help="max gradient norm (0 = no clipping)"
    )
    p.add_argument(
        "--keep-best",
        type=int,
        default=d("keep_best"),
        help="epoch checkpoints kept by val cosine (+ latest)",
    )
    p.add_argument("--augment", default=d("augment"), choices=("auto", "on", "off"), help="4.1 augmentation")
    p.add_argument("--store", metavar="URL", help="store holding the vector bank (default: the set's meta)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run with the same --output")
    p.add_argument("--no-progress", action="store_true", help="no per-epoch progress lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from lvmgate.training import TrainConfig, train

    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)})
    result = train(cfg, resume=args.resume, progress=None if args.no_progress else print)
    if result is not None and result.red_flags:
        print(f"{len(result.red_flags)} red flag(s) in {result.log}; gate 2.2 will read them")
    return 0
