"""The LVM's head on real text: residual (starts at the context mean) vs plain (random start), beside
the free baselines (and a closed-form ridge map), in one run. Prints val cosine, hit@10 (the plan's Recall@10), contrastive accuracy
(CA) and paraphrase ratio (PAR) of each predictor on article-disjoint validation windows.

Text (two corpora, so nothing is tuned on one):
- `wiki`: the 206 shortened English Wikipedia articles that the gensim wheel ships as test data
  (enwiki-latest-pages-articles1...-shortened.bz2), markup stripped with gensim's own `filter_wiki`;
- `pydoc`: the Python documentation topics every CPython ships (`pydoc_data.topics`), 79 articles.
Chunks: whole sentences (lvmgate.sentences) packed to ~300 characters. Vectors: the packaged
all-MiniLM-L6-v2 (`minilm`, 384-D). Then `lvmgate prepare --context-window 5 --stride 1 --val-split 0.2`
and `lvmgate train --model-size tiny --d-model 128` per configuration.

    pip install gensim          # the Wikipedia sample (not a dependency of lvmgate)
    python benchmarks/bench_lvm_heads.py [--corpora wiki,pydoc] [--epochs 30] [--threads 2]

Configurations: `plain-30`: the plain head with no dropout and no early stopping, as lvmgate trained
before (the issue's 30-epoch collapse); `residual`: lvmgate's defaults (residual head, dropout 0.1,
weight decay 0.01, patience 3); `residual-nodrop`: the residual head without dropout.
"""

from __future__ import annotations

import argparse
import bz2
import importlib.util
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lvmgate.cli import main as cli
from lvmgate.corpus import ChunkRecord
from lvmgate.encoders import get_encoder
from lvmgate.lvm.baselines import ContextMean, CopyLast, RidgeBaseline
from lvmgate.lvm.checkpoint import load_lvm
from lvmgate.lvm.evaluate import evaluate_predictors
from lvmgate.lvm.predictor import TorchPredictor
from lvmgate.sentences import split_sentences
from lvmgate.sequences.loader import SequenceSet
from lvmgate.stores import EmbeddedStore
from lvmgate.training import TrainConfig, train

CHUNK_CHARS = 300
MAX_CHUNKS = 60  # per article: the first 60 chunks (~18k characters), so long articles do not dominate
CONFIGS = {
    "plain-30": {"head": "plain", "dropout": 0.0, "patience": 0},
    "residual-nodrop": {"head": "residual", "dropout": 0.0},
    "residual": {},  # lvmgate's defaults
}


def wiki_articles(limit: int | None = None) -> list[tuple[str, str]]:
    """(title, plain text) of gensim's shipped Wikipedia sample."""
    spec = importlib.util.find_spec("gensim")
    if spec is None:
        sys.exit("the wiki corpus needs gensim's test data: pip install gensim (or pass --corpora pydoc)")
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    path = next(Path(spec.origin).parent.glob("test/test_data/enwiki-latest-pages-articles1*.bz2"))
    out = []
    for title, text, _pageid in extract_pages(bz2.open(path)):
        if text.lower().startswith("#redirect") or ":" in title:
            continue
        plain = re.sub(r"\n=+[^=]+=+\n", "\n", filter_wiki(text)).replace("''", "")
        plain = re.sub(r"\s+", " ", plain).strip()
        out.append((title, plain))
    return out[:limit]


def pydoc_articles() -> list[tuple[str, str]]:
    from pydoc_data.topics import topics

    return [(name, re.sub(r"\s+", " ", body).strip()) for name, body in sorted(topics.items())]


def chunk(text: str) -> list[str]:
    """Whole sentences packed into chunks of about CHUNK_CHARS characters."""
    chunks, cur = [], ""
    for s in split_sentences(text):
        if cur and len(cur) + len(s) > CHUNK_CHARS:
            chunks.append(cur)
            cur = ""
        cur = f"{cur} {s}".strip()
    if cur:
        chunks.append(cur)
    return [c for c in chunks if len(c) >= 40]


def records(articles: list[tuple[str, str]], name: str) -> list[ChunkRecord]:
    out = []
    for a, (title, text) in enumerate(articles):
        parts = chunk(text)[:MAX_CHUNKS]
        if len(parts) < 7:  # a window of 5 and a target need 6 chunks; keep articles with a few windows
            continue
        out += [ChunkRecord(f"{name}-{a:04d}", i, t, title, 0, 0, 0, name) for i, t in enumerate(parts)]
    return out


def run_corpus(name: str, articles, root: Path, args) -> dict:
    recs = records(articles, name)
    t0 = time.perf_counter()
    vectors = get_encoder("minilm").encode([r.text for r in recs])
    encode_s = time.perf_counter() - t0
    store = EmbeddedStore(root / "store")
    store.ingest(name, recs, vectors, replace=True)
    store.close()
    data = root / f"{name}.npz"
    assert cli(["prepare", "--store", str(root / "store"), "--dataset", name, "--context-window", "5",
                "--stride", "1", "--val-split", "0.2", "--seed", "0", "--output", str(data)]) == 0  # fmt: skip
    val = SequenceSet.load(root / f"{name}_val.npz")
    ridge = RidgeBaseline.fit(SequenceSet.load(data))
    predictors = {"copy_last": CopyLast(), "context_mean": ContextMean(), "ridge": ridge}
    runs = {}
    for cfg_name, extra in CONFIGS.items():
        cfg = TrainConfig(data=str(data), output=str(root / name / f"{cfg_name}.pt"), model_size="tiny",
                          d_model=128, epochs=args.epochs, lr=1e-3, batch_size=32, threads=args.threads,
                          loss="cosine+0.5*infonce", overwrite=True, **extra)  # fmt: skip
        t0 = time.perf_counter()
        result = train(cfg, progress=None)
        log = json.loads(Path(result.log).read_text())
        runs[cfg_name] = {
            "seconds": round(time.perf_counter() - t0, 1),
            "epochs_run": len(log["epochs"]),
            "final_epoch": log["final"]["epoch"],
            "start_val_cosine": log["start"]["val_cosine"],
            "last_epoch_val_cosine": log["epochs"][-1]["val_cosine"],
        }
        predictors[cfg_name] = TorchPredictor(load_lvm(cfg.output).model)
    ev = evaluate_predictors(predictors, val, resamples=args.resamples, seed=0)
    table = {}
    for pname, m in ev.metrics.items():
        table[pname] = {
            "val_cosine": m.cosine.value,
            "hit@10": m.hit["10"].value,
            "CA": m.contrastive_accuracy.value,
            "PAR": m.paraphrase_ratio.value,
            "l2": m.l2.value,
            **runs.get(pname, {}),
        }
    return {
        "corpus": name,
        "articles": len({r.article_id for r in recs}),
        "chunks": len(recs),
        "train_windows": len(SequenceSet.load(data)),
        "val_windows": len(val),
        "encode_seconds": round(encode_s, 1),
        "predictors": table,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpora", default="wiki,pydoc")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--json", metavar="PATH", help="also write the results here")
    args = ap.parse_args()
    sources = {"wiki": wiki_articles, "pydoc": pydoc_articles}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.corpora.split(","):
            res = run_corpus(name, sources[name](), Path(tmp), args)
            results.append(res)
            print(f"\n{name}: {res['articles']} articles, {res['chunks']} chunks, {res['train_windows']} train / "
                  f"{res['val_windows']} val windows (MiniLM encode {res['encode_seconds']} s)")  # fmt: skip
            print(
                f"{'predictor':<16} {'val cos':>8} {'hit@10':>7} {'CA':>6} {'PAR':>6}  epochs (final)  seconds"
            )
            for pname, row in res["predictors"].items():
                ep = f"{row['epochs_run']} ({row['final_epoch']})" if "epochs_run" in row else ""
                print(f"{pname:<16} {row['val_cosine']:8.3f} {row['hit@10']:7.3f} {row['CA']:6.3f} "
                      f"{row['PAR']:6.3f}  {ep:<14}  {row.get('seconds', '')}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
