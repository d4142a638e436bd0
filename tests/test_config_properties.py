"""Property-based tests (Hypothesis): every StyleConfig either validates or is refused with a
one-line ValueError/TypeError naming the setting; a valid config's plan is built quickly for
any picture shape or refused with ValueError; the CLI refuses bad settings with exit 2."""

from __future__ import annotations

import dataclasses
import math
import time

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from painterly import StyleConfig, cli, multiscale, pipeline
from painterly.config import MAX_SIZE
from painterly.fast import TrainConfig
from painterly.models.layers import LAYER_NAMES

FIELDS = [f.name for f in dataclasses.fields(StyleConfig)]
ODD = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, -1, 0, 1, -1.5, 0.5, 2**63, 2**63 - 1, 10**9,
                     10**18, True, False, None, "", "bogus", "relu1_1", "cuda:0", "meta", "xpu",
                     "\0", (), ("relu1_1",), ("relu1_1", "relu1_1"), ("conv9_9",), (0.0,),
                     (math.nan,), (1e308, 1e308), [], ["relu2_1"], {}, object(), b"x"]),
    st.integers(), st.floats(), st.text(max_size=8),
    st.tuples(st.sampled_from(LAYER_NAMES)),
    st.lists(st.one_of(st.integers(-2, 5), st.floats()), max_size=6).map(tuple),
)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(kwargs: dict) -> StyleConfig | BaseException:
    try:
        return StyleConfig(**kwargs)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)
        return exc


@SETTINGS
@given(name=st.sampled_from(FIELDS), value=ODD)
def test_one_odd_setting_is_valid_or_named(name, value):
    result = outcome({name: value})
    if isinstance(result, BaseException):
        assert name in str(result), (name, value, str(result))
    else:
        assert getattr(result, name) == value or isinstance(value, list)
        StyleConfig(**{f: getattr(result, f) for f in FIELDS})  # a valid config round-trips


@SETTINGS
@given(st.dictionaries(st.sampled_from(FIELDS), ODD, max_size=5))
def test_any_settings_are_valid_or_name_a_setting(kwargs):
    result = outcome(kwargs)
    if isinstance(result, BaseException):
        assert any(name in str(result) for name in kwargs), (kwargs, str(result))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from([f.name for f in dataclasses.fields(TrainConfig)]), ODD,
                       max_size=3))
def test_training_settings_are_valid_or_name_a_setting(kwargs):
    try:
        TrainConfig(**kwargs)
    except (ValueError, TypeError) as exc:
        assert "\n" not in str(exc) and any(name in str(exc) for name in kwargs), str(exc)


SIDES = st.one_of(st.integers(1, 64), st.integers(1, 5000), st.sampled_from([1, 4, 8, 15, 16, 4000]))
SMALL = st.fixed_dictionaries(dict(
    size=st.one_of(st.integers(16, 300), st.sampled_from([16, 17, 64, 4096, MAX_SIZE])),
    scales=st.integers(1, 16), iterations=st.integers(1, 500),
    style_size=st.one_of(st.none(), st.integers(16, 400)),
    style_scale=st.floats(0.05, 4),
    content_layers=st.lists(st.sampled_from(LAYER_NAMES), max_size=2, unique=True).map(tuple),
    style_layers=st.lists(st.sampled_from(LAYER_NAMES), min_size=1, max_size=3,
                          unique=True).map(tuple),
    tile_size=st.one_of(st.none(), st.just(0), st.integers(32, 600)),
    tile_overlap=st.integers(0, 15),
    max_memory=st.floats(0.01, 4096),
    device=st.just("cpu"), precision=st.sampled_from(["fp32", "bf16"]),
    optimizer=st.sampled_from(["lbfgs", "adam"]),
))


@settings(max_examples=200, deadline=None)
@given(kwargs=SMALL, content=st.tuples(SIDES, SIDES),
       paintings=st.lists(st.tuples(SIDES, SIDES), min_size=1, max_size=2))
def test_plans_are_quick_or_refused(kwargs, content, paintings):
    config = outcome(kwargs)
    assume(isinstance(config, StyleConfig))
    started = time.perf_counter()
    try:
        plans = pipeline.plan(content, paintings, config, names=["'photo.png'"])
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    finally:
        assert time.perf_counter() - started < 2.0
    need = multiscale.min_short_side(config.content_layers + config.style_layers)
    assert plans and plans[-1].long_edge == config.size
    assert all(min(p.height, p.width) >= need for p in plans)
    assert all(p.tiles >= 1 and p.steps >= 0 for p in plans)


# ------------------------------------------------------------------- through the CLI

BAD_OPTIONS = {
    "--size": ["0", "-1", "8", "16385", "1000000000"],
    "--style-size": ["0", "1000000"],
    "--scales": ["0", "17", "1000000"],
    "--iterations": ["0", "1000000000"],
    "--seed": ["-1", str(2**63), str(2**70)],
    "--content-weight": ["nan", "inf", "-1"],
    "--style-weight": ["nan", "inf", "-0.5"],
    "--tv-weight": ["nan", "-inf"],
    "--learning-rate": ["nan", "-1"],
    "--max-memory": ["inf", "nan", "0", "-2"],
    "--device": ["meta", "xpu", "cuda:x", "", "CPU", "cuda:99999"],
    "--style-layers": ["", "relu1_1,relu1_1", "conv9_9"],
    "--style-layer-weights": ["nan,1,1,1,1", "1e308,1e308,1,1,1", "1"],
    "--style-scale": ["0", "nan", "17"],
    "--tile-size": ["1", "16385"],
    "--tile-overlap": ["-1", "20000"],
    "--iterations-per-scale": ["1,-1,1", "1,2"],
    "--init": [""],
}


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    Image.new("RGB", (64, 48), (20, 120, 200)).save(folder / "c.png")
    Image.new("RGB", (64, 64), (200, 120, 20)).save(folder / "s.png")
    return folder


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(bad=st.sampled_from(sorted(BAD_OPTIONS)).flatmap(
           lambda flag: st.tuples(st.just(flag), st.sampled_from(BAD_OPTIONS[flag]))),
       extra=st.sampled_from([[], ["--size", "64"], ["--scales", "1"], ["--optimizer", "adam"]]))
def test_the_cli_refuses_bad_settings_in_one_line(pictures, bad, extra):
    flag, value = bad
    with pytest.MonkeyPatch.context() as patch:
        def refuse(*args, **kwargs):
            raise AssertionError("the network was used")
        patch.setattr(pipeline, "stylize", refuse)
        patch.setattr(pipeline, "load_vgg19", refuse)
        result = CliRunner().invoke(
            cli.cli, ["stylize", str(pictures / "c.png"), str(pictures / "s.png"), "-o",
                      str(pictures / "out.png"), *extra, flag, value], prog_name="painterly")
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("painterly: error: "), result.stderr
    assert flag[2:].replace("-", "_") in lines[0] or flag[2:] in lines[0], lines[0]
    assert not (pictures / "out.png").exists()
