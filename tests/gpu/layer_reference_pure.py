#!/usr/bin/env python3
"""SPEC §7 in plain Python (float64, no numpy, no torch): the same reference as layer_torch.py, for small shapes.

    PROTEUS_LAYER_EXPORT=DIR PROTEUS_LAYER_EXPORT_SMALL=1 dotnet test tests/Proteus.Tests -c Release \\
        --filter FullyQualifiedName~LayerExportTests
    python3 tests/gpu/layer_reference_pure.py DIR

It exists to check, on a machine without PyTorch, that the reference's reading of SPEC agrees with the layer
before the GPU session: same file format, same rules, same verdicts (one PASS/FAIL line per file, exit code 1
on any failure). It builds each row's candidate set as a set of keys (layer_torch.py builds [T, T] masks), so
the two are also independent of each other there. Slow (pure Python): seconds per file at the small shapes,
minutes per file at the full ones.
"""
import json
import math
import os
import struct
import sys
from array import array

TOLERANCE = {"float32": 1e-5, "float16": 2e-3, "bfloat16": 1e-2}
FULL_RATIO = 0.999


def load(path):
    """(tensors as flat lists of floats with their shapes, metadata) of a safetensors file of F32 tensors."""
    with open(path, "rb") as f:
        raw = f.read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8: 8 + length])
    meta = header.pop("__metadata__")
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError(f"{name}: {info['dtype']}, expected F32")
        begin, end = info["data_offsets"]
        values = array("f")
        values.frombytes(raw[8 + length + begin: 8 + length + end])
        if sys.byteorder != "little":
            values.byteswap()
        tensors[name] = (list(values), info["shape"])
    return tensors, meta


def matrix(flat, rows, cols):
    return [flat[r * cols:(r + 1) * cols] for r in range(rows)]


def matmul_t(a, w):
    """a [N, K] times w [M, K] transposed: [N, M]."""
    return [[sum(x * y for x, y in zip(row, wr)) for wr in w] for row in a]


def add_bias(a, bias):
    return [[x + b for x, b in zip(row, bias)] for row in a]


def softmax(v):
    m = max(v)
    e = [math.exp(x - m) if x != -math.inf else 0.0 for x in v]
    s = sum(e)
    return [x / s for x in e]


def norm2(v):
    return math.sqrt(sum(x * x for x in v))


def rope(vec, pos, base, convention):
    """One head vector [D] at position pos."""
    d = len(vec)
    out = list(vec)
    for m in range(d // 2):
        angle = pos * base ** (-2.0 * m / d)
        c, s = math.cos(angle), math.sin(angle)
        a_i, b_i = (2 * m, 2 * m + 1) if convention == "interleaved" else (m, m + d // 2)
        a, b = vec[a_i], vec[b_i]
        out[a_i] = a * c - b * s
        out[b_i] = a * s + b * c
    return out


def route(x_row, w_router, heads, dna, meta):
    """SPEC §5, §6 for one token: (p [G], head_probs [H], salience or None, importance)."""
    p = softmax([sum(a * b for a, b in zip(x_row, w)) for w in w_router])
    salience = None
    beta = 0.0
    if dna is not None:
        prototypes, usage, confidence = dna
        tau, theta = float(meta["dna_tau"]), float(meta["dna_theta"])
        blend, boost = float(meta["dna_blend"]), float(meta["dna_usage_boost"])
        xn = max(norm2(x_row), 1e-6)
        sigma = [sum(a * b for a, b in zip(x_row, pr)) / (xn * max(norm2(pr), 1e-6)) for pr in prototypes]
        salience = max(sigma)
        pd = softmax([s / tau for s in sigma])
        pd = [v * (c + 1e-6) for v, c in zip(pd, confidence)]
        total = max(sum(pd), 1e-6)
        pd = [v / total for v in pd]
        beta = min(1.0, max(0.0, (salience - theta) / max(1e-6, 1 - theta)))
        w = blend * beta
        p = [(1 - w) * a + w * b for a, b in zip(p, pd)]
        if boost > 0:
            u = softmax([-(v + 1e-6) for v in usage])
            p = [a + b * (1 - beta) * boost for a, b in zip(p, u)]
        p = [max(v, 0.0) for v in p]
        total = max(sum(p), 1e-6)
        p = [v / total for v in p]
    gates = len(p)
    head_probs = [0.0] * heads
    for g, v in enumerate(p):
        head_probs[g * heads // gates] += v
    importance = max(p) if dna is None else max(p) * (1 - beta) + salience * beta
    return p, head_probs, salience, importance


def kept_tokens(importance, keep_ratio, guard):
    """One batch row: the set of kept positions and its size."""
    seq = len(importance)
    if keep_ratio >= FULL_RATIO:
        return set(range(seq)), seq
    keep = min(seq, max(1, guard, round(keep_ratio * seq)))
    rest = sorted(range(guard, seq), key=lambda t: (-importance[t], t))
    return set(range(guard)) | set(rest[: keep - guard]), keep


def candidate_set(i, window, stride, anchors, dna_count, salience):
    keys = {i} | set(range(max(0, i - window + 1), i + 1))
    limit = i - window
    if limit >= 0 and anchors > 0:
        multiples = [m * stride for m in range(limit // stride + 1)]
        keys |= set(multiples[-anchors:])
    if limit >= 0 and dna_count > 0:
        rank = lambda j: (-(salience[j] if not math.isnan(salience[j]) else -math.inf), -j)
        keys |= set(sorted(range(limit + 1), key=rank)[:dna_count])
    return keys


def layer(x_rows, batch, seq, w, prefix, meta, dna):
    heads, kv_heads, d = int(meta["heads"]), int(meta["kv_heads"]), int(meta["head_dim"])
    width = int(meta["model_dim"])
    fused = (heads + 2 * kv_heads) * d
    qkv = matmul_t(x_rows, matrix(w[prefix + "qkv.weight"][0], fused, width))
    if prefix + "qkv.bias" in w:
        qkv = add_bias(qkv, w[prefix + "qkv.bias"][0])
    offset, base = int(meta["position_offset"]), float(meta["rope_base"])

    def head(r, slot):
        vec = qkv[r][slot * d:(slot + 1) * d]
        return rope(vec, offset + r % seq, base, meta["rope"]) if meta["rope"] != "none" and slot < heads + kv_heads else vec

    q = [[head(r, h) for h in range(heads)] for r in range(batch * seq)]
    k = [[head(r, heads + h) for h in range(kv_heads)] for r in range(batch * seq)]
    v = [[head(r, heads + kv_heads + h) for h in range(kv_heads)] for r in range(batch * seq)]

    gates = int(meta["gates"])
    w_router = matrix(w[prefix + "head_router.linear.weight"][0], gates, width)
    routed = [route(row, w_router, heads, dna, meta) for row in x_rows]
    k_heads = heads if float(meta["alpha"]) == 0 else int(meta["heads_per_token"])
    window, stride = int(meta["window"]), int(meta["anchor_stride"])
    anchors, dna_count = int(meta["anchor_count"]), int(meta["dna_count"])
    if meta["policy"] != "aligned":
        raise ValueError(f"policy {meta['policy']}")
    if float(meta["alpha"]) == 0 and (window < seq or anchors or dna_count):
        raise ValueError(f"alpha 0 must be dense (SPEC §4), the layer recorded W {window} A {anchors} K {dna_count}")
    scale = 1 / math.sqrt(d) if meta["scale"] == "default" else float(meta["scale"])
    group = heads // kv_heads
    o = [[0.0] * width for _ in range(batch * seq)]
    for b in range(batch):
        rows = range(b * seq, (b + 1) * seq)
        kept, count = kept_tokens([routed[r][3] for r in rows], float(meta["keep_ratio"]), int(meta["guard"]))
        if count != int(meta["kept_tokens"]):
            raise ValueError(f"kept tokens: SPEC §4 gives {count}, the layer recorded {meta['kept_tokens']}")
        salience = [routed[r][2] for r in rows] if dna is not None else None
        for i in range(seq):
            if i not in kept:
                continue
            hp = routed[b * seq + i][1]
            top = sorted(range(heads), key=lambda h: (-hp[h], h))[:k_heads]
            keys = sorted(candidate_set(i, window, stride, anchors, dna_count, salience))
            for h in top:
                qi = q[b * seq + i][h]
                kv = h // group
                scores = [scale * sum(a * c for a, c in zip(qi, k[b * seq + j][kv])) for j in keys]
                probs = softmax(scores)
                out = [0.0] * d
                for pj, j in zip(probs, keys):
                    vj = v[b * seq + j][kv]
                    for e in range(d):
                        out[e] += pj * vj[e]
                o[b * seq + i][h * d:(h + 1) * d] = out
    y = matmul_t(o, matrix(w[prefix + "proj.weight"][0], width, width))
    if prefix + "proj.bias" in w:
        y = add_bias(y, w[prefix + "proj.bias"][0])
    return y, [r[0] for r in routed]


def dna_update(x_rows, p, dna, decay):
    prototypes, usage, confidence = dna
    gates, width = len(prototypes), len(x_rows[0])
    new_p, new_u, new_c = [], [], []
    for g in range(gates):
        n = sum(row[g] for row in p)
        if n > 1e-6:
            mean = [sum(p[r][g] * x_rows[r][c] for r in range(len(x_rows))) / n for c in range(width)]
            new_p.append([decay * a + (1 - decay) * m for a, m in zip(prototypes[g], mean)])
            new_u.append(decay * usage[g] + (1 - decay) * n)
            new_c.append(decay * confidence[g] + (1 - decay))
        else:
            new_p.append(list(prototypes[g]))
            new_u.append(decay * usage[g])
            new_c.append(decay * confidence[g])
    return [v for row in new_p for v in row], new_u, new_c


def norm(rows, weight, bias, kind, eps):
    out = []
    for row in rows:
        n = len(row)
        if kind == "layer":
            mean = sum(row) / n
            var = sum((x - mean) ** 2 for x in row) / n
            r = [(x - mean) / math.sqrt(var + eps) * g for x, g in zip(row, weight)]
        else:
            ms = sum(x * x for x in row) / n
            r = [x / math.sqrt(ms + eps) * g for x, g in zip(row, weight)]
        out.append(r if bias is None else [a + b for a, b in zip(r, bias)])
    return out


def storage_round(value, dtype):
    """value rounded to the storage type (nearest, ties to even), as the layer stores its input."""
    if dtype == "float32":
        return struct.unpack("<f", struct.pack("<f", value))[0]
    if dtype == "float16":
        return struct.unpack("<e", struct.pack("<e", value))[0]
    bits = struct.unpack("<I", struct.pack("<f", value))[0]  # bfloat16: float32 first (double rounding is negligible here)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def check(path):
    w, meta = load(path)
    batch, seq, width = int(meta["batch"]), int(meta["tokens"]), int(meta["model_dim"])
    gates = int(meta["gates"])
    x_rows = matrix(w["x"][0], batch * seq, width)
    dna = None
    if meta["dna"] == "1":
        dna = (matrix(w["attn.routing_prototypes"][0], gates, width), w["attn.routing_usage_ema"][0], w["attn.routing_confidence"][0])
    get = lambda name: w[name][0] if name in w else None
    if meta["kind"] == "block":
        eps = float(meta["norm_eps"])
        normed = [[storage_round(v, meta["dtype"]) for v in row] for row in norm(x_rows, get("ln1.weight"), get("ln1.bias"), meta["norm"], eps)]
        attended, p = layer(normed, batch, seq, w, "attn.", meta, dna)
        router_rows = normed
        h = [[a + b for a, b in zip(r1, r2)] for r1, r2 in zip(x_rows, attended)]
        hidden = matmul_t(norm(h, get("ln2.weight"), get("ln2.bias"), meta["norm"], eps), matrix(w["mlp.fc1.weight"][0], 4 * width, width))
        if "mlp.fc1.bias" in w:
            hidden = add_bias(hidden, w["mlp.fc1.bias"][0])
        hidden = [[0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in row] for row in hidden]
        mlp = matmul_t(hidden, matrix(w["mlp.fc2.weight"][0], width, 4 * width))
        if "mlp.fc2.bias" in w:
            mlp = add_bias(mlp, w["mlp.fc2.bias"][0])
        y_ref = [[a + b for a, b in zip(r1, r2)] for r1, r2 in zip(h, mlp)]
    else:
        y_ref, p = layer(x_rows, batch, seq, w, "attn.", meta, dna)
        router_rows = x_rows
    tolerance = TOLERANCE[meta["dtype"]]
    errors = {"y": relative_error(w["y"][0], [v for row in y_ref for v in row])}
    if meta["dna_updated"] == "1":
        after = dna_update(router_rows, p, dna, float(meta["dna_decay"]))
        for name, value in zip(("routing_prototypes", "routing_usage_ema", "routing_confidence"), after):
            errors[name] = relative_error(w["dna_after." + name][0], value)
    finite = all(math.isfinite(v) for v in w["y"][0])
    passed = finite and all(e <= tolerance for e in errors.values())
    shown = ", ".join(f"{k} {v:.3e}" for k, v in errors.items())
    return passed, f"{'PASS' if passed else 'FAIL'} {os.path.basename(path)}: {shown} (tolerance {tolerance:g}) :: {meta['kind']} {meta['dtype']} T {seq}"


def relative_error(actual, expected):
    num = sum((a - e) ** 2 for a, e in zip(actual, expected))
    den = sum(e * e for e in expected)
    return math.sqrt(num / max(den, 1e-300))


def main():
    directory = sys.argv[1]
    files = sorted(os.path.join(directory, n) for n in (os.listdir(directory) if os.path.isdir(directory) else []) if n.endswith(".safetensors"))
    if not files:
        print(f"FAIL no .safetensors files in {directory}")
        return 1
    failures = 0
    for path in files:
        passed, line = check(path)
        failures += not passed
        print(line, flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
