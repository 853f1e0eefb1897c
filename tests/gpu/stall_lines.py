#!/usr/bin/env python3
"""Reads `ncu --import REPORT --page source --csv --print-source sass` (one kernel) and prints where its warps
stall: the total of every sampling column, the SASS lines with the most samples, then the samples summed by basic
block (straight-line runs between branches and branch targets) with each block's main stall reasons and opcodes, so
that the time can be placed in the kernel's source region by region (run.sh, hopper step, PROTEUS_WGMMA_PROFILE)."""
import csv
import re
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
    blocks_report(header, body, source, key, total)
    return 0


def blocks_report(header, body, source, key, total, threshold=0.005):
    """The samples and executed instructions of each basic block with at least `threshold` of the samples."""
    stalls = [i for i, name in enumerate(header) if name.startswith("stall_") and "Not Issued" not in name]
    executed = header.index("Instructions Executed") if "Instructions Executed" in header else None
    targets = set()
    for row in body:
        match = re.search(r"\bBRA\S*\s.*?(0x[0-9a-f]+)", row[source])
        if match:
            targets.add(int(match.group(1), 16))
    address = header.index("Address") if "Address" in header else None
    blocks, current = [], []
    for r, row in enumerate(body):
        at = int(row[address], 16) if address is not None and row[address].startswith("0x") else None
        if at is not None and at in targets and current:
            blocks.append(current)
            current = []
        current.append(r)
        if re.search(r"\b(BRA|EXIT|RET)\b", row[source]):
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    print(f"basic blocks with at least {threshold:.1%} of the samples (share, lines, instructions executed, top stalls | opcodes):")
    for block in blocks:
        samples = sum(number(body[r][key]) for r in block)
        if samples / total < threshold:
            continue
        ran = sum(number(body[r][executed]) for r in block) if executed is not None else 0.0
        reasons = sorted(((sum(number(body[r][i]) for r in block), header[i][6:]) for i in stalls), reverse=True)[:4]
        opcodes = {}
        for r in block:
            words = body[r][source].split()
            word = words[1] if words and words[0].startswith("@") and len(words) > 1 else (words[0] if words else "?")
            opcodes[word.split(".")[0]] = opcodes.get(word.split(".")[0], 0) + 1
        top_opcodes = " ".join(f"{name}{count}" for name, count in sorted(opcodes.items(), key=lambda item: -item[1])[:6])
        why = " ".join(f"{name}={value / max(samples, 1):.0%}" for value, name in reasons)
        print(f"{samples / total:6.1%}  {block[0]:6d}-{block[-1]:<6d} n{len(block):<4d} {ran:10.3e}  {why} | {top_opcodes}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
