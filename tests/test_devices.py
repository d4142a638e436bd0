import json
import platform
import subprocess
import sys

import pytest
import torch

from painterly import devices
from painterly.devices import cpu_has_native_bf16, cpu_prefers_bf16, resolve_device, resolve_runtime
from painterly.models.weights import CACHE_ENV


def test_auto_on_cpu_picks_bf16_only_where_it_is_native_and_faster():
    runtime = resolve_runtime("cpu", "auto")
    expected = torch.bfloat16 if cpu_prefers_bf16() else torch.float32
    assert not cpu_prefers_bf16() or cpu_has_native_bf16()
    assert runtime.dtype == expected
    assert runtime.channels_last
    assert runtime.describe().startswith("cpu, ")


@pytest.fixture
def fresh_choice(monkeypatch, tmp_path):
    """A CPU with native bf16 whose choice is measured anew, kept in an empty cache folder."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    cpu_prefers_bf16.cache_clear()
    yield tmp_path / devices.PRECISION_CACHE
    cpu_prefers_bf16.cache_clear()  # later tests see this machine's own answer


def _timings(monkeypatch, fp32_ms, bf16_ms):
    calls = []
    monkeypatch.setattr(devices, "_time_convolution",
                        lambda: calls.append(1) or {"fp32_ms": fp32_ms, "bf16_ms": bf16_ms})
    return calls


@pytest.mark.parametrize(("fp32_ms", "bf16_ms", "dtype"), [
    (2.0, 3.3, torch.float32),   # bf16 instructions at half speed (a Xeon without AMX)
    (2.0, 1.9, torch.float32),   # within the margin: fp32 is exact and no slower
    (2.0, 1.0, torch.bfloat16),  # AVX512-BF16 at full rate
    (2.0, 0.4, torch.bfloat16),  # AMX
])
def test_auto_takes_bf16_only_where_it_measured_faster(fresh_choice, monkeypatch, fp32_ms, bf16_ms, dtype):
    _timings(monkeypatch, fp32_ms, bf16_ms)
    assert resolve_runtime("cpu", "auto").dtype == dtype
    assert resolve_runtime("cpu", "bf16").dtype == torch.bfloat16  # an explicit choice stands


def test_the_measurement_is_kept_so_the_choice_stays_put(fresh_choice, monkeypatch):
    calls = _timings(monkeypatch, 2.0, 1.0)
    assert cpu_prefers_bf16() and calls == [1]
    cpu_prefers_bf16.cache_clear()  # a new process
    _timings(monkeypatch, 2.0, 4.0)  # a noisy timing now would say otherwise
    assert cpu_prefers_bf16()
    assert json.loads(fresh_choice.read_text())[devices._cpu_key()] == {"fp32_ms": 2.0, "bf16_ms": 1.0}


def test_a_corrupt_or_unwritable_cache_is_measured_again(fresh_choice, monkeypatch):
    fresh_choice.write_text("{not json")
    calls = _timings(monkeypatch, 2.0, 3.0)
    assert not cpu_prefers_bf16() and calls == [1]
    assert json.loads(fresh_choice.read_text())[devices._cpu_key()]["bf16_ms"] == 3.0
    cpu_prefers_bf16.cache_clear()
    monkeypatch.setenv(CACHE_ENV, str(fresh_choice))  # a file where the folder should be
    assert not cpu_prefers_bf16() and calls == [1, 1]


def test_a_cpu_without_native_bf16_is_not_measured(monkeypatch):
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr(devices, "_time_convolution", lambda: pytest.fail("measured"))
    cpu_prefers_bf16.cache_clear()
    try:
        assert not cpu_prefers_bf16()
    finally:
        cpu_prefers_bf16.cache_clear()


def test_the_timing_times_both_precisions():
    speeds = devices._time_convolution(channels=16, side=16, rounds=2)
    assert set(speeds) == {"fp32_ms", "bf16_ms"}
    assert all(0 < ms < 10_000 for ms in speeds.values())


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
