"""Universal style transfer: the whitening-colouring transform, the decoders and their files."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from painterly.fast.decoders import (DECODER_LAYERS, Decoder, DecoderError, Decoders,
                                     load_decoders, save_decoders)
from painterly.fast.paint import DEFAULT_TILE, ONE_PASS_SIDE
from painterly.fast.detail import detail_stats
from painterly.fast.wct import (DETAIL_KEY, PaintingPainter, UniversalPainter, _moments, feature_stats,
                                whiten_colour)


def _correlated(seed: int, channels: int = 6, size: int = 9, offset: float = 0.0) -> torch.Tensor:
    """(1,C,size,size) features with correlated channels and a non-zero mean."""
    g = torch.Generator().manual_seed(seed)
    mixing = torch.randn(channels, channels, generator=g)
    flat = mixing @ torch.randn(channels, size * size, generator=g) + offset
    return flat.reshape(1, channels, size, size)


def test_whiten_colour_gives_the_paintings_mean_and_covariance():
    content, painting = _correlated(0, offset=1.0), _correlated(1, offset=5.0)
    out = whiten_colour(content, [(feature_stats(painting), 1.0)])
    mean, cov = _moments(out)
    want_mean, want_cov = _moments(painting)
    assert torch.allclose(mean, want_mean, atol=1e-4)
    assert torch.allclose(cov, want_cov, atol=1e-3 * want_cov.abs().max().item())


def test_whiten_colour_on_a_hand_checkable_case():
    # One channel: whitening divides by the standard deviation, colouring multiplies by the
    # painting's and adds its mean. Content [1,3] (mean 2, sd sqrt 2 unbiased); painting
    # [10,14] (mean 12, sd 2 sqrt 2) -> 12 ± 2.
    content = torch.tensor([1.0, 3.0]).view(1, 1, 1, 2)
    painting = torch.tensor([10.0, 14.0]).view(1, 1, 1, 2)
    out = whiten_colour(content, [(feature_stats(painting), 1.0)])
    assert out.flatten().tolist() == pytest.approx([10.0, 14.0], abs=1e-4)


def test_whitening_ridge_on_a_hand_checkable_case():
    # Two independent channels, variances 4 and 0.04 (mean eigenvalue 2.02): a ridge of 0.1
    # adds 0.202 to each before the inverse square root, so the loud channel is whitened
    # nearly as before and the quiet one stays quiet instead of being raised to unit variance.
    from painterly.fast.wct import content_transform

    loud, quiet = torch.tensor([-2.0, 2.0, -2.0, 2.0]), torch.tensor([-0.2, 0.2, 0.2, -0.2])
    features = torch.stack([loud, quiet]).view(1, 2, 2, 2) * (3 / 4) ** 0.5  # unbiased var 4, 0.04
    _, plain = content_transform(features)
    assert torch.diagonal(plain).tolist() == pytest.approx([4 ** -0.5, 0.04 ** -0.5], rel=1e-4)
    _, ridged = content_transform(features, ridge=0.1)
    assert torch.diagonal(ridged).tolist() == pytest.approx([4.202 ** -0.5, 0.242 ** -0.5], rel=1e-4)
    whitened_variance = (torch.diagonal(ridged) ** 2 * torch.tensor([4.0, 0.04])).tolist()
    assert whitened_variance == pytest.approx([0.952, 0.165], abs=1e-3)


@pytest.mark.slow
def test_the_painter_whitens_every_level_with_the_ridge(monkeypatch):
    import painterly.fast.wct as wct

    ridges = []
    real = wct._rows_transform  # the whitening of content_transform and of the painter
    monkeypatch.setattr(wct, "_rows_transform",
                        lambda rows, ridge: ridges.append(ridge) or real(rows, ridge))
    painter = UniversalPainter(Decoders({layer: Decoder(layer) for layer in DECODER_LAYERS}))
    torch.manual_seed(0)
    stats = painter.style(torch.rand(1, 3, 80, 80))  # relu4_1 10 x 10: patches to swap
    painter.paint(torch.rand(1, 3, 48, 64), [(stats, 1.0)])
    # relu4_1 (its features and their swap), relu3_1, relu2_1; the painting's patches take
    # theirs from the painting's own covariance (test_patch_bank_keys_...)
    assert ridges == [wct.WHITENING_RIDGE] * 4 and wct.WHITENING_RIDGE == 0.1


def test_strength_zero_keeps_the_content_features():
    content = _correlated(2)
    out = whiten_colour(content, [(feature_stats(_correlated(3)), 1.0)], strength=0.0)
    assert torch.allclose(out, content, atol=1e-6)


def test_constant_painting_and_flat_photo_stay_finite():
    flat_painting = torch.full((1, 6, 8, 8), 2.0)
    out = whiten_colour(_correlated(4), [(feature_stats(flat_painting), 1.0)])
    assert torch.allclose(out, torch.full_like(out, 2.0), atol=1e-5)  # the painting's only value
    out = whiten_colour(torch.zeros(1, 6, 5, 5), [(feature_stats(_correlated(5, offset=3.0)), 1.0)])
    assert torch.isfinite(out).all()


def test_blend_of_two_paintings_is_the_weighted_mix_of_each():
    content, a, b = _correlated(6), feature_stats(_correlated(7)), feature_stats(_correlated(8))
    mixed = whiten_colour(content, [(a, 0.25), (b, 0.75)])
    expected = 0.25 * whiten_colour(content, [(a, 1.0)]) + 0.75 * whiten_colour(content, [(b, 1.0)])
    assert torch.allclose(mixed, expected, atol=1e-4)


@pytest.mark.parametrize("layer,channels,factor", [("relu1_1", 64, 1), ("relu2_1", 128, 2),
                                                   ("relu3_1", 256, 4), ("relu4_1", 512, 8)])
def test_decoder_mirrors_vgg_to_its_layer(layer, channels, factor):
    decoder = Decoder(layer)
    out = decoder(torch.rand(1, channels, 3, 5))
    assert out.shape == (1, 3, 3 * factor, 5 * factor)


def test_unknown_decoder_layer_is_refused():
    with pytest.raises(ValueError, match="relu5_1"):
        Decoder("relu5_1")


def test_decoders_round_trip_through_their_folder(tmp_path):
    torch.manual_seed(0)
    nets = {layer: Decoder(layer) for layer in DECODER_LAYERS[:2]}
    nets["relu2_1"].input_scale.fill_(0.25)
    save_decoders(Decoders(nets, {"training": {"note": "test"}}), tmp_path)
    loaded = load_decoders(tmp_path)
    assert list(loaded.nets) == list(nets)
    assert loaded.config["training"] == {"note": "test"}
    for layer, net in nets.items():
        for key, value in net.state_dict().items():
            # stored as fp16: equal to fp16 rounding
            assert torch.allclose(loaded.nets[layer].state_dict()[key], value, rtol=1e-3, atol=1e-4)


def test_broken_decoder_folders_give_one_line_errors(tmp_path):
    with pytest.raises(DecoderError, match="holds no VGG decoders"):
        load_decoders(tmp_path / "missing")
    save_decoders(Decoders({"relu1_1": Decoder("relu1_1")}), tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 20)
    with pytest.raises(DecoderError) as error:
        load_decoders(tmp_path)
    assert "\n" not in str(error.value)


@pytest.mark.slow
def test_default_levels_are_relu4_1_to_relu2_1_where_there_are_decoders_for_them():
    from painterly.fast.wct import DEFAULT_LEVELS

    every = Decoders({layer: Decoder(layer) for layer in DECODER_LAYERS})
    assert UniversalPainter(every).levels == DEFAULT_LEVELS == ("relu4_1", "relu3_1", "relu2_1")
    shallow = Decoders({layer: Decoder(layer) for layer in ("relu1_1", "relu2_1", "relu3_1")})
    assert UniversalPainter(shallow).levels == ("relu3_1", "relu2_1", "relu1_1")


@pytest.mark.slow
def test_relu2_1_moves_seven_tenths_as_far_as_the_strength_asks(monkeypatch):
    import painterly.fast.wct as wct

    strengths = []
    real = wct.UniversalPainter._move

    def recording(self, layer, features, pairs, strength, *rest):
        strengths.append(strength)
        return real(self, layer, features, pairs, strength, *rest)

    monkeypatch.setattr(wct.UniversalPainter, "_move", recording)
    painter = UniversalPainter(Decoders({layer: Decoder(layer) for layer in DECODER_LAYERS}))
    torch.manual_seed(0)
    stats = painter.style(torch.rand(1, 3, 48, 64))
    painter.paint(torch.rand(1, 3, 48, 64), [(stats, 1.0)], strength=0.8)
    assert strengths == pytest.approx([0.8, 0.8, 0.56])  # relu4_1, relu3_1, relu2_1


def test_style_swap_rebuilds_a_painting_from_its_own_patches():
    # A photo whose features are a crop of the painting's, whitened the painting's way: each
    # of its patches is one of the painting's and correlates best with itself, so away from
    # the border (where the padding makes patches of its own) the swap gives the crop back.
    from painterly.fast.wct import (WHITENING_RIDGE, _whiten, content_transform, patch_bank,
                                    style_swap)

    painting = _correlated(9, channels=8, size=13)[..., :10, :]  # 10 x 13 responses
    crop = painting[..., 2:, 3:11]
    transform = content_transform(painting, WHITENING_RIDGE)
    for size in (3, 5):  # every position's patch is in a bank with stride 1
        bank = patch_bank(painting, size=size, stride=1)
        out = style_swap(_whiten(crop, transform), bank, torch.float32)
        assert out.shape == crop.shape
        edge = 2 * (size // 2)
        assert torch.allclose(out[..., edge:-edge, edge:-edge], crop[..., edge:-edge, edge:-edge],
                              atol=1e-5)


def test_style_swap_averages_the_patches_that_cover_a_position():
    # A painting of one channel whose only patch is 0..8 row by row: every position of any
    # photo takes that patch, so a position inside a 3x3 photo is covered by its 9 cells
    # (mean 4), a corner by 4 of them, and so on.
    from painterly.fast.wct import PatchBank, style_swap

    values = torch.arange(9.0).view(1, 1, 3, 3)
    bank = PatchBank(torch.ones(3, 3, 1), torch.ones(1, 1), values, size=3)
    out = style_swap(torch.rand(1, 1, 3, 3), bank, torch.float32)
    corner = (0 + 1 + 3 + 4) / 4  # the top-left position: the upper-left cells of the patches
    # centred on it and on its three neighbours below and to the right
    assert out[0, 0, 1, 1].item() == pytest.approx(4.0)
    assert out[0, 0, 0, 0].item() == pytest.approx(corner)


def test_patch_bank_holds_whitened_features_and_patch_norms_and_tiny_paintings_have_none():
    import painterly.fast.wct as wct
    from painterly.fast.wct import WHITENING_RIDGE, _whiten, content_transform, patch_bank

    features = _correlated(10, channels=4, size=6)
    bank = patch_bank(features, size=3, stride=1)
    whitened = _whiten(features, content_transform(features, WHITENING_RIDGE))[0]
    assert torch.allclose(bank.whitened, whitened.permute(1, 2, 0), atol=1e-6)
    assert bank.scales.shape == (4, 4)  # 3x3 patches of a 6x6 map
    # the patch at row 1, column 3
    assert bank.scales[1, 3].item() == pytest.approx(1 / whitened[:, 1:4, 3:6].norm().item())
    # every other position: the patches at rows and columns 0 and 2, and the features they span
    sparse = patch_bank(features, size=3, stride=2)
    assert torch.equal(sparse.scales, bank.scales[::2, ::2])
    assert sparse.whitened.shape == (5, 5, 4)
    # the painter's statistics make the default bank from the same covariance
    big = _correlated(12, channels=4, size=14)
    from_stats = feature_stats(big, patches=True).patches
    default = patch_bank(big)
    assert (default.size, default.stride) == (wct.SWAP_PATCH, wct.SWAP_STRIDE) == (9, 3)
    assert default.scales.shape == (2, 2)
    assert torch.allclose(from_stats.whitened, default.whitened, atol=1e-4)
    too_small = _correlated(11, size=wct.SWAP_PATCH - 1)
    assert feature_stats(too_small, patches=True).patches is None  # no whole patch


@pytest.mark.parametrize("size, stride, block", [(3, 1, 1 << 24), (5, 2, 1 << 24), (5, 2, 500),
                                                 (9, 3, 4000)])
def test_patch_scores_are_the_convolution_with_unit_patches(monkeypatch, size, stride, block):
    # Chen & Schmidt's definition: the reflect-padded content convolved with the painting's
    # patches, each divided by its norm; small blocks score the content in bands of rows.
    import painterly.fast.wct as wct
    from painterly.fast.wct import patch_bank, patch_scores

    monkeypatch.setattr(wct, "SCORE_BLOCK", block)
    torch.manual_seed(size)
    painting, content = torch.randn(1, 6, 17, 20), torch.randn(1, 6, 11, 13)
    bank = patch_bank(painting, size=size, stride=stride)
    whitened = bank.whitened.permute(2, 0, 1)
    windows = whitened.unfold(1, size, stride).unfold(2, size, stride)  # (C, rows, cols, k, k)
    keys = windows.permute(1, 2, 0, 3, 4).reshape(-1, 6, size, size)
    keys = keys / keys.flatten(1).norm(dim=1)[:, None, None, None]
    padded = F.pad(content, (size // 2,) * 4, mode="reflect")
    expected = F.conv2d(padded, keys)[0]
    scores = patch_scores(content, bank, torch.float32)
    assert scores.shape == expected.shape == (bank.scales.numel(), 11, 13)
    assert torch.allclose(scores, expected, atol=1e-4)
    assert torch.equal(scores.argmax(0), expected.argmax(0))
    # in bf16 (the runtime's on CPUs with native bf16) the product rounds, the sums do not
    rounded = patch_scores(content, bank, torch.bfloat16)
    assert rounded.dtype == torch.float32
    assert (rounded - expected).abs().max() < 0.02 * expected.abs().max()


@pytest.mark.slow
def test_the_painter_swaps_at_relu4_1_only_and_not_for_video(monkeypatch):
    import painterly.fast.wct as wct

    calls = []
    real = wct.style_swap
    monkeypatch.setattr(wct, "style_swap", lambda features, *rest: calls.append(
        features.shape[1]) or real(features, *rest))
    decoders = Decoders({layer: Decoder(layer) for layer in DECODER_LAYERS})
    torch.manual_seed(0)
    photo, painting = torch.rand(1, 3, 48, 64), torch.rand(1, 3, 80, 80)  # relu4_1: 6x8, 10x10
    painter = UniversalPainter(decoders)
    assert painter.swap_share == wct.SWAP_SHARE == 0.3
    painter.paint(photo, [(painter.style(painting), 1.0)])
    assert calls == [512]  # relu4_1's channels, once
    steady = UniversalPainter(decoders, swap_share=0.0)
    stats = steady.style(painting)
    assert stats["relu4_1"].patches is None
    steady.paint(photo, [(stats, 1.0)])
    assert calls == [512]
    # a painting too small for relu4_1's patches is painted by WCT alone, and so is a photo
    # too small to pad for them (relu4_1 3 x 3)
    painter.paint(photo, [(painter.style(torch.rand(1, 3, 16, 16)), 1.0)])
    painter.paint(torch.rand(1, 3, 24, 24), [(painter.style(painting), 1.0)])
    assert calls == [512]
    # a panorama whose whole picture, shrunk to one tile, is too low for the swap: its tiles,
    # tall enough for it, leave it out too, as the whole picture's transforms say
    tiled = UniversalPainter(decoders, levels=("relu4_1",), tile_size=192, tile_overlap=64)
    out = tiled.paint(torch.rand(1, 3, 40, 700), [(tiled.style(painting), 1.0)])
    assert out.shape == (1, 3, 40, 700) and calls == [512]


def test_painting_painters_for_video_leave_the_swap_and_the_detail_out(monkeypatch):
    import painterly.fast.wct as wct

    made = []

    class Recording:
        def __init__(self, **options):
            made.append((options["swap_share"], options["detail"]))

        def style(self, painting, detail_from=None):
            return {}

    monkeypatch.setattr(wct, "UniversalPainter", Recording)
    wct.PaintingPainter([(torch.rand(1, 3, 20, 20), 1.0)], video=True)
    wct.PaintingPainter([(torch.rand(1, 3, 20, 20), 1.0)])
    assert made == [(0.0, False), (wct.SWAP_SHARE, True)]


def test_the_detail_is_measured_on_the_painting_at_full_size():
    decoders = Decoders({layer: Decoder(layer) for layer in ("relu2_1", "relu1_1")})
    universal = UniversalPainter(decoders, levels=("relu2_1", "relu1_1"))
    painting = torch.rand(1, 3, 600, 800)
    painter = PaintingPainter([(painting, 1.0)], style_size=64, universal=universal)
    stats = painter.styles[0][0]
    assert torch.equal(stats[DETAIL_KEY].quantiles, detail_stats(painting).quantiles)
    assert not torch.equal(stats[DETAIL_KEY].quantiles,
                           detail_stats(torch.nn.functional.interpolate(painting, size=(48, 64),
                                                                        mode="area")).quantiles)


def test_with_no_tile_size_only_pictures_beyond_2048_px_are_tiled():
    decoders = Decoders({layer: Decoder(layer) for layer in ("relu2_1", "relu1_1")})
    painter, tiled = UniversalPainter(decoders, levels=("relu2_1", "relu1_1")), []
    tile = painter._tiled
    painter._tiled = lambda photo, *rest: tiled.append(photo.shape[-1]) or tile(photo, *rest)
    styles = [(painter.style(torch.rand(1, 3, 40, 30)), 1.0)]
    for width in (ONE_PASS_SIDE, ONE_PASS_SIDE + 1):
        assert painter.paint(torch.rand(1, 3, 24, width), styles).shape[-1] == width
    assert ONE_PASS_SIDE == 2048 and tiled == [ONE_PASS_SIDE + 1]
    assert painter.tile_size == DEFAULT_TILE


@pytest.mark.slow
def test_painter_keeps_the_photos_size_and_range():
    torch.manual_seed(0)
    decoders = Decoders({layer: Decoder(layer) for layer in ("relu2_1", "relu1_1")})
    painter = UniversalPainter(decoders, levels=("relu2_1", "relu1_1"))
    painting = torch.rand(1, 3, 40, 30)
    photo = torch.rand(1, 3, 27, 35)  # not a multiple of 8: padded and cropped back
    out = painter.paint(photo, [(painter.style(painting), 1.0)], strength=0.5)
    assert out.shape == photo.shape and out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1
    with pytest.raises(ValueError, match="strength"):
        painter.paint(photo, [(painter.style(painting), 1.0)], strength=1.5)
    with pytest.raises(ValueError, match="positive weight"):
        painter.paint(photo, [(painter.style(painting), 0.0)])
    with pytest.raises(ValueError, match="no decoder for relu4_1"):
        UniversalPainter(decoders, levels=("relu4_1",))


@pytest.mark.slow
def test_tiles_with_the_whole_pictures_whitening_reproduce_the_whole_picture():
    torch.manual_seed(0)
    decoders = Decoders({layer: Decoder(layer) for layer in ("relu2_1", "relu1_1")})
    whole = UniversalPainter(decoders, levels=("relu2_1", "relu1_1"), tile_size=256)
    tiled = UniversalPainter(decoders, levels=("relu2_1", "relu1_1"), tile_size=64, tile_overlap=16)
    tiled.statistics_edge = 256  # whiten with the whole picture's statistics, not a shrunk copy
    photo = torch.nn.functional.interpolate(torch.rand(1, 3, 6, 7), size=(96, 140), mode="bilinear")
    stats = whole.style(torch.rand(1, 3, 40, 40))
    expected = whole.paint(photo, [(stats, 1.0)])
    got = tiled.paint(photo, [(stats, 1.0)])
    assert got.shape == photo.shape
    # random decoders amplify float rounding (the order of the sums differs in a tile)
    assert torch.allclose(got, expected, atol=5e-3)


@pytest.mark.slow
def test_fast_command_takes_a_painting_picture_as_the_style(random_decoders, content_png,
                                                            style_png, tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from painterly.cli import cli

    out = tmp_path / "out.png"
    result = CliRunner().invoke(cli, ["fast", str(content_png), "--style", f"{style_png}:1",
                                      "--strength", "0.7", "--size", "0", "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == Image.open(content_png).size
    assert '"engine": "universal"' in Image.open(out).info["painterly"]


@pytest.mark.parametrize("args,message", [
    (["--style", "starry_night", "--style", "STYLE_PNG"], "not both"),
    (["--style", "STYLE_PNG", "--strength", "2"], "strength"),
    (["--style", "MISSING.png"], "MISSING.png"),
    (["--style", "MISSING.jpg"], "'MISSING.jpg': no such file"),
])
def test_fast_command_refuses_bad_painting_arguments(args, message, content_png, style_png, tmp_path):
    from click.testing import CliRunner

    from painterly.cli import cli

    args = [a.replace("STYLE_PNG", str(style_png)) for a in args]
    result = CliRunner().invoke(cli, ["fast", str(content_png), *args, "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "o.png").exists()


def test_pictures_too_small_for_relu4_1_are_refused(content_png, tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from painterly.cli import cli

    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (40, 10), "red").save(tiny)
    result = CliRunner().invoke(cli, ["fast", str(content_png), "--style", str(tiny),
                                      "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 2 and "tiny.png" in result.output and "16 px" in result.output
    result = CliRunner().invoke(cli, ["fast", str(tiny), "--style", str(content_png), "--size", "0",
                                      "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 2 and "tiny.png" in result.output and "16 px" in result.output


def test_missing_bundled_decoders_are_named_before_work(monkeypatch, tmp_path, content_png, style_png):
    from click.testing import CliRunner

    import painterly.fast.decoders as module
    from painterly.cli import cli

    monkeypatch.setattr(module, "BUNDLED_DIR", tmp_path / "none")
    result = CliRunner().invoke(cli, ["fast", str(content_png), "--style", str(style_png),
                                      "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 2
    assert "train them with scripts/train_decoders.py" in result.output
    assert "cpu" not in result.output  # before the device line


@pytest.mark.slow
def test_tiles_swap_as_the_whole_picture_does():
    # relu4_1 with its style swap: the tiles take the whole picture's whitening of the
    # features and of their swap, and the swap's 9x9 patches (4 responses, 32 px, each side
    # of their centre) lie inside each tile's margin, the default 64 px.
    # Near a margin a tile's VGG19 features differ a little from the whole picture's, which
    # WCT passes on in proportion but can flip the swap's choice between two patches that
    # correlate almost equally: a few pixels differ, none by much.
    torch.manual_seed(0)
    decoders = Decoders({"relu4_1": Decoder("relu4_1")})
    whole = UniversalPainter(decoders, levels=("relu4_1",), tile_size=512)
    tiled = UniversalPainter(decoders, levels=("relu4_1",), tile_size=192, tile_overlap=64)
    tiled.statistics_edge = 512
    photo = torch.nn.functional.interpolate(torch.rand(1, 3, 6, 7), size=(200, 264), mode="bilinear")
    stats = whole.style(torch.rand(1, 3, 96, 96))  # relu4_1 12 x 12: 4 patches of 9 x 9
    assert stats["relu4_1"].patches is not None
    expected = whole.paint(photo, [(stats, 1.0)])
    got = tiled.paint(photo, [(stats, 1.0)])
    difference = (got - expected).abs()
    assert (difference > 5e-3).float().mean() < 0.01 and difference.max() < 0.05


def test_painter_leaves_a_shared_network_as_it_was():
    # load_vgg19 is cached and the optimiser shares it: a painter at another precision must
    # work on a copy.
    from painterly.devices import resolve_runtime
    from painterly.pipeline import load_vgg19

    network = load_vgg19(None, "auto", "max")
    dtype = next(network.parameters()).dtype
    painter = UniversalPainter(Decoders({"relu1_1": Decoder("relu1_1")}), network,
                               resolve_runtime("cpu", "bf16"), levels=("relu1_1",))
    assert next(painter.encoder.parameters()).dtype == torch.bfloat16
    assert next(network.parameters()).dtype == dtype == torch.float32


@pytest.fixture
def photo_folder_of_examples(bundled, tmp_path):
    """The bundled example photos, as a folder of training photos."""
    import shutil

    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in (bundled["data"] / "content").iterdir():
        shutil.copy(photo, folder)
    return folder


def _psnr(decoder, layer: str, picture: torch.Tensor) -> float:
    from painterly.pipeline import load_vgg19

    encoder = load_vgg19(None, "auto", "max").truncated(layer)
    h, w = picture.shape[-2:]
    picture = picture[..., :h // 8 * 8, :w // 8 * 8]  # whole pixels at every depth
    with torch.no_grad():
        decoded = decoder(encoder(picture, [layer])[layer]).clamp(0, 1)
    return -10 * torch.log10((decoded - picture).pow(2).mean()).item()


@pytest.mark.slow
def test_relu1_1_decoder_is_solved_by_least_squares(photo_folder_of_examples, bundled, tmp_path):
    from painterly.fast.train_decoders import DecoderConfig, train_decoder
    from painterly.image_io import load_image

    config = DecoderConfig(steps=4, batch_size=2, crop_size=64, photo_edge=(96, 192))
    decoder, record = train_decoder("relu1_1", photo_folder_of_examples, tmp_path, config)
    assert record["method"] == "least squares" and record["photos"] == 3
    painting = load_image(bundled["style"], long_edge=96)  # a picture it never saw
    assert _psnr(decoder, "relu1_1", painting) > 30  # an untrained decoder gives about 10 dB


def test_a_deeper_decoder_starts_from_the_shallower_one():
    from painterly.fast.train_decoders import _warm_start

    torch.manual_seed(0)
    shallower, deeper = Decoder("relu3_1"), Decoder("relu4_1")
    _warm_start(deeper, shallower)
    # relu4_1's decoder ends with relu3_1's whole decoder, copied; its own first layers are
    # left as they were drawn
    tail = deeper.body[-len(shallower.body):]
    assert all(torch.equal(mine, theirs) for mine, theirs in
               zip(tail.state_dict().values(), shallower.body.state_dict().values(), strict=True))
    assert deeper.body[0].conv.weight.shape == (256, 512, 3, 3)


# Peak signal-to-noise ratio of decode(encode(photo)) on the bundled cat at 128 px, a photo
# no decoder was trained on. The bundled decoders measured 41.5, 30.4, 26.1 and 21.1 dB (the
# same to 0.01 dB in fp16 as in fp32; relu3_1's 26.3 before its ridge stage, relu4_1's 20.9
# before its third stage); an untrained one gives about 10 dB.
FLOOR = {"relu1_1": 39.0, "relu2_1": 28.0, "relu3_1": 24.0, "relu4_1": 19.0}


@pytest.mark.slow
@pytest.mark.parametrize("layer", FLOOR)
def test_each_bundled_decoder_inverts_its_layer(layer, bundled):
    from painterly.image_io import load_image

    decoder = load_decoders().nets[layer]
    assert _psnr(decoder, layer, load_image(bundled["content"], long_edge=128)) >= FLOOR[layer]


def test_bundled_decoders_fit_the_package_budget():
    from painterly.fast.decoders import BUNDLED_DIR

    sizes = sum(f.stat().st_size for f in BUNDLED_DIR.iterdir())
    assert sizes <= 30_000_000, f"{sizes / 1e6:.1f} MB"
    assert json.loads((BUNDLED_DIR / "config.json").read_text())["layers"] == list(FLOOR)


@pytest.mark.slow
def test_a_warm_started_decoder_resumes_from_its_checkpoint(photo_folder_of_examples, tmp_path):
    from painterly.fast.train import TrainingInterrupted
    from painterly.fast.train_decoders import DecoderConfig, train_decoder

    small = dict(batch_size=1, crop_size=32, photo_edge=(64, 96))
    shallower, _ = train_decoder("relu1_1", photo_folder_of_examples, tmp_path,
                                 DecoderConfig(steps=1, **small))
    config = DecoderConfig(steps=3, **small)
    seen = []

    def stop_after_the_first_step(progress):
        seen.append(progress.step)
        raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        train_decoder("relu2_1", photo_folder_of_examples, tmp_path, config, resume=True,
                      shallower=shallower, callback=stop_after_the_first_step)
    seen.clear()
    _, record = train_decoder("relu2_1", photo_folder_of_examples, tmp_path, config, resume=True,
                              shallower=shallower, callback=lambda p: seen.append(p.step))
    assert seen == [2, 3] and record["warm_start"] == "relu1_1"


def test_transfers_give_the_last_samples_the_statistics_of_the_one_before():
    from painterly.fast.train_decoders import _with_transfers

    features = torch.cat([_correlated(seed, offset=seed) for seed in range(3)])
    moved = _with_transfers(features, 2)
    assert torch.equal(moved[0], features[0])  # left as it was
    for i in (1, 2):  # sample i now has sample i-1's mean and covariance
        mean, covariance = _moments(moved[i:i + 1])
        want_mean, want_covariance = _moments(features[i - 1:i])
        assert torch.allclose(mean, want_mean, atol=1e-4)
        assert torch.allclose(covariance, want_covariance, rtol=1e-3, atol=1e-3)
    # a whole batch of transfers: the first takes the statistics of the last
    everything = _with_transfers(features, 3)
    assert torch.allclose(_moments(everything[:1])[0], _moments(features[2:])[0], atol=1e-4)


def test_transfers_whiten_with_the_ridge_they_are_given():
    from painterly.fast.train_decoders import _with_transfers
    from painterly.fast.wct import content_transform, whiten_colour

    features = torch.cat([_correlated(seed, offset=seed) for seed in range(2)])
    ridged = _with_transfers(features, 1, ridge=0.1)
    stats = feature_stats(features[:1])
    expected = whiten_colour(features[1:], [(stats, 1.0)],
                             transform=content_transform(features[1:], 0.1))
    assert torch.allclose(ridged[1:], expected, atol=1e-5)
    # the ridge leaves the photo's quiet directions quieter: less variance than the source's
    assert _moments(ridged[1:])[1].trace() < 0.99 * _moments(features[:1])[1].trace()


@pytest.mark.parametrize("fraction", [-0.1, 1.5, "half"])
def test_transfer_fraction_must_be_a_share(fraction):
    from painterly.fast.train_decoders import DecoderConfig

    with pytest.raises(ValueError, match="transfer_fraction"):
        DecoderConfig(transfer_fraction=fraction)


@pytest.mark.slow
def test_training_continues_a_decoder_on_transferred_features(photo_folder_of_examples, tmp_path):
    from painterly.fast.train_decoders import DecoderConfig, train_decoder

    torch.manual_seed(0)
    initial = Decoder("relu2_1")
    initial.input_scale.fill_(0.125)
    config = DecoderConfig(steps=2, batch_size=2, crop_size=32, photo_edge=(64, 96),
                           transfer_fraction=0.5)
    seen = []
    trained, record = train_decoder("relu2_1", photo_folder_of_examples, tmp_path, config,
                                    initial=initial, callback=lambda p: seen.append(p.losses))
    assert len(seen) == 2 and all(loss["pixel"] > 0 and loss["feature"] > 0 for loss in seen)
    assert record["train"]["transfer_fraction"] == 0.5 and record["continued"] is True
    # it started from the given weights (the input scale kept, not measured afresh) and moved
    assert trained.input_scale.item() == 0.125
    assert not torch.equal(trained.body[0].conv.weight, initial.body[0].conv.weight)


def test_the_grid_penalty_joins_the_decoder_loss_only_when_weighted():
    from painterly.fast.train_decoders import DecoderConfig, _decoder_loss
    from painterly.models.vgg import random_vgg_like

    torch.manual_seed(0)
    encoder = random_vgg_like((64, 128), pooling="max")  # VGG19's widths up to relu2_1
    decoder = Decoder("relu2_1")
    photos = torch.rand(2, 3, 32, 32)
    plain_total, plain = _decoder_loss(decoder, encoder, "relu2_1", photos, DecoderConfig())
    total, terms = _decoder_loss(decoder, encoder, "relu2_1", photos,
                                 DecoderConfig(grid_weight=10.0))
    assert "grid" not in plain and terms["grid"] > 0
    assert total.item() == pytest.approx(plain_total.item() + 10.0 * terms["grid"], rel=1e-5)
    assert decoder.upsampling == 2 and Decoder("relu4_1").upsampling == 8
    with pytest.raises(ValueError, match="grid_weight"):
        DecoderConfig(grid_weight=-1.0)


@pytest.fixture(scope="module")
def bundled_painter() -> UniversalPainter:
    """A universal painter with the bundled decoders, loaded once for the module."""
    return UniversalPainter()


@pytest.mark.slow
@pytest.mark.parametrize("painting", ["starry_night", "the_scream", "composition_vii",
                                      "woman_with_a_hat", "great_wave"])
def test_the_bundled_decoders_paint_no_grid(painting, bundled, bundled_painter):
    """relu4_1's decoder once painted the same 8 x 8 pattern into every cell of flat areas:
    on the cat at 256 px with these paintings, 4.5 to 7.3 levels (root mean square of the
    detail repeating every 8 pixels; the photo itself has 0.6). After its grid stage, 1.0 to
    1.7."""
    from painterly.losses import grid_levels
    from painterly.image_io import load_image

    painter = bundled_painter
    photo = load_image(bundled["content"], long_edge=256)
    style = painter.style(load_image(bundled["data"] / "style" / f"{painting}.jpg", long_edge=256))
    painted = painter.paint(photo, [(style, 1.0)])
    assert grid_levels(painted, 8) < 3.0  # relu4_1's decoder: 8 px a feature
