"""Facts about the machine this process runs on."""

from __future__ import annotations

import ctypes
import os


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def release_memory() -> bool:
    """Give the heap memory this process has freed back to the system (glibc's `malloc_trim`), so a
    burst of large decodes spread over many threads' arenas does not stay resident after it; whether
    the C library could do so (not on other C libraries or systems)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    trim(0)
    return True
def nvidia_gpu_present() -> bool:
    """Whether an NVIDIA GPU is visible to this process, found without importing torch (the driver's
    /proc entries, and CUDA_VISIBLE_DEVICES when it hides every device)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    try:
        with os.scandir("/proc/driver/nvidia/gpus") as entries:
            return any(True for _ in entries)
    except OSError:
        return False
