"""Fast styles: the network, style folders, tiled painting and training, on tiny networks."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from painterly.fast import FastPainter, FastStyles, StyleError, TrainConfig, load_styles, \
    save_styles
from painterly.fast.network import ConditionalInstanceNorm, NetworkShape, TransformerNet, one_hot
from painterly.fast.paint import DEFAULT_TILE, MIN_PAINT_EDGE, ONE_PASS_SIDE, load_mix, \
    parse_style_spec
from painterly.devices import resolve_runtime
from painterly.fast.train import CHECKPOINT, TrainingInterrupted, train

TINY_SHAPE = NetworkShape(base=4, residual_blocks=1)
TINY_TRAIN = dict(steps=4, batch_size=2, crop_size=32, base_width=4, residual_blocks=1,
                  content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"),
                  style_size=48, photo_edge=(40, 80), device="cpu", precision="fp32")


def tiny_net(styles: int = 2, seed: int = 0) -> TransformerNet:
    """A tiny network whose norms have distinct random scales and shifts per style."""
    torch.manual_seed(seed)
    net = TransformerNet(styles, TINY_SHAPE)
    with torch.no_grad():
        for norm in net.norms():
            norm.scale.uniform_(0.5, 1.5)
            norm.shift.uniform_(-0.3, 0.3)
    return net.eval()


@pytest.fixture
def style_folder(tmp_path):
    return save_styles(FastStyles(tiny_net(), ["a", "b"], {}), tmp_path / "tiny")


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, size in enumerate([(90, 60), (50, 70), (120, 100)]):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"p{i}.png")
    (folder / "notes.txt").write_text("not a photo")
    return folder


# ------------------------------------------------------------------------- network

@pytest.mark.parametrize("height,width", [(37, 50), (64, 64), (33, 91)])
def test_network_keeps_any_size(height, width):
    out = tiny_net()(torch.rand(2, 3, height, width), one_hot(0, 2))
    assert out.shape == (2, 3, height, width)
    wide = TransformerNet(2, NetworkShape(base=4, residual_blocks=1, dilation=2)).eval()
    assert wide(torch.rand(1, 3, height, width), one_hot(1, 2)).shape == (1, 3, height, width)


@pytest.mark.parametrize("dilation", [1, 2])
def test_nothing_beyond_the_networks_reach_changes_a_pixel(dilation):
    # With the norms' statistics fixed (as tiles have them), an output pixel depends on the
    # photo within ``reach`` pixels of it, and a dilation of 2 reaches further than 1.
    net = TransformerNet(1, NetworkShape(base=4, residual_blocks=1, dilation=dilation)).eval()
    for norm in net.norms():
        norm.fixed = (torch.zeros(1, norm.channels, 1, 1), torch.ones(1, norm.channels, 1, 1))
    photo = torch.rand(1, 3, 16, 256)
    with torch.no_grad():
        painted = net(photo, one_hot(0, 1))

    def changes_at(distance: int) -> bool:  # for a pixel at any of the 4 phases of the stride
        for column in range(64, 68):
            moved = photo.clone()
            moved[..., column + distance] = 1 - moved[..., column + distance]
            with torch.no_grad():
                if not torch.equal(painted[..., column], net(moved, one_hot(0, 1))[..., column]):
                    return True
        return False

    plain = TransformerNet(1, TINY_SHAPE).reach
    assert not changes_at(net.reach + 1)
    assert changes_at(plain - 8)  # (reach is a bound: nearest upsampling's reach is rounded up)
    assert changes_at(plain + 1) == (dilation == 2)


def test_dilation_spaces_only_the_residual_blocks_taps():
    net = TransformerNet(1, NetworkShape(base=4, residual_blocks=2, dilation=2))
    dilations = {name: module.dilation for name, module in net.named_modules()
                 if isinstance(module, torch.nn.Conv2d)}
    assert {n for n, d in dilations.items() if d == (2, 2)} == {
        f"residual.{b}.{half}.conv" for b in range(2) for half in ("first", "second")}
    assert all(d == (1, 1) for n, d in dilations.items() if not n.startswith("residual"))


def test_instance_norm_normalises_each_channel():
    norm = ConditionalInstanceNorm(3, styles=1)
    x = torch.randn(2, 3, 10, 12) * 5 + 3
    y = norm(x, torch.ones(2, 1))
    assert torch.allclose(y.mean((2, 3)), torch.zeros(2, 3), atol=1e-5)
    assert torch.allclose(y.var((2, 3), unbiased=False), torch.ones(2, 3), atol=1e-3)


def test_a_blend_is_the_network_with_averaged_norms():
    net = tiny_net()
    image = torch.rand(1, 3, 24, 24)
    blended = net(image, torch.tensor([0.25, 0.75]))
    averaged = TransformerNet(1, TINY_SHAPE)
    state = net.state_dict()
    for key in state:
        if key.endswith((".scale", ".shift")):
            state[key] = (0.25 * state[key][0] + 0.75 * state[key][1])[None]
    averaged.load_state_dict(state)
    assert torch.allclose(blended, averaged(image, torch.ones(1)), atol=1e-5)


def test_styles_paint_differently():
    net, image = tiny_net(), torch.rand(1, 3, 24, 24)
    assert (net(image, one_hot(0, 2)) - net(image, one_hot(1, 2))).abs().mean() > 1e-3


def test_mix_of_wrong_length_is_refused():
    with pytest.raises(ValueError, match="style weights must have shape"):
        tiny_net()(torch.rand(1, 3, 16, 16), torch.ones(3))


# ------------------------------------------------------------------- style folders

def test_save_load_round_trip(style_folder):
    loaded = load_styles(style_folder)
    assert loaded.names == ["a", "b"]
    image = torch.rand(1, 3, 30, 40)
    with torch.no_grad():
        assert torch.equal(loaded.network(image, one_hot(1, 2)), tiny_net()(image, one_hot(1, 2)))
    config = json.loads((style_folder / "config.json").read_text())
    assert config["format"] == "painterly-fast-style" and config["network"]["base"] == 4
    assert not list(style_folder.glob(".*tmp"))


@pytest.mark.parametrize("damage", ["no-weights", "no-config", "garbage-weights", "bad-json",
                                    "wrong-format", "nan", "wrong-shape"])
def test_broken_style_folders_give_one_line_errors(style_folder, damage):
    weights, config = style_folder / "model.safetensors", style_folder / "config.json"
    if damage == "no-weights":
        weights.unlink()
    elif damage == "no-config":
        config.unlink()
    elif damage == "garbage-weights":
        weights.write_bytes(b"\x00" * 100)
    elif damage == "bad-json":
        config.write_text("{not json")
    elif damage == "wrong-format":
        config.write_text(json.dumps({"format": "something else"}))
    elif damage == "nan":
        net = tiny_net()
        with torch.no_grad():
            net.to_rgb.weight[0, 0, 0, 0] = float("nan")
        save_styles(FastStyles(net, ["a", "b"], {}), style_folder)
    elif damage == "wrong-shape":
        data = json.loads(config.read_text())
        data["network"]["base"] = 8
        config.write_text(json.dumps(data))
    with pytest.raises(StyleError) as error:
        load_styles(style_folder)
    assert "\n" not in str(error.value) and str(style_folder) in str(error.value)


def test_style_specs(style_folder):
    assert parse_style_spec("starry_night") == ("starry_night", 1.0)
    assert parse_style_spec("a/b:0.25") == ("a/b", 0.25)
    assert parse_style_spec("c:/x") == ("c:/x", 1.0)
    with pytest.raises(StyleError, match="finite number"):
        parse_style_spec("a:-1")
    styles, mix = load_mix([f"{style_folder}/a:1", f"{style_folder}/b:3"])
    assert mix.tolist() == [0.25, 0.75]
    with pytest.raises(StyleError, match="holds several styles"):
        load_mix([str(style_folder)])
    with pytest.raises(StyleError, match="has no style 'c'"):
        load_mix([f"{style_folder}/c"])
    with pytest.raises(StyleError, match="no fast style"):
        load_mix(["no_such_style"])
    with pytest.raises(StyleError, match="must not all be 0"):
        load_mix([f"{style_folder}/a:0"])


def test_styles_of_different_networks_cannot_blend(style_folder, tmp_path):
    other = save_styles(FastStyles(tiny_net(1), ["c"], {}), tmp_path / "other")
    with pytest.raises(StyleError, match="different networks"):
        load_mix([f"{style_folder}/a", str(other)])


def test_weights_saved_in_fp16_are_read_back_as_fp32(style_folder, tmp_path):
    from safetensors import safe_open

    half = save_styles(load_styles(style_folder), tmp_path / "half", dtype=torch.float16)
    with safe_open(half / "model.safetensors", "pt") as stored:
        assert {stored.get_tensor(k).dtype for k in stored.keys()} == {torch.float16}
    loaded = load_styles(half).network.state_dict()
    for name, weight in tiny_net().state_dict().items():
        assert loaded[name].dtype == torch.float32
        assert torch.equal(loaded[name], weight.half().float())


@pytest.fixture
def bundle_with_one_own_network(tmp_path, monkeypatch, style_png, content_png):
    """A bundle of styles a and b (trained on style_png and content_png), a with its own network."""
    import painterly.fast.paint as paint_module
    import painterly.style_folders as folders_module
    from painterly.models.weights import file_sha256

    records = [{"name": "a", "painting_sha256": file_sha256(style_png)},
               {"name": "b", "painting_sha256": file_sha256(content_png)}]
    bundle = save_styles(FastStyles(tiny_net(), ["a", "b"], {"styles": records}),
                         tmp_path / "bundle")
    save_styles(FastStyles(tiny_net(1, seed=1), ["a"], {"styles": records[:1]}), bundle / "a")
    for module in (folders_module, paint_module):
        monkeypatch.setattr(module, "BUNDLED_DIR", bundle)
    monkeypatch.setenv("PAINTERLY_STYLES_DIR", str(tmp_path / "no-user-styles"))
    return bundle


def test_a_bundled_style_paints_with_its_own_network_and_blends_with_the_shared_one(
        bundle_with_one_own_network, style_png, content_png):
    from painterly.fast.paint import mix_network, styles_for_paintings

    bundle = bundle_with_one_own_network
    alone, mix = load_mix(["a:2"])
    assert alone.folder == bundle / "a" and alone.names == ["a"] and mix.tolist() == [1.0]
    alone, mix = load_mix(["b"])  # no network of its own: the shared one
    assert alone.folder == bundle and mix.tolist() == [0.0, 1.0]
    blend, mix = load_mix(["a:1", "b:3"])
    assert blend.folder == bundle and mix.tolist() == [0.25, 0.75]
    assert [mix_network(s) for s in (["a:2"], ["b"], ["a:1", "b:3"])] == ["bundled/a", "bundled",
                                                                          "bundled"]
    assert styles_for_paintings([(style_png, 1.0)])[0].folder == bundle / "a"
    blend, mix = styles_for_paintings([(style_png, 1.0), (content_png, 1.0)])
    assert blend.folder == bundle and mix.tolist() == [0.5, 0.5]


def test_painterly_styles_names_the_network_that_paints_each_style(bundle_with_one_own_network):
    from click.testing import CliRunner

    from painterly import cli

    result = CliRunner().invoke(cli.cli, ["styles"])
    assert result.exit_code == 0 and result.output.splitlines() == ["a\tbundled/a", "b\tbundled"]


def test_each_shipped_network_of_one_style_paints_its_bundled_painting():
    """BUNDLED_DIR/NAME is style NAME's own network (scripts/train_bundled.sh, phases 7-11): one
    style, trained on the bundled painting of that name from the shared network, in fp16; the
    whole bundle of fast styles stays within 15 MB."""
    from painterly.models.weights import file_sha256
    from painterly.style_folders import BUNDLED_DIR, bundled_styles

    own = sorted(folder for folder in BUNDLED_DIR.iterdir() if folder.is_dir())
    assert own, "no bundled style has a network of its own"
    paintings = Path(str(resources.files("painterly") / "data" / "style"))
    for folder in own:
        config = json.loads((folder / "config.json").read_text())
        assert [s["name"] for s in config["styles"]] == [folder.name]
        painting = paintings / f"{folder.name}.jpg"
        assert config["styles"][0]["painting_sha256"] == file_sha256(painting)
        assert any(t.get("specialised_from") == bundled_styles() for t in config["training"])
        assert (folder / "model.safetensors").stat().st_size < 1_000_000  # fp16
        assert load_mix([folder.name])[0].folder == folder
    assert sum(f.stat().st_size for f in BUNDLED_DIR.rglob("*") if f.is_file()) <= 15_000_000


def test_the_bundled_styles_paint_no_4px_screen():
    """No bundled style paints the same pattern into every 4 x 4 cell (the network's
    upsampling; ``losses.grid_energy``) at 3 levels (of 255) or more on the held-out cat.
    Mondrian's network measured 8.5 before its grid phase (scripts/train_bundled.sh, phase
    10), 0.3 after; the others 0.4 to 2.1, the photo 0.1."""
    from painterly.examples import example_path
    from painterly.image_io import load_image
    from painterly.losses import grid_levels
    from painterly.style_folders import bundled_styles

    photo = load_image(example_path("chelsea_cat"), long_edge=512)
    for name in bundled_styles():
        painter = FastPainter(*load_mix([name]))
        assert grid_levels(painter(photo), painter.net.upsampling) < 3.0, name


# --------------------------------------------------------------------------- tiles

@pytest.mark.parametrize("preserve", ["none", "luminance", "histogram"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_tiles_with_the_whole_images_statistics_reproduce_it(style_folder, preserve, precision):
    """Context, grid alignment and cross-fades are exact: only the statistics can differ.

    In fp32 to float rounding; in bf16 (group norm's kernel on the whole picture, a float32
    formula on tiles) to a few steps of bf16's 2^-8, which a 15-layer network can amplify."""
    runtime = resolve_runtime("cpu", precision)
    styles, mix = load_mix([f"{style_folder}/b"])
    image = torch.nn.functional.interpolate(torch.rand(1, 3, 30, 40), size=(150, 200),
                                            mode="bilinear")
    whole = FastPainter(styles, mix, runtime=runtime, tile_size=1024, preserve_color=preserve,
                        min_edge=None)(image)
    tiled = FastPainter(styles, mix, runtime=runtime, tile_size=96, tile_overlap=32,
                        preserve_color=preserve)
    tiled.statistics_edge = 200
    assert (tiled(image) - whole).abs().max() < (1e-4 if precision == "fp32" else 8 / 255)


def test_small_pictures_are_painted_at_the_minimum_edge_and_shrunk_back(style_folder):
    styles, mix = load_mix([f"{style_folder}/a"])
    image = torch.rand(2, 3, 96, 128)
    for min_edge, painted_at in ((MIN_PAINT_EDGE, (384, 512)), (None, (96, 128))):
        painter, shapes = FastPainter(styles, mix, min_edge=min_edge), []
        run = painter._run
        painter._run = lambda x: shapes.append(tuple(x.shape[-2:])) or run(x)
        out = painter(image)
        assert shapes == [painted_at] and out.shape == image.shape
        assert 0 <= out.min() and out.max() <= 1


def test_with_no_tile_size_only_pictures_beyond_2048_px_are_tiled(style_folder):
    styles, mix = load_mix([f"{style_folder}/a"])
    painter, tiled = FastPainter(styles, mix), []
    tile = painter._tiled
    painter._tiled = lambda image: tiled.append(image.shape[-1]) or tile(image)
    painter(torch.rand(1, 3, 40, ONE_PASS_SIDE))
    painter(torch.rand(1, 3, 40, ONE_PASS_SIDE + 1))
    assert ONE_PASS_SIDE == 2048 and tiled == [ONE_PASS_SIDE + 1]
    assert painter.tile_size == DEFAULT_TILE


def test_tiles_share_the_shrunk_images_statistics(style_folder):
    styles, mix = load_mix([f"{style_folder}/b"])
    image = torch.rand(1, 3, 150, 200)
    painter = FastPainter(styles, mix, tile_size=100, tile_overlap=32)
    small = torch.nn.functional.interpolate(image, scale_factor=0.5, mode="area")
    expected = painter._statistics(small)
    used, run = [], painter._run

    def spy(x):
        if painter.net.norms()[0].fixed is not None:
            used.append([n.fixed for n in painter.net.norms()])
        return run(x)

    painter._run = spy
    painter(image)
    assert len(used) == 6  # 2x3 tiles, every one with the same statistics
    for stats in used:
        for (mean, var), (mean0, var0) in zip(stats, expected):
            assert torch.equal(mean, mean0) and torch.equal(var, var0)


def test_painter_leaves_no_fixed_statistics_behind(style_folder):
    styles, mix = load_mix([f"{style_folder}/a"])
    painter = FastPainter(styles, mix, tile_size=96, tile_overlap=16)
    painter(torch.rand(1, 3, 120, 130))
    assert painter.net.norms()[0].fixed is None
    assert all(n.fixed is None and n.tally is None for n in painter.net.norms())


def test_luminance_keeps_the_photos_colours(style_folder):
    from painterly import color

    styles, mix = load_mix([f"{style_folder}/a"])
    photo = torch.rand(1, 3, 32, 32) * 0.5 + 0.25
    painted = FastPainter(styles, mix, preserve_color="luminance")(photo)
    chroma = lambda x: color.rgb_to_yiq(x)[:, 1:]  # noqa: E731
    # Clamping to [0,1] changes the chroma of out-of-gamut pixels only (see recombine_chroma).
    in_gamut = ((painted > 1e-3) & (painted < 1 - 1e-3)).all(dim=1, keepdim=True)
    assert in_gamut.float().mean() > 0.5
    difference = (chroma(painted) - chroma(photo)).abs() * in_gamut
    assert difference.max() < 1e-4


# ------------------------------------------------------------------------ training

def test_training_writes_a_style_folder(tiny, photos, style_png, content_png, tmp_path):
    seen = []
    styles = train([style_png, content_png], photos, tmp_path / "out", TrainConfig(**TINY_TRAIN),
                   extractor=tiny, callback=seen.append)
    assert [p.step for p in seen] == [1, 2, 3, 4]
    assert all(np.isfinite(p.losses["total"]) for p in seen)
    loaded = load_styles(tmp_path / "out")
    assert loaded.names == ["style", "content"]
    record = loaded.config["training"][0]
    assert record["steps"] == 4 and record["photos"] == 3 and record["train"]["crop_size"] == 32
    assert not (tmp_path / "out" / CHECKPOINT).exists()
    fresh = TransformerNet(2, TINY_SHAPE)
    assert not torch.equal(fresh.to_rgb.weight, styles.network.to_rgb.weight)


def test_training_lowers_the_loss(tiny, photos, style_png, tmp_path):
    """Against the untrained network's loss (the first step's, taken before its update): at a
    learning rate of 0.01 the first updates overshoot to 200 times that loss, and a mean over
    the first steps would count the overshoot as the start."""
    seen = []
    config = TrainConfig(**dict(TINY_TRAIN, steps=60, learning_rate=0.001))
    train([style_png], photos, tmp_path / "out", config, extractor=tiny, callback=seen.append)
    untrained = seen[0].losses["total"]
    assert np.mean([p.losses["total"] for p in seen[-10:]]) < 0.5 * untrained


def test_the_grid_penalty_joins_the_training_loss_only_when_weighted(tiny, photos, style_png, tmp_path):
    plain, gridded = [], []
    train([style_png], photos, tmp_path / "plain", TrainConfig(**dict(TINY_TRAIN, steps=2)),
          extractor=tiny, callback=plain.append)
    train([style_png], photos, tmp_path / "grid", TrainConfig(**dict(TINY_TRAIN, steps=2, grid_weight=1e4)),
          extractor=tiny, callback=gridded.append)
    assert "grid" not in plain[0].losses
    terms = gridded[0].losses
    assert terms["grid"] > 0
    assert terms["total"] == pytest.approx(terms["content"] + terms["style"] + terms["tv"] + terms["grid"])
    # the same seed draws the same first batch, so everything else is the same
    assert terms["style"] == pytest.approx(plain[0].losses["style"])
    assert TransformerNet(1, TINY_SHAPE).upsampling == 4


def _poisoned_objective(monkeypatch, bad_steps):
    """Make the training objective infinite on the given calls (counted from 1)."""
    import importlib

    module = importlib.import_module("painterly.fast.train")
    real, calls = module._Loop.objective, []

    def objective(self, photos, painted, paintings):
        terms = real(self, photos, painted, paintings)
        calls.append(len(calls) + 1)
        if calls[-1] in bad_steps:
            terms["total"] = terms["total"] * float("inf")
        return terms
    monkeypatch.setattr(module._Loop, "objective", objective)


def test_a_batch_that_overflows_is_skipped(tiny, photos, style_png, tmp_path, monkeypatch):
    _poisoned_objective(monkeypatch, {2})
    seen = []
    styles = train([style_png], photos, tmp_path / "out", TrainConfig(**TINY_TRAIN),
                   extractor=tiny, callback=seen.append)
    assert [p.step for p in seen] == [1, 2, 3, 4]
    assert not np.isfinite(seen[1].losses["total"]) and np.isfinite(seen[3].losses["total"])
    assert all(torch.isfinite(p).all() for p in styles.network.parameters())


def test_training_that_keeps_overflowing_stops(tiny, photos, style_png, tmp_path, monkeypatch):
    from painterly.fast.train import MAX_FAILED_STEPS

    _poisoned_objective(monkeypatch, set(range(3, 100)))
    config = TrainConfig(**dict(TINY_TRAIN, steps=MAX_FAILED_STEPS + 5))
    with pytest.raises(FloatingPointError, match="NaN or infinite 10 steps in a row"):
        train([style_png], photos, tmp_path / "out", config, extractor=tiny)


def test_interrupted_training_resumes_to_the_same_network(tiny, photos, style_png, tmp_path):
    config = TrainConfig(**TINY_TRAIN)
    straight = train([style_png], photos, tmp_path / "straight", config, extractor=tiny)

    def stop_at_two(progress):
        if progress.step == 2:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as stop:
        train([style_png], photos, tmp_path / "split", config, extractor=tiny, callback=stop_at_two)
    assert stop.value.step == 2 and (tmp_path / "split" / CHECKPOINT).is_file()
    resumed = train([style_png], photos, tmp_path / "split", config, extractor=tiny, resume=True)
    for key, value in straight.network.state_dict().items():
        assert torch.allclose(value, resumed.network.state_dict()[key], atol=1e-6), key


def test_resume_needs_a_checkpoint(tiny, photos, style_png, tmp_path):
    with pytest.raises(ValueError, match="nothing to resume"):
        train([style_png], photos, tmp_path / "out", TrainConfig(**TINY_TRAIN), extractor=tiny,
              resume=True)


def test_adding_a_style_trains_only_its_norms(tiny, photos, style_png, style_folder, tmp_path):
    base = load_styles(style_folder)
    added = train([style_png], photos, tmp_path / "more", TrainConfig(**TINY_TRAIN),
                  names=["new"], add_to=style_folder, extractor=tiny)
    assert added.names == ["a", "b", "new"]
    old, new = base.network.state_dict(), added.network.state_dict()
    for key, value in old.items():
        if key.endswith((".scale", ".shift")):
            assert torch.equal(new[key][:2], value), key
        else:
            assert torch.equal(new[key], value), key
    assert any(not torch.equal(new[k][2], new[k][:2].mean(0))
               for k in new if k.endswith(".scale"))
    with pytest.raises(ValueError, match="already has a style named 'a'"):
        train([style_png], photos, tmp_path / "again", TrainConfig(**TINY_TRAIN), names=["a"],
              add_to=style_folder, extractor=tiny)


@pytest.mark.parametrize("changes,message", [
    ({"steps": 0}, "steps must be an integer from 1 to"),
    ({"crop_size": 8}, "crop_size must be an integer from 32"),
    ({"learning_rate": float("nan")}, "learning_rate must be a finite number"),
    ({"grid_weight": float("inf")}, "grid_weight must be a finite number"),
    ({"style_weight": 0}, "style_weight must be > 0"),
    ({"style_layers": ()}, "style_layers must name at least one layer"),
    ({"content_layers": ("relu9_9",)}, "unknown layer"),
    ({"photo_edge": (100, 50)}, "photo_edge"),
])
def test_bad_training_settings(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_photo_folder_problems(tiny, style_png, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        train([style_png], tmp_path / "missing", tmp_path / "out", TrainConfig(**TINY_TRAIN),
              extractor=tiny)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no photos"):
        train([style_png], tmp_path / "empty", tmp_path / "out", TrainConfig(**TINY_TRAIN),
              extractor=tiny)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ValueError, match="none of the photos could be read"):
        train([style_png], tmp_path / "broken", tmp_path / "out", TrainConfig(**TINY_TRAIN),
              extractor=tiny)


# ---------------------------------------------------------------------- --init fast

def test_init_fast_starts_from_the_fast_painting(tiny, content_png, style_png, tmp_path,
                                                 monkeypatch, random_decoders):
    from painterly import StyleConfig, stylize
    from painterly.devices import resolve_runtime
    from painterly.fast.wct import PaintingPainter
    from painterly.image_io import load_image, pil_to_tensor
    from painterly.models.weights import file_sha256

    record = {"styles": [{"name": "stripes", "painting_sha256": file_sha256(style_png)}]}
    save_styles(FastStyles(tiny_net(1), ["stripes"], record), tmp_path / "user" / "net")
    monkeypatch.setenv("PAINTERLY_STYLES_DIR", str(tmp_path / "user"))
    config = StyleConfig(init="fast", size=32, scales=1, iterations_per_scale=(0,),
                         content_layers=("relu2_1",), style_layers=("relu1_1",), device="cpu")
    start = pil_to_tensor(stylize(content_png, style_png, config, extractor=tiny))
    styles, mix = load_mix(["stripes"])
    runtime = resolve_runtime("cpu", "auto")  # the start is painted at the fastest precision
    expected = FastPainter(styles, mix, runtime=runtime)(load_image(content_png, long_edge=32))
    assert (start - expected).abs().max() <= 1 / 255 + 1e-6
    # no fast style was trained on this painting: universal style transfer paints the start
    start = pil_to_tensor(stylize(content_png, content_png, config, extractor=tiny))
    expected = PaintingPainter([(load_image(content_png), 1.0)], runtime=runtime)(
        load_image(content_png, long_edge=32))
    assert (start - expected).abs().max() <= 1 / 255 + 1e-6


def test_a_second_phase_continues_from_the_first(tiny, photos, style_png, tmp_path):
    config = TrainConfig(**TINY_TRAIN)
    first = train([style_png], photos, tmp_path / "one", config, extractor=tiny)
    second = train([style_png], photos, tmp_path / "two", config.__class__(
        **dict(TINY_TRAIN, steps=2, tv_weight=20.0)), continue_from=tmp_path / "one", extractor=tiny)
    records = load_styles(tmp_path / "two").config["training"]
    assert [r["train"]["tv_weight"] for r in records] == [2.0, 20.0]
    assert records[1]["continued"] is True
    assert not torch.equal(first.network.to_rgb.weight, second.network.to_rgb.weight)
    with pytest.raises(ValueError, match="paints style, not other"):
        train([style_png], photos, tmp_path / "three", config, names=["other"],
              continue_from=tmp_path / "one", extractor=tiny)


def test_a_phase_can_specialise_a_network_to_one_of_its_styles(tiny, photos, style_png, content_png,
                                                              tmp_path):
    both = train([style_png, content_png], photos, tmp_path / "two", TrainConfig(**TINY_TRAIN),
                 names=["a", "b"], extractor=tiny)
    still = TrainConfig(**dict(TINY_TRAIN, steps=1, learning_rate=1e-12))
    one = train([content_png], photos, tmp_path / "b", still, names=["b"],
                continue_from=tmp_path / "two", extractor=tiny)
    assert one.names == ["b"] and one.network.norms()[0].scale.shape[0] == 1
    photo = torch.rand(1, 3, 40, 56)
    # style b's own scales and shifts, so it first paints as the two-style network painted b
    assert torch.allclose(one.network.paint(photo, torch.ones(1)),
                          both.network.paint(photo, torch.tensor([0.0, 1.0])), atol=1e-5)
    assert load_styles(tmp_path / "b").config["training"][-1]["specialised_from"] == ["a", "b"]


def test_a_phase_can_widen_the_dilation_of_the_same_weights(tiny, photos, style_png, tmp_path):
    config = TrainConfig(**TINY_TRAIN)
    first = train([style_png], photos, tmp_path / "one", config, extractor=tiny)
    wider = TrainConfig(**dict(TINY_TRAIN, steps=1, dilation=2, learning_rate=1e-12))
    second = train([style_png], photos, tmp_path / "two", wider, continue_from=tmp_path / "one",
                   extractor=tiny)
    loaded = load_styles(tmp_path / "two")
    assert loaded.network.shape == NetworkShape(base=4, residual_blocks=1, dilation=2)
    assert loaded.config["network"]["dilation"] == 2
    # the first phase's weights, hardly moved by one tiny step, in the wider network
    for (name, before), after in zip(first.network.state_dict().items(),
                                     second.network.state_dict().values()):
        assert torch.allclose(before, after, atol=1e-6), name
    with pytest.raises(ValueError, match="another shape"):
        train([style_png], photos, tmp_path / "three",
              TrainConfig(**dict(TINY_TRAIN, base_width=2)), continue_from=tmp_path / "one",
              extractor=tiny)  # narrower than the network


def test_a_phase_can_widen_the_network_and_first_paints_as_before(tiny, photos, style_png, tmp_path):
    first = train([style_png], photos, tmp_path / "one", TrainConfig(**TINY_TRAIN), extractor=tiny)
    wider = TrainConfig(**dict(TINY_TRAIN, steps=1, base_width=6, learning_rate=1e-12))
    second = train([style_png], photos, tmp_path / "two", wider, continue_from=tmp_path / "one",
                   extractor=tiny)
    assert load_styles(tmp_path / "two").network.shape == NetworkShape(base=6, residual_blocks=1)
    assert second.network.to_rgb.weight.shape == (3, 6, 9, 9)
    photo, mix = torch.rand(1, 3, 40, 56), torch.ones(1)
    assert torch.allclose(first.network.paint(photo, mix), second.network.paint(photo, mix), atol=1e-5)
    # the new channels are live: they would change the picture once their weights move
    second.network.to_rgb.weight.data[:, 4:] = 1.0
    assert not torch.allclose(first.network.paint(photo, mix), second.network.paint(photo, mix),
                              atol=1e-3)


def test_embed_state_fills_the_leading_block_and_cuts_new_inputs_to_old_outputs():
    from painterly.fast.network import embed_state

    narrow = {"conv": torch.full((2, 1, 1, 1), 5.0), "norm": torch.tensor([[7.0]])}
    wide = {"conv": torch.ones(3, 2, 1, 1), "norm": torch.ones(1, 2), "extra": torch.ones(1)}
    state = embed_state(narrow, wide)
    assert state["conv"][:, :, 0, 0].tolist() == [[5, 0], [5, 0], [1, 1]]
    assert state["norm"].tolist() == [[7, 1]]
    assert torch.equal(state["extra"], wide["extra"]) and wide["conv"].eq(1).all()


def test_a_phase_can_append_residual_blocks_that_start_as_identities(tiny, photos, style_png, tmp_path):
    config = TrainConfig(**TINY_TRAIN)
    first = train([style_png], photos, tmp_path / "one", config, extractor=tiny)
    deeper = TrainConfig(**dict(TINY_TRAIN, steps=1, residual_blocks=3, learning_rate=1e-12))
    second = train([style_png], photos, tmp_path / "two", deeper, continue_from=tmp_path / "one",
                   extractor=tiny)
    assert load_styles(tmp_path / "two").network.shape == NetworkShape(base=4, residual_blocks=3)
    photo = torch.rand(1, 3, 40, 56)
    mix = torch.ones(1)
    # the new blocks add nothing until training moves them: the same picture as before
    assert torch.allclose(first.network.paint(photo, mix), second.network.paint(photo, mix), atol=1e-5)
    assert second.network.residual[2].second.norm.scale.abs().max() < 1e-6
    with pytest.raises(ValueError, match="another shape"):
        train([style_png], photos, tmp_path / "three", config, continue_from=tmp_path / "two",
              extractor=tiny)  # fewer blocks than the network has


def test_learning_rate_schedule():
    from painterly.fast.train import learning_rate_factor

    assert learning_rate_factor(70, 100) == 1.0
    assert learning_rate_factor(100, 100) == pytest.approx(0.1)
    assert learning_rate_factor(100, 100, decay=0) == 1.0
    assert learning_rate_factor(50, 100, decay=1) == pytest.approx(0.55)
    assert [learning_rate_factor(s, 100, warmup=4) for s in (1, 2, 4, 5)] == [0.25, 0.5, 1.0, 1.0]
    assert learning_rate_factor(100, 100, warmup=4) == pytest.approx(0.1)


def test_painting_and_training_normalise_alike():
    # Painting takes group norm's fast kernel, training the differentiable var_mean path.
    net = tiny_net()
    image, mix = torch.rand(2, 3, 24, 32), torch.tensor([[0.3, 0.7], [1.0, 0.0]])
    trained = net(image, mix)
    with torch.no_grad():
        painted = net(image, mix)
        single = net(image[1:], mix[1:])
    assert torch.allclose(painted, trained, atol=1e-5)
    assert torch.allclose(single, trained[1:], atol=1e-5)
