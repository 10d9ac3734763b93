"""What the machine gives the model: the CPUs this process may use and how many are free, intra-op threads, native
bf16, malloc on huge pages, and the device and number format a model runs in. Read at load time and per bulk call,
so a busy 2-core machine is not oversubscribed."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

from indexer.config import Settings
from indexer.errors import EmbeddingModelError

_DTYPE_ALIASES = {
    "bf16": "bf16",
    "bfloat16": "bf16",
    "fp32": "fp32",
    "float32": "fp32",
    "fp16": "fp16",
    "float16": "fp16",
    "half": "fp16",
}


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """True when the CPU computes bf16 in hardware (AVX512-BF16 / AMX, or ARM BF16).

    Elsewhere torch emulates bf16 and it is slower than fp32, so `auto` only picks bf16 here.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags = set(value.split())
            return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})
    return False


def cpu_budget() -> int:
    """CPUs this process may really use: affinity mask, capped by a cgroup v2 CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def other_runnable_tasks() -> int:
    """Tasks runnable right now besides the caller, from /proc/loadavg (min of a few samples).

    Sampled a few milliseconds apart so our own OpenMP workers, still spinning from the
    previous call, are not mistaken for other work.
    """
    fewest = None
    for attempt in range(3):
        try:
            running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1
        except (OSError, IndexError, ValueError):
            return 0
        fewest = running if fewest is None else min(fewest, running)
        if fewest <= 0:
            break
        if attempt < 2:
            time.sleep(0.005)
    return max(0, fewest or 0)


def bulk_threads() -> int:
    """Intra-op threads for bulk work: OMP_NUM_THREADS if set, else the CPUs nobody else is using.

    On a small machine an OpenMP thread that does not get a core stalls every operation
    (measured on 2 cores with one busy: 2 threads 2-4x slower than 1), so threads are only
    added for CPUs that are free when the work starts.
    """
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        pass
    budget = cpu_budget()
    return max(1, budget - other_runnable_tasks()) if budget > 1 else 1


MALLOC_HUGE_PAGES = "glibc.malloc.hugetlb=1"


def malloc_huge_pages_env(env: dict[str, str]) -> dict[str, str] | None:
    """`env` with glibc's malloc told to use transparent huge pages, or None where nothing would change.

    None: already set, or not glibc 2.35+ (the tunable is glibc's; elsewhere it would do nothing).
    """
    import platform

    if MALLOC_HUGE_PAGES in env.get("GLIBC_TUNABLES", "").split(":"):
        return None
    libc, version = platform.libc_ver()
    try:
        if libc != "glibc" or tuple(int(x) for x in version.split(".")[:2]) < (2, 35):
            return None
    except ValueError:
        return None
    tunables = ":".join(filter(None, (env.get("GLIBC_TUNABLES", ""), MALLOC_HUGE_PAGES)))
    return {**env, "GLIBC_TUNABLES": tunables}


def restart_with_malloc_huge_pages(settings: Settings) -> None:
    """Run this program again, same pid and arguments, with malloc on huge pages (`malloc_huge_pages`).

    Why: on this VM every 4 KiB page the query path touches (FAISS vectors, BM25 arrays, activations) is a
    TLB miss through nested paging; glibc reads the setting only at process start, hence the restart.
    Call it first thing in a `__main__`, before any work (nothing is lost: nothing has happened yet).
    """
    import sys

    env = malloc_huge_pages_env(dict(os.environ)) if settings.malloc_huge_pages else None
    if env is None or not getattr(sys, "orig_argv", None):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def use_threads(n: int) -> None:
    """Set torch's intra-op threads for the calling thread.

    With torch's OpenMP backend the setting is per OS thread, so a Flask worker thread
    would otherwise run with the default whatever was set at load time.
    """
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def resolve_device(requested: str) -> str:
    import torch

    requested = (requested or "auto").lower()
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise EmbeddingModelError(f"device {requested!r} requested but no CUDA GPU is available")
    return requested


def resolve_dtype(requested: str, device: str) -> str:
    """`auto`: bf16 on CUDA when supported (else fp16); on CPU bf16 only with native support."""
    import torch

    requested = (requested or "auto").lower()
    if requested != "auto":
        if requested not in _DTYPE_ALIASES:
            raise EmbeddingModelError(f"unknown dtype {requested!r} (auto, bf16, fp16 or fp32)")
        dtype = _DTYPE_ALIASES[requested]
        if dtype == "fp16" and not device.startswith("cuda"):
            raise EmbeddingModelError("fp16 is only supported on a CUDA device; use bf16 or fp32 on CPU")
        return dtype
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if device == "cpu" and cpu_has_native_bf16() else "fp32"


def torch_dtype(dtype: str):
    """The torch dtype of a resolved number format (bf16, fp16, fp32)."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]
