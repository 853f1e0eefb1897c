#!/usr/bin/env python3
"""Reads `ncu --import REPORT --page source --csv --print-source sass` (one kernel) and prints where its warps
stall: the total of every sampling column, then the SASS lines with the most samples, each with its neighbours'
opcodes, so that a stall can be placed in the kernel's source (run.sh, hopper step, PROTEUS_WGMMA_PROFILE)."""
import csv
import sys


def number(text):
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return 0.0


def main(path, top=45):
    with open(path, newline="") as handle:
        rows = [row for row in csv.reader(handle)]
    header_index = next((i for i, row in enumerate(rows) if any("Source" == cell.strip() for cell in row)), None)
    if header_index is None:
        print("stall_lines: no header with a Source column in", path)
        return 1
    header = [cell.strip() for cell in rows[header_index]]
    body = [row for row in rows[header_index + 1:] if len(row) == len(header)]
    source = header.index("Source")
    sampling = [i for i, name in enumerate(header) if "Sampling" in name or name.lower().startswith("stall")]
    if not sampling:
        print("stall_lines: columns are", header)
        return 1
    print("columns:", "; ".join(header))
    for i in sampling:
        print(f"total {header[i]}: {sum(number(row[i]) for row in body):.0f}")
    key = sampling[0]
    total = sum(number(row[key]) for row in body) or 1.0
    ranked = sorted(range(len(body)), key=lambda r: -number(body[r][key]))[:top]
    print(f"top {top} lines by {header[key]} (share of all samples, line number, SASS):")
    for r in sorted(ranked):
        share = number(body[r][key]) / total
        extras = ", ".join(f"{header[i]}={body[r][i]}" for i in sampling[1:] if number(body[r][i]) > 0)
        print(f"{share:6.2%}  {r:6d}  {body[r][source].strip()[:90]}  {extras[:160]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
