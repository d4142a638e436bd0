import pytest
import torch

from painterly.devices import cpu_has_native_bf16, resolve_device, resolve_runtime


def test_auto_on_cpu_picks_bf16_only_with_native_support():
    runtime = resolve_runtime("cpu", "auto")
    expected = torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    assert runtime.dtype == expected
    assert runtime.channels_last
    assert runtime.describe().startswith("cpu, ")


def test_explicit_precisions():
    assert resolve_runtime("cpu", "fp32").dtype == torch.float32
    assert resolve_runtime("cpu", "bf16").dtype == torch.bfloat16
    assert "fp32" in resolve_runtime("cpu", "fp32").describe()


def test_bad_values_are_one_line_errors():
    with pytest.raises(ValueError, match="precision must be"):
        resolve_runtime("cpu", "fp8")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("toaster")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_missing_cuda_is_explained():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")
