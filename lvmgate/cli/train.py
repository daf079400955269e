"""`lvmgate train --data NAME.npz --val-data NAME_val.npz --model-size small --output models/x.pt ...`

The plan's training command (2.2, 3.1, 4.2), with its flags plus --loss, --seed, --resume and
--device. Writes models/x.pt (final model), models/x_training.json (the log gate 2.2 reads),
models/x.checkpoints/epoch_N.pt and TensorBoard scalars under --log-dir. Multi-process:
`torchrun --nproc_per_node N -m lvmgate train ...`. Exit codes: 0 trained, 1 stopped on a red flag
(NaN/Inf loss) or a checkpoint that does not measure what was logged, 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("train", help="train the Mamba LVM on prepared windows (plan 2.2 / 3.1 / 4.2)")
    p.add_argument(
        "--data", required=True, metavar="NAME.npz", help="training windows (from lvmgate prepare)"
    )
    p.add_argument(
        "--val-data", metavar="NAME_val.npz", help="validation windows (default: the set's val split)"
    )
    p.add_argument("--output", required=True, metavar="MODEL.pt", help="final model; siblings get the log")
    p.add_argument("--log-dir", metavar="DIR", help="TensorBoard scalars here")
    p.add_argument("--model-size", default="small", help="tiny | small | medium | large (default small)")
    p.add_argument("--d-model", type=int, default=None, help="override the preset's d_model")
    p.add_argument("--n-layers", type=int, default=None, help="override the preset's number of layers")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32, help="per process (default 32)")
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (default 5e-4)")
    p.add_argument("--loss", default="cosine", help="cosine | mse | infonce | e.g. cosine+0.5*infonce")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mixed-precision", action="store_true", help="bf16 autocast (CPU and recent GPUs)")
    p.add_argument("--gradient-checkpointing", action="store_true", help="recompute blocks in backward")
    p.add_argument("--resume", metavar="CKPT|auto", help="continue from an epoch checkpoint (auto = latest)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--warmup", type=float, default=0.05, help="share of steps warming up (default 0.05)")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm (0 = no clipping)")
    p.add_argument("--keep-best", type=int, default=3, help="epoch checkpoints kept by val loss (+ latest)")
    p.add_argument("--augment", default="auto", choices=("auto", "on", "off"), help="4.1 augmentation")
    p.add_argument("--store", metavar="URL", help="store holding the vector bank (default: the set's meta)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run with the same --output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmgate.training import TrainConfig, train

    cfg = TrainConfig(
        data=args.data,
        output=args.output,
        val_data=args.val_data,
        log_dir=args.log_dir,
        model_size=args.model_size,
        d_model=args.d_model,
        n_layers=args.n_layers,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        loss=args.loss,
        seed=args.seed,
        mixed_precision=args.mixed_precision,
        gradient_checkpointing=args.gradient_checkpointing,
        device=args.device,
        threads=args.threads,
        warmup=args.warmup,
        weight_decay=args.weight_decay,
        grad_clip=args.grad_clip,
        keep_best=args.keep_best,
        store=args.store,
        augment=args.augment,
        overwrite=args.overwrite,
    )
    result = train(cfg, resume=args.resume)
    if result is not None and result.red_flags:
        print(f"{len(result.red_flags)} red flag(s) in {result.log}; gate 2.2 will read them")
    return 0
