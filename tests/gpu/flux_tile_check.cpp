// Checks and times the GPU tile kernel through the C ABI (proteus_flux_attention_v2, launch.mode = TILE
// mostly), on the device machine.
//   check:  random cases around tile boundaries (T = tile ± 1, W straddling tiles, GQA, layouts,
//           active masks, lse, every launch configuration), GPU vs the CPU reference in one process; on
//           half of them a query slice (SPEC §1: Tq rows at positions p0 …, from one decode step at
//           p0 = T − 1 to chunks straddling query tiles, DNA included), where the reference's slice
//           must also equal the same rows of its full-length call bit for bit.
//   check-row-mode: the same cases launched ROW (the row mode) with sparse masks (none, single rows,
//           1–100 %), once with each of its attention kernels (PROTEUS_ROW_MODE_KERNEL=tiles, groups, rows).
//   check-cpu: the same cases for the CPU backend's own kernels (AUTO: its tile kernel where that takes
//           the problem) against the CPU reference; needs no GPU (CI runs it).
//   time:   the dense and window shapes of the acceptance list, per launch configuration,
//           median of N synchronised runs, with TFLOP/s (causal FLOPs: 4·Σ|C(i)|·D·H).
// Build (from the repository root, after building build-cuda):
//   g++ -O2 -std=c++17 -Inative/include -Inative/src tests/gpu/flux_tile_check.cpp -Lbuild-cuda/lib -lproteus
//       -Wl,-rpath,$PWD/build-cuda/lib -o build-cuda/flux_tile_check
// Run:  build-cuda/flux_tile_check check [CASES] [SEED] [MAX_T] | check-row-mode [CASES] [SEED] [MAX_T] | check-cpu [CASES] [SEED] [MAX_T] | time [REPEATS]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/numeric.h"
#include "proteus/proteus.h"

namespace {

void require(proteus_status status, const char* what)
{
    if (status == PROTEUS_STATUS_OK) return;
    std::fprintf(stderr, "%s failed: status %d: %s\n", what, status, proteus_last_error_message());
    std::exit(2);
}

// Storage formats come from the library's own header-only conversions (round to nearest even).
using proteus::bfloat16_to_float;
using proteus::float_to_bfloat16;
using proteus::float_to_half;
using proteus::half_to_float;

/** One device buffer with its host image. */
struct Buffer {
    proteus_context context = nullptr;
    proteus_buffer buffer = nullptr;
    uint64_t bytes = 0;

    Buffer(proteus_context c, uint64_t n) : context(c), bytes(n) { require(proteus_buffer_create(c, n, &buffer), "buffer_create"); }
    ~Buffer() { proteus_buffer_destroy(buffer); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    void upload(const void* data) { require(proteus_buffer_upload(buffer, 0, data, bytes), "upload"); }
    void download(void* data) const { require(proteus_buffer_download(buffer, 0, data, bytes), "download"); }
};

proteus_tensor view(const Buffer& b, uint64_t offset_bytes, proteus_dtype dtype, int rank, const int64_t* shape,
                    const int64_t* strides)
{
    proteus_tensor t{};
    t.buffer = b.buffer;
    t.offset_bytes = offset_bytes;
    t.dtype = dtype;
    t.rank = rank;
    for (int a = 0; a < PROTEUS_MAX_RANK; ++a) {
        t.shape[a] = a < rank ? shape[a] : 1;
        t.strides[a] = a < rank ? strides[a] : 0;
    }
    return t;
}

struct Shape {
    int64_t B, H, Hkv, T, D;
    proteus_dtype dtype;
    int layout;  // 0 [B,H,T,D], 1 [B,T,H,D], 2 fused [B,T,H+2Hkv,D]
};

/** A query slice (SPEC §1): Tq rows at positions p0 … p0 + Tq − 1. */
struct Slice {
    int64_t rows = 0;    // Tq
    int64_t offset = 0;  // p0
    bool explicit_offset = true;  // false: flags without PROTEUS_FLUX_QUERY_OFFSET (p0 = T − Tq)
};

/**
 * Host inputs of one case and what the call needs: runs it on a context over a slice and returns o
 * (as floats, [B, H, Tq, D]) and lse ([B, H, Tq]). q and active hold all T positions; a slice views
 * rows p0 … of them.
 */
struct Case {
    Shape s;
    Slice slice;
    proteus_flux_params params{};
    proteus_launch_config launch{};
    std::vector<uint16_t> qkv;  // one storage for all layouts: q, k, v regions (or the fused rows)
    std::vector<uint8_t> active;  // [B, H, T]
    std::vector<float> salience;  // [B, T], used when params.dna_count > 0
    bool with_active = false, with_lse = false;

    int64_t width() const { return s.H + 2 * s.Hkv; }

    /** Runs the case on `context` with `launch` (null: AUTO, the library's choice). */
    void run(proteus_context context, const proteus_launch_config* launch, const Slice& rows, std::vector<float>& out,
             std::vector<float>& lse) const
    {
        const int64_t B = s.B, H = s.H, Hk = s.Hkv, T = s.T, D = s.D, Tq = rows.rows, p0 = rows.offset;
        Buffer inputs(context, qkv.size() * 2);
        inputs.upload(qkv.data());
        Buffer output(context, B * H * Tq * D * 2);
        const uint16_t poison = s.dtype == PROTEUS_DTYPE_BFLOAT16 ? 0x7fc0 : 0x7e00;
        require(proteus_buffer_fill(output.buffer, 0, output.bytes, &poison, 2), "fill");
        Buffer lse_buffer(context, B * H * Tq * 4);
        const float lse_poison = std::nanf("");
        require(proteus_buffer_fill(lse_buffer.buffer, 0, lse_buffer.bytes, &lse_poison, 4), "fill");
        Buffer active_buffer(context, B * H * T);
        active_buffer.upload(active.data());
        Buffer salience_buffer(context, B * T * 4);
        salience_buffer.upload(salience.data());

        proteus_flux_tensors t{};
        t.struct_size = sizeof t;
        if (rows.explicit_offset) {
            t.flags = PROTEUS_FLUX_QUERY_OFFSET;
            t.query_offset = p0;
        }
        const int64_t q_shape[4] = {B, H, Tq, D}, kv_shape[4] = {B, Hk, T, D}, row_shape[3] = {B, H, Tq};
        const int64_t row_strides[3] = {H * Tq, Tq, 1}, o_strides[4] = {H * Tq * D, Tq * D, D, 1};
        const int64_t active_strides[3] = {H * T, T, 1};  // the mask of all T positions, viewed from p0
        if (s.layout == 2) {
            const int64_t w = width();
            const int64_t st[4] = {T * w * D, D, w * D, 1};
            t.q = view(inputs, p0 * w * D * 2, s.dtype, 4, q_shape, st);
            t.k = view(inputs, H * D * 2, s.dtype, 4, kv_shape, st);
            t.v = view(inputs, (H + Hk) * D * 2, s.dtype, 4, kv_shape, st);
        } else {
            const uint64_t q_bytes = B * H * T * D * 2, kv_bytes = B * Hk * T * D * 2;
            auto strides = [&](int64_t heads, int64_t* st) {
                if (s.layout == 0) st[0] = heads * T * D, st[1] = T * D, st[2] = D;
                else st[0] = T * heads * D, st[1] = D, st[2] = heads * D;
                st[3] = 1;
            };
            int64_t sq[4], skv[4];
            strides(H, sq);
            strides(Hk, skv);
            t.q = view(inputs, p0 * sq[2] * 2, s.dtype, 4, q_shape, sq);
            t.k = view(inputs, q_bytes, s.dtype, 4, kv_shape, skv);
            t.v = view(inputs, q_bytes + kv_bytes, s.dtype, 4, kv_shape, skv);
        }
        t.o = view(output, 0, s.dtype, 4, q_shape, o_strides);
        if (with_active) t.active = view(active_buffer, p0, PROTEUS_DTYPE_UINT8, 3, row_shape, active_strides);
        if (with_lse) t.lse = view(lse_buffer, 0, PROTEUS_DTYPE_FLOAT32, 3, row_shape, row_strides);
        const int64_t salience_shape[2] = {B, T}, salience_strides[2] = {T, 1};
        if (params.dna_count > 0) t.salience = view(salience_buffer, 0, PROTEUS_DTYPE_FLOAT32, 2, salience_shape, salience_strides);
        require(proteus_flux_attention_v2(context, &t, &params, launch, nullptr), "flux_attention_v2");
        require(proteus_context_synchronize(context), "synchronize");
        std::vector<uint16_t> raw(B * H * Tq * D);
        output.download(raw.data());
        out.resize(raw.size());
        for (size_t e = 0; e < raw.size(); ++e) {
            out[e] = s.dtype == PROTEUS_DTYPE_BFLOAT16 ? bfloat16_to_float(raw[e]) : half_to_float(raw[e]);
        }
        lse.resize(B * H * Tq);
        lse_buffer.download(lse.data());
    }
};

/**
 * Whether rows [p0, p0 + Tq) of the full-length outputs (o [B, H, T, D], lse [B, H, T]) equal the
 * slice's (o [B, H, Tq, D], lse [B, H, Tq]) bit for bit (NaN never equal).
 */
bool same_rows(const Shape& s, const Slice& slice, const std::vector<float>& o_full, const std::vector<float>& lse_full,
               const std::vector<float>& o_slice, const std::vector<float>& lse_slice, bool with_lse)
{
    const int64_t T = s.T, Tq = slice.rows, D = s.D;
    for (int64_t bh = 0; bh < s.B * s.H; ++bh) {
        for (int64_t r = 0; r < Tq; ++r) {
            const int64_t full = bh * T + slice.offset + r, part = bh * Tq + r;
            if (with_lse && std::memcmp(&lse_full[full], &lse_slice[part], sizeof(float)) != 0) return false;
            for (int64_t d = 0; d < D; ++d) {
                if (!(o_full[full * D + d] == o_slice[part * D + d])) return false;
            }
        }
    }
    return true;
}

/**
 * Random cases: the kernel under test (`tested`: the GPU with each case's launch, or, with `tested_gpu`
 * false, the CPU backend's AUTO, its tile kernel where that takes the problem) against the CPU reference
 * (launch mode REFERENCE on `cpu`), within SPEC §9. On a query slice the reference must also equal the
 * same rows of its full-length call bit for bit (SPEC §1); the kernels, whose tiles move with the slice,
 * only within tolerance.
 */
/** `row_mode`: launch ROW wherever the row mode takes the case, with sparse masks (check-row-mode). */
int check(proteus_context tested, bool tested_gpu, proteus_context cpu, int cases, unsigned seed, int64_t max_t,
          bool row_mode = false)
{
    proteus_launch_config reference{};
    reference.struct_size = sizeof reference;
    reference.mode = PROTEUS_LAUNCH_REFERENCE;
    std::mt19937_64 rng(seed);
    auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
    auto one_of = [&](std::initializer_list<int64_t> v) { return *(v.begin() + pick(0, v.size() - 1)); };
    std::normal_distribution<float> normal(0.0f, 1.0f);
    int failures = 0;
    for (int c = 0; c < cases; ++c) {
        Case k;
        const int64_t groups[][2] = {{1, 1}, {2, 2}, {4, 2}, {4, 1}, {8, 2}};
        const auto& g = groups[pick(0, 4)];
        k.s.B = pick(1, 2);
        k.s.H = g[0];
        k.s.Hkv = g[1];
        do {
            k.s.T = pick(0, 4) == 0 ? pick(1, 3000)
                                    : one_of({1, 2, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1023, 1024, 1025, 4097,
                                              12289, 30001});
        } while (k.s.T > max_t);
        k.s.D = one_of({8, 16, 32, 64, 80, 96, 128, 256});
        k.s.dtype = pick(0, 1) ? PROTEUS_DTYPE_BFLOAT16 : PROTEUS_DTYPE_FLOAT16;
        k.s.layout = static_cast<int>(pick(0, 2));
        const int64_t T = k.s.T;
        // Query slices on half of the cases: one decode step (Tq 1 at p0 = T − 1), any Tq and p0, and
        // chunks that begin just before or after a multiple of 64 (query tiles then start off the
        // tiles of a full call and straddle them); p0 = T − Tq without the flag on some.
        k.slice = {T, 0, true};
        switch (pick(0, 7)) {
        case 0: k.slice = {1, T - 1, true}; break;
        case 1: k.slice.rows = pick(1, T), k.slice.offset = pick(0, T - k.slice.rows); break;
        case 2: k.slice.rows = pick(1, T), k.slice.offset = T - k.slice.rows, k.slice.explicit_offset = false; break;
        case 3: {
            k.slice.offset = std::clamp<int64_t>(64 * pick(0, T / 64) + pick(-3, 3), 0, T - 1);
            k.slice.rows = std::min(T - k.slice.offset, one_of({1, 2, 15, 63, 64, 65, 127, 128, 129, 200, 1000}));
            break;
        }
        default: break;  // the whole sequence
        }
        k.params.struct_size = sizeof k.params;
        k.params.policy = PROTEUS_POLICY_ALIGNED;
        // Long sequences (many DNA walker chunks) keep the CPU reference cheap with a short window.
        switch (T > 4097 ? 2 : pick(0, 3)) {
        case 0: k.params.window = INT64_MAX / 4; break;
        case 1: k.params.window = std::max<int64_t>(1, T + pick(-1, 1)); break;
        case 2: k.params.window = one_of({1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 341, 512}); break;
        default: k.params.window = pick(1, T + 1);
        }
        // Anchors on most cases: strides below, at and above the tile sizes put a tile's anchors inside
        // the band's key range of other tiles (S < W) and make A's progression straddle key tiles.
        if (pick(0, 3) != 0) {
            k.params.anchor_count = one_of({1, 2, 3, 5, 17, 40, 171});
            k.params.anchor_stride = one_of({1, 2, 3, 7, 16, 63, 64, 65, 128, 256, 1000, 5000});
        }
        // DNA on some: K around the walkers' lane multiples (32, 64, 128, 256 keys), past the tile
        // kernel's 256 (the row kernel then) and past T − W; salience with ties, NaN, ±0 and −inf.
        if (pick(0, 2) == 0) k.params.dna_count = one_of({1, 3, 8, 31, 32, 33, 51, 64, 65, 100, 129, 200, 256, 257, 5000});
        k.params.use_default_scale = pick(0, 1);
        k.params.scale = 0.3f;
        k.launch.struct_size = sizeof k.launch;
        // TILE mostly; AUTO and ROW route sparse masks to the row mode and the rest as the library
        // decides. Dispatch is explicit: TILE and ROW only where the tile kernel and the row mode take
        // the problem (both: K ≤ 256 when some row has DNA keys), and tile fields only where the tile
        // kernel may run. DNA keys exist when the slice's last position reaches past the window and K > 0.
        const bool dna_keys = k.slice.offset + k.slice.rows - 1 >= k.params.window && k.params.dna_count > 0;
        const bool tile_takes = !dna_keys || k.params.dna_count <= 256;
        int64_t mode = pick(0, 3) == 0 ? one_of({PROTEUS_LAUNCH_AUTO, PROTEUS_LAUNCH_ROW}) : int64_t{PROTEUS_LAUNCH_TILE};
        if (row_mode) mode = PROTEUS_LAUNCH_ROW;  // the row mode takes K ≤ 256, as the tile kernel
        if (mode != PROTEUS_LAUNCH_AUTO && !tile_takes) mode = PROTEUS_LAUNCH_AUTO;
        // D 8 is below one k16 step of the tile kernel's products: AUTO (the row kernel) or ROW.
        if (mode == PROTEUS_LAUNCH_TILE && k.s.D == 8) mode = PROTEUS_LAUNCH_AUTO;
        k.launch.mode = static_cast<int32_t>(mode);
        if (mode != PROTEUS_LAUNCH_ROW && tile_takes && k.s.D != 8) {
            k.launch.block_q = static_cast<int32_t>(one_of({0, 64, 128}));
            k.launch.block_k = static_cast<int32_t>(k.s.D >= 80 ? one_of({0, 32, 64}) : one_of({0, 32, 64, 128}));
            // D 256: three stages of 64 keys beside 64 query rows pass the H200's 227 KiB a block.
            k.launch.stages = static_cast<int32_t>(k.s.D == 256 ? one_of({0, 1, 2}) : one_of({0, 1, 2, 3}));
            // Rows per warp: 16 always; 32 where a kernel is compiled for it (no DNA key in any row; D 64
            // or 128, or D 80 or 96 with 64 keys a tile); 0 for the heuristic.
            const bool wide_keys = k.launch.block_k == 0 || k.launch.block_k == 64;
            const bool wide_warps =
                !dna_keys && (k.s.D == 64 || k.s.D == 128 || ((k.s.D == 80 || k.s.D == 96) && wide_keys));
            k.launch.rows_per_warp = static_cast<int32_t>(wide_warps ? one_of({0, 16, 32}) : one_of({0, 16}));
        }
        const int64_t B = k.s.B, H = k.s.H, Hk = k.s.Hkv, D = k.s.D;
        const float amplitude = pick(0, 1) ? 1.0f : 3.0f;
        k.qkv.resize(B * T * (H + 2 * Hk) * D);
        for (auto& x : k.qkv) {
            const float value = amplitude * normal(rng);
            x = k.s.dtype == PROTEUS_DTYPE_BFLOAT16 ? float_to_bfloat16(value) : float_to_half(value);
        }
        k.with_active = row_mode ? pick(0, 7) != 0 : pick(0, 2) == 0;
        k.with_lse = pick(0, 3) != 0;
        k.active.resize(B * H * T);
        // Percent: AUTO's row mode below 25. The row mode's runs add 0 (no active row) and 1 (single rows,
        // row groups of one row, rows more than a window apart, groups spanning a change of head).
        const int64_t density = row_mode ? one_of({0, 1, 5, 20, 75, 100}) : one_of({5, 20, 75, 100});
        for (auto& a : k.active) a = pick(0, 99) < density;
        k.salience.resize(B * T);
        const int64_t levels = one_of({3, 1000, 0, -1});  // 3: many ties; 0: continuous; -1: signed zeros and infinities
        for (auto& x : k.salience) {
            if (levels > 0) {
                x = pick(0, 19) == 0 ? std::nanf("") : static_cast<float>(pick(0, levels));
            } else if (levels == 0) {
                x = normal(rng);
            } else {
                const float specials[] = {-0.0f, 0.0f, -1.0f, 1.0f, -INFINITY, INFINITY, std::nanf("")};
                x = specials[pick(0, 6)];
            }
        }

        std::vector<float> o_gpu, lse_gpu, o_cpu, lse_cpu;
        k.run(tested, tested_gpu ? &k.launch : nullptr, k.slice, o_gpu, lse_gpu);
        k.run(cpu, &reference, k.slice, o_cpu, lse_cpu);
        // SPEC §1: a slice's rows are exactly the full-length call's rows p0 … (the CPU reference bit for bit).
        bool cpu_slice_differs = false;
        if (k.slice.rows != T) {
            std::vector<float> o_full, lse_full;
            k.run(cpu, &reference, Slice{T, 0, true}, o_full, lse_full);
            cpu_slice_differs = !same_rows(k.s, k.slice, o_full, lse_full, o_cpu, lse_cpu, k.with_lse);
        }
        double num = 0, den = 0, lse_error = 0;
        bool bad = false;
        for (size_t e = 0; e < o_gpu.size(); ++e) {
            if (std::isnan(o_gpu[e]) || std::isinf(o_gpu[e])) bad = true;
            num += double(o_gpu[e] - o_cpu[e]) * (o_gpu[e] - o_cpu[e]);
            den += double(o_cpu[e]) * o_cpu[e];
        }
        if (k.with_lse) {
            for (size_t r = 0; r < lse_gpu.size(); ++r) {
                if (std::isinf(lse_cpu[r]) || std::isinf(lse_gpu[r]) || std::isnan(lse_gpu[r])) {
                    bad |= !(lse_cpu[r] == lse_gpu[r]);
                    continue;
                }
                lse_error = std::max(lse_error, double(std::fabs(lse_gpu[r] - lse_cpu[r])) / std::max(1.0f, std::fabs(lse_cpu[r])));
            }
        }
        const double rel = std::sqrt(num / std::max(den, 1e-30));
        const double tolerance = k.s.dtype == PROTEUS_DTYPE_FLOAT16 ? 2e-3 : 1e-2;
        const bool fail = bad || rel > tolerance || lse_error > 1e-4 || cpu_slice_differs;
        failures += fail;
        if (fail) {
            std::printf("FAIL case %d: %s B%ld H%ld Hkv%ld T%ld Tq%ld p0 %ld%s D%ld W%ld S%ld A%ld K%ld layout %d "
                        "active %d lse %d launch mode %d q%d k%d s%d rows/warp %d: rel %.3g lse %.3g nan/inf %d "
                        "cpu slice != cpu full %d\n",
                        c, k.s.dtype == PROTEUS_DTYPE_FLOAT16 ? "f16" : "bf16", (long)B, (long)H, (long)Hk, (long)T,
                        (long)k.slice.rows, (long)k.slice.offset, k.slice.explicit_offset ? "" : " (default)", (long)D,
                        (long)k.params.window, (long)k.params.anchor_stride, (long)k.params.anchor_count,
                        (long)k.params.dna_count, k.s.layout, k.with_active, k.with_lse, k.launch.mode, k.launch.block_q,
                        k.launch.block_k, k.launch.stages, k.launch.rows_per_warp, rel, lse_error, bad, cpu_slice_differs);
        }
    }
    std::printf("check: %d cases, %d failures\n", cases, failures);
    return failures == 0 ? 0 : 1;
}

struct Timing {
    double median_ms;
    double tflops;
};

/** A timed shape: B = 1, bf16, [B,H,T,D], Aligned policy. */
struct TimedShape {
    int64_t H, T, D, window, stride, anchors, dna;
    const char* name;
};

/**
 * Median wall time of `repeats` synchronised calls (after two warm-up calls). TFLOP/s count
 * 4·Σ|C(i)|·D·H with Σ|C(i)| = Σ min(i + 1, W) + Σ_{i ≥ W} min(A, ⌊(i − W)/S⌋ + 1) + Σ_{i ≥ W} min(K, i − W + 1)
 * (the DNA term an upper bound: a DNA key that is an anchor counts once).
 */
Timing time_call(proteus_context gpu, const TimedShape& shape_, proteus_launch_config launch, int repeats, Buffer& q,
                 Buffer& k, Buffer& v, Buffer& o, Buffer& salience)
{
    const int64_t H = shape_.H, T = shape_.T, D = shape_.D, window = shape_.window;
    const int64_t shape[4] = {1, H, T, D}, strides[4] = {H * T * D, T * D, D, 1};
    proteus_flux_tensors t{};
    t.struct_size = sizeof t;
    t.q = view(q, 0, PROTEUS_DTYPE_BFLOAT16, 4, shape, strides);
    t.k = view(k, 0, PROTEUS_DTYPE_BFLOAT16, 4, shape, strides);
    t.v = view(v, 0, PROTEUS_DTYPE_BFLOAT16, 4, shape, strides);
    t.o = view(o, 0, PROTEUS_DTYPE_BFLOAT16, 4, shape, strides);
    proteus_flux_params params{};
    params.struct_size = sizeof params;
    params.policy = PROTEUS_POLICY_ALIGNED;
    params.window = window;
    params.anchor_stride = shape_.stride;
    params.anchor_count = shape_.anchors;
    params.dna_count = shape_.dna;
    params.use_default_scale = 1;
    const int64_t salience_shape[2] = {1, T}, salience_strides[2] = {T, 1};
    if (shape_.dna > 0) t.salience = view(salience, 0, PROTEUS_DTYPE_FLOAT32, 2, salience_shape, salience_strides);
    std::vector<double> ms;
    for (int r = 0; r < repeats + 2; ++r) {
        const auto start = std::chrono::steady_clock::now();
        require(proteus_flux_attention_v2(gpu, &t, &params, &launch, nullptr), "flux_attention_v2");
        require(proteus_context_synchronize(gpu), "synchronize");
        const auto stop = std::chrono::steady_clock::now();
        if (r >= 2) ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
    }
    std::sort(ms.begin(), ms.end());
    const double w = static_cast<double>(std::min(window, T));
    double keys = w * (w + 1) / 2 + (static_cast<double>(T) - w) * w;
    for (int64_t i = window; i < T; ++i) {
        if (shape_.anchors > 0) keys += static_cast<double>(std::min(shape_.anchors, (i - window) / shape_.stride + 1));
        keys += static_cast<double>(std::min(shape_.dna, i - window + 1));
    }
    return {ms[ms.size() / 2], 4.0 * keys * D * H / (ms[ms.size() / 2] * 1e-3) / 1e12};
}

int time_shapes(proteus_context gpu, int repeats)
{
    constexpr int64_t kDense = INT64_MAX / 4;
    const TimedShape rows[] = {
        {16, 16384, 64, kDense, 0, 0, 0, "dense"},
        {16, 65536, 64, kDense, 0, 0, 0, "dense"},
        {8, 16384, 128, kDense, 0, 0, 0, "dense"},
        {8, 65536, 128, kDense, 0, 0, 0, "dense"},
        // The head dims of real models beside D 128 (≥ 0.8× its TFLOP/s at 16K): Phi-class 80, 96; Gemma-class 256.
        {8, 16384, 80, kDense, 0, 0, 0, "dense"},
        {8, 16384, 96, kDense, 0, 0, 0, "dense"},
        {8, 16384, 256, kDense, 0, 0, 0, "dense"},
        {16, 262144, 64, 341, 0, 0, 0, "window W341"},
        {16, 1048576, 64, 341, 0, 0, 0, "window W341"},
        // The shortlist (t(1M) ≤ 15 ms, t(1M) / t(256K) ≤ 4.4) and its DNA shape (≤ 2× the same shape without DNA).
        {16, 262144, 64, 341, 256, 171, 0, "W341 S256 A171"},
        {16, 1048576, 64, 341, 256, 171, 0, "W341 S256 A171"},
        {16, 262144, 64, 307, 256, 154, 0, "W307 S256 A154"},
        {16, 262144, 64, 307, 256, 154, 51, "W307 A154 K51"},
    };
    std::printf("%-16s %8s %4s %4s %8s %8s %8s %6s %10s %9s\n", "case", "T", "H", "D", "block_q", "block_k", "stages",
                "rows/warp", "ms", "TFLOP/s");
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (const TimedShape& row : rows) {
        const uint64_t elements = row.H * row.T * row.D;
        std::vector<uint16_t> host(elements);
        Buffer q(gpu, elements * 2), k(gpu, elements * 2), v(gpu, elements * 2), o(gpu, elements * 2);
        for (Buffer* b : {&q, &k, &v}) {
            for (auto& x : host) x = float_to_bfloat16(normal(rng));
            b->upload(host.data());
        }
        Buffer salience(gpu, row.T * 4);
        std::vector<float> salience_host(row.T);
        for (auto& x : salience_host) x = normal(rng);
        salience.upload(salience_host.data());
        struct Config {
            int block_q, block_k, stages, rows_per_warp;
        };
        // 16 rows a warp everywhere, 32 where compiled (no DNA keys; D 64 and 128, D 80 and 96 with 64 keys).
        const bool wide_warps = row.dna == 0 && (row.D == 64 || row.D == 80 || row.D == 96 || row.D == 128);
        std::vector<Config> configs = {{0, 0, 0, 0}};
        for (int bq : {64, 128}) {
            for (int rows_per_warp : {16, 32}) {
                if (rows_per_warp == 32 && !wide_warps) continue;
                for (int bk : {32, 64, 128}) {
                    if (row.D >= 80 && bk == 128) continue;
                    if (rows_per_warp == 32 && (row.D == 80 || row.D == 96) && bk != 64) continue;
                    for (int st : {2, 3}) {
                        if (row.D == 256 && bk == 64 && st == 3) continue;  // past the H200's shared memory a block
                        configs.push_back({bq, bk, st, rows_per_warp});
                    }
                }
            }
        }
        for (const Config& c : configs) {
            proteus_launch_config launch{};
            launch.struct_size = sizeof launch;
            launch.mode = PROTEUS_LAUNCH_TILE;
            launch.block_q = c.block_q;
            launch.block_k = c.block_k;
            launch.stages = c.stages;
            launch.rows_per_warp = c.rows_per_warp;
            const Timing t = time_call(gpu, row, launch, repeats, q, k, v, o, salience);
            std::printf("%-16s %8ld %4ld %4ld %8s %8s %8s %6s %10.3f %9.1f\n", row.name, (long)row.T, (long)row.H,
                        (long)row.D, c.block_q ? std::to_string(c.block_q).c_str() : "auto",
                        c.block_k ? std::to_string(c.block_k).c_str() : "auto",
                        c.stages ? std::to_string(c.stages).c_str() : "auto",
                        c.rows_per_warp ? std::to_string(c.rows_per_warp).c_str() : "auto", t.median_ms, t.tflops);
            std::fflush(stdout);
        }
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    const std::string command = argc > 1 ? argv[1] : "check";
    const auto argument = [&](int n, long long fallback) { return argc > n ? std::atoll(argv[n]) : fallback; };
    proteus_context gpu = nullptr, cpu = nullptr;
    require(proteus_context_create(PROTEUS_BACKEND_CPU, 0, &cpu), "context_create(cpu)");
    int status = 0;
    if (command == "check" || command == "time") {
        require(proteus_context_create(PROTEUS_BACKEND_CUDA, 0, &gpu), "context_create(cuda)");
    }
    if (command == "check") {
        status = check(gpu, true, cpu, static_cast<int>(argument(2, 300)), static_cast<unsigned>(argument(3, 1)),
                       argument(4, 4097));
    } else if (command == "check-row-mode") {
        // Every attention kernel of the row mode (gpu/flux_row_mode.h) on the same cases: row tiles,
        // row groups, then per-row gathers (PROTEUS_ROW_MODE_KERNEL is read when a context is created).
        const int cases = static_cast<int>(argument(2, 300));
        const auto seed = static_cast<unsigned>(argument(3, 1));
        for (const char* kernel : {"tiles", "groups", "rows"}) {
            setenv("PROTEUS_ROW_MODE_KERNEL", kernel, 1);
            proteus_context context = nullptr;
            require(proteus_context_create(PROTEUS_BACKEND_CUDA, 0, &context), "context_create(cuda)");
            std::printf("row mode kernel: %s\n", kernel);
            status |= check(context, true, cpu, cases, seed, argument(4, 4097), true);
            proteus_context_destroy(context);
        }
    } else if (command == "check-cpu") {
        status = check(cpu, false, cpu, static_cast<int>(argument(2, 300)), static_cast<unsigned>(argument(3, 1)),
                       argument(4, 4097));
    } else if (command == "time") {
        status = time_shapes(gpu, static_cast<int>(argument(2, 10)));
    } else {
        std::fprintf(stderr, "usage: %s check [CASES] [SEED] [MAX_T] | check-row-mode [CASES] [SEED] [MAX_T] | check-cpu [CASES] [SEED] [MAX_T] | time [REPEATS]\n",
                     argv[0]);
        status = 2;
    }
    if (gpu != nullptr) proteus_context_destroy(gpu);
    proteus_context_destroy(cpu);
    return status;
}
