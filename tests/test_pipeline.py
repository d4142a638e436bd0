"""stylize() end to end on a tiny random network, and once on the real VGG19."""

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import Interrupted, StyleConfig, pipeline, stylize
from painterly.models.vgg import random_vgg_like
from synthetic import gradient, stripes

TINY = dict(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"),
            size=32, scales=1, iterations=5, precision="fp32", device="cpu")


def test_returns_pil_at_requested_size(tiny):
    image = stylize(gradient(), stripes(), StyleConfig(**TINY), extractor=tiny)
    assert isinstance(image, Image.Image) and image.mode == "RGB"
    assert image.size == (32, 24)


def test_same_seed_same_output(tiny):
    config = StyleConfig(**TINY, init="noise", seed=3)
    a = stylize(gradient(), stripes(), config, extractor=tiny)
    b = stylize(gradient(), stripes(), config, extractor=tiny)
    c = stylize(gradient(), stripes(), config.replace(seed=4), extractor=tiny)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_loss_goes_down(tiny, optimizer):
    seen = []
    config = StyleConfig(**{**TINY, "iterations": 15}, optimizer=optimizer, learning_rate=0.05)
    stylize(gradient(), stripes(), config, extractor=tiny, callback=seen.append)
    assert len(seen) == 15
    assert seen[-1].losses["total"] < seen[0].losses["total"]
    assert [p.step for p in seen] == list(range(1, 16))


def test_compiled_objective_equals_the_eager_one(tiny):
    """--compile changes how the objective runs, not what it computes: same terms, same gradient."""
    from painterly.devices import resolve_runtime
    from painterly.optimize import compute_targets
    from painterly.pipeline import _objectives, _prepare, loss_weights

    config, runtime = StyleConfig(**TINY), resolve_runtime("cpu", "fp32")
    net, weights = _prepare(tiny, config, runtime), loss_weights(config)
    targets = compute_targets(net, gradient(), [(stripes(), 1.0)], weights, runtime)
    image = torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(0))
    results = []
    for fn in (_objectives(config)[0], _objectives(config.replace(compile=True))[0]):
        x = image.clone().requires_grad_()
        terms = fn(net, x, targets, weights, runtime)
        terms["total"].backward()
        results.append(({k: v.item() for k, v in terms.items()}, x.grad))
    (eager, eager_grad), (compiled, compiled_grad) = results
    assert compiled == pytest.approx(eager, rel=1e-4)
    assert torch.allclose(compiled_grad, eager_grad, rtol=1e-3, atol=1e-6)


def test_compiled_run_lowers_the_loss(tiny):
    seen = []
    stylize(gradient(), stripes(), StyleConfig(**TINY, compile=True), extractor=tiny,
            callback=seen.append)
    assert len(seen) == 5 and seen[-1].losses["total"] < seen[0].losses["total"]


def test_a_finer_scale_starts_from_the_coarse_result_plus_the_photos_detail(tiny):
    # With no steps, a run from the photo gives the photo back at the finest scale: its start
    # is the coarse scale's picture upsampled plus the photo's band between the two sizes.
    photo = torch.rand(1, 3, 192, 256, generator=torch.Generator().manual_seed(0))
    config = StyleConfig(**{**TINY, "size": 256, "scales": 2, "iterations_per_scale": (0, 0)})
    result = stylize(photo, stripes(), config, extractor=tiny)
    as_tensor = torch.from_numpy(np.array(result)).permute(2, 0, 1)[None].float() / 255
    assert (as_tensor - photo).abs().max() <= 1 / 255
    # A run that started from noise is upsampled alone: no photo is added to it.
    noise = stylize(photo, stripes(), config.replace(init="noise"), extractor=tiny)
    as_tensor = torch.from_numpy(np.array(noise)).permute(2, 0, 1)[None].float() / 255
    assert (as_tensor - photo).abs().mean() > 0.2


def test_callback_reports_every_scale(tiny):
    seen = []
    config = StyleConfig(**{**TINY, "size": 256, "scales": 2, "iterations_per_scale": (2, 3)})
    stylize(gradient(96, 128), stripes(), config, extractor=tiny, callback=seen.append)
    assert [(p.scale, p.step, p.size) for p in seen] == [
        (1, 1, (128, 96)), (1, 2, (128, 96)), (2, 1, (256, 192)), (2, 2, (256, 192)),
        (2, 3, (256, 192))]
    assert seen[-1].preview().size == (256, 192)
    assert all(p.elapsed >= 0 for p in seen)


def test_inputs_are_not_modified(tiny):
    content, style = gradient(), stripes()
    before = content.clone(), style.clone()
    stylize(content, [(style, 1.0)], StyleConfig(**TINY), extractor=tiny)
    assert torch.equal(content, before[0]) and torch.equal(style, before[1])


def test_style_blend_weight_one_zero_equals_single_style(tiny):
    config = StyleConfig(**TINY)
    single = stylize(gradient(), stripes(), config, extractor=tiny)
    blend = stylize(gradient(), [(stripes(), 1.0), (gradient(), 0.0)], config, extractor=tiny)
    assert single.tobytes() == blend.tobytes()


def test_interrupt_carries_image_so_far(tiny):
    def stop(progress):
        if progress.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as info:
        stylize(gradient(), stripes(), StyleConfig(**TINY), extractor=tiny, callback=stop)
    assert info.value.image.size == (32, 24)
    assert info.value.steps == 3


def test_interrupt_before_the_first_step_has_no_image(tiny, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(pipeline, "optimize", interrupted)
    with pytest.raises(Interrupted) as info:
        stylize(gradient(), stripes(), StyleConfig(**TINY), extractor=tiny)
    assert info.value.steps == 0 and info.value.image is None


def test_too_narrow_pictures_are_refused_by_name():
    with pytest.raises(ValueError, match=r"'wide.png' \(4000x8 px\) is too narrow") as info:
        pipeline.plan((4000, 8), [(64, 64)], StyleConfig(size=64, device="cpu"),
                      names=["'wide.png'", "'art.png'"])
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=r"the photo \(400x300 px\).*size of at least 21"):
        pipeline.plan((400, 300), [(64, 64)], StyleConfig(size=16, device="cpu"))
    with pytest.raises(ValueError, match=r"painting 1 \(2048x4 px\) is too narrow"):
        pipeline.plan((64, 64), [(2048, 4)], StyleConfig(size=64, device="cpu"))
    # shallower layers need fewer pixels: relu3_1 follows two poolings
    shallow = StyleConfig(size=64, device="cpu", content_layers=(), style_layers=("relu3_1",))
    assert pipeline.plan((256, 16), [(64, 64)], shallow)


def test_narrow_pictures_keep_every_scale_valid():
    """A 10:1 photo at 512 px: coarse scales stop where its short side would fall below 16
    (at 128 px it would be 13), above the 128 px every schedule stops at anyway."""
    plans = pipeline.plan((1000, 100), [(300, 40)], StyleConfig(size=512, scales=3, device="cpu"))
    assert [min(p.height, p.width) for p in plans] == [26, 51]
    # a 10:1 painting is kept at least 16 px high at the coarse scale
    deep = random_vgg_like((4, 4, 4, 4, 4))
    config = StyleConfig(size=384, scales=3, iterations=2, content_layers=("relu4_1",),
                         style_layers=("relu1_1", "relu5_1"), precision="fp32", device="cpu")
    image = stylize(torch.rand(1, 3, 64, 384), torch.rand(1, 3, 19, 192), config, extractor=deep)
    assert image.size == (384, 64)


def test_style_weights_whose_sum_overflows_still_blend(tiny):
    config = StyleConfig(**TINY)
    blend = stylize(gradient(), [(stripes(), 1e308), (stripes(), 1e308)], config, extractor=tiny)
    single = stylize(gradient(), stripes(), config, extractor=tiny)
    assert blend.tobytes() == single.tobytes()
    with pytest.raises(ValueError, match="style weights"):
        stylize(gradient(), [(stripes(), float("nan"))], config, extractor=tiny)


def test_bad_style_weights(tiny):
    with pytest.raises(ValueError, match="style weights"):
        stylize(gradient(), [(stripes(), 0.0)], StyleConfig(**TINY), extractor=tiny)


def test_real_vgg19_end_to_end(bundled_images):
    """The real network at 64 px: the result moves towards the painting's statistics."""
    seen = []
    config = StyleConfig(size=64, scales=1, iterations=10, device="cpu")
    image = stylize(bundled_images["content"], bundled_images["style"], config, callback=seen.append)
    assert image.size[0] == 64 or image.size[1] == 64
    assert seen[-1].losses["style"] < seen[0].losses["style"] / 2


def test_coarse_scales_leave_out_style_layers_whose_grid_is_too_small(monkeypatch):
    """relu5_1 (16 px a response) sits out the 128 px first scale and joins at 256 px."""
    seen = []
    real = pipeline._optimize_stage

    def recording(net, image, content, styles, guides, weights, *rest, **kw):
        seen.append((max(content.shape[-2:]), sorted(weights.style)))
        return real(net, image, content, styles, guides, weights, *rest, **kw)

    monkeypatch.setattr(pipeline, "_optimize_stage", recording)
    config = StyleConfig(**{**TINY, "size": 256, "scales": 2, "iterations": 1,
                            "style_layers": ("relu1_1", "relu5_1")})
    stylize(gradient(192, 256), stripes(192, 256), config, extractor=random_vgg_like((4,) * 5))
    assert seen == [(128, ["relu1_1"]), (256, ["relu1_1", "relu5_1"])]
