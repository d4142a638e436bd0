"""stylize() end to end on a tiny random network, and once on the real VGG19."""

import pytest
import torch
from PIL import Image

from painterly import Interrupted, StyleConfig, stylize
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


def test_callback_reports_every_scale(tiny):
    seen = []
    config = StyleConfig(**{**TINY, "size": 128, "scales": 2, "iterations_per_scale": (2, 3)})
    stylize(gradient(96, 128), stripes(), config, extractor=tiny, callback=seen.append)
    assert [(p.scale, p.step, p.size) for p in seen] == [
        (1, 1, (64, 48)), (1, 2, (64, 48)), (2, 1, (128, 96)), (2, 2, (128, 96)), (2, 3, (128, 96))]
    assert seen[-1].preview().size == (128, 96)
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
