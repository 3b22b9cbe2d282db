"""``python -m bench`` (``make bench``): every benchmark, one after the other, each printing its figures.

Results and the commands that produced them are recorded in bench/README.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    ("sandbox throughput (template/send on one core)", ["sandbox_throughput.py"]),
    ("Sent page on a 1,000,000-recipient history", ["sent_page.py"]),
]


def main() -> int:
    failed = []
    for title, command in BENCHMARKS:
        print(f"\n== {title}", flush=True)
        done = subprocess.run([sys.executable, str(HERE / command[0]), *command[1:]], check=False)
        if done.returncode:
            failed.append(title)
    if failed:
        print(f"\nmissed their goal or failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
