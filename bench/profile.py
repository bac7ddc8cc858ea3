"""Sampling profiles of a running process with py-spy, summarised as text.

`py-spy record --format raw` writes collapsed stacks (`thread;frame;frame N`); the summary gives
each thread's share of the samples and the frames with the most self and inclusive samples.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"


def available() -> bool:
    return PY_SPY.is_file() or shutil.which("py-spy") is not None


def record(pid: int, seconds: float, out: Path, rate: int = 200) -> subprocess.Popen[bytes]:
    """Start sampling `pid` for `seconds`; wait on the returned process before reading `out`."""
    exe = str(PY_SPY) if PY_SPY.is_file() else "py-spy"
    return subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", str(rate),
         "--format", "raw", "--threads", "--nonblocking", "--output", str(out)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def summarize(collapsed: Path, top: int = 25) -> str:
    """Per-thread shares, then the top self and inclusive frames, as percentages of all samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        thread = frames[0].split(": ", 1)[-1]
        threads[thread] += n
        own[f"[{thread}] {frames[-1]}"] += n
        for frame in set(frames[1:]):
            inclusive[f"[{thread}] {frame}"] += n
    if not total:
        return "no samples\n"
    out = [f"{total} samples", "", "threads:"]
    out += [f"  {n / total:6.1%}  {name}" for name, n in threads.most_common()]
    out += ["", "self:"]
    out += [f"  {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    out += ["", "inclusive:"]
    out += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top * 2)
            if "threading.py" not in name]
    return "\n".join(out) + "\n"
