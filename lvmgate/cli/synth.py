"""`lvmgate synth`: write a synthetic miniature corpus, optionally with one planted fault."""

from __future__ import annotations

import argparse

from lvmgate.synth import FAULTS, synthesize, write_corpus


def register(sub) -> None:
    p = sub.add_parser("synth", help="write a synthetic corpus (chunks.jsonl, vectors.npy, meta.json)")
    p.add_argument("--articles", type=int, default=200, help="number of articles (default 200)")
    p.add_argument("--out", metavar="DIR", help="output folder")
    p.add_argument("--fault", metavar="NAME", default=None, help="plant one fault (see --list-faults)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dim", type=int, default=768, help="vector dimension (default 768)")
    p.add_argument(
        "--coherence",
        type=float,
        default=0.9,
        help="share of content words drawn from the article (0-1, default 0.9)",
    )
    p.add_argument("--encoder", default="hashing", help="encoder for the vectors (default hashing)")
    p.add_argument(
        "--learnable",
        action="store_true",
        help="articles whose next chunk a model can learn from its context (lvmgate.synth.learnable), "
        "so a trained LVM can pass phase 2; --fault still applies (shuffled_order removes the transition)",
    )
    p.add_argument("--list-faults", action="store_true", help="name every fault and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list_faults:
        width = max(map(len, FAULTS))
        for name, text in FAULTS.items():
            print(f"{name:<{width}}  {text}")
        return 0
    if not args.out:
        from lvmgate.errors import InputError

        raise InputError("--out DIR is required")
    corpus = synthesize(
        args.articles,
        fault=args.fault,
        seed=args.seed,
        dim=args.dim,
        coherence=args.coherence,
        encoder=args.encoder,
        learnable=args.learnable,
    )
    out = write_corpus(corpus, args.out)
    meta = corpus.meta
    print(
        f"wrote {meta['n_chunks']} chunks of {meta['n_articles']} articles ({meta['dim']}-D, "
        f"fault: {meta['fault'] or 'none'}{', learnable' if args.learnable else ''}) to {out}"
    )
    return 0
