"""3.3 error analysis: the entity heuristic, groupings checked against a hand-built case whose every
count is known, the decoder overlap, failures identical to the 3.2 benchmark's misses on the same
windows, JSONL test sets, the tiny vec2text decoder path, and `lvmgate analyze-failures`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lvmgate.analysis import (
    FailureItems,
    analyze_failures,
    entity_density,
    entity_tokens,
    items_from_windows,
    run_failure_analysis,
    tercile_groups,
)
from lvmgate.cli import main as cli
from lvmgate.errors import InputError
from lvmgate.stores import EmbeddedStore
from lvmgate.synth.learnable import drift_corpus
from lvmgate.tmd import domain_name
from lvmgate.training import TrainConfig, train


# -- features ------------------------------------------------------------------------------------------
def test_entity_heuristic_counts_names_acronyms_and_numbers_not_sentence_starts():
    text = "Yesterday Alice met Bob in Paris. The NASA report came in 1999! Rivers flow."
    # sentence starts (Yesterday, The, Rivers) never count; Alice, Bob, Paris, NASA, 1999 do
    assert entity_tokens(text) == (5, 14)
    assert entity_density("all lower case words here") == 0.0
    assert entity_density("") == 0.0
    assert entity_density("It is the U.S. Army's O'Brien.") > 0


def test_terciles_never_split_ties():
    codes, labels = tercile_groups(np.array([1.0] * 9), ("low", "mid", "high"))
    assert set(codes) == {0} and labels[0].startswith("low (1–1")
    codes, _ = tercile_groups(np.arange(9.0), ("low", "mid", "high"))
    assert codes.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


# -- a hand-built case ---------------------------------------------------------------------------------
def hand_built():
    """30 articles x 6 items. Domain by article (Technology / History / Medicine, 10 articles each);
    length by item j (10 / 20 / 30 words); entity density by article % 3 (none / a third / two
    thirds of the words are a name); position by (j + a) % 6. Failures: every History item, and the
    long items of even articles. The decoder fails exactly on the History items."""
    arts, js = np.repeat(np.arange(30), 6), np.tile(np.arange(6), 30)
    domain = np.where(arts < 10, 2, np.where(arts < 20, 7, 4))
    n_words = np.array([10, 10, 20, 20, 30, 30])[js]
    share = (arts % 3) / 3.0
    texts = []
    for n, f in zip(n_words, share):
        e = int(np.rint(n * f))
        texts.append("it was " + " ".join(["Alice"] * e + ["river"] * (n - e)))  # both words 5 letters
    long = js >= 4
    fail = (domain == 7) | (long & (arts % 2 == 0))
    items = FailureItems(
        article=arts,
        rank=np.where(fail, 57, 3),
        cosine=np.where(fail, 0.2, 0.8),
        text=texts,
        domain=domain,
        position=((js + arts) % 6) / 5.0,
        decoder="jxe",
        decoder_bleu4=np.where(domain == 7, 0.02, 0.6),
        bank_rows=1000,
    )
    return items, dict(arts=arts, js=js, domain=domain, share=share, fail=fail, long=long)


def test_failures_are_grouped_exactly_as_built():
    items, t = hand_built()
    r = analyze_failures(items, resamples=400)
    assert (r.n_items, r.failures, r.n_articles) == (180, 60 + 20, 30)
    dom = {g.label: g for g in r.groupings["domain"].groups}
    assert {k: (g.n, g.failures, g.n_articles) for k, g in dom.items()} == {
        domain_name(7): (60, 60, 10),
        domain_name(2): (60, 10, 10),  # long items (2 per article) of its 5 even articles
        domain_name(4): (60, 10, 10),
    }
    assert dom[domain_name(7)].vs_rest.low > 0.5 and dom[domain_name(2)].vs_rest.high < 0
    length = r.groupings["length"]
    assert [(g.n, g.failures) for g in length.groups] == [(60, 20), (60, 20), (60, 40)]
    assert [g.label.split(" ")[0] for g in length.groups] == ["short", "medium", "long"]
    assert length.contrast.value == pytest.approx(40 / 60 - 20 / 60) and length.contrast.low > 0
    assert "longer chunks are harder" in r.answers["length"]
    ent = r.groupings["entities"]  # by article % 3: none / a third / two thirds of words are names
    expect = [(60, int(t["fail"][t["arts"] % 3 == k].sum())) for k in range(3)]
    assert [(g.n, g.failures) for g in ent.groups] == expect
    pos = r.groupings["position"]
    codes = np.minimum(((((t["js"] + t["arts"]) % 6) / 5.0) * 3).astype(int), 2)
    assert [(g.n, g.failures) for g in pos.groups] == [
        (int((codes == c).sum()), int(t["fail"][codes == c].sum())) for c in range(3)
    ]
    assert all(g.compared_groups == 3 for g in r.groupings.values())
    assert domain_name(7) in r.answers["domains"] and "higher error rates" in r.answers["domains"]
    # the overlap: decoder fails on the 60 History items, the LVM on those and 20 more
    o = r.overlap
    assert (o.n, o.lvm_failures, o.decoder_failures, o.both) == (180, 80, 60, 60)
    assert o.jaccard.value == pytest.approx(60 / 80) and o.lift.value == pytest.approx(60 / 80 - 0 / 100)
    assert o.lift.low > 0 and "yes, partly" in o.answer and o.expected_jaccard < o.jaccard.value
    assert r.examples and all(e["rank"] == 57 for e in r.examples)
    for q in ("types", "consistency", "domains", "length"):
        assert r.answers[q]
    # serialisable as the artifact's body
    json.dumps(r.to_dict())


def test_small_groups_are_reported_but_not_compared():
    items, _ = hand_built()
    keep = items.article < 12  # 10 Technology articles, 2 History articles
    sub = FailureItems(
        article=items.article[keep], rank=items.rank[keep], cosine=items.cosine[keep],
        text=[t for t, k in zip(items.text, keep) if k], domain=items.domain[keep], position=items.position[keep],
    )  # fmt: skip
    r = analyze_failures(sub, resamples=200)
    labels = [g.label for g in r.groupings["domain"].groups]
    assert labels == [domain_name(2), "other domains (1 with < 20 items or < 5 articles)"]
    assert r.groupings["domain"].compared_groups == 1 and r.overlap is None
    assert r.answers["domains"].startswith("Not answerable") and "no decoder" in r.answers["consistency"]


def test_a_decoder_that_never_fails_cannot_be_compared_and_nearest_says_it_is_a_floor():
    items, _ = hand_built()
    from dataclasses import replace

    nearest = replace(items, decoder="nearest", decoder_bleu4=np.ones(len(items)))
    o = analyze_failures(nearest, resamples=100).overlap
    assert o.decoder_failures == 0 and o.jaccard.value == 0 and o.lift.value == 0
    assert o.answer.startswith("Not comparable") and "floor" in o.answer
    opposite = replace(
        items, decoder_bleu4=np.where(items.rank >= 10, 0.9, 0.0)
    )  # fails where the LVM succeeds
    o = analyze_failures(opposite, resamples=200).overlap
    assert o.jaccard.value == 0 and o.lift.value == pytest.approx(-1) and o.answer.count("no:") == 1
    undecoded = replace(items, decoder_bleu4=np.where(items.article < 15, np.nan, items.decoder_bleu4))
    assert analyze_failures(undecoded, resamples=50).overlap.n == 90


def test_no_items_or_misaligned_items_are_input_errors():
    with pytest.raises(InputError, match="no test items"):
        analyze_failures(FailureItems(np.zeros(0), np.zeros(0), np.zeros(0), [], np.zeros(0), np.zeros(0)))
    with pytest.raises(InputError, match="cosine has 2 entries for 3"):
        FailureItems(np.zeros(3), np.zeros(3), np.zeros(2), ["a"] * 3, np.zeros(3), np.zeros(3))


# -- on a store, with a trained model -------------------------------------------------------------------
@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis")
    store = EmbeddedStore(root / "store")
    c = drift_corpus(150, seed=2)
    store.ingest("drift", c.records, c.vectors)
    store.close()
    args = [
        "prepare",
        "--store",
        str(root / "store"),
        "--dataset",
        "drift",
        "--context-window",
        "4",
        "--stride",
        "1",
    ]
    assert cli([*args, "--val-split", "0.2", "--test-split", "0.2", "--output", str(root / "d.npz")]) == 0
    train(
        TrainConfig(data=str(root / "d.npz"), output=str(root / "m.pt"), model_size="tiny", epochs=3,
                    batch_size=64, lr=3e-3, threads=1),
        progress=None,
    )  # fmt: skip
    return root


def test_failures_are_exactly_the_benchmarks_misses_on_the_same_windows(work):
    from lvmgate.lvm.load import load_predictor
    from lvmgate.retrieval import run_bench
    from lvmgate.sequences import SequenceSet

    test = work / "d_test.npz"
    n = len(SequenceSet.load(test))
    bench = run_bench(task="next", val_data=str(test), backends="lvm", predictor=load_predictor(str(work / "m.pt")),
                      n=n, resamples=0)  # fmt: skip
    art = run_failure_analysis(lvm_model=str(work / "m.pt"), test_set=test, decoder="none", sample_size=None,
                               resamples=0)  # fmt: skip
    r = art["result"]
    hits = bench.per_query["lvm"]["hit@10"]
    assert r["n_items"] == n == len(hits)
    assert r["failures"] == int((hits == 0).sum())
    assert 0 < r["failures"] < n  # the trained model finds some next chunks and misses others
    assert art["provenance"]["dataset"] == "drift" and art["provenance"]["test_set_sha256"]


def test_a_jsonl_test_set_names_target_chunks(work, tmp_path):
    from lvmgate.sequences import SequenceSet

    test = SequenceSet.load(work / "d_test.npz")
    with EmbeddedStore(work / "store") as st:
        index = st.articles("drift")
    rows = test.target[:30]
    lines = [{"article_id": str(index.ids[test.article[i]]), "chunk_index": int(index.chunk_index[r])}
             for i, r in enumerate(rows)]  # fmt: skip
    lines.append({"article_id": lines[0]["article_id"], "chunk_index": 0})  # no context before it
    lines.append({"article_id": "nobody", "chunk_index": 5})
    path = tmp_path / "test_1k.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    art = run_failure_analysis(lvm_model=str(work / "m.pt"), test_set=path, store=str(work / "store"),
                               dataset="drift", decoder="nearest", resamples=50)  # fmt: skip
    r = art["result"]
    assert r["n_items"] == 30 and "2 skipped" in r["source"] and "context 4" in r["source"]
    assert r["overlap"]["decoder"] == "nearest" and r["overlap"]["n"] == 30
    assert r["overlap"]["decoder_failures"] == 0  # nearest gives true vectors their own text back
    with pytest.raises(InputError, match="give --dataset"):
        run_failure_analysis(lvm_model=str(work / "m.pt"), test_set=path)
    with pytest.raises(InputError, match="training split"):
        run_failure_analysis(lvm_model=str(work / "m.pt"), test_set=work / "d.npz")


def test_the_vec2text_path_decodes_the_true_vectors(work, tmp_path):
    pytest.importorskip("vec2text")
    from lvmgate.decoders import get_decoder
    from lvmgate.decoders.tiny import build_tiny_vec2text
    from lvmgate.lvm.load import load_predictor
    from lvmgate.sequences import SequenceSet

    root = build_tiny_vec2text(tmp_path / "v2t")
    dec = get_decoder("jxe", model_path=root, device="cpu", num_steps=0)
    test = SequenceSet.load(work / "d_test.npz")
    with EmbeddedStore(work / "store") as st:
        items = items_from_windows(
            test.bank, st.articles("drift"), test.context[:24], test.target[:24], load_predictor(str(work / "m.pt")),
            texts=lambda rows: st.texts("drift", rows), domains=None, decoder=dec,
        )  # fmt: skip
    assert items.decoder == "jxe" and len(items.decoded) == 24
    assert np.isfinite(items.decoder_bleu4).all() and (items.decoder_bleu4 < 0.15).all()  # random tiny model
    r = analyze_failures(items, resamples=50)
    assert r.overlap.decoder_failures == 24  # every item: P(decoder fails) does not depend on the LVM
    assert r.overlap.lift is None or r.overlap.lift.value == 0


def test_the_cli_writes_json_items_and_plots(work, tmp_path, capsys):
    out = tmp_path / "fa" / "failure_analysis.json"
    code = cli(["analyze-failures", "--lvm-model", str(work / "m.pt"), "--test-set", str(work / "d_test.npz"),
                "--output", str(out), "--sample-size", "300"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0 and "Q: Do certain domains have higher error rates?" in printed
    data = json.loads(out.read_text())
    assert data["tool"] == "failure_analysis" and data["result"]["n_items"] == 300
    items = [json.loads(x) for x in (out.parent / "failure_analysis_items.jsonl").read_text().splitlines()]
    assert len(items) == 300 and sum(x["failed"] for x in items) == data["result"]["failures"]
    truth = {(r.article_id, r.chunk_index): r for r in drift_corpus(150, seed=2).records}
    for x in items:  # features are those of the true next chunk, read back from the store
        rec = truth[(x["article_id"], x["chunk_index"])]
        assert x["domain_code"] == rec.domain_code and x["length_chars"] == len(rec.text)
    for png in ("failure_analysis_1.png", "failure_analysis_2.png"):
        assert (out.parent / png).read_bytes()[:4] == b"\x89PNG"
    assert (
        cli(["analyze-failures", "--lvm-model", str(work / "m.pt"), "--test-set", str(work / "nope.npz")])
        == 2
    )
    assert cli(["analyze-failures", "--lvm-model", str(work / "m.pt"), "--test-set", str(work / "d_test.npz"),
                "--sample-size", "0"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "no such test set" in err and "--sample-size must be at least 1" in err and "Traceback" not in err


def test_a_model_trained_on_other_windows_is_refused(work, tmp_path):
    other = tmp_path / "ctx6.npz"
    args = ["prepare", "--store", str(work / "store"), "--dataset", "drift", "--context-window", "6"]
    assert cli([*args, "--test-split", "0.2", "--output", str(other)]) == 0
    with pytest.raises(InputError, match="trained on windows of 4 chunks"):
        run_failure_analysis(lvm_model=str(work / "m.pt"), test_set=tmp_path / "ctx6_test.npz")
