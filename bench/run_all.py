"""`make bench`: run every benchmark with its default size, one after the other.

Each script prints its own figures and ratios against a baseline measured in the same run;
results and the exact commands are recorded in docs/performance.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "send.py", "pages.py", "insights.py", "concurrency.py", "people_import.py", "voice_text.py",
    "voice_import.py", "metrics.py", "backup.py", "readyz.py",
]


def main() -> int:
    failures = 0
    for script in BENCHMARKS:
        print(f"\n=== bench/{script}", flush=True)
        result = subprocess.run([sys.executable, str(HERE / script)], check=False)  # noqa: S603
        failures += result.returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
