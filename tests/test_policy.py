"""Policy: thresholds judged on intervals (pass / warn / fail), overrides, digest."""

import pytest

from lvmgate.errors import InputError
from lvmgate.policy import FAIL, PASS, WARN, Threshold, default_policy, load_policy
from lvmgate.results import Estimate


def est(v, lo, hi):
    return Estimate(v, lo, hi, 100)


@pytest.mark.parametrize(
    ("estimate", "expected"),
    [
        (est(0.35, 0.31, 0.39), PASS),  # whole interval above 0.3
        (est(0.31, 0.29, 0.33), WARN),  # straddles the pass line: undecided
        (est(0.25, 0.24, 0.26), WARN),  # inside the plan's 0.2-0.3 band
        (est(0.21, 0.19, 0.23), WARN),  # straddles the STOP line
        (est(0.15, 0.14, 0.19), FAIL),  # whole interval below 0.2
        (est(float("nan"), float("nan"), float("nan")), FAIL),  # nothing measurable never passes
    ],
)
def test_mean_similarity_bands(estimate, expected):
    assert default_policy()["1.1.mean_similarity"].judge(estimate) == expected


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [(">=", 5, PASS), (">=", 4.9, FAIL), (">", 5, FAIL), ("<=", 5, PASS), ("<=", 5.1, FAIL), ("<", 5, FAIL)],
)
def test_exact_values_on_the_line(op, value, expected):
    assert Threshold("x", op, 5.0).judge(value) == expected


def test_upper_bound_criteria_with_band():
    t = default_policy()["1.2.unknown_pct"]  # < 30 pass, >= 50 fail
    assert t.judge(est(10, 8, 12)) == PASS
    assert t.judge(est(40, 38, 42)) == WARN
    assert t.judge(est(60, 55, 65)) == FAIL
    assert t.judge(est(29, 27, 31)) == WARN


def test_between():
    t = default_policy()["1.3.mean_length_chars"]
    assert t.judge(est(330, 320, 340)) == PASS
    assert t.judge(est(398, 395, 405)) == WARN
    assert t.judge(est(600, 590, 610)) == FAIL
    assert t.describe() == "250-400"


def test_describe_names_the_stop_line():
    assert default_policy()["1.1.mean_similarity"].describe() == ">= 0.3 (STOP < 0.2)"


def test_overrides_from_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.lvmgate.thresholds]\n"1.1.mean_similarity" = { pass = 0.4, fail = 0.25 }\n'
        '"1.3.sentence_complete_pct" = 80\n[tool.lvmgate.params]\nbootstrap_resamples = 200\n'
    )
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    policy = load_policy(start=sub)
    assert policy["1.1.mean_similarity"].pass_at == 0.4
    assert policy["1.1.mean_similarity"].fail_at == 0.25
    assert policy["1.3.sentence_complete_pct"].pass_at == 80
    assert policy.param("bootstrap_resamples") == 200
    assert policy.digest != default_policy().digest
    assert str(tmp_path) in policy.source


def test_lvmgate_toml_wins_and_bad_keys_are_input_errors(tmp_path):
    (tmp_path / "lvmgate.toml").write_text('[thresholds]\n"1.1.nope" = 1\n')
    with pytest.raises(InputError, match="unknown criterion"):
        load_policy(start=tmp_path)
    (tmp_path / "lvmgate.toml").write_text("[params]\nnot_a_param = 1\n")
    with pytest.raises(InputError, match="unknown parameter"):
        load_policy(start=tmp_path)
    (tmp_path / "lvmgate.toml").write_text("[thresholds\n")
    with pytest.raises(InputError, match="invalid TOML"):
        load_policy(start=tmp_path)


def test_defaults_are_the_plans_numbers():
    p = default_policy()
    assert (p["1.1.high_coherence_pct"].op, p["1.1.high_coherence_pct"].pass_at) == (">=", 60)
    assert (p["1.1.low_coherence_pct"].op, p["1.1.low_coherence_pct"].pass_at) == ("<=", 20)
    assert (p["1.2.top_domain_pct"].pass_at, p["1.2.top_domain_pct"].fail_at) == (50, 70)
    assert (p["1.2.unknown_pct"].pass_at, p["1.2.unknown_pct"].fail_at) == (30, 50)
    assert (p["1.3.sentence_complete_pct"].pass_at, p["1.3.sentence_complete_pct"].fail_at) == (70, 50)
    assert p.param("high_coherence_pair") == p["1.1.mean_similarity"].pass_at
    assert p.param("low_coherence_pair") == p["1.1.mean_similarity"].fail_at
