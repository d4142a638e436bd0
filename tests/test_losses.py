"""Loss terms with hand-checkable values."""

import torch

from painterly import losses


def test_gram_of_ones_is_ones():
    features = torch.ones(1, 3, 4, 5)
    assert torch.allclose(losses.gram_matrix(features), torch.ones(1, 3, 3))


def test_gram_by_hand():
    # Two channels over two pixels: F = [[1, 2], [3, 4]] -> F F^T / 2.
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 2
    assert torch.allclose(losses.gram_matrix(features), expected)


def test_gram_is_size_independent_for_repeated_texture():
    tile = torch.rand(1, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    big = tile.repeat(1, 1, 4, 4)
    assert torch.allclose(losses.gram_matrix(tile), losses.gram_matrix(big), atol=1e-6)


def test_gram_of_bf16_features_is_fp32():
    features = torch.rand(1, 3, 8, 8).bfloat16()
    assert losses.gram_matrix(features).dtype == torch.float32


def test_gram_under_bf16_autocast_stays_fp32_and_backpropagates():
    # Fast-style training runs the network under a bf16 autocast on CPUs with native bf16.
    features = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    features = features.bfloat16().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        gram = losses.gram_matrix(features)
        loss = losses.style_layer_loss(features, gram.detach() * 2)
    loss.backward()
    assert gram.dtype == torch.float32
    # bf16 products with fp32 sums: the fp32 Gram matrix to bf16's precision (2^-8).
    assert torch.allclose(gram, losses.gram_matrix(features.detach().float()), rtol=2**-7, atol=0)
    assert features.grad.dtype == torch.bfloat16 and features.grad.abs().sum() > 0


def test_style_loss_zero_when_input_equals_target():
    features = torch.rand(1, 5, 6, 7)
    assert losses.style_layer_loss(features, losses.gram_matrix(features)).item() == 0.0


def test_style_loss_is_relative_error():
    features = torch.rand(1, 5, 6, 7)
    target = losses.gram_matrix(features)
    # Zero responses have a zero Gram matrix: relative error 1.
    assert abs(losses.style_layer_loss(torch.zeros_like(features), target).item() - 1.0) < 1e-6
    # Doubling every response quadruples the Gram: relative error (4-1)^2 = 9.
    assert abs(losses.style_layer_loss(2 * features, target).item() - 9.0) < 1e-4


def test_content_loss_by_hand():
    target = torch.full((1, 1, 2, 2), 2.0)
    features = torch.full((1, 1, 2, 2), 3.0)
    # mean((3-2)^2) / mean(2^2) = 1/4
    assert abs(losses.content_loss(features, target).item() - 0.25) < 1e-6
    assert losses.content_loss(target, target).item() == 0.0


def test_tv_zero_for_constant_and_by_hand():
    assert losses.total_variation(torch.full((1, 3, 5, 5), 0.3)).item() == 0.0
    # Vertical stripes 0,1,0,1: horizontal neighbours always differ by 1, vertical never.
    stripes = torch.tensor([0.0, 1.0, 0.0, 1.0]).repeat(1, 1, 4, 1)
    assert abs(losses.total_variation(stripes).item() - 1.0) < 1e-6


def test_weighted_sum():
    terms = {"a": torch.tensor(2.0), "b": torch.tensor(3.0)}
    assert losses.weighted_sum(terms, {"a": 0.5, "b": 2.0}).item() == 7.0


def test_gradcheck_float64():
    features = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    target_feats = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    gram_target = losses.gram_matrix(target_feats)
    assert torch.autograd.gradcheck(lambda f: losses.style_layer_loss(f, gram_target), (features,))
    assert torch.autograd.gradcheck(lambda f: losses.content_loss(f, target_feats), (features,))
    assert torch.autograd.gradcheck(losses.total_variation, (features,))


def test_grid_energy_finds_a_pattern_repeated_in_every_cell():
    torch.manual_seed(0)
    cell = torch.rand(1, 3, 8, 8)
    tiled = cell.repeat(1, 1, 6, 5)  # the same 8x8 pattern in every cell of a 48x40 picture
    # its detail is the pattern less its mean, in every cell alike, so the cells' average
    # keeps it
    expected = (cell - cell.mean(dim=(2, 3), keepdim=True)).pow(2).mean()
    assert losses.grid_energy(tiled, 8) > 0.5 * expected
    # the same picture shifted by half a cell holds the same pattern, in another phase
    assert losses.grid_energy(tiled[..., 4:, 4:], 8) > 0.5 * expected
    # noise of the same variance averages out over the 30 cells; a smooth ramp has no detail
    noise = torch.rand(1, 3, 48, 40)
    assert losses.grid_energy(noise, 8) < 0.1 * expected
    ramp = torch.linspace(0, 1, 40).expand(1, 3, 48, 40)
    assert losses.grid_energy(ramp, 8) < 1e-6
    # a period-8 pattern is not one of period 5, and period 1 has no cells to repeat
    assert losses.grid_energy(tiled, 5) < 0.2 * expected
    assert losses.grid_energy(tiled, 1) == 0


def test_grid_levels_reads_a_screen_in_8_bit_levels():
    """A 4 px checker of +-2 levels on mid grey measures about 2 levels; grey measures 0."""
    checker = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat_interleave(2, 0).repeat_interleave(2, 1)
    screen = 0.5 + 2 / 255 * checker.repeat(12, 10).expand(1, 3, 48, 40)
    assert abs(losses.grid_levels(screen, 4).item() - 2.0) < 0.3
    assert losses.grid_levels(torch.full((1, 3, 48, 40), 0.5), 4).item() < 1e-3
