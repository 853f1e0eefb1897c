#!/usr/bin/env python3
"""The card's clocks and power through a device call, section by section (tests/gpu/run.sh writes clocks.csv).

clocks.csv holds nvidia-smi's samples (timestamp, SM MHz, memory MHz, power W, temperature C, clock event reasons,
utilisation %) every 100 ms, and marker lines "# <timestamp> <section>" where run.sh starts a timed section. Each
section runs from its marker to the next. For each one this prints the busy samples (utilisation above half) with
their SM clock (median, min, max), power (median, max), the highest temperature and every clock event reason seen, so
that a step's times can be read beside the clocks they ran at.
Run: python3 tests/gpu/clocks.py clocks.csv
"""
import statistics
import sys
from datetime import datetime


def parse_time(text):
    return datetime.strptime(text.strip(), "%Y/%m/%d %H:%M:%S.%f")


def main(path):
    sections = [["(before the first marker)", None, []]]
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            line = line.strip()
            if not line:
                continue
            if line.startswith("# "):
                parts = line[2:].split(" ", 2)
                if len(parts) == 3 and parts[0][:2].isdigit():  # "# 2026/12/03 15:40:01.123 section name"
                    sections.append([parts[2], parse_time(parts[0] + " " + parts[1]), []])
                continue
            fields = [f.strip() for f in line.split(",")]
            try:
                sample = (parse_time(fields[0]), float(fields[1]), float(fields[3]), float(fields[4]), fields[5],
                          float(fields[6]))
            except (ValueError, IndexError):
                continue
            # A sample belongs to the last section whose marker is not after it.
            target = sections[0]
            for section in sections[1:]:
                if section[1] <= sample[0]:
                    target = section
            target[2].append(sample)
    print("clocks (nvidia-smi every 100 ms; busy samples: utilisation > 50 %): section | samples | SM MHz median "
          "[min, max] | W median [max] | max C | clock event reasons")
    for name, _, samples in sections:
        busy = [s for s in samples if s[5] > 50]
        if not busy:
            continue
        sm = [s[1] for s in busy]
        watts = [s[2] for s in busy]
        reasons = sorted({s[4] for s in busy})
        print(f"clocks {name}: {len(busy)} | {statistics.median(sm):.0f} [{min(sm):.0f}, {max(sm):.0f}] | "
              f"{statistics.median(watts):.0f} [{max(watts):.0f}] | {max(s[3] for s in busy):.0f} | {' '.join(reasons)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
