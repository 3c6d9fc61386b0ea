#!/usr/bin/env python3
"""Write data/spy-ticks repeated N times with dates shifted by whole weeks into OUT_DIR.

Used for the whole-process benchmark in docs/engine.md ("Benchmarks"):
    python3 benches/shifted_tape.py /tmp/x10 10
then point a copy of recipes/spy-9ma-shares.yaml at /tmp/x10 and time `runner backtest`.
Only the leading timestamp of each row changes; prices and sizes are the recorded ones.
"""
import datetime
import gzip
import os
import sys


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: shifted_tape.py OUT_DIR TIMES")
    out_dir, times = sys.argv[1], int(sys.argv[2])
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "spy-ticks")
    os.makedirs(out_dir, exist_ok=True)
    for k in range(times):
        for name in sorted(os.listdir(src)):
            day = datetime.date(int(name[10:14]), int(name[14:16]), int(name[16:18]))
            shifted = day + datetime.timedelta(days=7 * k)
            old, new = day.isoformat(), shifted.isoformat()
            target = os.path.join(out_dir, f"spy_ticks_{shifted:%Y%m%d}.csv.gz")
            with gzip.open(os.path.join(src, name), "rt") as i, gzip.open(target, "wt", compresslevel=6) as o:
                for line in i:
                    o.write(new + line[len(old):] if line.startswith(old) else line)


if __name__ == "__main__":
    main()
