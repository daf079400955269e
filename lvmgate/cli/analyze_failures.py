"""`lvmgate analyze-failures --lvm-model M --test-set T --output artifacts/validation/failure_analysis.json`

Plan 3.3: which test items the LVM fails on (true next chunk not in its top 10 over the whole bank),
grouped by domain, chunk length, position in the article and named-entity density, and compared
with the decoder's failures on the same items. Writes OUTPUT (JSON), OUTPUT_items.jsonl (per item)
and OUTPUT_1.png / OUTPUT_2.png (plots); prints the answers to the plan's four questions.
See lvmgate.analysis and docs/phase3.md. Exit codes: 0 written, 2 bad input.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "analyze-failures", help="plan 3.3: group the LVM's failures and answer the plan's questions"
    )
    p.add_argument(
        "--lvm-model", required=True, help="LVM checkpoint (or copy_last / context_mean / module:attr)"
    )
    p.add_argument(
        "--test-set",
        required=True,
        help="a prepared held-out split (NAME_test.npz) or a JSONL naming target chunks (article_id, chunk_index)",
    )
    p.add_argument("--output", default="artifacts/validation/failure_analysis.json", metavar="JSON")
    p.add_argument("--store", metavar="URL", help="store of the bank (default: the split's meta)")
    p.add_argument("--dataset", metavar="NAME", help="bank dataset (needed with a JSONL test set)")
    p.add_argument(
        "--decoder",
        default="auto",
        help="auto (jxe if weights exist, else nearest) | nearest | jxe | ielab | none",
    )
    p.add_argument("--model-path", default=None, help="folder with vec2text weights (default: HF cache)")
    p.add_argument("--device", default=None, help="device for vec2text")
    p.add_argument(
        "--sample-size", type=int, default=1000, help="test items analysed (seeded sample; default 1000)"
    )
    p.add_argument(
        "--context-window",
        type=int,
        default=None,
        help="JSONL test sets: context chunks (default: the model's)",
    )
    p.add_argument(
        "--topk", type=int, default=10, help="an item fails when its next chunk is not in the top k"
    )
    p.add_argument("--min-group-items", type=int, default=20, help="items a group needs to be compared")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plots", action="store_true", help="write no PNG plots")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmgate.analysis import QUESTIONS, run_failure_analysis
    from lvmgate.errors import InputError
    from lvmgate.policy import load_policy

    for flag, value in (
        ("--sample-size", args.sample_size),
        ("--topk", args.topk),
        ("--min-group-items", args.min_group_items),
    ):
        if value < 1:
            raise InputError(f"{flag} must be at least 1, got {value}")
    policy = load_policy()
    art = run_failure_analysis(
        lvm_model=args.lvm_model,
        test_set=args.test_set,
        output=args.output,
        store=args.store,
        dataset=args.dataset,
        decoder=args.decoder,
        model_path=args.model_path,
        device=args.device,
        sample_size=args.sample_size,
        context_window=args.context_window,
        k=args.topk,
        min_group_items=args.min_group_items,
        bleu_bar=policy["1.4.bleu4"].pass_at,
        cosine_bar=policy["2.3.lvm_cosine"].pass_at,
        resamples=int(policy.param("bootstrap_resamples")),
        seed=args.seed,
        plots=not args.no_plots,
    )
    r = art["result"]
    rate = r["failure_rate"]
    print(
        f"{r['failures']} of {r['n_items']} items failed ({100 * rate['value']:.1f}% "
        f"[{100 * rate['low']:.1f}, {100 * rate['high']:.1f}]): {r['failure_definition']}"
    )
    for name, g in r["groupings"].items():
        sizes = ", ".join(f"{x['label']}: {x['failures']}/{x['n']}" for x in g["groups"])
        print(f"  {name}: {sizes}")
    for key, question in QUESTIONS.items():
        print(f"Q: {question}\n   {r['answers'][key]}")
    print(f"wrote {args.output}")
    return 0
