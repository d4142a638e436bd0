import platform
import subprocess
import sys

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


def test_the_device_line_names_what_runs_in_fp32_beside_a_bf16_network():
    bf16 = resolve_runtime("cpu", "bf16")
    assert "bf16 network with fp32 losses" in bf16.describe()  # the optimiser
    assert "bf16 network with fp32 whitening" in bf16.describe(fp32="whitening")  # any painting
    assert "fp32" not in bf16.describe(fp32=None)  # a fast style: nothing runs in fp32
    assert resolve_runtime("cpu", "fp32").describe(fp32=None).startswith("cpu, fp32")


def test_bad_values_are_one_line_errors():
    with pytest.raises(ValueError, match="precision must be"):
        resolve_runtime("cpu", "fp8")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("toaster")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_missing_cuda_is_explained():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_freed_memory_is_kept_for_reuse_where_glibc_allows():
    # mallopt is process-wide, so it is tried in a process of its own
    code = "from painterly.cpuinfo import reuse_freed_memory; print(reuse_freed_memory())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


def test_the_command_keeps_freed_memory_for_reuse(monkeypatch):
    import painterly.cli

    calls = []
    monkeypatch.setattr(painterly.cli, "reuse_freed_memory", lambda: calls.append(True))
    monkeypatch.setattr(sys, "argv", ["painterly", "--version"])
    with pytest.raises(SystemExit) as exit_:
        painterly.cli.main()
    assert exit_.value.code == 0 and calls == [True]
