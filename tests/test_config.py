import pytest

from painterly import StyleConfig


def test_defaults_are_valid_and_jsonable():
    import json

    config = StyleConfig()
    data = json.loads(json.dumps(config.to_dict()))
    assert data["size"] == config.size
    assert data["style_layers"] == list(config.style_layers)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"size": 0}, "size"),
        ({"style_weight": -1.0}, "style_weight"),
        ({"style_layers": ("conv9_9",)}, "valid layers"),
        ({"optimizer": "sgd"}, "optimizer must be one of lbfgs, adam"),
        ({"precision": "fp8"}, "precision"),
        ({"style_layer_weights": (1.0,)}, "style_layer_weights"),
        ({"scales": 2, "iterations_per_scale": (1, 2, 3)}, "iterations_per_scale"),
    ],
)
def test_bad_values_raise_one_line_value_errors(changes, message):
    with pytest.raises(ValueError, match=message) as info:
        StyleConfig(**changes)
    assert "\n" not in str(info.value)


def test_replace_validates():
    with pytest.raises(ValueError):
        StyleConfig().replace(size=-5)
    assert StyleConfig().replace(size=64).size == 64
