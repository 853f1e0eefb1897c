#!/usr/bin/env python3
"""Issue 8's interop acceptance: PyTorch tensors and PyTorch's stream go straight into
proteus_flux_attention_v2 through the C ABI (ctypes over libproteus.so), with no copies.

    PROTEUS_NATIVE_PATH=build-cuda/lib/libproteus.so python3 tests/gpu/torch_zero_copy.py [--seed N]

Every tensor is handed over as proteus_buffer_wrap(its storage's data_ptr(), its storage's bytes) plus
the view's byte offset and strides, so strided views ([B,T,H,D] storage seen as [B,H,T,D], a query
slice inside the full q) go in as they are. The context runs on PyTorch's current stream
(proteus_context_create_on_stream(torch.cuda.current_stream().cuda_stream)); nothing synchronises
between our call and the PyTorch ops that read its output on the same stream, so the comparisons
also prove the ordering. Outputs are PyTorch-owned tensors poisoned with NaN before each call: the
result is found in them, so no copy happened.

Checks (relative L2 ‖out − ref‖ / ‖ref‖ against a float32 reference, SPEC §9: bf16 ≤ 1e-2, fp16 ≤ 2e-3,
no NaN or Inf):
  dense (W ≥ T)  vs torch.nn.functional.scaled_dot_product_attention(is_causal=True): bf16 and fp16,
                 D 64 and 128, MHA and GQA (repeat_interleave on the reference side), [B,H,T,D] and
                 [B,T,H,D] views;
  shortlist      window + Aligned anchors vs SDPA with the boolean mask of SPEC §3;
  DNA            the same plus Dna(i) = top-K salience over j ≤ i − W, ties to the larger j;
  query slices   Tq < T (explicit p0, the default p0 = T − Tq, and Tq = 1 at p0 = T − 1) vs the same rows
                 of the full-length reference;
  lifetime       after proteus_buffer_destroy and proteus_context_destroy the wrapped tensors hold
                 their values and stay usable by PyTorch and by a new context (same result, bit for bit);
                 on the legacy default stream (cuda_stream 0).
Prints one PASS/FAIL line per check; exit status 1 on any FAIL.
"""
import argparse
import ctypes
import heapq
import os
import sys

import torch
import torch.nn.functional as F

# ---- the C ABI, declared exactly as native/include/proteus/proteus.h ------------------------------
MAX_RANK = 4
STATUS_OK, STATUS_INVALID_HANDLE = 0, 6
BACKEND_CUDA = 1
DTYPE_FLOAT32, DTYPE_FLOAT16, DTYPE_BFLOAT16, DTYPE_UINT8 = 0, 1, 2, 3
POLICY_ALIGNED = 0
FLUX_QUERY_OFFSET = 1
KERNELS = {0: "NONE", 1: "CPU_REFERENCE", 2: "GPU_TILE", 3: "GPU_ROW_MODE", 4: "GPU_ROW", 5: "GPU_TILE_OR_ROW_MODE",
           7: "GPU_EXPLICIT", 8: "GPU_TILE_WGMMA"}
DENSE_WINDOW = 2**62


class ProteusTensor(ctypes.Structure):
    _fields_ = [("buffer", ctypes.c_void_p), ("offset_bytes", ctypes.c_uint64), ("dtype", ctypes.c_int32),
                ("rank", ctypes.c_int32), ("shape", ctypes.c_int64 * MAX_RANK), ("strides", ctypes.c_int64 * MAX_RANK)]


class FluxTensors(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("flags", ctypes.c_uint32), ("query_offset", ctypes.c_int64),
                ("q", ProteusTensor), ("k", ProteusTensor), ("v", ProteusTensor), ("o", ProteusTensor),
                ("active", ProteusTensor), ("salience", ProteusTensor), ("lse", ProteusTensor)]


class FluxParams(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("policy", ctypes.c_int32), ("window", ctypes.c_int64),
                ("anchor_stride", ctypes.c_int64), ("anchor_count", ctypes.c_int64), ("dna_count", ctypes.c_int64),
                ("seed_cap", ctypes.c_int64), ("seed_local_cap", ctypes.c_int64), ("scale", ctypes.c_float),
                ("use_default_scale", ctypes.c_int32)]


class LaunchConfig(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("mode", ctypes.c_int32), ("block_q", ctypes.c_int32),
                ("block_k", ctypes.c_int32), ("rows_per_warp", ctypes.c_int32), ("stages", ctypes.c_int32)]


class FluxRunInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("kernel", ctypes.c_int32), ("launch", LaunchConfig),
                ("query_offset", ctypes.c_int64), ("workspace_bytes", ctypes.c_uint64)]


# The header's published sizes (PROTEUS_*_SIZE_V*): a wrong declaration above fails here, not on the GPU.
LAYOUT = {FluxTensors: 632, FluxParams: 64, LaunchConfig: 24, FluxRunInfo: 48, ProteusTensor: 88}


def load_library():
    path = os.environ.get("PROTEUS_NATIVE_PATH")
    if not path:
        sys.exit("torch_zero_copy: set PROTEUS_NATIVE_PATH to libproteus.so")
    lib = ctypes.CDLL(path)
    P, vp, i32, u64 = ctypes.POINTER, ctypes.c_void_p, ctypes.c_int32, ctypes.c_uint64
    signatures = {
        "proteus_last_error_message": (ctypes.c_char_p, []),
        "proteus_context_create_on_stream": (ctypes.c_int, [i32, i32, vp, P(vp)]),
        "proteus_context_destroy": (ctypes.c_int, [vp]),
        "proteus_buffer_wrap": (ctypes.c_int, [vp, vp, u64, P(vp)]),
        "proteus_buffer_destroy": (ctypes.c_int, [vp]),
        "proteus_buffer_device_pointer": (ctypes.c_int, [vp, P(vp)]),
        "proteus_flux_attention_v2": (ctypes.c_int, [vp, P(FluxTensors), P(FluxParams), P(LaunchConfig), P(FluxRunInfo)]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


class ProteusError(Exception):
    pass


# What ends one check as FAIL and lets the others run: the library's errors and PyTorch's (out of memory, CUDA).
CHECK_ERRORS = (ProteusError, RuntimeError)


class Context:
    """A CUDA context on a PyTorch stream; wraps tensors' storages (one wrap per storage and call)."""

    def __init__(self, lib, stream):
        self.lib, self.stream = lib, stream
        handle = ctypes.c_void_p()
        self.check(lib.proteus_context_create_on_stream(BACKEND_CUDA, stream.device.index or 0,
                                                        ctypes.c_void_p(stream.cuda_stream), ctypes.byref(handle)),
                   "proteus_context_create_on_stream")
        self.handle = handle
        self.wraps = {}

    def check(self, status, what):
        if status != STATUS_OK:
            raise ProteusError(f"{what}: status {status}: {self.lib.proteus_last_error_message().decode()}")

    def wrap(self, storage):
        base = storage.data_ptr()
        if base not in self.wraps:
            buffer = ctypes.c_void_p()
            self.check(self.lib.proteus_buffer_wrap(self.handle, ctypes.c_void_p(base), storage.nbytes(),
                                                    ctypes.byref(buffer)), "proteus_buffer_wrap")
            pointer = ctypes.c_void_p()
            self.check(self.lib.proteus_buffer_device_pointer(buffer, ctypes.byref(pointer)), "proteus_buffer_device_pointer")
            if pointer.value != base:
                raise ProteusError(f"the wrap's device pointer {pointer.value:#x} is not the tensor's {base:#x}")
            self.wraps[base] = buffer
        return self.wraps[base]

    def describe(self, tensor):
        dtype = {torch.float32: DTYPE_FLOAT32, torch.float16: DTYPE_FLOAT16, torch.bfloat16: DTYPE_BFLOAT16,
                 torch.uint8: DTYPE_UINT8}[tensor.dtype]
        storage = tensor.untyped_storage()
        t = ProteusTensor(buffer=self.wrap(storage), offset_bytes=tensor.data_ptr() - storage.data_ptr(), dtype=dtype,
                          rank=tensor.dim())
        for axis in range(MAX_RANK):
            t.shape[axis] = tensor.shape[axis] if axis < tensor.dim() else 1
            t.strides[axis] = tensor.stride(axis) if axis < tensor.dim() else 0
        return t

    def flux(self, q, k, v, o, params, salience=None, query_offset=None):
        """Queues the call on the stream (no synchronisation) and destroys its wraps; returns the run info."""
        tensors = FluxTensors(struct_size=ctypes.sizeof(FluxTensors))
        if query_offset is not None:
            tensors.flags, tensors.query_offset = FLUX_QUERY_OFFSET, query_offset
        tensors.q, tensors.k, tensors.v, tensors.o = (self.describe(x) for x in (q, k, v, o))
        if salience is not None:
            tensors.salience = self.describe(salience)
        info = FluxRunInfo(struct_size=ctypes.sizeof(FluxRunInfo))
        try:
            self.check(self.lib.proteus_flux_attention_v2(self.handle, ctypes.byref(tensors), ctypes.byref(params), None,
                                                          ctypes.byref(info)), "proteus_flux_attention_v2")
        finally:
            self.release_wraps()
        return info

    def release_wraps(self):
        """Destroys every wrap (work may still be queued: the memory stays the caller's); a second destroy is refused."""
        wraps, self.wraps = self.wraps, {}
        for buffer in wraps.values():
            self.check(self.lib.proteus_buffer_destroy(buffer), "proteus_buffer_destroy")
            status = self.lib.proteus_buffer_destroy(buffer)
            if status != STATUS_INVALID_HANDLE:
                raise ProteusError(f"destroying a destroyed wrap gave status {status}, not INVALID_HANDLE")

    def destroy(self):
        self.check(self.lib.proteus_context_destroy(self.handle), "proteus_context_destroy")


def params_of(window, stride=0, anchors=0, dna=0):
    return FluxParams(struct_size=ctypes.sizeof(FluxParams), policy=POLICY_ALIGNED, window=window, anchor_stride=stride,
                      anchor_count=anchors, dna_count=dna, use_default_scale=1)


# ---- references ---------------------------------------------------------------------------------

def dna_mask(salience_row, T, W, K):
    """[T, T] bool: Dna(i) = the K positions j ≤ i − W of highest salience, ties to the larger j (SPEC §3)."""
    s = salience_row.tolist()
    order = sorted(range(T), key=lambda j: (-s[j], -j))  # best first
    rank = [0] * T
    for r, j in enumerate(order):
        rank[j] = r
    # threshold[p]: the K-th best rank among j ≤ p (every j ≤ p while fewer than K exist).
    kept, threshold = [], []
    for p in range(T):
        heapq.heappush(kept, -rank[p])
        if len(kept) > K:
            heapq.heappop(kept)
        threshold.append(-kept[0] if len(kept) == K else T)
    device = salience_row.device
    rank_t, threshold_t = torch.tensor(rank, device=device), torch.tensor(threshold, device=device)
    i = torch.arange(T, device=device)[:, None]
    j = torch.arange(T, device=device)[None, :]
    prefix_end = i - W
    return (prefix_end >= 0) & (j <= prefix_end) & (rank_t[None, :] <= threshold_t[prefix_end.clamp(min=0)])


def candidate_mask(T, W, S, A, K, salience, device):
    """[B or 1, 1, T, T] bool, True where j ∈ C(i) = {i} ∪ Local(i) ∪ Anchors(i) ∪ Dna(i), Aligned policy."""
    i = torch.arange(T, device=device)[:, None]
    j = torch.arange(T, device=device)[None, :]
    mask = (j <= i) & (j > i - W)  # Local(i) = [max(0, i − W + 1), i], which holds i
    if A > 0:
        before = i - W  # the A largest multiples of S that are ≤ i − W
        mask = mask | ((before >= 0) & (j % S == 0) & (j <= before) & (j // S > torch.div(before, S, rounding_mode="floor") - A))
    if K == 0:
        return mask[None, None]
    return torch.stack([mask | dna_mask(salience[b], T, W, K) for b in range(salience.shape[0])])[:, None]


def reference(q, k, v, mask):
    """float32 attention over [B, H, T, D] views; GQA by repeating kv heads; mask None = causal."""
    group = q.shape[1] // k.shape[1]
    qf, kf, vf = q.float(), k.float().repeat_interleave(group, dim=1), v.float().repeat_interleave(group, dim=1)
    if mask is None:
        return F.scaled_dot_product_attention(qf, kf, vf, is_causal=True)
    return F.scaled_dot_product_attention(qf, kf, vf, attn_mask=mask)


def relative_l2(out, ref):
    return ((out.float() - ref).norm() / ref.norm()).item()


TOLERANCE = {torch.bfloat16: 1e-2, torch.float16: 2e-3}


class Checks:
    def __init__(self):
        self.failures = 0

    def report(self, ok, name, detail):
        self.failures += not ok
        print(f"{'PASS' if ok else 'FAIL'} torch {name}: {detail}", flush=True)

    def compare(self, name, out, ref, dtype, info, extra="", query_offset=None):
        """out (PyTorch's own output tensor) vs the float32 reference; query_offset: the p0 the run info must report."""
        finite = bool(torch.isfinite(out).all())
        error = relative_l2(out, ref)
        offset_ok = query_offset is None or info.query_offset == query_offset
        detail = f"kernel {KERNELS.get(info.kernel, info.kernel)}, rel L2 {error:.2e} (tol {TOLERANCE[dtype]:g})"
        if not finite:
            detail += ", NOT FINITE (unwritten or NaN)"
        if query_offset is not None:
            detail += f", p0 {info.query_offset}" + ("" if offset_ok else f" (expected {query_offset})")
        self.report(finite and offset_ok and error <= TOLERANCE[dtype], name, detail + extra)


def qkv(B, H, Hkv, T, D, dtype, layout, device):
    """q [B,H,T,D], k and v [B,Hkv,T,D] views (layout 'bhtd' contiguous, 'bthd' transposed storage), random."""
    def make(heads):
        if layout == "bhtd":
            return torch.randn(B, heads, T, D, device=device, dtype=dtype)
        return torch.randn(B, T, heads, D, device=device, dtype=dtype).transpose(1, 2)
    return make(H), make(Hkv), make(Hkv)


def empty_like_view(x):
    """A NaN-poisoned output with x's shape and layout."""
    if x.is_contiguous():
        return torch.full_like(x, float("nan"))
    return torch.full(x.transpose(1, 2).shape, float("nan"), device=x.device, dtype=x.dtype).transpose(1, 2)


def check_dense(checks, ctx, device):
    for dtype in (torch.bfloat16, torch.float16):
        for D in (64, 128):
            for H, Hkv in ((8, 8), (8, 2)):
                for layout, T in (("bhtd", 4096), ("bthd", 1000)):
                    name = f"dense {str(dtype)[6:]} D{D} H{H}/{Hkv} {layout} B2 T{T}"
                    try:
                        q, k, v = qkv(2, H, Hkv, T, D, dtype, layout, device)
                        o = empty_like_view(q)
                        info = ctx.flux(q, k, v, o, params_of(DENSE_WINDOW))
                        ref = reference(q, k, v, None)
                        group = H // Hkv
                        own = F.scaled_dot_product_attention(q, k.repeat_interleave(group, 1), v.repeat_interleave(group, 1),
                                                             is_causal=True)
                        checks.compare(name, o, ref, dtype, info, f"; torch SDPA in {str(dtype)[6:]} itself {relative_l2(own, ref):.2e}")
                    except CHECK_ERRORS as e:
                        checks.report(False, name, str(e))


SHORTLISTS = [  # (W, S, A, K)
    (341, 64, 16, 0),
    (512, 256, 171, 0),
    (307, 256, 154, 51),
    (256, 64, 4, 16),
]


def check_shortlists(checks, ctx, device):
    T, B, H, Hkv, D = 8192, 2, 8, 2, 64
    for (W, S, A, K), dtype in zip(SHORTLISTS, (torch.bfloat16, torch.float16, torch.bfloat16, torch.float16)):
        name = f"{'DNA' if K else 'shortlist'} W{W} S{S} A{A} K{K} {str(dtype)[6:]} B{B} H{H}/{Hkv} T{T}"
        try:
            q, k, v = qkv(B, H, Hkv, T, D, dtype, "bhtd", device)
            # Few salience levels: many ties, so the ties-to-the-larger-j rule decides.
            salience = torch.randint(0, 16, (B, T), device=device).float() * 0.25 - 1.0 if K else None
            mask = candidate_mask(T, W, S, A, K, salience, device)  # before the call: nothing waits after it
            o = empty_like_view(q)
            info = ctx.flux(q, k, v, o, params_of(W, S, A, K), salience)
            checks.compare(name, o, reference(q, k, v, mask), dtype, info)
        except CHECK_ERRORS as e:
            checks.report(False, name, str(e))


def check_slices(checks, ctx, device):
    T, B, H, Hkv, D = 8192, 1, 8, 2, 64
    cases = [  # (name, W, S, A, K, Tq, p0 or None for the default T − Tq, dtype)
        ("dense Tq 1 p0 T-1", DENSE_WINDOW, 0, 0, 0, 1, T - 1, torch.bfloat16),
        ("DNA W307 A154 K51 Tq 1 p0 T-1", 307, 256, 154, 51, 1, T - 1, torch.float16),
        ("DNA W307 A154 K51 Tq 1000 p0 3001", 307, 256, 154, 51, 1000, 3001, torch.bfloat16),
        ("shortlist W341 S64 A16 Tq 777 default p0", 341, 64, 16, 0, 777, None, torch.bfloat16),
        ("dense Tq 200 p0 0", DENSE_WINDOW, 0, 0, 0, 200, 0, torch.float16),
    ]
    for name, W, S, A, K, Tq, p0, dtype in cases:
        name = f"slice {name} {str(dtype)[6:]} T{T}"
        try:
            q_full, k, v = qkv(B, H, Hkv, T, D, dtype, "bhtd", device)
            start = T - Tq if p0 is None else p0
            q = q_full[:, :, start:start + Tq]  # a view into the full q: the wrap's offset does the slicing
            salience = torch.randn(B, T, device=device) if K else None
            mask = None if W >= T else candidate_mask(T, W, S, A, K, salience, device)
            o = torch.full_like(q, float("nan"))
            info = ctx.flux(q, k, v, o, params_of(W, S, A, K), salience, query_offset=p0)
            ref = reference(q_full, k, v, mask)[:, :, start:start + Tq]
            checks.compare(name, o, ref, dtype, info, query_offset=start)
        except CHECK_ERRORS as e:
            checks.report(False, name, str(e))


def check_lifetime(checks, lib, device):
    """Wraps and a context on the legacy default stream, destroyed; the tensors stay PyTorch's and usable."""
    name = "lifetime (default stream): wraps and context destroyed, tensors intact and usable"
    try:
        stream = torch.cuda.default_stream(device)
        with torch.cuda.stream(stream):
            q, k, v = qkv(1, 8, 2, 2048, 64, torch.bfloat16, "bthd", device)
            o = empty_like_view(q)
            before = [x.clone() for x in (q, k, v)]
            ctx = Context(lib, stream)
            info = ctx.flux(q, k, v, o, params_of(DENSE_WINDOW))  # its wraps are destroyed on return
            ctx.destroy()  # waits for the stream, never frees the tensors
            torch.cuda.synchronize()
            problems = [f"{n} changed" for n, x, y in zip("qkv", (q, k, v), before) if not torch.equal(x, y)]
            ref = reference(q, k, v, None)
            error = relative_l2(o, ref)
            if not torch.isfinite(o).all() or error > TOLERANCE[torch.bfloat16]:
                problems.append(f"o wrong (rel L2 {error:.2e})")
            # Usable by PyTorch: in-place writes and reads on every tensor.
            for x in (q, k, v, o):
                x.mul_(2).div_(2)
            # Usable by the library again: a new context over the same memory gives the same bits.
            again = torch.full_like(o, float("nan"))
            ctx = Context(lib, stream)
            ctx.flux(q, k, v, again, params_of(DENSE_WINDOW))
            ctx.destroy()
            torch.cuda.synchronize()
            if not torch.equal(again, o):
                problems.append("a new context over the same tensors gave other bits")
        checks.report(not problems, name, f"kernel {KERNELS.get(info.kernel, info.kernel)}"
                      + ("" if not problems else "; " + "; ".join(problems)))
    except CHECK_ERRORS as e:
        checks.report(False, name, str(e))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    checks = Checks()
    for struct, size in LAYOUT.items():
        if ctypes.sizeof(struct) != size:
            checks.report(False, "ctypes layout", f"sizeof {struct.__name__} {ctypes.sizeof(struct)}, the header's {size}")
    if checks.failures:
        return 1
    if not torch.cuda.is_available():
        sys.exit("torch_zero_copy: torch sees no CUDA device")
    torch.manual_seed(args.seed)
    lib = load_library()
    device = torch.device("cuda", 0)
    torch.backends.cuda.matmul.allow_tf32 = False  # a float32 reference, not tf32
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(device)}; library {os.environ['PROTEUS_NATIVE_PATH']}", flush=True)
    # The main checks run on a side stream of PyTorch's: the context queues there, PyTorch reads after.
    side = torch.cuda.Stream(device)
    with torch.cuda.stream(side):
        ctx = Context(lib, torch.cuda.current_stream(device))
        check_dense(checks, ctx, device)
        check_shortlists(checks, ctx, device)
        check_slices(checks, ctx, device)
        ctx.destroy()
    torch.cuda.synchronize()
    check_lifetime(checks, lib, device)
    print(f"torch zero-copy: {checks.failures} failures", flush=True)
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
