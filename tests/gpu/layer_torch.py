#!/usr/bin/env python3
"""The drop-in layer and block against a plain PyTorch implementation of SPEC §7, in float64.

    python3 tests/gpu/layer_torch.py DIR

DIR holds the files tests/Proteus.Tests/Layer/LayerExportTests.cs writes (PROTEUS_LAYER_EXPORT=DIR): per
configuration the weights under the original names (with the DNA state before the call), x [B, T, C], our
y [B, T, C], the DNA state after the update (dna_after.*) and metadata with the configuration and the
decisions the layer took from its host-side schedules (alpha, heads per token, keep ratio, kept tokens, guard,
the budgets W, S, A, K). This script recomputes everything else from SPEC §3–§7, independently of the library:
the qkv projection, RoPE, the router and the DNA blend, salience and importance, the kept tokens and the heads
of each token, the candidate sets (Aligned), masked softmax attention, the output projection, the DNA update,
and for the block the norms, the MLP and the residuals. It compares y and the DNA state after the update with
the relative L2 error of SPEC §9 (float32 1e-5, float16 2e-3, bfloat16 1e-2) and prints one PASS or FAIL line
per file; the exit code is 1 when any file fails (or there is none).

Needs torch and safetensors; runs on CUDA when there is a GPU, else on the CPU.
"""
import math
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

F64 = torch.float64
TOLERANCE = {"float32": 1e-5, "float16": 2e-3, "bfloat16": 1e-2}
STORAGE = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
FULL_RATIO = 0.999  # SPEC §4: a keep ratio at least this keeps every token
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def rope(t, offset, base, convention):
    """t [B, T, n, D]: pairs (2m, 2m + 1) (interleaved) or (m, m + D/2) (half-split) rotated by (offset + t)·base^(−2m/D)."""
    _, seq, _, d = t.shape
    m = torch.arange(d // 2, dtype=F64, device=t.device)
    inv_freq = torch.pow(torch.tensor(base, dtype=F64, device=t.device), -2.0 * m / d)
    angle = (offset + torch.arange(seq, dtype=F64, device=t.device))[:, None] * inv_freq[None, :]
    cos = angle.cos()[None, :, None, :]
    sin = angle.sin()[None, :, None, :]
    if convention == "interleaved":
        a, b = t[..., 0::2], t[..., 1::2]
    else:
        a, b = t[..., : d // 2], t[..., d // 2:]
    out = torch.empty_like(t)
    if convention == "interleaved":
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = a * sin + b * cos
    else:
        out[..., : d // 2] = a * cos - b * sin
        out[..., d // 2:] = a * sin + b * cos
    return out


def route(x, w_router, heads, dna, meta):
    """SPEC §5 and §6: x [N, C] → final gate probabilities p [N, G], head_probs [N, H], salience [N] (or None), importance [N]."""
    p = torch.softmax(x @ w_router.T, dim=-1)
    salience = None
    beta = None
    if dna is not None:
        prototypes, usage, confidence = dna
        tau, theta = float(meta["dna_tau"]), float(meta["dna_theta"])
        blend, boost = float(meta["dna_blend"]), float(meta["dna_usage_boost"])
        xn = x / x.norm(dim=1, keepdim=True).clamp(min=1e-6)
        pn = prototypes / prototypes.norm(dim=1, keepdim=True).clamp(min=1e-6)
        sigma = xn @ pn.T
        salience = sigma.max(dim=1).values
        pd = torch.softmax(sigma / tau, dim=-1)
        pd = pd * (confidence + 1e-6)[None, :]
        pd = pd / pd.sum(dim=-1, keepdim=True).clamp(min=1e-6)
        beta = ((salience - theta) / max(1e-6, 1 - theta)).clamp(0, 1)
        w = blend * beta
        p = (1 - w)[:, None] * p + w[:, None] * pd
        if boost > 0:
            p = p + torch.softmax(-(usage + 1e-6), dim=0)[None, :] * (1 - beta)[:, None] * boost
        p = p.clamp(min=0)
        p = p / p.sum(dim=-1, keepdim=True).clamp(min=1e-6)
    gates = p.shape[1]
    gate_head = torch.arange(gates, device=p.device) * heads // gates  # gate g → head floor(g·H/G)
    head_probs = torch.zeros(p.shape[0], heads, dtype=F64, device=p.device).index_add_(1, gate_head, p)
    top = p.max(dim=1).values
    # Library decision (docs/flux-attention.md §5–7): importance from the final p.
    importance = top if dna is None else top * (1 - beta) + salience * beta
    return p, head_probs, salience, importance


def kept_tokens(importance, keep_ratio, guard):
    """SPEC §4 with the library's decision: [B, T] bool, the first guard positions and the keep − guard most important others."""
    batch, seq = importance.shape
    if keep_ratio >= FULL_RATIO:
        return torch.ones(batch, seq, dtype=torch.bool, device=importance.device), seq
    keep = min(seq, max(1, guard, round(keep_ratio * seq)))  # round: half to even
    mask = torch.zeros(batch, seq, dtype=torch.bool, device=importance.device)
    mask[:, :guard] = True
    order = torch.argsort(-importance[:, guard:], dim=1, stable=True)  # most important first, ties to the smaller t
    chosen = order[:, : keep - guard] + guard
    mask.scatter_(1, chosen, torch.ones_like(chosen, dtype=torch.bool))
    return mask, keep


def active_heads(head_probs, k):
    """SPEC §4/§5: [B, T, H] bool, the k most probable heads of each token (ties to the smaller h)."""
    heads = head_probs.shape[-1]
    if k >= heads:
        return torch.ones(head_probs.shape, dtype=torch.bool, device=head_probs.device)
    order = torch.argsort(-head_probs, dim=-1, stable=True)[..., :k]
    mask = torch.zeros(head_probs.shape, dtype=torch.bool, device=head_probs.device)
    return mask.scatter_(-1, order, torch.ones_like(order, dtype=torch.bool))


def candidates(seq, window, stride, anchors, dna_count, salience):
    """SPEC §3, Aligned policy: [T, T] bool, row i holds C(i) = {i} ∪ Local(i) ∪ Anchors(i) ∪ Dna(i)."""
    dev = DEVICE if salience is None else salience.device
    i = torch.arange(seq, device=dev)[:, None]
    j = torch.arange(seq, device=dev)[None, :]
    limit = i - window  # keys before the window are j ≤ i − W
    mask = (j <= i) & (j >= i - window + 1)  # Local(i), which holds i itself
    if anchors > 0:
        # The A largest multiples of S that are ≤ i − W.
        mask |= (j <= limit) & (j % stride == 0) & (torch.div(j, stride, rounding_mode="floor") >= torch.div(limit, stride, rounding_mode="floor") - anchors + 1)
    if dna_count > 0:
        s = torch.where(torch.isnan(salience), torch.full_like(salience, -math.inf), salience)  # NaN ranks as −inf
        backwards = torch.arange(seq - 1, -1, -1, device=dev)
        order = backwards[torch.argsort(-s[backwards], stable=True)]  # highest salience first, ties to the larger j
        eligible = (j <= limit).expand(seq, seq)[:, order]  # column r is key order[r]
        taken = eligible & (torch.cumsum(eligible.to(torch.int64), dim=1) <= dna_count)
        dna = torch.zeros(seq, seq, dtype=torch.bool, device=dev)
        dna[:, order] = taken
        mask |= dna
    return mask


def attention_layer(x, w, prefix, meta, dna_state):
    """SPEC §7, the layer: x [B, T, C] float64 → y [B, T, C], the final p and the router input rows (for the DNA update)."""
    batch, seq, width = x.shape
    heads, kv_heads, d = int(meta["heads"]), int(meta["kv_heads"]), int(meta["head_dim"])
    rows = x.reshape(batch * seq, width)

    qkv = rows @ w[prefix + "qkv.weight"].T
    if prefix + "qkv.bias" in w:
        qkv = qkv + w[prefix + "qkv.bias"]
    qkv = qkv.reshape(batch, seq, heads + 2 * kv_heads, d)
    q, k, v = qkv[:, :, :heads], qkv[:, :, heads: heads + kv_heads], qkv[:, :, heads + kv_heads:]
    if meta["rope"] != "none":
        offset, base = int(meta["position_offset"]), float(meta["rope_base"])
        q = rope(q, offset, base, meta["rope"])
        k = rope(k, offset, base, meta["rope"])

    p, head_probs, salience, importance = route(rows, w[prefix + "head_router.linear.weight"], heads, dna_state, meta)
    keep, keep_count = kept_tokens(importance.reshape(batch, seq), float(meta["keep_ratio"]), int(meta["guard"]))
    if keep_count != int(meta["kept_tokens"]):
        raise ValueError(f"kept tokens: SPEC §4 gives {keep_count}, the layer recorded {meta['kept_tokens']}")
    k_heads = heads if float(meta["alpha"]) == 0 else int(meta["heads_per_token"])
    active = keep[:, :, None] & active_heads(head_probs.reshape(batch, seq, heads), k_heads)  # [B, T, H]

    if meta["policy"] != "aligned":
        raise ValueError(f"policy {meta['policy']}: this reference implements the Aligned policy of the layer")
    window, stride = int(meta["window"]), int(meta["anchor_stride"])
    anchors, dna_count = int(meta["anchor_count"]), int(meta["dna_count"])
    if float(meta["alpha"]) == 0 and (window < seq or anchors or dna_count):
        raise ValueError(f"alpha 0 must be dense (SPEC §4: W = T, A = K = 0), the layer recorded W {window} A {anchors} K {dna_count}")
    scale = 1 / math.sqrt(d) if meta["scale"] == "default" else float(meta["scale"])
    group = heads // kv_heads
    o = torch.zeros(batch, seq, heads, d, dtype=F64, device=x.device)
    for b in range(batch):
        allowed = candidates(seq, window, stride, anchors, dna_count, None if salience is None else salience.reshape(batch, seq)[b])
        for h in range(heads):
            scores = (q[b, :, h] @ k[b, :, h // group].T) * scale
            weights = torch.softmax(scores.masked_fill(~allowed, -math.inf), dim=-1)
            out = weights @ v[b, :, h // group]
            o[b, :, h] = torch.where(active[b, :, h, None], out, torch.zeros_like(out))  # dropped rows: o = 0

    y = o.reshape(batch * seq, width) @ w[prefix + "proj.weight"].T
    if prefix + "proj.bias" in w:
        y = y + w[prefix + "proj.bias"]
    return y.reshape(batch, seq, width), p, rows


def dna_update(x_rows, p, state, decay):
    """SPEC §6: the EMA of the prototypes, usage and confidence over the rows X and final gate probabilities Q."""
    prototypes, usage, confidence = state
    n = p.sum(dim=0)
    updated = n > 1e-6
    mean = (p.T @ x_rows) / torch.where(updated, n, torch.ones_like(n))[:, None]
    new_prototypes = torch.where(updated[:, None], decay * prototypes + (1 - decay) * mean, prototypes)
    new_usage = torch.where(updated, decay * usage + (1 - decay) * n, decay * usage)
    new_confidence = torch.where(updated, decay * confidence + (1 - decay), decay * confidence)
    return new_prototypes, new_usage, new_confidence


def norm(x, weight, bias, kind, eps):
    if kind == "layer":
        mean = x.mean(dim=-1, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
        out = (x - mean) / torch.sqrt(var + eps) * weight
    else:
        out = x / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps) * weight
    return out if bias is None else out + bias


def linear(x, w, name):
    out = x @ w[name + ".weight"].T
    return out + w[name + ".bias"] if name + ".bias" in w else out


def reference(w, meta):
    """y and the DNA state after the update (or None) by SPEC §7."""
    x = w["x"]
    dna_state = None
    if meta["dna"] == "1":
        dna_state = (w["attn.routing_prototypes"], w["attn.routing_usage_ema"], w["attn.routing_confidence"])
    if meta["kind"] == "block":
        eps = float(meta["norm_eps"])
        # The layer's input is a tensor of the run's storage type: the router, the DNA blend and the token
        # selection see norm1(x) as stored, so their discrete choices are taken on the same numbers.
        normed = norm(x, w["ln1.weight"], w.get("ln1.bias"), meta["norm"], eps)
        normed = normed.to(STORAGE[meta["dtype"]]).to(F64)
        attended, p, rows = attention_layer(normed, w, "attn.", meta, dna_state)
        h = x + attended
        y = h + linear(gelu(linear(norm(h, w["ln2.weight"], w.get("ln2.bias"), meta["norm"], eps), w, "mlp.fc1")), w, "mlp.fc2")
    else:
        y, p, rows = attention_layer(x, w, "attn.", meta, dna_state)
    after = None
    if meta["dna_updated"] == "1":
        after = dna_update(rows, p, dna_state, float(meta["dna_decay"]))
    return y, after


def gelu(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def relative_error(actual, expected):
    return (torch.linalg.vector_norm(actual - expected) / torch.linalg.vector_norm(expected).clamp(min=1e-300)).item()


def check(path):
    """(passed, line) for one export file."""
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    w = {name: t.to(device=DEVICE, dtype=F64) for name, t in load_file(path).items()}
    tolerance = TOLERANCE[meta["dtype"]]
    y_ref, after = reference(w, meta)
    y = w["y"]
    errors = {"y": relative_error(y, y_ref)}
    if after is not None:
        for name, value in zip(("routing_prototypes", "routing_usage_ema", "routing_confidence"), after):
            errors[name] = relative_error(w["dna_after." + name], value)
    finite = bool(torch.isfinite(y).all())
    passed = finite and all(e <= tolerance for e in errors.values())
    shown = ", ".join(f"{k} {v:.3e}" for k, v in errors.items())
    what = (f"{meta['kind']} {meta['dtype']} on {meta['backend']} B {meta['batch']} T {meta['tokens']} C {meta['model_dim']} "
            f"alpha {float(meta['alpha']):.4g} k {meta['heads_per_token']} kept {meta['kept_tokens']} "
            f"W {meta['window']} A {meta['anchor_count']} K {meta['dna_count']} kernel {meta['kernel']}")
    return passed, f"{'PASS' if passed else 'FAIL'} {os.path.basename(path)}: {shown} (tolerance {tolerance:g}{'' if finite else ', y not finite'}) :: {what}"


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    directory = sys.argv[1]
    files = sorted(os.path.join(directory, n) for n in (os.listdir(directory) if os.path.isdir(directory) else []) if n.endswith(".safetensors"))
    if not files:
        print(f"FAIL no .safetensors files in {directory}")
        return 1
    failures = 0
    for path in files:
        try:
            passed, line = check(path)
        except Exception as error:  # one broken file is one FAIL line, the others still run
            passed, line = False, f"FAIL {os.path.basename(path)}: {type(error).__name__}: {error}"
        failures += not passed
        print(line, flush=True)
    print(f"layer_torch: {len(files) - failures} of {len(files)} files pass (device {DEVICE}, float64)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
