"""`lvmgate ingest CHUNKS.jsonl [--vectors V.npy | --encoder NAME] --store URL --dataset NAME`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lvmgate.cli._common import add_progress_arg, add_store_args
from lvmgate.corpus import read_records
from lvmgate.errors import InputError
from lvmgate.stores import open_store


def register(sub) -> None:
    p = sub.add_parser("ingest", help="load chunk records (and vectors) into a store, all or nothing")
    p.add_argument("chunks", metavar="CHUNKS.jsonl", help="chunk records, one JSON object per line")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--vectors", metavar="V.npy", help="float32 (N, D) vectors aligned with the lines")
    src.add_argument(
        "--encoder", metavar="NAME", help="encode the texts with this encoder (e.g. hashing, gtr)"
    )
    p.add_argument(
        "--vectors-encoder",
        metavar="SPEC",
        default=None,
        help="declare which encoder made --vectors (default: read from meta.json beside them)",
    )
    p.add_argument(
        "--dim",
        type=int,
        default=None,
        help="expected vector dimension (default: the declared encoder's, else 768)",
    )
    p.add_argument("--replace", action="store_true", help="overwrite an existing dataset of this name")
    p.add_argument(
        "--allow-invalid",
        action="store_true",
        help="keep NaN/inf/all-zero vector rows (to inspect a broken pipeline with the gates)",
    )
    add_store_args(p)
    add_progress_arg(p)
    p.set_defaults(func=run)


def _load_vectors(path: str) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except ValueError as exc:
        raise InputError(f"{path}: not a .npy array ({exc})") from None
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"{path}: vectors must be floating point, got {arr.dtype}")
    return arr


def _declared_encoder(vectors_path: str) -> tuple[str | None, int | None]:
    meta_path = Path(vectors_path).with_name("meta.json")
    if not meta_path.is_file():
        return None, None
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError:
        return None, None
    return meta.get("encoder"), meta.get("dim")


def run(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    if store.has_dataset(args.dataset) and not args.replace:
        store.refuse_existing(args.dataset)
    vectors = None
    encoder_spec = None
    if args.vectors:
        vectors = _load_vectors(args.vectors)
        encoder_spec, meta_dim = _declared_encoder(args.vectors)
        encoder_spec = args.vectors_encoder or encoder_spec
        from lvmgate.encoders import declared_dim

        expected = args.dim or meta_dim or declared_dim(encoder_spec) or 768
        if vectors.ndim == 2 and vectors.shape[1] != expected:
            raise InputError(
                f"{args.vectors}: vectors are {vectors.shape[1]}-D, expected {expected} (pass --dim {vectors.shape[1]} to accept)"
            )
        records = read_records(args.chunks)
    elif args.encoder:
        from lvmgate.encoders import get_encoder

        enc = get_encoder(args.encoder)
        records = list(read_records(args.chunks))
        vectors = enc.encode([r.text for r in records], progress=args.progress)
        encoder_spec = enc.spec
    else:
        records = read_records(args.chunks)
    result = store.ingest(
        args.dataset,
        records,
        vectors,
        encoder=encoder_spec,
        replace=args.replace,
        allow_invalid=args.allow_invalid,
        meta={"source": str(args.chunks)},
        progress=args.progress,
    )
    print(
        f"ingested {result.n_rows} chunks of {result.n_articles} articles into {args.dataset!r} at {store.url}"
        f" ({'no vectors' if result.dim is None else f'{result.dim}-D'}, {result.seconds:.1f}s"
        f"{', replaced' if result.replaced else ''})"
    )
    store.close()
    return 0
