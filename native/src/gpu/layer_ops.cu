// The layer operations on the GPU (gpu/layer_ops.h). Storage is float32, float16 or bfloat16 (gpu/storage.h);
// every computation is float32 (RoPE's angles double). Nothing here waits for the stream, allocates
// outside the context's stream-ordered pool, or uses floating-point atomics: every sum is a fixed chain
// or a fixed tree, so the same inputs give the same bits on every run.
//
//   linear       the BLAS GEMM (gpu/blas.cu) with beta·y, then bias_add
//   convert      one thread per element of a right-aligned 4-D view
//   norm         one block per row: sum → mean (→ centred sum of squares) → normalise
//   gelu         one thread per element
//   rope         blocks looping over tiles of tokens: the tile's (token, pair) turns once (the product
//                and its whole turns in double, then float sincospi) into a shared (cos, sin) table, then
//                one thread per item of 4 pairs of one (token, head), 128 bytes in flight a thread, one
//                16-byte (or two 4-element) accesses where the view is aligned, else element by element
//   router       the logits and DNA dot products by one BLAS GEMM per chunk of tokens against the weights
//                split into x's storage type (float32-exact; s from a two-level max), then a group of
//                8–32 lanes per token finishes its row (softmax, blend, heads) with each lane's gates in registers
//                (G ≤ 256; wider, through shared memory); where the BLAS is not used, one block per
//                kRouterTokens tokens computes the dot products through shared memory and one thread per
//                token finishes (router_path says which)
//   select_rows  a radix select per batch row over unique 64-bit (importance, −t) keys, 8 passes of
//                8 bits: in one block per row for short rows (or many rows), else each pass a multi-block
//                histogram kernel (shared-memory integer counts) and a pick kernel; then one thread per
//                token ranks its heads and writes active
//   dna_update   partial sums over fixed row chunks into workspace, then chunk-ordered totals
#include "gpu/layer_ops.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <type_traits>

#include "core/error.h"
#include "core/log.h"
#include "gpu/device_call.h"
#include "gpu/flux_common.h"
#include "gpu/storage.h"

namespace proteus::gpu {
namespace {

constexpr int kThreads = 256;                // every kernel's block (a multiple of any wavefront)
constexpr uint64_t kMaxBlocks = 1u << 16;    // grid-strided loops cover the rest
constexpr int kStaticSharedLimit = 48 * 1024;  // beyond this a kernel must opt in to dynamic shared memory

unsigned blocks_for(uint64_t items, uint64_t per_block = kThreads)
{
    return static_cast<unsigned>(std::max<uint64_t>(1, std::min<uint64_t>((items + per_block - 1) / per_block, kMaxBlocks)));
}

/** Runs `launch` with the storage format of `dtype` (a Float32Storage, Float16Storage or BFloat16Storage value). */
template <typename Launch>
proteus_status with_storage(proteus_dtype dtype, Launch&& launch)
{
    switch (dtype) {
    case PROTEUS_DTYPE_FLOAT16: return launch(Float16Storage{});
    case PROTEUS_DTYPE_BFLOAT16: return launch(BFloat16Storage{});
    default: return launch(Float32Storage{});
    }
}

__device__ __forceinline__ uint64_t grid_start() { return static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ uint64_t grid_step() { return static_cast<uint64_t>(gridDim.x) * blockDim.x; }

struct Add {
    __device__ float operator()(float a, float b) const { return a + b; }
};
struct Max {
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

/** `op` of one value per thread over the block, in a fixed tree (the same bits every run). All threads call it. */
template <typename Op>
__device__ float block_reduce(float value, float* scratch, Op op)
{
    const int t = threadIdx.x;
    scratch[t] = value;
    __syncthreads();
    for (int half = kThreads / 2; half > 0; half /= 2) {
        if (t < half) scratch[t] = op(scratch[t], scratch[t + half]);
        __syncthreads();
    }
    const float total = scratch[0];
    __syncthreads();  // the scratch may be reused after this
    return total;
}

__device__ float block_sum(float value, float* scratch) { return block_reduce(value, scratch, Add{}); }

/**
 * `op` over an aligned group of kGroupLanes lanes by an XOR butterfly: a fixed pattern, and op is
 * commutative, so every lane gets the same bits on every run. Every lane of the group calls it.
 */
constexpr int kGroupLanes = 32;  // a warp, or half an AMD wavefront (gpu/vendor.h group_shuffle)

template <int kWidth = kGroupLanes, typename Op>
__device__ float group_reduce(float value, Op op)
{
    for (int mask = kWidth / 2; mask > 0; mask /= 2) value = op(value, group_shuffle_xor(value, mask, kWidth));
    return value;
}

/** The order-preserving unsigned image of a float (NaN below −inf, so it is never preferred). */
__device__ __forceinline__ uint32_t ordered_bits(float value)
{
    if (value != value) return 0;
    const uint32_t bits = float_to_bits(value);
    return (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
}

// ---- linear: the bias after the BLAS ------------------------------------------------------------

/** y [rows, columns] = keep·y + bias (keep 0: y is not read; bias null: 0). */
template <typename S>
__global__ void bias_add(typename S::Raw* y, int64_t y_stride, const void* bias, bool bias_float32, int64_t rows,
                         int64_t columns, float keep)
{
    const uint64_t total = static_cast<uint64_t>(rows) * columns;
    for (uint64_t e = grid_start(); e < total; e += grid_step()) {
        const int64_t r = e / columns, c = e % columns;
        typename S::Raw* out = y + r * y_stride + c;
        float value = keep != 0.0f ? keep * S::load(*out) : 0.0f;
        if (bias != nullptr) {
            value += bias_float32 ? static_cast<const float*>(bias)[c]
                                  : S::load(static_cast<const typename S::Raw*>(bias)[c]);
        }
        *out = S::store(value);
    }
}

// ---- convert --------------------------------------------------------------------------------------

/** A rank-≤4 view right-aligned to 4 axes (leading axes of extent 1). */
struct View4 {
    int64_t shape[4] = {1, 1, 1, 1};
    int64_t x_stride[4] = {0, 0, 0, 0};
    int64_t y_stride[4] = {0, 0, 0, 0};
};

template <typename In, typename Out>
__global__ void convert_elements(const typename In::Raw* x, typename Out::Raw* y, View4 view, uint64_t total)
{
    for (uint64_t e = grid_start(); e < total; e += grid_step()) {
        uint64_t rest = e;
        int64_t x_offset = 0, y_offset = 0;
        for (int axis = 3; axis >= 0; --axis) {
            const int64_t index = rest % view.shape[axis];
            rest /= view.shape[axis];
            x_offset += index * view.x_stride[axis];
            y_offset += index * view.y_stride[axis];
        }
        y[y_offset] = Out::store(In::load(x[x_offset]));
    }
}

// ---- norm -----------------------------------------------------------------------------------------

template <typename S>
__global__ void norm_rows(const typename S::Raw* x, int64_t x_stride, typename S::Raw* y, int64_t y_stride,
                          const float* weight, const float* bias, int64_t rows, int64_t columns, bool rms, float eps)
{
    __shared__ float scratch[kThreads];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const typename S::Raw* in = x + r * x_stride;
        typename S::Raw* out = y + r * y_stride;
        float mean = 0.0f, second = 0.0f;
        if (rms) {
            for (int64_t c = threadIdx.x; c < columns; c += kThreads) {
                const float v = S::load(in[c]);
                second += v * v;
            }
            second = block_sum(second, scratch) / static_cast<float>(columns);
        } else {
            for (int64_t c = threadIdx.x; c < columns; c += kThreads) mean += S::load(in[c]);
            mean = block_sum(mean, scratch) / static_cast<float>(columns);
            for (int64_t c = threadIdx.x; c < columns; c += kThreads) {
                const float d = S::load(in[c]) - mean;
                second += d * d;
            }
            second = block_sum(second, scratch) / static_cast<float>(columns);
        }
        const float scale = 1.0f / sqrtf(second + eps);
        // y may be x: each element is read and then written by the same thread, after every read of the statistics.
        for (int64_t c = threadIdx.x; c < columns; c += kThreads) {
            float v = (S::load(in[c]) - mean) * scale;
            if (weight != nullptr) v *= weight[c];
            if (bias != nullptr) v += bias[c];
            out[c] = S::store(v);
        }
    }
}

// ---- gelu -----------------------------------------------------------------------------------------

template <typename S>
__global__ void gelu_elements(const typename S::Raw* x, int64_t x_stride, typename S::Raw* y, int64_t y_stride,
                              int64_t rows, int64_t columns)
{
    const uint64_t total = static_cast<uint64_t>(rows) * columns;
    for (uint64_t e = grid_start(); e < total; e += grid_step()) {
        const int64_t r = e / columns, c = e % columns;
        const float v = S::load(x[r * x_stride + c]);
        y[r * y_stride + c] = S::store(0.5f * v * (1.0f + erff(v * 0.70710678118654752f)));
    }
}

// ---- rope -----------------------------------------------------------------------------------------

/**
 * Pair m of token t turned by (offset + t)·base^(−2m/D), in every head. The angle grows to ~10^6 rad at
 * long positions, where a float32 product has lost the phase, so the product is taken in double and
 * reduced there to a fraction of a turn (|f| ≤ 1/2, exact to ~10^-11); float32 sincospi of 2f then
 * costs a few float instructions and loses no more than float32 rounding (~10^-7 rad), where the double
 * sin and cos it replaced cost ~100 double operations per (token, pair) entry.
 *
 * A block sets the pairs' inverse frequencies once (double, shared memory) and then takes tiles of
 * tokens: it evaluates every (token, pair) turn of the tile into a shared (cos, sin) table, then its
 * threads stream the tile's items. An item is 4 pairs (8 elements) of one (token, head): interleaved,
 * elements [8j, 8j + 8); half-split, [4j, 4j + 4) and [D/2 + 4j, D/2 + 4j + 4). Consecutive threads
 * take consecutive items, so a warp reads whole runs of a token's heads. Where the view allows it
 * (kVector: D a multiple of 8, the address and the strides of the axes longer than 1 multiples of the
 * access), an item is one 16-byte access (16-bit interleaved) or two 4-element ones, kept raw in
 * registers until it is turned; else element by element (any even D). 128 bytes of items are loaded
 * before the first is stored: a store could alias a later load as far as the compiler knows, and the
 * bandwidth needs the loads in flight together. With D/2 > kRopeTablePairs (no room for one token's
 * table) the element path evaluates each item's own turns.
 */
constexpr int kRopeTablePairs = 512;         // (cos, sin) entries of one tile: 4 KiB
constexpr int kRopeTileTokens = 512;         // tokens of one tile at most
constexpr uint64_t kRopeTileItems = 8192;    // items of one tile, about (32 per thread)
constexpr int kRopeBytesInFlight = 128;      // a thread's loads before its first store: 8 items of 16-bit, 4 of float32
constexpr int kRopeBlocksPerProcessor = 8;   // the grid, at most (each block loops over tiles)

/**
 * n / d for n < 2^31 by a multiply-high, an add and a shift, d fixed for a launch (Granlund and
 * Montgomery's invariant divisor): the item index splits into (token, head, quad) once per 16 bytes,
 * where a hardware-less 32-bit division would cost ~20 instructions.
 */
struct Divisor {
    uint64_t value = 1;
    uint32_t magic = 1, shift = 0;  // valid for value < 2^31
};

Divisor make_divisor(uint64_t value)
{
    Divisor d;
    d.value = value;
    if (value >= (1ull << 31)) return d;  // only the 64-bit quotient below is used then
    while ((1ull << d.shift) < value) ++d.shift;
    d.magic = static_cast<uint32_t>(((1ull << 32) * ((1ull << d.shift) - value)) / value + 1);
    return d;
}

__device__ __forceinline__ uint32_t quotient(uint32_t n, const Divisor& d) { return (__umulhi(n, d.magic) + n) >> d.shift; }
__device__ __forceinline__ uint64_t quotient(uint64_t n, const Divisor& d) { return n / d.value; }

struct RopeArgs {
    int64_t heads = 0, seq_len = 0, tokens = 0;  // tokens: B·T, flattened (the angle depends on t alone)
    int64_t head_dim = 0, pairs = 0, quads = 0;  // quads: items per head, ceil(pairs / 4)
    Divisor per_token, per_head;                 // items of a token (heads·quads), of a head (quads)
    int64_t tile = 1;                            // tokens of a tile
    int64_t position_offset = 0;
    double log_base = 0.0;
    bool table = true;  // the tile's sines and cosines in shared memory (pairs ≤ kRopeTablePairs)
};

/** N elements of one aligned access. */
template <typename Raw, int N>
struct alignas(N * sizeof(Raw)) Pack {
    Raw v[N];
};

/** base^(−2m/D) in double. */
__device__ __forceinline__ double rope_inverse_frequency(int64_t m, const RopeArgs& r)
{
    return exp(-(2.0 * static_cast<double>(m) / static_cast<double>(r.head_dim)) * r.log_base);
}

/** (float cos, float sin) of position·inverse_frequency: the product and its whole turns in double. */
__device__ __forceinline__ float2 rope_turn(int64_t position, double inverse_frequency)
{
    constexpr double kTurnsPerRadian = 0.15915494309189533577;  // 1/(2π)
    const double turns = static_cast<double>(position) * inverse_frequency * kTurnsPerRadian;
    const double fraction = turns - rint(turns);  // exact: turns and its nearest integer share their high bits
    float sine, cosine;
    sincospif(static_cast<float>(2.0 * fraction), &sine, &cosine);
    return make_float2(cosine, sine);
}

/**
 * The 8 elements of one item as stored, in 32-bit words (two 16-bit elements a word, or one float32):
 * interleaved a0 c0 a1 c1 …, half-split a0…a3 c0…c3 (a the first element of each pair, c the second).
 * Words, not an array of 16-bit values, so that 8 items in flight take 32 registers, not 64.
 */
template <typename Raw>
struct RopeItem {
    static constexpr int kWords = 8 * static_cast<int>(sizeof(Raw)) / 4;
    uint32_t w[kWords];
};

/** 4·N aligned bytes. */
template <int N>
struct alignas(4 * N) Words {
    uint32_t w[N];
};

/** 8 stored elements into the item's words, and back. */
template <typename Raw>
__device__ __forceinline__ void rope_pack(const Raw (&v)[8], RopeItem<Raw>& item)
{
#pragma unroll
    for (int e = 0; e < RopeItem<Raw>::kWords; ++e) {
        if constexpr (sizeof(Raw) == 2) {
            item.w[e] = static_cast<uint32_t>(v[2 * e]) | static_cast<uint32_t>(v[2 * e + 1]) << 16;
        } else {
            item.w[e] = float_to_bits(v[e]);
        }
    }
}

template <typename Raw>
__device__ __forceinline__ void rope_unpack(const RopeItem<Raw>& item, Raw (&v)[8])
{
#pragma unroll
    for (int e = 0; e < 8; ++e) {
        if constexpr (sizeof(Raw) == 2) {
            v[e] = static_cast<Raw>(item.w[e / 2] >> (16 * (e % 2)));
        } else {
            v[e] = bits_to_float(item.w[e]);
        }
    }
}

/** Item j of `row` (zeros past D/2). */
template <typename S, bool kHalfSplit, bool kVector>
__device__ __forceinline__ void rope_load(const typename S::Raw* row, int64_t j, int64_t pairs, RopeItem<typename S::Raw>& item)
{
    using Raw = typename S::Raw;
    constexpr int kWords = RopeItem<Raw>::kWords;
    if constexpr (kVector && !kHalfSplit && sizeof(Raw) == 2) {  // one 16-byte access
        const Words<4> p = *reinterpret_cast<const Words<4>*>(row + 8 * j);
#pragma unroll
        for (int e = 0; e < 4; ++e) item.w[e] = p.w[e];
    } else if constexpr (kVector) {  // two accesses of 4 elements
        const Raw* const first = row + (kHalfSplit ? 4 * j : 8 * j);
        const Words<kWords / 2> p0 = *reinterpret_cast<const Words<kWords / 2>*>(first);
        const Words<kWords / 2> p1 = *reinterpret_cast<const Words<kWords / 2>*>(first + (kHalfSplit ? pairs : 4));
#pragma unroll
        for (int e = 0; e < kWords / 2; ++e) {
            item.w[e] = p0.w[e];
            item.w[e + kWords / 2] = p1.w[e];
        }
    } else {
        Raw v[8];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const int64_t m = 4 * j + u;
            const bool inside = m < pairs;
            v[kHalfSplit ? u : 2 * u] = inside ? row[kHalfSplit ? m : 2 * m] : Raw{};
            v[kHalfSplit ? u + 4 : 2 * u + 1] = inside ? row[kHalfSplit ? m + pairs : 2 * m + 1] : Raw{};
        }
        rope_pack(v, item);
    }
}

/** Stores the item (pairs past D/2 are not written). */
template <typename S, bool kHalfSplit, bool kVector>
__device__ __forceinline__ void rope_store(typename S::Raw* row, int64_t j, int64_t pairs, const RopeItem<typename S::Raw>& item)
{
    using Raw = typename S::Raw;
    constexpr int kWords = RopeItem<Raw>::kWords;
    if constexpr (kVector && !kHalfSplit && sizeof(Raw) == 2) {
        Words<4> p;
#pragma unroll
        for (int e = 0; e < 4; ++e) p.w[e] = item.w[e];
        *reinterpret_cast<Words<4>*>(row + 8 * j) = p;
    } else if constexpr (kVector) {
        Words<kWords / 2> p0, p1;
#pragma unroll
        for (int e = 0; e < kWords / 2; ++e) {
            p0.w[e] = item.w[e];
            p1.w[e] = item.w[e + kWords / 2];
        }
        Raw* const first = row + (kHalfSplit ? 4 * j : 8 * j);
        *reinterpret_cast<Words<kWords / 2>*>(first) = p0;
        *reinterpret_cast<Words<kWords / 2>*>(first + (kHalfSplit ? pairs : 4)) = p1;
    } else {
        Raw v[8];
        rope_unpack(item, v);
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const int64_t m = 4 * j + u;
            if (m >= pairs) break;
            row[kHalfSplit ? m : 2 * m] = v[kHalfSplit ? u : 2 * u];
            row[kHalfSplit ? m + pairs : 2 * m + 1] = v[kHalfSplit ? u + 4 : 2 * u + 1];
        }
    }
}

/** Pair k of the item turned by (cos, sin) = turn, in float32, the result rounded to storage. */
template <typename S, bool kHalfSplit>
__device__ __forceinline__ void rope_rotate(RopeItem<typename S::Raw>& item, const float2 (&turn)[4])
{
    using Raw = typename S::Raw;
    Raw v[8];
    rope_unpack(item, v);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        const int first = kHalfSplit ? k : 2 * k, second = kHalfSplit ? k + 4 : 2 * k + 1;
        const float cosine = turn[k].x, sine = turn[k].y;
        const float first_element = S::load(v[first]), second_element = S::load(v[second]);
        v[first] = S::store(first_element * cosine - second_element * sine);
        v[second] = S::store(first_element * sine + second_element * cosine);
    }
    rope_pack(v, item);
}

/**
 * Index: 32-bit where the launcher has checked that a tile's items stay below 2^31, else 64-bit. The
 * vector kernels always have the table (the launcher sends D/2 > kRopeTablePairs to the element path),
 * so their loop carries no per-item angle code and stays within ~64 registers.
 */
template <typename S, bool kHalfSplit, bool kVector>
__global__ void __launch_bounds__(kThreads) rope_tiles(Rows<typename S::Raw> x, RopeArgs r)
{
    using Raw = typename S::Raw;
    using Index = std::conditional_t<kVector, uint32_t, uint64_t>;
    constexpr int kUnroll = kRopeBytesInFlight / (8 * static_cast<int>(sizeof(Raw)));  // items a thread loads before it stores
    __shared__ double inverse_frequency[kRopeTablePairs];  // of each pair, once per block
    __shared__ float4 turn_storage[kRopeTablePairs / 2];   // float4: 16-byte aligned for the vector reads
    float2* const turns = reinterpret_cast<float2*>(turn_storage);  // (cos, sin) of (token of the tile, pair), token-major
    __shared__ int64_t row_offset[kRopeTileTokens];        // b·batch + t·token of each token of the tile
    const bool table = kVector || r.table;
    if (table) {
        for (int m = threadIdx.x; m < r.pairs; m += kThreads) inverse_frequency[m] = rope_inverse_frequency(m, r);
    }
    const int pairs = static_cast<int>(min(r.pairs, int64_t{kRopeTablePairs}));  // a token's row of the table
    for (int64_t first = static_cast<int64_t>(blockIdx.x) * r.tile; first < r.tokens;
         first += static_cast<int64_t>(gridDim.x) * r.tile) {
        const int count = static_cast<int>(min(r.tile, r.tokens - first));
        for (int i = threadIdx.x; i < count; i += kThreads) {
            const int64_t n = first + i;
            row_offset[i] = (n / r.seq_len) * x.batch + (n % r.seq_len) * x.token;
        }
        __syncthreads();  // the inverse frequencies (first tile); the offsets
        if (table) {
            for (int e = threadIdx.x; e < count * pairs; e += kThreads) {
                const int i = e / pairs, m = e - i * pairs;
                turns[e] = rope_turn(r.position_offset + (first + i) % r.seq_len, inverse_frequency[m]);
            }
            __syncthreads();
        }
        const Index items = static_cast<Index>(count) * static_cast<Index>(r.per_token.value);
        for (Index i0 = threadIdx.x; i0 < items; i0 += Index{kThreads} * kUnroll) {
            RopeItem<Raw> item[kUnroll];
            Raw* row[kUnroll];
            Index token[kUnroll], j[kUnroll];
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                const Index index = i0 + Index{kThreads} * u;
                row[u] = nullptr;
                token[u] = 0;
                j[u] = 0;
                if (index >= items) continue;
                token[u] = quotient(index, r.per_token);
                const Index rest = index - token[u] * static_cast<Index>(r.per_token.value);
                const Index h = quotient(rest, r.per_head);
                j[u] = rest - h * static_cast<Index>(r.per_head.value);
                row[u] = x.data + row_offset[token[u]] + static_cast<int64_t>(h) * x.head;
                rope_load<S, kHalfSplit, kVector>(row[u], j[u], r.pairs, item[u]);
            }
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                if (row[u] == nullptr) continue;
                float2 turn[4];
                if constexpr (kVector) {  // 4 entries, 32 aligned bytes: pairs is a multiple of 4
                    const float4* const entries = reinterpret_cast<const float4*>(turns + token[u] * pairs + 4 * j[u]);
                    const float4 first_two = entries[0], last_two = entries[1];
                    turn[0] = make_float2(first_two.x, first_two.y);
                    turn[1] = make_float2(first_two.z, first_two.w);
                    turn[2] = make_float2(last_two.x, last_two.y);
                    turn[3] = make_float2(last_two.z, last_two.w);
                } else {
#pragma unroll
                    for (int k = 0; k < 4; ++k) {
                        const int64_t m = min(4 * static_cast<int64_t>(j[u]) + k, r.pairs - 1);  // past D/2: unused
                        turn[k] = table ? turns[token[u] * pairs + m]
                                        : rope_turn(r.position_offset + (first + token[u]) % r.seq_len, rope_inverse_frequency(m, r));
                    }
                }
                rope_rotate<S, kHalfSplit>(item[u], turn);
                rope_store<S, kHalfSplit, kVector>(row[u], j[u], r.pairs, item[u]);
            }
        }
        __syncthreads();  // the tables are rewritten for the next tile
    }
}

// ---- router, direct: in-kernel dot products (where the BLAS is not used) ---------------------------

constexpr int kRouterTokens = 16;   // tokens of one block
constexpr int kRouterGates = kThreads / kRouterTokens;  // gates of one tile: one (token, gate) per thread
constexpr int kRouterColumns = 64;  // model-width columns staged per step

struct RouterArgs {
    const void* x = nullptr;
    int64_t x_batch = 0, x_token = 0;
    const float* weight = nullptr;
    int64_t weight_stride = 0;
    const float* prototypes = nullptr;
    int64_t prototype_stride = 0;
    const float* usage = nullptr;
    const float* confidence = nullptr;
    float* probs = nullptr;
    int64_t probs_batch = 0, probs_token = 0;
    float* head_probs = nullptr;
    int64_t head_batch = 0, head_token = 0;
    float* salience = nullptr;
    int64_t salience_batch = 0, salience_token = 0;
    float* importance = nullptr;
    int64_t importance_batch = 0, importance_token = 0;
    int64_t seq_len = 0, tokens = 0, channels = 0, gates = 0, heads = 0;
    bool dna = false;
    float tau = 0.2f, theta = 0.25f, blend = 0.6f, usage_boost = 0.0f;
};

/**
 * Phase 1, per gate tile: thread (token, gate) dots its token's x with W_r[g] (and with P_g under DNA)
 * over the width, one staged chunk at a time, in column order; the logits go to probs, the DNA dot
 * products, |x|² and |P_g|² to shared memory. Phase 2: one thread per token finishes its row (SPEC §5, §6).
 */
template <typename S>
__global__ void __launch_bounds__(kThreads) router_tokens(RouterArgs a)
{
    extern __shared__ float dynamic[];  // DNA: dots [kRouterTokens, G], then |P_g|² [G]
    __shared__ float x_tile[kRouterTokens][kRouterColumns + 1];  // +1: the gate-major reads hit distinct banks
    __shared__ float w_tile[kRouterGates][kRouterColumns + 1];
    __shared__ float p_tile[kRouterGates][kRouterColumns + 1];
    __shared__ float x_square[kRouterTokens];
    float* const dots = dynamic;
    float* const prototype_square = dynamic + kRouterTokens * a.gates;

    const int lane_token = threadIdx.x / kRouterGates;
    const int lane_gate = threadIdx.x % kRouterGates;
    const int64_t first_token = static_cast<int64_t>(blockIdx.x) * kRouterTokens;
    const int64_t token = first_token + lane_token;
    const auto* x = static_cast<const typename S::Raw*>(a.x);

    for (int64_t g0 = 0; g0 < a.gates; g0 += kRouterGates) {
        float logit = 0.0f, dot = 0.0f, own_x_square = 0.0f, own_p_square = 0.0f;
        for (int64_t c0 = 0; c0 < a.channels; c0 += kRouterColumns) {
            for (int e = threadIdx.x; e < kRouterTokens * kRouterColumns; e += kThreads) {
                const int lt = e / kRouterColumns, c = e % kRouterColumns;
                const int64_t n = first_token + lt;
                float v = 0.0f;
                if (n < a.tokens && c0 + c < a.channels) {
                    v = S::load(x[(n / a.seq_len) * a.x_batch + (n % a.seq_len) * a.x_token + c0 + c]);
                }
                x_tile[lt][c] = v;
            }
            for (int e = threadIdx.x; e < kRouterGates * kRouterColumns; e += kThreads) {
                const int lg = e / kRouterColumns, c = e % kRouterColumns;
                const int64_t g = g0 + lg;
                const bool inside = g < a.gates && c0 + c < a.channels;
                w_tile[lg][c] = inside ? a.weight[g * a.weight_stride + c0 + c] : 0.0f;
                if (a.dna) p_tile[lg][c] = inside ? a.prototypes[g * a.prototype_stride + c0 + c] : 0.0f;
            }
            __syncthreads();
            for (int c = 0; c < kRouterColumns; ++c) logit += x_tile[lane_token][c] * w_tile[lane_gate][c];
            if (a.dna) {
                for (int c = 0; c < kRouterColumns; ++c) dot += x_tile[lane_token][c] * p_tile[lane_gate][c];
                if (g0 == 0 && lane_gate == 0) {
                    for (int c = 0; c < kRouterColumns; ++c) own_x_square += x_tile[lane_token][c] * x_tile[lane_token][c];
                }
                if (lane_token == 0) {
                    for (int c = 0; c < kRouterColumns; ++c) own_p_square += p_tile[lane_gate][c] * p_tile[lane_gate][c];
                }
            }
            __syncthreads();  // the tiles are reloaded next step
        }
        const int64_t g = g0 + lane_gate;
        if (token < a.tokens && g < a.gates) {
            a.probs[(token / a.seq_len) * a.probs_batch + (token % a.seq_len) * a.probs_token + g] = logit;
        }
        if (a.dna) {
            if (g < a.gates) dots[lane_token * a.gates + g] = dot;
            if (lane_token == 0 && g < a.gates) prototype_square[g] = own_p_square;
            if (g0 == 0 && lane_gate == 0) x_square[lane_token] = own_x_square;
        }
    }
    __syncthreads();  // logits (global, this block's own rows), dots and squares are complete
    if (lane_gate != 0 || token >= a.tokens) return;

    const int64_t b = token / a.seq_len, t = token % a.seq_len;
    float* const p = a.probs + b * a.probs_batch + t * a.probs_token;
    const int64_t G = a.gates;
    // p_router = softmax(logits).
    float top = -INFINITY;
    for (int64_t g = 0; g < G; ++g) top = fmaxf(top, p[g]);
    float sum = 0.0f;
    for (int64_t g = 0; g < G; ++g) {
        p[g] = expf(p[g] - top);
        sum += p[g];
    }
    for (int64_t g = 0; g < G; ++g) p[g] /= sum;

    float salience = 0.0f, beta = 0.0f;
    if (a.dna) {
        float* const pd = dots + lane_token * G;  // σ, then pd, in place
        const float x_norm = fmaxf(sqrtf(x_square[lane_token]), 1e-6f);
        salience = -INFINITY;
        for (int64_t g = 0; g < G; ++g) {
            pd[g] = pd[g] / (x_norm * fmaxf(sqrtf(prototype_square[g]), 1e-6f));
            salience = fmaxf(salience, pd[g]);
        }
        const float shift = salience / a.tau;  // the largest σ/τ (τ > 0)
        float pd_sum = 0.0f;
        for (int64_t g = 0; g < G; ++g) {
            pd[g] = expf(pd[g] / a.tau - shift);
            pd_sum += pd[g];
        }
        float weighted_sum = 0.0f;
        for (int64_t g = 0; g < G; ++g) {
            pd[g] = pd[g] / pd_sum * (a.confidence[g] + 1e-6f);
            weighted_sum += pd[g];
        }
        weighted_sum = fmaxf(weighted_sum, 1e-6f);
        beta = fminf(fmaxf((salience - a.theta) / fmaxf(1e-6f, 1.0f - a.theta), 0.0f), 1.0f);
        const float w = a.blend * beta;
        for (int64_t g = 0; g < G; ++g) p[g] = (1.0f - w) * p[g] + w * (pd[g] / weighted_sum);
        if (a.usage_boost > 0.0f) {
            // softmax(−(usage + 1e-6)): the same for every token, cheap enough to redo per row.
            float usage_top = -INFINITY;
            for (int64_t g = 0; g < G; ++g) usage_top = fmaxf(usage_top, -(a.usage[g] + 1e-6f));
            float usage_sum = 0.0f;
            for (int64_t g = 0; g < G; ++g) usage_sum += expf(-(a.usage[g] + 1e-6f) - usage_top);
            const float boost = (1.0f - beta) * a.usage_boost;
            for (int64_t g = 0; g < G; ++g) p[g] += expf(-(a.usage[g] + 1e-6f) - usage_top) / usage_sum * boost;
        }
        float positive = 0.0f;
        for (int64_t g = 0; g < G; ++g) positive += fmaxf(p[g], 0.0f);
        positive = fmaxf(positive, 1e-6f);
        for (int64_t g = 0; g < G; ++g) p[g] = fmaxf(p[g], 0.0f) / positive;
    }

    float best = -INFINITY;
    for (int64_t g = 0; g < G; ++g) best = fmaxf(best, p[g]);
    if (a.head_probs != nullptr) {
        float* const heads = a.head_probs + b * a.head_batch + t * a.head_token;
        // Gates of head h are the contiguous run with floor(g·H/G) = h.
        int64_t head = 0;
        float head_sum = 0.0f;
        for (int64_t g = 0; g < G; ++g) {
            const int64_t owner = g * a.heads / G;
            if (owner != head) {
                heads[head] = head_sum;
                for (++head; head < owner; ++head) heads[head] = 0.0f;  // a head without gates (none when G ≥ H)
                head_sum = 0.0f;
            }
            head_sum += p[g];
        }
        heads[head] = head_sum;
    }
    if (a.salience != nullptr) a.salience[b * a.salience_batch + t * a.salience_token] = salience;
    if (a.importance != nullptr) {
        a.importance[b * a.importance_batch + t * a.importance_token] =
            a.dna ? best * (1.0f - beta) + salience * beta : best;
    }
}

// ---- router through the BLAS ----------------------------------------------------------------------
// The weights are packed into one matrix of x's storage type, [W_r; P] split into kParts terms each
// (rows (matrix·kParts + part)·G + g), so that one GEMM per chunk of tokens gives every logit and DNA
// dot product in float32: products [rows, kParts·M·G] (M = 2 with DNA, else 1). A 16-bit term holds
// only 8 (bfloat16) or 11 (float16) bits of a float32 weight, so the weight is W·2^s = Σ_part terms,
// each term the rounding of what the earlier ones left: three bfloat16 or two float16 terms carry
// float32's 24 bits. x is exact in its own type, so every product is exact and the sums are float32.
// s (one per matrix, a power of two) puts max|W·2^s| just below 2^kTop: for float16, 2^15, so that the
// last term stays clear of float16's subnormals (below 2^-14) for every weight above 2^-17·max|W|.

template <typename S>
struct RouterSplit;
template <>
struct RouterSplit<Float32Storage> {
    static constexpr int kParts = 1, kTop = 1;
};
template <>
struct RouterSplit<Float16Storage> {
    static constexpr int kParts = 2, kTop = 15;
};
template <>
struct RouterSplit<BFloat16Storage> {
    static constexpr int kParts = 3, kTop = 1;
};

constexpr int kFinishTokens = kThreads / kGroupLanes;  // tokens of one finishing block: a lane group each
constexpr int kSplitRows = kThreads / kGroupLanes;     // weight rows of one split block
constexpr uint64_t kRouterScratchBytes = 32ull << 20;  // float32 GEMM output of one chunk of tokens
constexpr int kMaxScale = 126;                         // |s| ≤ 126: 2^±s are normal floats
constexpr int kScaleBlocks = 128;                      // blocks of the first level of the max|W| reduction

/** Weights of the GEMM: matrix 0 W_r, matrix 1 P (under DNA). */
struct RouterWeights {
    const float* matrix[2] = {nullptr, nullptr};
    int64_t stride[2] = {0, 0};
    int64_t gates = 0, channels = 0;
};

/**
 * The first level of s: the largest |w| of the rows blockIdx.x, blockIdx.x + gridDim.x, … of matrix
 * blockIdx.y into maxima[matrix·gridDim.x + blockIdx.x] (NaN ignored, as fmaxf does). router_split
 * takes the second level (a max is exact and order-free: the same bits however it is split).
 */
__global__ void router_maxima(RouterWeights w, float* maxima)
{
    __shared__ float scratch[kThreads];
    const float* const matrix = w.matrix[blockIdx.y];
    const int64_t stride = w.stride[blockIdx.y];
    float largest = 0.0f;
    for (int64_t g = blockIdx.x; g < w.gates; g += gridDim.x) {
        for (int64_t c = threadIdx.x; c < w.channels; c += kThreads) largest = fmaxf(largest, fabsf(matrix[g * stride + c]));
    }
    largest = block_reduce(largest, scratch, Max{});
    if (threadIdx.x == 0) maxima[blockIdx.y * gridDim.x + blockIdx.x] = largest;
}

/** s from the largest |w|: max|W·2^s| < 2^top (0 when the matrix is all zeros or not finite). */
__device__ int router_scale(float largest, int top)
{
    int exponent = 0;  // largest = f·2^exponent, f in [0.5, 1)
    (void)frexpf(largest, &exponent);
    return largest > 0.0f && isfinite(largest) ? max(-kMaxScale, min(kMaxScale, top - exponent)) : 0;
}

/**
 * Lane group per weight row (g of matrix blockIdx.y): the kParts terms of W·2^s into `packed`; for P
 * also 1/max(|P_g|, 1e-6) (a fixed butterfly over the lanes' column-ordered sums). Each block first
 * reduces its matrix's `blocks` maxima to s; block 0 writes it to scales for the finishing kernel.
 */
template <typename S>
__global__ void router_split(RouterWeights w, const float* maxima, int blocks, int* scales, typename S::Raw* packed,
                             float* inverse_norms)
{
    constexpr int kParts = RouterSplit<S>::kParts;
    __shared__ float scratch[kThreads];
    const int matrix = blockIdx.y;
    float largest = 0.0f;
    for (int i = threadIdx.x; i < blocks; i += kThreads) largest = fmaxf(largest, maxima[matrix * blocks + i]);
    const int s = router_scale(block_reduce(largest, scratch, Max{}), RouterSplit<S>::kTop);
    if (blockIdx.x == 0 && threadIdx.x == 0) scales[matrix] = s;
    const int lane = threadIdx.x % kGroupLanes;
    const float scale = ldexpf(1.0f, s);
    for (int64_t g = static_cast<int64_t>(blockIdx.x) * kSplitRows + threadIdx.x / kGroupLanes; g < w.gates;
         g += static_cast<int64_t>(gridDim.x) * kSplitRows) {
        const float* const row = w.matrix[matrix] + g * w.stride[matrix];
        float square = 0.0f;
        for (int64_t c = lane; c < w.channels; c += kGroupLanes) {
            const float value = row[c];
            square += value * value;
            float rest = value * scale;
            for (int part = 0; part < kParts; ++part) {
                const typename S::Raw term = S::store(rest);
                packed[((matrix * kParts + part) * w.gates + g) * w.channels + c] = term;
                rest -= S::load(term);
            }
        }
        square = group_reduce(square, Add{});
        if (matrix == 1 && lane == 0) inverse_norms[g] = 1.0f / fmaxf(sqrtf(square), 1e-6f);
    }
}

/** One chunk of tokens' GEMM output and what the split kernels wrote. */
struct RouterProducts {
    const float* products = nullptr;  // [rows, kParts·M·G]
    int64_t first = 0, rows = 0;      // the chunk: tokens [first, first + rows)
    const int* scales = nullptr;      // s of W_r, P
    const float* inverse_norms = nullptr;  // 1/max(|P_g|, 1e-6)
    bool x_vector = false;  // x's rows readable 16 bytes at a time (|x|² in router_finish_lanes)
    Divisor seq_len;             // token → (b, t)
    bool narrow_tokens = false;  // every token index below 2^31: the 32-bit quotient
    // G a multiple of 4, products and probs rows 16-byte aligned: router_finish_lanes reads a lane's
    // products and writes its probs 16 bytes at a time (4 gates).
    bool vector_gates = false;
};

/** Σ of the kParts terms of column g (the smallest first), times 2^-s. */
template <int kParts>
__device__ __forceinline__ float unsplit(const float* terms, int64_t gates, int64_t g, float unscale)
{
    float value = terms[(kParts - 1) * gates + g];
    for (int part = kParts - 2; part >= 0; --part) value += terms[part * gates + g];
    return value * unscale;
}

/**
 * unsplit of the gates [own, own + kGates) a lane holds (−inf outside G): with `vector` (G a multiple of
 * 4, rows 16-byte aligned) 16 bytes a load, every part's loads issued before the sums; the sums are the
 * same operations in the same order either way.
 */
template <int kParts, int kGates>
__device__ __forceinline__ void unsplit_gates(const float* terms, int gates, int own, float unscale, const bool (&inside)[kGates],
                                              bool vector, float (&out)[kGates])
{
    if constexpr (kGates % 4 == 0) {
        if (vector) {
            float4 words[kParts][kGates / 4];
#pragma unroll
            for (int part = 0; part < kParts; ++part) {
#pragma unroll
                for (int w = 0; w < kGates / 4; ++w) {
                    words[part][w] = inside[4 * w] ? *reinterpret_cast<const float4*>(terms + part * gates + own + 4 * w)
                                                   : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
                }
            }
#pragma unroll
            for (int k = 0; k < kGates; ++k) {
                const auto element = [&](int part) {
                    const float4& word = words[part][k / 4];
                    return k % 4 == 0 ? word.x : k % 4 == 1 ? word.y : k % 4 == 2 ? word.z : word.w;
                };
                float value = element(kParts - 1);
#pragma unroll
                for (int part = kParts - 2; part >= 0; --part) value += element(part);
                out[k] = inside[k] ? value * unscale : -INFINITY;
            }
            return;
        }
    }
#pragma unroll
    for (int k = 0; k < kGates; ++k) out[k] = inside[k] ? unsplit<kParts>(terms, gates, own + k, unscale) : -INFINITY;
}

/**
 * One lane group per token of the chunk finishes its row (SPEC §5, §6), gate g on lane g mod 32: p and
 * σ/pd live in shared memory, each lane touching only its own gates; sums and maxima over the gates are
 * group butterflies; after one barrier, a lane per head adds its contiguous gate run in gate order.
 */
template <typename S>
__global__ void __launch_bounds__(kThreads) router_finish(RouterArgs a, RouterProducts f)
{
    constexpr int kParts = RouterSplit<S>::kParts;
    extern __shared__ float rows[];  // p [kFinishTokens, G], then (DNA) σ, then pd, [kFinishTokens, G]
    const int64_t G = a.gates;
    const int group = threadIdx.x / kGroupLanes, lane = threadIdx.x % kGroupLanes;
    float* const p = rows + group * G;
    float* const q = rows + (kFinishTokens + group) * G;
    // A group past the chunk's end repeats its last row, writing nothing: every lane reaches every exchange.
    const int64_t r = static_cast<int64_t>(blockIdx.x) * kFinishTokens + group;
    const bool owner = r < f.rows;
    const int64_t token = f.first + (owner ? r : f.rows - 1);
    const int64_t b = token / a.seq_len, t = token % a.seq_len;
    const float* const terms = f.products + (owner ? r : f.rows - 1) * kParts * (a.dna ? 2 : 1) * G;

    // p_router = softmax(logits).
    const float weight_unscale = ldexpf(1.0f, -f.scales[0]);
    float top = -INFINITY;
    for (int64_t g = lane; g < G; g += kGroupLanes) {
        p[g] = unsplit<kParts>(terms, G, g, weight_unscale);
        top = fmaxf(top, p[g]);
    }
    top = group_reduce(top, Max{});
    float sum = 0.0f;
    for (int64_t g = lane; g < G; g += kGroupLanes) {
        p[g] = expf(p[g] - top);
        sum += p[g];
    }
    sum = group_reduce(sum, Add{});
    for (int64_t g = lane; g < G; g += kGroupLanes) p[g] /= sum;

    float salience = 0.0f, beta = 0.0f;
    if (a.dna) {
        const auto* x = static_cast<const typename S::Raw*>(a.x) + b * a.x_batch + t * a.x_token;
        float square = 0.0f;
        for (int64_t c = lane; c < a.channels; c += kGroupLanes) {
            const float v = S::load(x[c]);
            square += v * v;
        }
        const float inverse_x = 1.0f / fmaxf(sqrtf(group_reduce(square, Add{})), 1e-6f);
        const float prototype_unscale = ldexpf(1.0f, -f.scales[1]);
        salience = -INFINITY;
        for (int64_t g = lane; g < G; g += kGroupLanes) {
            q[g] = unsplit<kParts>(terms + kParts * G, G, g, prototype_unscale) * inverse_x * f.inverse_norms[g];  // σ_g
            salience = fmaxf(salience, q[g]);
        }
        salience = group_reduce(salience, Max{});
        const float shift = salience / a.tau;  // the largest σ/τ (τ > 0)
        float pd_sum = 0.0f;
        for (int64_t g = lane; g < G; g += kGroupLanes) {
            q[g] = expf(q[g] / a.tau - shift);
            pd_sum += q[g];
        }
        pd_sum = group_reduce(pd_sum, Add{});
        float weighted_sum = 0.0f;
        for (int64_t g = lane; g < G; g += kGroupLanes) {
            q[g] = q[g] / pd_sum * (a.confidence[g] + 1e-6f);
            weighted_sum += q[g];
        }
        weighted_sum = fmaxf(group_reduce(weighted_sum, Add{}), 1e-6f);
        beta = fminf(fmaxf((salience - a.theta) / fmaxf(1e-6f, 1.0f - a.theta), 0.0f), 1.0f);
        const float w = a.blend * beta;
        for (int64_t g = lane; g < G; g += kGroupLanes) p[g] = (1.0f - w) * p[g] + w * (q[g] / weighted_sum);
        if (a.usage_boost > 0.0f) {
            // softmax(−(usage + 1e-6)): the same for every token, cheap enough to redo per row.
            float usage_top = -INFINITY;
            for (int64_t g = lane; g < G; g += kGroupLanes) usage_top = fmaxf(usage_top, -(a.usage[g] + 1e-6f));
            usage_top = group_reduce(usage_top, Max{});
            float usage_sum = 0.0f;
            for (int64_t g = lane; g < G; g += kGroupLanes) usage_sum += expf(-(a.usage[g] + 1e-6f) - usage_top);
            usage_sum = group_reduce(usage_sum, Add{});
            const float boost = (1.0f - beta) * a.usage_boost;
            for (int64_t g = lane; g < G; g += kGroupLanes) p[g] += expf(-(a.usage[g] + 1e-6f) - usage_top) / usage_sum * boost;
        }
        float positive = 0.0f;
        for (int64_t g = lane; g < G; g += kGroupLanes) {
            p[g] = fmaxf(p[g], 0.0f);
            positive += p[g];
        }
        positive = fmaxf(group_reduce(positive, Add{}), 1e-6f);
        for (int64_t g = lane; g < G; g += kGroupLanes) p[g] /= positive;
    }

    float best = -INFINITY;
    float* const probs = a.probs + b * a.probs_batch + t * a.probs_token;
    for (int64_t g = lane; g < G; g += kGroupLanes) {
        best = fmaxf(best, p[g]);
        if (owner) probs[g] = p[g];
    }
    best = group_reduce(best, Max{});
    if (a.head_probs != nullptr) {
        __syncthreads();  // every lane's p is in shared memory
        float* const heads = a.head_probs + b * a.head_batch + t * a.head_token;
        for (int64_t h = lane; h < a.heads && owner; h += kGroupLanes) {
            // Gates of head h: floor(g·H/G) = h ⇔ g in [ceil(h·G/H), ceil((h+1)·G/H)); none when G < H.
            float head_sum = 0.0f;
            for (int64_t g = (h * G + a.heads - 1) / a.heads; g < ((h + 1) * G + a.heads - 1) / a.heads; ++g) head_sum += p[g];
            heads[h] = head_sum;
        }
    }
    if (!owner || lane != 0) return;
    if (a.salience != nullptr) a.salience[b * a.salience_batch + t * a.salience_token] = salience;
    if (a.importance != nullptr) {
        a.importance[b * a.importance_batch + t * a.importance_token] = a.dna ? best * (1.0f - beta) + salience * beta : best;
    }
}

/** `op_a` over the group for a and `op_b` for b, the two butterflies interleaved (each as group_reduce). */
template <int kWidth, typename OpA, typename OpB>
__device__ __forceinline__ void group_reduce_pair(float& a, OpA op_a, float& b, OpB op_b)
{
    for (int mask = kWidth / 2; mask > 0; mask /= 2) {
        const float other_a = group_shuffle_xor(a, mask, kWidth);
        const float other_b = group_shuffle_xor(b, mask, kWidth);
        a = op_a(a, other_a);
        b = op_b(b, other_b);
    }
}

/**
 * router_finish for G ≤ kLanes·kGates, everything in registers: a group of kLanes lanes per token (8, 16
 * or 32: a power of two, so a group never straddles a warp or wavefront), lane l holding the kGates
 * consecutive gates [l·kGates, (l + 1)·kGates) (lanes past G hold nothing: −inf to the maxima, 0 to the
 * sums). Narrow groups with up to 8 gates a lane (G 64: 8 lanes) because what a token costs besides its
 * gates — the butterflies (log2 kLanes steps each) and the scalar steps every lane repeats (indices,
 * reciprocals, β) — is paid once per group: with 32 lanes of 2 gates it was most of the work. Every sum
 * or max over the gates is the lane's own (gate order) then one butterfly; independent ones go in
 * pairs. Divisions by a token's sums are products with their reciprocals. No shared memory and no
 * barrier. Per gate constants (1/|P_g|, confidence + 1e-6, the usage-boost share
 * softmax(−(usage + 1e-6))_g) are loaded once per group; the groups of a block step together (a group
 * past the chunk's end repeats the last row and writes nothing). Heads: where every head's gate run
 * lies inside one lane (G a multiple of H whose run length divides kGates) the lane adds its runs; else
 * lane h fetches head h's gates by shuffles, in gate order. The same operations in the same order on
 * every run: the same bits.
 */
template <typename S, int kLanes, int kGates>
__global__ void __launch_bounds__(kThreads, 3) router_finish_lanes(RouterArgs a, RouterProducts f)
{
    constexpr int kParts = RouterSplit<S>::kParts;
    constexpr int kGroups = kThreads / kLanes;  // tokens of a block step
    using Raw = typename S::Raw;
    const int G = static_cast<int>(a.gates), H = static_cast<int>(a.heads);
    const int group = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;
    const int own = lane * kGates;  // the lane's first gate
    bool inside[kGates];
    float inverse_norm[kGates], confidence[kGates], share[kGates];
#pragma unroll
    for (int k = 0; k < kGates; ++k) {
        inside[k] = own + k < G;
        inverse_norm[k] = 0.0f;
        confidence[k] = 0.0f;
        share[k] = 0.0f;
    }
    if (a.dna) {
        float usage_top = -INFINITY;
#pragma unroll
        for (int k = 0; k < kGates; ++k) {
            if (!inside[k]) continue;
            inverse_norm[k] = f.inverse_norms[own + k];
            confidence[k] = a.confidence[own + k] + 1e-6f;
            share[k] = -(a.usage[own + k] + 1e-6f);
            usage_top = fmaxf(usage_top, share[k]);
        }
        if (a.usage_boost > 0.0f) {
            usage_top = group_reduce<kLanes>(usage_top, Max{});
            float usage_sum = 0.0f;
#pragma unroll
            for (int k = 0; k < kGates; ++k) {
                share[k] = inside[k] ? expf(share[k] - usage_top) : 0.0f;
                usage_sum += share[k];
            }
            usage_sum = group_reduce<kLanes>(usage_sum, Add{});
#pragma unroll
            for (int k = 0; k < kGates; ++k) share[k] /= usage_sum;
        }
    }
    const float weight_unscale = ldexpf(1.0f, -f.scales[0]);
    const float prototype_unscale = a.dna ? ldexpf(1.0f, -f.scales[1]) : 0.0f;
    const int64_t columns = int64_t{kParts} * (a.dna ? 2 : 1) * G;
    // Heads inside one lane: G = run·H with the run dividing kGates.
    const int run = G >= H && G % H == 0 ? G / H : 0;
    const bool lane_heads = run > 0 && kGates % run == 0;

    const float inverse_tau = 1.0f / a.tau;
    for (int64_t r0 = static_cast<int64_t>(blockIdx.x) * kGroups; r0 < f.rows; r0 += static_cast<int64_t>(gridDim.x) * kGroups) {
        const bool owner = r0 + group < f.rows;
        const int64_t r = owner ? r0 + group : f.rows - 1;
        const int64_t token = f.first + r;
        const int64_t b = f.narrow_tokens ? quotient(static_cast<uint32_t>(token), f.seq_len)
                                          : static_cast<int64_t>(quotient(static_cast<uint64_t>(token), f.seq_len));
        const int64_t t = token - b * a.seq_len;
        const float* const terms = f.products + r * columns;

        // p_router = softmax(logits); |x|² alongside the maximum.
        float p[kGates];
        float top = -INFINITY, square = 0.0f;
        unsplit_gates<kParts>(terms, G, own, weight_unscale, inside, f.vector_gates, p);
#pragma unroll
        for (int k = 0; k < kGates; ++k) top = fmaxf(top, p[k]);
        if (a.dna) {
            const Raw* const x = static_cast<const Raw*>(a.x) + b * a.x_batch + t * a.x_token;
            if (f.x_vector) {
                constexpr int kPer = 16 / sizeof(Raw);
#pragma unroll 4
                for (int64_t c = int64_t{lane} * kPer; c < a.channels; c += int64_t{kLanes} * kPer) {
                    const Pack<Raw, kPer> v = *reinterpret_cast<const Pack<Raw, kPer>*>(x + c);
#pragma unroll
                    for (int e = 0; e < kPer; ++e) {
                        const float value = S::load(v.v[e]);
                        square += value * value;
                    }
                }
            } else {
                for (int64_t c = lane; c < a.channels; c += kLanes) {
                    const float value = S::load(x[c]);
                    square += value * value;
                }
            }
        }
        group_reduce_pair<kLanes>(top, Max{}, square, Add{});
        float sum = 0.0f, largest = 0.0f;
#pragma unroll
        for (int k = 0; k < kGates; ++k) {
            p[k] = inside[k] ? expf(p[k] - top) : 0.0f;
            sum += p[k];
            largest = fmaxf(largest, p[k]);
        }
        group_reduce_pair<kLanes>(sum, Add{}, largest, Max{});
        const float inverse_sum = 1.0f / sum;
#pragma unroll
        for (int k = 0; k < kGates; ++k) p[k] *= inverse_sum;
        // The largest p: a product with a positive number is monotone, so max_g(p_g·u) = (max_g p_g)·u exactly.
        float best = largest * inverse_sum;

        float salience = 0.0f, beta = 0.0f;
        if (a.dna) {
            const float inverse_x = 1.0f / fmaxf(sqrtf(square), 1e-6f);
            float q[kGates];
            salience = -INFINITY;
            unsplit_gates<kParts>(terms + kParts * G, G, own, prototype_unscale, inside, f.vector_gates, q);
#pragma unroll
            for (int k = 0; k < kGates; ++k) {
                q[k] = inside[k] ? q[k] * inverse_x * inverse_norm[k] : -INFINITY;  // σ_g
                salience = fmaxf(salience, q[k]);
            }
            salience = group_reduce<kLanes>(salience, Max{});
            const float shift = salience * inverse_tau;  // the largest σ/τ (τ > 0)
            float pd_sum = 0.0f;
#pragma unroll
            for (int k = 0; k < kGates; ++k) {
                q[k] = inside[k] ? expf(q[k] * inverse_tau - shift) : 0.0f;
                pd_sum += q[k];
            }
            pd_sum = group_reduce<kLanes>(pd_sum, Add{});
            const float inverse_pd_sum = 1.0f / pd_sum;
            float weighted_sum = 0.0f;
#pragma unroll
            for (int k = 0; k < kGates; ++k) {
                q[k] = q[k] * inverse_pd_sum * confidence[k];
                weighted_sum += q[k];
            }
            const float inverse_weighted_sum = 1.0f / fmaxf(group_reduce<kLanes>(weighted_sum, Add{}), 1e-6f);
            beta = fminf(fmaxf((salience - a.theta) / fmaxf(1e-6f, 1.0f - a.theta), 0.0f), 1.0f);
            const float w = a.blend * beta;
            const float boost = (1.0f - beta) * a.usage_boost;
            float positive = 0.0f;
            largest = 0.0f;
#pragma unroll
            for (int k = 0; k < kGates; ++k) {
                p[k] = (1.0f - w) * p[k] + w * (q[k] * inverse_weighted_sum);
                if (a.usage_boost > 0.0f) p[k] += share[k] * boost;
                p[k] = inside[k] ? fmaxf(p[k], 0.0f) : 0.0f;
                positive += p[k];
                largest = fmaxf(largest, p[k]);
            }
            group_reduce_pair<kLanes>(positive, Add{}, largest, Max{});
            const float inverse_positive = 1.0f / fmaxf(positive, 1e-6f);
#pragma unroll
            for (int k = 0; k < kGates; ++k) p[k] *= inverse_positive;
            best = largest * inverse_positive;
        }

        if (owner) {
            float* const probs = a.probs + b * a.probs_batch + t * a.probs_token;
            bool stored = false;
            if constexpr (kGates % 4 == 0) {
                if (f.vector_gates) {
#pragma unroll
                    for (int w = 0; w < kGates / 4; ++w) {
                        if (inside[4 * w]) {
                            *reinterpret_cast<float4*>(probs + own + 4 * w) = make_float4(p[4 * w], p[4 * w + 1], p[4 * w + 2], p[4 * w + 3]);
                        }
                    }
                    stored = true;
                }
            }
            if (!stored) {
#pragma unroll
                for (int k = 0; k < kGates; ++k) {
                    if (inside[k]) probs[own + k] = p[k];
                }
            }
        }
        if (a.head_probs != nullptr) {
            float* const heads = a.head_probs + b * a.head_batch + t * a.head_token;
            if (lane_heads) {
                float head_sum = 0.0f;
#pragma unroll
                for (int k = 0; k < kGates; ++k) {
                    const int place = k % run;
                    head_sum = place == 0 ? p[k] : head_sum + p[k];
                    if (owner && inside[k] && place == run - 1) heads[(own + k) / run] = head_sum;
                }
            } else {
                // Head h: gates [ceil(h·G/H), ceil((h+1)·G/H)), none when G < H; lane h + kLanes·i fetches them in order.
                const int longest = (G + H - 1) / H;
                for (int h0 = 0; h0 < H; h0 += kLanes) {
                    const int h = h0 + lane;
                    const int begin = h < H ? static_cast<int>((int64_t{h} * G + H - 1) / H) : 0;
                    const int end = h < H ? static_cast<int>((int64_t{h + 1} * G + H - 1) / H) : 0;
                    float head_sum = 0.0f;
                    for (int step = 0; step < longest; ++step) {
                        const int g = begin + step;
                        const int source = min(g / kGates, kLanes - 1);
                        float value = 0.0f;
#pragma unroll
                        for (int k = 0; k < kGates; ++k) {
                            const float fetched = bits_to_float(group_shuffle(float_to_bits(p[k]), source, kLanes));
                            if (g % kGates == k) value = fetched;
                        }
                        if (g < end) head_sum += value;
                    }
                    if (owner && h < H) heads[h] = head_sum;
                }
            }
        }
        if (!owner || lane != 0) continue;
        if (a.salience != nullptr) a.salience[b * a.salience_batch + t * a.salience_token] = salience;
        if (a.importance != nullptr) {
            a.importance[b * a.importance_batch + t * a.importance_token] = a.dna ? best * (1.0f - beta) + salience * beta : best;
        }
    }
}

// ---- select_rows ----------------------------------------------------------------------------------

constexpr int kRadixBits = 8;
constexpr int kBins = 1 << kRadixBits;
constexpr int kKeyBits = 64;
constexpr int64_t kInBlockCandidates = 32768;  // up to this many candidates a row: one block does the whole select
constexpr int64_t kInBlockRows = 132;          // or with this many rows: one block per row already fills the device

/** The progress of one batch row's radix select: the key bits fixed so far and how many keys still to take. */
struct SelectState {  // no member initialisers: HIP allows none in a __shared__ variable
    uint64_t prefix;
    uint64_t mask;
    int64_t remaining;
};

/** Unique per row: more important first, then smaller t (−t in the low word). */
__device__ __forceinline__ uint64_t token_key(float importance, int64_t t)
{
    return (static_cast<uint64_t>(ordered_bits(importance)) << 32) | (0xffffffffu - static_cast<uint32_t>(t));
}

constexpr int kPasses = kKeyBits / kRadixBits;
static_assert(kThreads == kBins, "settle_select gives each thread one bin");

/**
 * Row b's state after the picks of passes [0, passes), replayed by the whole block from the pass
 * histograms ([kPasses][batch][kBins], zeroed before the first pass) into `s` (shared): pass p fixes the
 * digit at kKeyBits − 8·(p + 1) of the threshold key, the remaining-th largest key, as pick_digit does
 * (the largest bin whose suffix count reaches `remaining`, found by a suffix scan, one bin a thread).
 * Returns whether the row is settled: its remaining keys are every key of the prefix, so that the
 * prefix with the lower bits 0 is already the threshold and the later passes have nothing to count
 * (on distinct importances after the 4 passes of the float's bits; ties go on to the index bits).
 */
__device__ bool settle_select(const uint32_t* histograms, int64_t batch, int64_t b, int passes, int64_t remaining,
                              SelectState& s, uint32_t* suffix, bool& settled)
{
    const int bin = static_cast<int>(threadIdx.x);
    __syncthreads();  // the block is done with the previous row's s and settled
    if (bin == 0) {
        s = {0, 0, remaining};
        settled = false;
    }
    for (int pass = 0; pass < passes; ++pass) {
        __syncthreads();  // s and settled published; suffix free
        if (settled) break;
        suffix[bin] = histograms[(static_cast<int64_t>(pass) * batch + b) * kBins + bin];
        for (int offset = 1; offset < kBins; offset *= 2) {
            __syncthreads();
            const uint32_t above = bin + offset < kBins ? suffix[bin + offset] : 0;
            __syncthreads();
            suffix[bin] += above;
        }
        __syncthreads();
        const int64_t wanted = s.remaining;
        const uint32_t here = suffix[bin], next = bin + 1 < kBins ? suffix[bin + 1] : 0;
        __syncthreads();  // every thread has read s and the suffixes before the chosen bin's thread writes s
        // The chosen bin: its suffix reaches `wanted`, the next one's does not (bin 0 when none does).
        if ((here >= wanted && next < wanted) || (bin == 0 && here < wanted)) {
            const int shift = kKeyBits - kRadixBits * (pass + 1);
            const int64_t count = here - next;
            s.remaining = wanted - next;
            s.prefix |= static_cast<uint64_t>(bin) << shift;
            s.mask |= static_cast<uint64_t>(kBins - 1) << shift;
            settled = s.remaining == count;
        }
    }
    __syncthreads();
    return settled;
}

/**
 * Pass `pass` of the radix select: per batch row (grid y), the rows not settled by the earlier passes
 * count their candidates t ≥ guard whose fixed bits match, by the digit of this pass.
 */
__global__ void __launch_bounds__(kThreads) select_histogram(const float* importance, int64_t importance_batch,
                                                             int64_t importance_token, int64_t batch, int64_t seq_len,
                                                             int64_t guard, int64_t remaining, uint32_t* histograms, int pass)
{
    __shared__ uint32_t counts[kBins];
    __shared__ uint32_t suffix[kBins];
    __shared__ SelectState s;
    __shared__ bool settled;
    const int shift = kKeyBits - kRadixBits * (pass + 1);
    for (int64_t b = blockIdx.y; b < batch; b += gridDim.y) {
        if (settle_select(histograms, batch, b, pass, remaining, s, suffix, settled)) continue;
        counts[threadIdx.x] = 0;
        __syncthreads();
        const uint64_t mask = s.mask, prefix = s.prefix;
        for (int64_t t = guard + grid_start(); t < seq_len; t += grid_step()) {
            const uint64_t key = token_key(importance[b * importance_batch + t * importance_token], t);
            if ((key & mask) == prefix) atomicAdd(&counts[(key >> shift) & (kBins - 1)], 1u);
        }
        __syncthreads();
        const uint32_t mine = counts[threadIdx.x];
        if (mine != 0) atomicAdd(&histograms[(static_cast<int64_t>(pass) * batch + b) * kBins + threadIdx.x], mine);  // integer: order-free
    }
}

/** Each row's threshold state after every pass, for select_write. */
__global__ void __launch_bounds__(kThreads) select_settle(const uint32_t* histograms, int64_t batch, int64_t remaining,
                                                          SelectState* state)
{
    __shared__ uint32_t suffix[kBins];
    __shared__ SelectState s;
    __shared__ bool settled;
    for (int64_t b = blockIdx.x; b < batch; b += gridDim.x) {
        settle_select(histograms, batch, b, kPasses, remaining, s, suffix, settled);
        if (threadIdx.x == 0) state[b] = s;
    }
}

/** Fixes the digit at `shift` of the threshold key (the remaining-th largest) from the counts of that digit. */
__device__ void pick_digit(SelectState& s, const uint32_t* counts, int shift)
{
    for (int bin = kBins - 1; bin >= 0; --bin) {
        if (s.remaining <= counts[bin] || bin == 0) {
            s.prefix |= static_cast<uint64_t>(bin) << shift;
            break;
        }
        s.remaining -= counts[bin];
    }
    s.mask |= static_cast<uint64_t>(kBins - 1) << shift;
}

/**
 * The whole select of a batch row in one block (rows of few candidates, or many rows): the passes of
 * select_histogram with the counts and the picks in shared memory. Writes the row's final state.
 */
__global__ void select_in_block(const float* importance, int64_t importance_batch, int64_t importance_token,
                                int64_t batch, int64_t seq_len, int64_t guard, int64_t remaining, SelectState* state)
{
    __shared__ uint32_t counts[kBins];
    __shared__ SelectState s;
    for (int64_t b = blockIdx.x; b < batch; b += gridDim.x) {
        if (threadIdx.x == 0) s = {0, 0, remaining};
        for (int shift = kKeyBits - kRadixBits; shift >= 0; shift -= kRadixBits) {
            for (int bin = threadIdx.x; bin < kBins; bin += kThreads) counts[bin] = 0;
            __syncthreads();  // also publishes s
            const uint64_t mask = s.mask, prefix = s.prefix;
            for (int64_t t = guard + threadIdx.x; t < seq_len; t += kThreads) {
                const uint64_t key = token_key(importance[b * importance_batch + t * importance_token], t);
                if ((key & mask) == prefix) atomicAdd(&counts[(key >> shift) & (kBins - 1)], 1u);
            }
            __syncthreads();
            if (threadIdx.x == 0) pick_digit(s, counts, shift);
            __syncthreads();  // s is read (and counts cleared) in the next pass
        }
        if (threadIdx.x == 0) state[b] = s;
        __syncthreads();
    }
}

/** Unique per token: more probable first, then smaller h (never 0, the "none yet" of select_write). */
__device__ __forceinline__ uint64_t head_key(float probability, int64_t h)
{
    return (static_cast<uint64_t>(ordered_bits(probability)) << 32) | (0xffffffffu - static_cast<uint32_t>(h));
}

/**
 * active[b, h, t] = token kept ∧ h among the token's k most probable heads (ties to the smaller h).
 * Kept: t < guard, or every token (keep_all), or key ≥ the row's threshold key (selected: the radix ran).
 */
__global__ void select_write(const float* head_probs, int64_t head_batch, int64_t head_token, const float* importance,
                             int64_t importance_batch, int64_t importance_token, uint8_t* active, int64_t active_batch,
                             int64_t active_head, int64_t batch, int64_t seq_len, int64_t heads, int64_t guard,
                             bool keep_all, const SelectState* state, int32_t heads_per_token)
{
    const uint64_t total = static_cast<uint64_t>(batch) * seq_len;
    for (uint64_t e = grid_start(); e < total; e += grid_step()) {
        const int64_t b = e / seq_len, t = e % seq_len;
        bool kept = keep_all || t < guard;
        if (!kept && state != nullptr) {
            kept = token_key(importance[b * importance_batch + t * importance_token], t) >= state[b].prefix;
        }
        const float* const p = head_probs + b * head_batch + t * head_token;
        uint8_t* const out = active + b * active_batch + t;
        // The k-th largest of the unique head keys (probability bits, then the smaller h): k passes, each
        // the largest key below the previous one, O(k·H) instead of ranking every head against every other.
        uint64_t threshold = ~uint64_t{0};
        if (kept) {
            for (int32_t pass = 0; pass < heads_per_token && pass < heads; ++pass) {
                uint64_t best = 0;
                for (int64_t h = 0; h < heads; ++h) {
                    const uint64_t key = head_key(p[h], h);
                    if (key < threshold && key > best) best = key;
                }
                threshold = best;
            }
        }
        for (int64_t h = 0; h < heads; ++h) out[h * active_head] = kept && head_key(p[h], h) >= threshold ? 1 : 0;
    }
}

// ---- dna_update -----------------------------------------------------------------------------------

constexpr int kUpdateGates = 16;     // gates of one block's tile
constexpr int kUpdateColumns = 64;   // columns of one block's tile
constexpr int kUpdateRows = 32;      // rows staged per step
constexpr int kGateGroups = kThreads / kUpdateColumns;  // a thread holds kUpdateGates / kGateGroups sums
constexpr int64_t kMinChunkRows = 256;
constexpr uint64_t kPartialBudget = uint64_t{16} << 20;  // floats of partial sums at most (64 MiB), rows permitting

/**
 * Block (column tile, gate tile, chunk): over the rows of its chunk in order, partial[chunk][g][c] =
 * Σ Q[r, g]·X[r, c] and (first column tile) count[chunk][g] = Σ Q[r, g].
 */
template <typename S>
__global__ void __launch_bounds__(kThreads) dna_partials(const typename S::Raw* x, int64_t x_batch, int64_t x_token,
                                                         const float* probs, int64_t probs_batch, int64_t probs_token,
                                                         int64_t seq_len, int64_t rows, int64_t channels, int64_t gates,
                                                         int64_t chunk_rows, float* partial, float* count)
{
    __shared__ float q_tile[kUpdateRows][kUpdateGates];
    __shared__ float x_tile[kUpdateRows][kUpdateColumns];
    constexpr int kOwn = kUpdateGates / kGateGroups;
    const int column = threadIdx.x % kUpdateColumns;
    const int group = threadIdx.x / kUpdateColumns;
    const int64_t c0 = static_cast<int64_t>(blockIdx.x) * kUpdateColumns;
    const int64_t g0 = static_cast<int64_t>(blockIdx.y) * kUpdateGates;
    const int64_t chunk = blockIdx.z;
    const int64_t first = chunk * chunk_rows;
    const int64_t last = first + chunk_rows < rows ? first + chunk_rows : rows;
    const bool counts = blockIdx.x == 0;

    float sum[kOwn] = {};
    float mass = 0.0f;
    for (int64_t r0 = first; r0 < last; r0 += kUpdateRows) {
        for (int e = threadIdx.x; e < kUpdateRows * kUpdateGates; e += kThreads) {
            const int lr = e / kUpdateGates, lg = e % kUpdateGates;
            const int64_t r = r0 + lr, g = g0 + lg;
            q_tile[lr][lg] = r < last && g < gates ? probs[(r / seq_len) * probs_batch + (r % seq_len) * probs_token + g] : 0.0f;
        }
        for (int e = threadIdx.x; e < kUpdateRows * kUpdateColumns; e += kThreads) {
            const int lr = e / kUpdateColumns, lc = e % kUpdateColumns;
            const int64_t r = r0 + lr, c = c0 + lc;
            x_tile[lr][lc] = r < last && c < channels ? S::load(x[(r / seq_len) * x_batch + (r % seq_len) * x_token + c]) : 0.0f;
        }
        __syncthreads();
        for (int lr = 0; lr < kUpdateRows; ++lr) {
            const float v = x_tile[lr][column];
            for (int j = 0; j < kOwn; ++j) sum[j] += q_tile[lr][group + j * kGateGroups] * v;
        }
        if (counts && threadIdx.x < kUpdateGates) {
            for (int lr = 0; lr < kUpdateRows; ++lr) mass += q_tile[lr][threadIdx.x];
        }
        __syncthreads();
    }
    const int64_t c = c0 + column;
    for (int j = 0; j < kOwn; ++j) {
        const int64_t g = g0 + group + j * kGateGroups;
        if (g < gates && c < channels) partial[(chunk * gates + g) * channels + c] = sum[j];
    }
    if (counts && threadIdx.x < kUpdateGates && g0 + threadIdx.x < gates) count[chunk * gates + g0 + threadIdx.x] = mass;
}

/** n_g = Σ_chunk count (chunk order), into `total`; usage and confidence updated. */
__global__ void dna_counts(const float* count, int64_t chunks, int64_t gates, float decay, float* total, float* usage,
                           float* confidence)
{
    for (uint64_t g = grid_start(); g < static_cast<uint64_t>(gates); g += grid_step()) {
        float n = 0.0f;
        for (int64_t chunk = 0; chunk < chunks; ++chunk) n += count[chunk * gates + g];
        total[g] = n;
        const bool updated = n > 1e-6f;
        usage[g] = decay * usage[g] + (updated ? (1.0f - decay) * n : 0.0f);
        confidence[g] = decay * confidence[g] + (updated ? 1.0f - decay : 0.0f);
    }
}

/** P_g ← d·P_g + (1 − d)·(Σ_chunk partial)/n_g where n_g > 1e-6. */
__global__ void dna_prototypes(const float* partial, const float* total, int64_t chunks, int64_t gates, int64_t channels,
                               float decay, float* prototypes, int64_t prototype_stride)
{
    const uint64_t elements = static_cast<uint64_t>(gates) * channels;
    for (uint64_t e = grid_start(); e < elements; e += grid_step()) {
        const int64_t g = e / channels, c = e % channels;
        const float n = total[g];
        if (!(n > 1e-6f)) continue;
        float s = 0.0f;
        for (int64_t chunk = 0; chunk < chunks; ++chunk) s += partial[chunk * elements + e];
        float& p = prototypes[g * prototype_stride + c];
        p = decay * p + (1.0f - decay) * (s / n);
    }
}

}  // namespace

// ---- host launchers -------------------------------------------------------------------------------

proteus_status linear(const LinearProblem& problem, Blas& blas, cudaStream_t stream)
{
    if (problem.m == 0 || problem.n == 0) return PROTEUS_STATUS_OK;
    float keep = 1.0f;  // what bias_add keeps of y
    if (problem.k > 0) {
        const proteus_status status = blas.gemm_nt(problem.y.dtype, problem.m, problem.n, problem.k, problem.x.data,
                                                   problem.x.strides[0], problem.weight.data, problem.weight.strides[0],
                                                   problem.accumulate ? problem.beta : 0.0f, problem.y.dtype,
                                                   problem.y.data, problem.y.strides[0], "proteus_linear");
        if (status != PROTEUS_STATUS_OK || !problem.bias.present()) return status;
    } else {
        keep = problem.accumulate ? problem.beta : 0.0f;  // an empty product: y = beta·y + bias
    }
    return with_storage(problem.y.dtype, [&](auto storage) {
        using S = decltype(storage);
        bias_add<S><<<blocks_for(static_cast<uint64_t>(problem.m) * problem.n), kThreads, 0, stream>>>(
            static_cast<typename S::Raw*>(problem.y.data), problem.y.strides[0], problem.bias.data,
            problem.bias.dtype == PROTEUS_DTYPE_FLOAT32, problem.m, problem.n, keep);
        return check_launch("bias_add");
    });
}

proteus_status convert(const ConvertProblem& problem, cudaStream_t stream)
{
    View4 view;
    const int rank = problem.x.rank;
    uint64_t total = 1;
    for (int axis = 0; axis < rank; ++axis) {
        const int slot = 4 - rank + axis;
        view.shape[slot] = problem.x.shape[axis];
        view.x_stride[slot] = problem.x.strides[axis];
        view.y_stride[slot] = problem.y.strides[axis];
        total *= static_cast<uint64_t>(problem.x.shape[axis]);
    }
    if (total == 0) return PROTEUS_STATUS_OK;
    return with_storage(problem.x.dtype, [&](auto in) {
        return with_storage(problem.y.dtype, [&](auto out) {
            using In = decltype(in);
            using Out = decltype(out);
            convert_elements<In, Out><<<blocks_for(total), kThreads, 0, stream>>>(
                static_cast<const typename In::Raw*>(problem.x.data), static_cast<typename Out::Raw*>(problem.y.data),
                view, total);
            return check_launch("convert_elements");
        });
    });
}

proteus_status norm(const NormProblem& problem, cudaStream_t stream)
{
    if (problem.rows == 0 || problem.columns == 0) return PROTEUS_STATUS_OK;
    return with_storage(problem.x.dtype, [&](auto storage) {
        using S = decltype(storage);
        const unsigned blocks = static_cast<unsigned>(std::min<uint64_t>(problem.rows, kMaxBlocks));
        norm_rows<S><<<blocks, kThreads, 0, stream>>>(
            static_cast<const typename S::Raw*>(problem.x.data), problem.x.strides[0],
            static_cast<typename S::Raw*>(problem.y.data), problem.y.strides[0],
            static_cast<const float*>(problem.weight.data),
            problem.kind == PROTEUS_NORM_LAYER ? static_cast<const float*>(problem.bias.data) : nullptr, problem.rows,
            problem.columns, problem.kind == PROTEUS_NORM_RMS, problem.eps);
        return check_launch("norm_rows");
    });
}

proteus_status gelu(const GeluProblem& problem, cudaStream_t stream)
{
    const uint64_t total = static_cast<uint64_t>(problem.rows) * problem.columns;
    if (total == 0) return PROTEUS_STATUS_OK;
    return with_storage(problem.x.dtype, [&](auto storage) {
        using S = decltype(storage);
        gelu_elements<S><<<blocks_for(total), kThreads, 0, stream>>>(
            static_cast<const typename S::Raw*>(problem.x.data), problem.x.strides[0],
            static_cast<typename S::Raw*>(problem.y.data), problem.y.strides[0], problem.rows, problem.columns);
        return check_launch("gelu_elements");
    });
}

proteus_status rope(const RopeProblem& problem, const DeviceTraits& traits, cudaStream_t stream)
{
    RopeArgs r;
    r.heads = problem.heads;
    r.seq_len = problem.seq_len;
    r.tokens = problem.batch * problem.seq_len;
    r.head_dim = problem.head_dim;
    r.pairs = problem.head_dim / 2;
    r.quads = (r.pairs + 3) / 4;
    r.position_offset = problem.position_offset;
    r.log_base = std::log(static_cast<double>(problem.base));
    if (r.tokens == 0 || r.heads == 0 || r.pairs == 0) return PROTEUS_STATUS_OK;
    const uint64_t per_token = static_cast<uint64_t>(r.heads) * static_cast<uint64_t>(r.quads);
    r.per_token = make_divisor(per_token);
    r.per_head = make_divisor(static_cast<uint64_t>(r.quads));
    r.table = r.pairs <= kRopeTablePairs;
    r.tile = static_cast<int64_t>(std::max<uint64_t>(1, std::min<uint64_t>(kRopeTileItems / per_token, kRopeTileTokens)));
    if (r.table) r.tile = std::min<int64_t>(r.tile, kRopeTablePairs / r.pairs);
    // Enough blocks to fill the device, each looping over tiles (its inverse frequencies set once).
    const uint64_t tiles = static_cast<uint64_t>((r.tokens + r.tile - 1) / r.tile);
    const uint64_t resident = traits.multiprocessors > 0 ? uint64_t{kRopeBlocksPerProcessor} * traits.multiprocessors : kMaxBlocks;
    const unsigned grid = blocks_for(std::min(tiles, resident), 1);
    const bool half_split = problem.convention == PROTEUS_ROPE_HALF_SPLIT;
    return with_storage(problem.x.dtype, [&](auto storage) {
        using S = decltype(storage);
        using Raw = typename S::Raw;
        // The vector accesses: 16 bytes for 16-bit interleaved, else 4 elements; every item's address must
        // be a multiple of that, a tile's items must stay below 2^31 (the 32-bit index and quotient), and
        // the tile must have its table of turns.
        const uint64_t access = !half_split && sizeof(Raw) == 2 ? 16 : 4 * sizeof(Raw);
        bool vector = r.table && problem.head_dim % 8 == 0 && reinterpret_cast<uintptr_t>(problem.x.data) % access == 0 &&
                      static_cast<uint64_t>(r.tile) * per_token <= UINT32_MAX / 2;
        const int64_t extents[3] = {problem.batch, problem.heads, problem.seq_len};
        for (int axis = 0; axis < 3; ++axis) {
            const uint64_t bytes = static_cast<uint64_t>(problem.x.strides[axis]) * sizeof(Raw);
            if (extents[axis] > 1 && bytes % access != 0) vector = false;
        }
        const Rows<Raw> x = rows_of<Raw>(problem.x);
        if (half_split) {
            if (vector) {
                rope_tiles<S, true, true><<<grid, kThreads, 0, stream>>>(x, r);
            } else {
                rope_tiles<S, true, false><<<grid, kThreads, 0, stream>>>(x, r);
            }
        } else if (vector) {
            rope_tiles<S, false, true><<<grid, kThreads, 0, stream>>>(x, r);
        } else {
            rope_tiles<S, false, false><<<grid, kThreads, 0, stream>>>(x, r);
        }
        return check_launch("rope_tiles");
    });
}

namespace {

RouterArgs router_args(const RouterProblem& problem)
{
    RouterArgs a;
    a.x = problem.x.data;
    a.x_batch = problem.x.strides[0];
    a.x_token = problem.x.strides[1];
    a.weight = static_cast<const float*>(problem.weight.data);
    a.weight_stride = problem.weight.strides[0];
    a.dna = problem.dna;
    if (problem.dna) {
        a.prototypes = static_cast<const float*>(problem.prototypes.data);
        a.prototype_stride = problem.prototypes.strides[0];
        a.usage = static_cast<const float*>(problem.usage.data);
        a.confidence = static_cast<const float*>(problem.confidence.data);
    }
    a.probs = static_cast<float*>(problem.probs.data);
    a.probs_batch = problem.probs.strides[0];
    a.probs_token = problem.probs.strides[1];
    a.head_probs = static_cast<float*>(problem.head_probs.data);
    a.head_batch = problem.head_probs.strides[0];
    a.head_token = problem.head_probs.strides[1];
    a.salience = problem.dna ? static_cast<float*>(problem.salience.data) : nullptr;
    a.salience_batch = problem.salience.strides[0];
    a.salience_token = problem.salience.strides[1];
    a.importance = static_cast<float*>(problem.importance.data);
    a.importance_batch = problem.importance.strides[0];
    a.importance_token = problem.importance.strides[1];
    a.seq_len = problem.seq_len;
    a.tokens = problem.batch * problem.seq_len;
    a.channels = problem.channels;
    a.gates = problem.gates;
    a.heads = problem.heads;
    a.tau = problem.tau;
    a.theta = problem.theta;
    a.blend = problem.blend;
    a.usage_boost = problem.usage_boost;
    return a;
}

proteus_status router_direct(const RouterArgs& a, proteus_dtype dtype, cudaStream_t stream)
{
    const uint64_t groups = (static_cast<uint64_t>(a.tokens) + kRouterTokens - 1) / kRouterTokens;
    if (groups > INT32_MAX) {
        return set_error(PROTEUS_STATUS_INVALID_ARGUMENT, "router: more than 2^31 groups of tokens", "x");
    }
    const size_t shared = a.dna ? sizeof(float) * static_cast<size_t>(kRouterTokens + 1) * a.gates : 0;
    return with_storage(dtype, [&](auto storage) {
        using S = decltype(storage);
        constexpr size_t kStatic = sizeof(float) * ((kRouterTokens + 2 * kRouterGates) * (kRouterColumns + 1) + kRouterTokens);
        if (shared + kStatic > kStaticSharedLimit) {
            PROTEUS_GPU_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(router_tokens<S>),
                                                   cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                   static_cast<int>(shared)),
                              "FuncSetAttribute");
        }
        router_tokens<S><<<static_cast<unsigned>(groups), kThreads, shared, stream>>>(a);
        return check_launch("router_tokens");
    });
}

int router_parts(proteus_dtype dtype)
{
    switch (dtype) {
    case PROTEUS_DTYPE_FLOAT16: return RouterSplit<Float16Storage>::kParts;
    case PROTEUS_DTYPE_BFLOAT16: return RouterSplit<BFloat16Storage>::kParts;
    default: return RouterSplit<Float32Storage>::kParts;
    }
}

/**
 * The tokens as runs of evenly spaced rows, which is what one GEMM reads: all B·T tokens when the batch
 * stride continues the token stride (or B or T is 1), else one run per batch row. Run i is the tokens
 * [i·length, (i + 1)·length).
 */
struct TokenRuns {
    int64_t count = 0, length = 0, stride = 0;
};

TokenRuns token_runs(const RouterProblem& problem)
{
    const int64_t B = problem.batch, T = problem.seq_len;
    const int64_t batch_stride = problem.x.strides[0], token_stride = problem.x.strides[1];
    if (T == 1) return {1, B, batch_stride};
    if (B == 1 || batch_stride == T * token_stride) return {1, B * T, token_stride};
    return {B, T, token_stride};
}

/** Dynamic shared memory of router_finish: p, and σ/pd under DNA, per token of the block. */
uint64_t finish_shared_bytes(const RouterProblem& problem)
{
    return sizeof(float) * static_cast<uint64_t>(kFinishTokens) * problem.gates * (problem.dna ? 2 : 1);
}

/** Tokens of one GEMM chunk: as many as keep its float32 output within kRouterScratchBytes (whole 256s). */
int64_t chunk_tokens(const RouterProblem& problem)
{
    const uint64_t row_bytes = sizeof(float) * router_parts(problem.x.dtype) * (problem.dna ? 2 : 1) * problem.gates;
    const uint64_t rows = std::max<uint64_t>(1, kRouterScratchBytes / row_bytes);
    return static_cast<int64_t>(std::min<uint64_t>(rows >= 256 ? rows / 256 * 256 : rows, kMaxBlocks * kFinishTokens));
}

proteus_status router_through_blas(const RouterProblem& problem, const RouterArgs& a, Blas& blas, Allocator& workspace,
                                   cudaStream_t stream)
{
    proteus_status status = blas.ensure_handle("proteus_router");  // before anything is queued: the capture rule
    if (status != PROTEUS_STATUS_OK) return status;
    const int matrices = problem.dna ? 2 : 1;
    const int64_t G = problem.gates, C = problem.channels;
    const TokenRuns runs = token_runs(problem);
    const int64_t chunk = chunk_tokens(problem);
    const size_t shared = static_cast<size_t>(finish_shared_bytes(problem));
    return with_storage(problem.x.dtype, [&](auto storage) -> proteus_status {
        using S = decltype(storage);
        constexpr int kParts = RouterSplit<S>::kParts;
        const int64_t columns = int64_t{kParts} * matrices * G;  // of the GEMM output
        StreamWorkspace memory(workspace);
        typename S::Raw* packed = nullptr;
        int* scales = nullptr;
        float *maxima = nullptr, *inverse_norms = nullptr, *products = nullptr;
        proteus_status result = memory.allocate(static_cast<uint64_t>(columns) * C, &packed);
        if (result == PROTEUS_STATUS_OK) result = memory.allocate(2, &scales);
        if (result == PROTEUS_STATUS_OK) result = memory.allocate(2 * kScaleBlocks, &maxima);
        if (result == PROTEUS_STATUS_OK) result = memory.allocate(static_cast<uint64_t>(G), &inverse_norms);
        if (result == PROTEUS_STATUS_OK) {
            result = memory.allocate(static_cast<uint64_t>(std::min(chunk, a.tokens)) * columns, &products);
        }
        if (result != PROTEUS_STATUS_OK) return result;

        RouterWeights weights;
        weights.matrix[0] = a.weight;
        weights.stride[0] = a.weight_stride;
        weights.matrix[1] = a.prototypes;
        weights.stride[1] = a.prototype_stride;
        weights.gates = G;
        weights.channels = C;
        const unsigned maxima_blocks = static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(G, kScaleBlocks)));
        router_maxima<<<dim3(maxima_blocks, matrices), kThreads, 0, stream>>>(weights, maxima);
        result = check_launch("router_maxima");
        if (result != PROTEUS_STATUS_OK) return result;
        router_split<S><<<dim3(blocks_for(G, kSplitRows), matrices), kThreads, 0, stream>>>(
            weights, maxima, static_cast<int>(maxima_blocks), scales, packed, inverse_norms);
        result = check_launch("router_split");
        if (result != PROTEUS_STATUS_OK) return result;
        // G ≤ 32·8: the registers kernel, 8 lanes a token up to 64 gates (1, 2, 4 or 8 gates a lane), then 16
        // and 32 lanes of 8 gates; wider, the shared-memory one.
        const int gates_per_lane = G <= 8 ? 1 : G <= 16 ? 2 : G <= 32 ? 4 : G <= 256 ? 8 : 0;
        const int lanes = G <= 64 ? 8 : G <= 128 ? 16 : 32;
        if (gates_per_lane == 0 && shared > kStaticSharedLimit) {
            PROTEUS_GPU_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(router_finish<S>),
                                                   cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared)),
                              "FuncSetAttribute");
        }

        RouterProducts f;
        f.products = products;
        f.scales = scales;
        f.inverse_norms = inverse_norms;
        constexpr uint64_t kAccess = 16;  // bytes of one vector read of x
        const uint64_t raw = sizeof(typename S::Raw);
        f.x_vector = reinterpret_cast<uintptr_t>(a.x) % kAccess == 0 && (C * raw) % kAccess == 0 &&
                     (a.seq_len <= 1 || (static_cast<uint64_t>(a.x_token) * raw) % kAccess == 0) &&
                     (problem.batch <= 1 || (static_cast<uint64_t>(a.x_batch) * raw) % kAccess == 0);
        const auto aligned = [](const void* pointer) { return reinterpret_cast<uintptr_t>(pointer) % kAccess == 0; };
        f.vector_gates = G % 4 == 0 && aligned(products) && aligned(a.probs) && a.probs_token % 4 == 0 &&
                         (problem.batch <= 1 || a.probs_batch % 4 == 0);
        f.seq_len = make_divisor(static_cast<uint64_t>(a.seq_len));
        f.narrow_tokens = a.tokens < (int64_t{1} << 31) && a.seq_len < (int64_t{1} << 31);
        const auto* x = static_cast<const typename S::Raw*>(a.x);
        for (int64_t run = 0; run < runs.count; ++run) {
            for (int64_t offset = 0; offset < runs.length; offset += chunk) {
                f.first = run * runs.length + offset;
                f.rows = std::min(chunk, runs.length - offset);
                const typename S::Raw* rows = x + (f.first / a.seq_len) * a.x_batch + (f.first % a.seq_len) * a.x_token;
                result = blas.gemm_nt(problem.x.dtype, f.rows, columns, C, rows, runs.stride, packed, C, 0.0f,
                                      PROTEUS_DTYPE_FLOAT32, products, columns, "proteus_router");
                if (result != PROTEUS_STATUS_OK) return result;
                const unsigned lanes_grid = blocks_for(f.rows, kThreads / lanes);  // a token per group
                if (gates_per_lane == 0) {
                    router_finish<S><<<blocks_for(f.rows, kFinishTokens), kThreads, shared, stream>>>(a, f);
                } else if (lanes == 32) {
                    router_finish_lanes<S, 32, 8><<<lanes_grid, kThreads, 0, stream>>>(a, f);
                } else if (lanes == 16) {
                    router_finish_lanes<S, 16, 8><<<lanes_grid, kThreads, 0, stream>>>(a, f);
                } else {
                    switch (gates_per_lane) {
                    case 1: router_finish_lanes<S, 8, 1><<<lanes_grid, kThreads, 0, stream>>>(a, f); break;
                    case 2: router_finish_lanes<S, 8, 2><<<lanes_grid, kThreads, 0, stream>>>(a, f); break;
                    case 4: router_finish_lanes<S, 8, 4><<<lanes_grid, kThreads, 0, stream>>>(a, f); break;
                    default: router_finish_lanes<S, 8, 8><<<lanes_grid, kThreads, 0, stream>>>(a, f); break;
                    }
                }
                result = check_launch("router_finish");
                if (result != PROTEUS_STATUS_OK) return result;
            }
        }
        return PROTEUS_STATUS_OK;
    });
}

}  // namespace

bool router_direct_requested()
{
    const char* requested = std::getenv("PROTEUS_GPU_ROUTER");
    return requested != nullptr && std::string(requested) == "direct";
}

RouterPath router_path(const RouterProblem& problem, bool blas_usable, const DeviceTraits& traits)
{
    if (!blas_usable) return RouterPath::kDirect;
    // What one GEMM takes: int sizes, and rows at least C apart (no broadcast or overlapping tokens).
    const TokenRuns runs = token_runs(problem);
    const int64_t columns = int64_t{router_parts(problem.x.dtype)} * (problem.dna ? 2 : 1) * problem.gates;
    const bool int_sizes = problem.channels <= INT_MAX && columns <= INT_MAX && runs.stride <= INT_MAX;
    const bool rows_apart = runs.length == 1 || runs.stride >= problem.channels;
    const bool shared_fits = finish_shared_bytes(problem) <= static_cast<uint64_t>(traits.shared_limit);
    return problem.channels > 0 && int_sizes && rows_apart && shared_fits ? RouterPath::kBlas : RouterPath::kDirect;
}

proteus_status router(const RouterProblem& problem, Blas* blas, const DeviceTraits& traits, Allocator& workspace,
                      cudaStream_t stream)
{
    const RouterArgs a = router_args(problem);
    if (a.tokens == 0) return PROTEUS_STATUS_OK;
    if (router_path(problem, blas != nullptr && Blas::loadable(), traits) == RouterPath::kDirect) {
        if (blas != nullptr && !Blas::loadable()) {
            static std::once_flag reported;  // once per process: the BLAS does not come back
            std::call_once(reported, [] {
                log_message(PROTEUS_LOG_WARNING, "proteus_router: the GPU BLAS is unavailable; the router takes its direct path");
            });
        }
        return router_direct(a, problem.x.dtype, stream);
    }
    return router_through_blas(problem, a, *blas, workspace, stream);
}

proteus_status select_rows(const SelectProblem& problem, Allocator& workspace, cudaStream_t stream)
{
    const int64_t batch = problem.batch, seq_len = problem.seq_len;
    if (batch == 0 || seq_len == 0 || problem.heads == 0) return PROTEUS_STATUS_OK;
    const int64_t guard = std::min(problem.guard, seq_len);
    const bool keep_all = problem.keep >= seq_len;
    const int64_t remaining = keep_all ? 0 : problem.keep - guard;  // taken by importance among t ≥ guard
    StreamWorkspace memory(workspace);
    SelectState* state = nullptr;
    const int64_t candidates = seq_len - guard;
    if (remaining > 0) {
        proteus_status status = memory.allocate(static_cast<uint64_t>(batch), &state);
        if (status != PROTEUS_STATUS_OK) return status;
    }
    if (remaining > 0 && (candidates <= kInBlockCandidates || batch >= kInBlockRows)) {
        select_in_block<<<static_cast<unsigned>(std::min<int64_t>(batch, kMaxBlocks)), kThreads, 0, stream>>>(
            static_cast<const float*>(problem.importance.data), problem.importance.strides[0], problem.importance.strides[1],
            batch, seq_len, guard, remaining, state);
        const proteus_status launched = check_launch("select_in_block");
        if (launched != PROTEUS_STATUS_OK) return launched;
    } else if (remaining > 0) {
        // One histogram per pass (8 KiB a row), zeroed once: each pass replays the earlier picks itself,
        // so no pick kernel runs between the passes and a settled row skips the rest.
        uint32_t* histograms = nullptr;
        const uint64_t bins = static_cast<uint64_t>(kPasses) * batch * kBins;
        const proteus_status status = memory.allocate(bins, &histograms);
        if (status != PROTEUS_STATUS_OK) return status;
        PROTEUS_GPU_CHECK(cudaMemsetAsync(histograms, 0, sizeof(uint32_t) * bins, stream), "MemsetAsync");
        // ~1024 candidates a block: same-bin atomics (the first digits put most keys in one bin) spread over the device.
        const dim3 grid(blocks_for(candidates, kThreads * 4), static_cast<unsigned>(std::min<int64_t>(batch, 65535)));
        for (int pass = 0; pass < kPasses; ++pass) {
            select_histogram<<<grid, kThreads, 0, stream>>>(static_cast<const float*>(problem.importance.data),
                                                             problem.importance.strides[0], problem.importance.strides[1],
                                                             batch, seq_len, guard, remaining, histograms, pass);
            const proteus_status launched = check_launch("select_histogram");
            if (launched != PROTEUS_STATUS_OK) return launched;
        }
        select_settle<<<static_cast<unsigned>(std::min<int64_t>(batch, kMaxBlocks)), kThreads, 0, stream>>>(histograms, batch,
                                                                                                           remaining, state);
        const proteus_status launched = check_launch("select_settle");
        if (launched != PROTEUS_STATUS_OK) return launched;
    }
    select_write<<<blocks_for(static_cast<uint64_t>(batch) * seq_len), kThreads, 0, stream>>>(
        static_cast<const float*>(problem.head_probs.data), problem.head_probs.strides[0], problem.head_probs.strides[1],
        static_cast<const float*>(problem.importance.data), problem.importance.strides[0], problem.importance.strides[1],
        static_cast<uint8_t*>(problem.active.data), problem.active.strides[0], problem.active.strides[1], batch, seq_len,
        problem.heads, guard, keep_all, state, problem.heads_per_token);
    return check_launch("select_write");
}

proteus_status dna_update(const DnaUpdateProblem& problem, Allocator& workspace, cudaStream_t stream)
{
    const int64_t rows = problem.batch * problem.seq_len;
    const int64_t gates = problem.gates, channels = problem.channels;
    if (gates == 0) return PROTEUS_STATUS_OK;
    // Fixed chunks: as many as the rows and the partial-sum budget allow (at least one, at most 65535).
    const uint64_t per_chunk = static_cast<uint64_t>(gates) * std::max<int64_t>(channels, 1);
    int64_t chunks = std::max<int64_t>(1, (rows + kMinChunkRows - 1) / kMinChunkRows);
    chunks = std::min<int64_t>({chunks, static_cast<int64_t>(std::max<uint64_t>(1, kPartialBudget / per_chunk)), 65535});
    const int64_t chunk_rows = std::max<int64_t>(1, (rows + chunks - 1) / chunks);
    chunks = std::max<int64_t>(1, (rows + chunk_rows - 1) / chunk_rows);

    StreamWorkspace memory(workspace);
    float *partial = nullptr, *count = nullptr, *total = nullptr;
    proteus_status status = memory.allocate(static_cast<uint64_t>(chunks) * per_chunk, &partial);
    if (status == PROTEUS_STATUS_OK) status = memory.allocate(static_cast<uint64_t>(chunks) * gates, &count);
    if (status == PROTEUS_STATUS_OK) status = memory.allocate(static_cast<uint64_t>(gates), &total);
    if (status != PROTEUS_STATUS_OK) return status;
    if (rows == 0) {
        // No rows (one chunk): every n_g is 0, so usage and confidence decay and P stays.
        PROTEUS_GPU_CHECK(cudaMemsetAsync(count, 0, sizeof(float) * gates, stream), "MemsetAsync");
    } else {
        const uint64_t column_tiles = (std::max<int64_t>(channels, 1) + kUpdateColumns - 1) / kUpdateColumns;
        const uint64_t gate_tiles = (gates + kUpdateGates - 1) / kUpdateGates;
        if (column_tiles > INT32_MAX || gate_tiles > 65535) {
            return set_error(PROTEUS_STATUS_INVALID_ARGUMENT, "dna_update: too many gates for one launch", "prototypes");
        }
        const dim3 grid(static_cast<unsigned>(column_tiles), static_cast<unsigned>(gate_tiles), static_cast<unsigned>(chunks));
        status = with_storage(problem.x.dtype, [&](auto storage) {
            using S = decltype(storage);
            dna_partials<S><<<grid, kThreads, 0, stream>>>(
                static_cast<const typename S::Raw*>(problem.x.data), problem.x.strides[0], problem.x.strides[1],
                static_cast<const float*>(problem.probs.data), problem.probs.strides[0], problem.probs.strides[1],
                problem.seq_len, rows, channels, gates, chunk_rows, partial, count);
            return check_launch("dna_partials");
        });
        if (status != PROTEUS_STATUS_OK) return status;
    }
    dna_counts<<<blocks_for(gates), kThreads, 0, stream>>>(count, chunks, gates, problem.decay, total,
                                                           static_cast<float*>(problem.usage.data),
                                                           static_cast<float*>(problem.confidence.data));
    status = check_launch("dna_counts");
    if (status != PROTEUS_STATUS_OK || rows == 0 || channels == 0) return status;
    dna_prototypes<<<blocks_for(static_cast<uint64_t>(gates) * channels), kThreads, 0, stream>>>(
        partial, total, chunks, gates, channels, problem.decay, static_cast<float*>(problem.prototypes.data),
        problem.prototypes.strides[0]);
    return check_launch("dna_prototypes");
}

}  // namespace proteus::gpu
