// Flux attention over explicit candidate lists on the GPU (PROTEUS_POLICY_EXPLICIT; the semantics are
// in docs/explicit-candidates.md, the literal version is the CPU reference).
//
// Algorithm (the "vector-sparse" shape: the keys of a row are a list, not a range)
//   A block of kThreads threads owns one unit at a time, grid-strided: a query row r of batch b and up
//   to heads_per_block query heads that read the same list and the same kv head (every head of a GQA
//   group for shared lists [B, Tq, L]; one head for per-head lists [B, H, Tq, L]). It walks the row's
//   list in tiles of kTile slots:
//     1. thread t < kTile reads slot base + t; an index outside [0, i] (i = p0 + r) or a slot past the
//        row's length becomes "no key";
//     2. the tile's K and V rows are gathered into shared memory, 16 bytes a thread at a time where the
//        rows are 16-byte aligned (else element by element); rows of "no key" are zero. Where the two
//        tiles and the rest pass kSharedBytes (float32 at D 256), K and V share one tile: V is gathered
//        over K once the scores of step 3 are formed;
//     3. scores: thread (head g, key k) forms scale·<q_g, k_k> from shared memory (row stride padded by
//        16 bytes, so each quarter-warp of 16-byte reads covers all banks once);
//     4. online softmax per head: the tile maximum and the sum of exp(s − m) by tree reductions over
//        the kTile scores of each head; m, l and the factor exp(m_old − m_new) kept in shared memory;
//     5. thread t owns outputs t, t + kThreads, … of the unit's heads_per_block × D, rescales them and
//        adds Σ_k p_k · v_k[d] from the gathered V tile.
//   A listed index counts once per occurrence, as in the reference: a duplicate is gathered twice.
//   Then o = acc / l (rounded to the storage type) and lse = m + log l; a row without any key (empty
//   list, or every index out of range) writes o = 0 and lse = −inf, as an inactive row does.
//   Every head dim of the library (8 to 256) is a multiple of 8, so a row is whole 16-byte pieces in
//   every storage type (D 8 in 16-bit storage: one).
//
// Synchronisation: every loop around a barrier has a trip count that depends on the unit only
// (tiles, head passes, reduction steps), and the one-tile barrier depends on the launch's arguments
// only, so the whole block reaches each __syncthreads().
#include "gpu/vendor.h"

#include "gpu/flux_explicit.h"

#include <algorithm>
#include <cstdint>

#include "core/error.h"
#include "core/explicit_lists.h"
#include "gpu/device_call.h"
#include "gpu/flux_common.h"
#include "gpu/storage.h"

namespace proteus::gpu {
namespace {

/** Tile sizes of the explicit-list kernel: one place. */
struct ExplicitTraits {
    static constexpr int kThreads = 128;
    static constexpr int kTile = 32;                        // listed slots per tile
    static constexpr int kHeadsPerPass = kThreads / kTile;  // heads whose scores one pass forms
    static constexpr int kMaxOutputs = 8;                   // accumulators a thread owns
    static constexpr int kMaxHeadsPerBlock = 16;
    static constexpr int kMaxHeadDim = 256;
    static constexpr int kRowPad = 16;  // bytes after each gathered row (bank spread of 16-byte reads)
    // Dynamic shared memory a block may take without an opt-in (cudaFuncSetAttribute): 48 KiB on CUDA;
    // HIP's 64 KiB a block is above it.
    static constexpr size_t kSharedBytes = 48 * 1024;
    static constexpr int kBlocksPerMultiprocessor = 16;
};
using X = ExplicitTraits;

template <typename Raw>
struct ExplicitArgs {
    Rows<const Raw> q, k, v;
    Rows<Raw> o;
    Rows<const uint8_t> active;  // data null: every row active
    Rows<float> lse;             // data null: not wanted
    core::ExplicitLists lists;
    int64_t heads = 0, group = 1, query_len = 0;
    int64_t span = 1;        // query heads sharing one list and one kv head
    int64_t chunks = 1;      // units per span: ceil(span / heads_per_block)
    int64_t units = 0;       // B · Tq · (H / span) · chunks
    int heads_per_block = 1;
    int head_dim = 0;
    int row_bytes = 0;       // D · sizeof(Raw)
    int row_stride = 0;      // row_bytes + kRowPad
    int tiles = 2;           // gathered tiles resident: K and V, or 1 (V replaces K after the scores)
    float scale = 0.0f;
};

/** Shared memory of one block, carved from the dynamic allocation (sizes from the unit's D and heads). */
struct ExplicitShared {
    unsigned char* k_tile;  // [kTile, row_stride] bytes
    unsigned char* v_tile;
    float* q;               // [heads_per_block, D]
    float* weights;         // [heads_per_block, kTile]: scores, then p
    float* m;               // [heads_per_block]
    float* l;
    float* rescale;
    float* reduce;          // [kThreads]
    int32_t* keys;          // [kTile]
    int* any_active;

    static __host__ __device__ size_t bytes(int tiles, int row_stride, int heads, int head_dim)
    {
        return static_cast<size_t>(tiles) * X::kTile * row_stride +
               sizeof(float) * (static_cast<size_t>(heads) * head_dim + heads * X::kTile + 3 * heads + X::kThreads) +
               sizeof(int32_t) * X::kTile + 16;
    }
};

__device__ ExplicitShared carve(unsigned char* base, int tiles, int row_stride, int heads, int head_dim)
{
    ExplicitShared s;
    s.k_tile = base;
    s.v_tile = base + (tiles - 1) * X::kTile * row_stride;  // one tile: the K tile's buffer
    float* f = reinterpret_cast<float*>(base + tiles * X::kTile * row_stride);
    s.q = f;
    f += heads * head_dim;
    s.weights = f;
    f += heads * X::kTile;
    s.m = f;
    s.l = f + heads;
    s.rescale = f + 2 * heads;
    s.reduce = f + 3 * heads;
    s.keys = reinterpret_cast<int32_t*>(s.reduce + X::kThreads);
    s.any_active = reinterpret_cast<int*>(s.keys + X::kTile);
    return s;
}

/** Copies row `row` of a gathered tile (kVector: 16-byte pieces; else elements), or zeros for "no key". */
template <typename Raw, bool kVector>
__device__ void gather_tile(const Rows<const Raw>& source, int64_t b, int64_t kv_head, const int32_t* keys,
                            unsigned char* tile, int row_bytes, int row_stride)
{
    constexpr int piece = kVector ? 16 : static_cast<int>(sizeof(Raw));
    const int pieces = row_bytes / piece;
    for (int c = threadIdx.x; c < X::kTile * pieces; c += X::kThreads) {
        const int row = c / pieces;
        const int part = c % pieces;
        const int32_t j = keys[row];
        unsigned char* destination = tile + row * row_stride + part * piece;
        if constexpr (kVector) {
            uint4 value = make_uint4(0, 0, 0, 0);
            if (j >= 0) value = reinterpret_cast<const uint4*>(source.at(b, kv_head, j))[part];
            *reinterpret_cast<uint4*>(destination) = value;
        } else {
            Raw value = Raw(0);
            if (j >= 0) value = source.at(b, kv_head, j)[part];
            *reinterpret_cast<Raw*>(destination) = value;
        }
    }
}

/** scale · <q, k> over D with 16-byte reads of the gathered row (row_bytes is a multiple of 16). */
template <typename Storage>
__device__ float score_of(const float* q, const unsigned char* key_row, int head_dim, float scale)
{
    using Raw = typename Storage::Raw;
    constexpr int per_piece = 16 / static_cast<int>(sizeof(Raw));
    float dot = 0.0f;
    for (int d = 0; d < head_dim; d += per_piece) {
        const uint4 piece = *reinterpret_cast<const uint4*>(key_row + d * sizeof(Raw));
        const Raw* values = reinterpret_cast<const Raw*>(&piece);
#pragma unroll
        for (int e = 0; e < per_piece; ++e) dot += q[d + e] * Storage::load(values[e]);
    }
    return scale * dot;
}

/** Tree reduction over the kTile entries of each head's group of threads in `reduce`; every thread gets its group's result. */
template <typename Op>
__device__ float group_reduce(float value, float* reduce, Op op)
{
    const int t = threadIdx.x;
    const int lane = t % X::kTile;
    reduce[t] = value;
    __syncthreads();
    for (int half = X::kTile / 2; half > 0; half /= 2) {
        if (lane < half) reduce[t] = op(reduce[t], reduce[t + half]);
        __syncthreads();
    }
    const float result = reduce[t - lane];
    __syncthreads();  // read before the next reduction writes
    return result;
}

struct MaxOp {
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct SumOp {
    __device__ float operator()(float a, float b) const { return a + b; }
};

template <typename Storage, bool kVector>
__global__ void __launch_bounds__(X::kThreads) flux_explicit(ExplicitArgs<typename Storage::Raw> args)
{
    using Raw = typename Storage::Raw;
    extern __shared__ uint4 explicit_shared[];
    const ExplicitShared s =
        carve(reinterpret_cast<unsigned char*>(explicit_shared), args.tiles, args.row_stride, args.heads_per_block,
              args.head_dim);
    const int t = threadIdx.x;
    const int D = args.head_dim;
    const int64_t teams = args.heads / args.span;

    for (int64_t unit = blockIdx.x; unit < args.units; unit += gridDim.x) {
        const int64_t chunk = unit % args.chunks;
        const int64_t team = unit / args.chunks % teams;
        const int64_t r = unit / args.chunks / teams % args.query_len;
        const int64_t b = unit / args.chunks / teams / args.query_len;
        const int64_t h0 = team * args.span + chunk * args.heads_per_block;
        const int64_t left = args.span - chunk * args.heads_per_block;  // heads of the span from h0 on
        const int count = static_cast<int>(left < args.heads_per_block ? left : args.heads_per_block);
        const int64_t kv_head = h0 / args.group;
        const int64_t list_head = args.lists.list_head(h0);

        if (t == 0) *s.any_active = 0;
        __syncthreads();
        if (t < count && (args.active.data == nullptr || *args.active.at(b, h0 + t, r) != 0)) *s.any_active = 1;
        for (int e = t; e < count * D; e += X::kThreads) {
            s.q[e] = Storage::load(args.q.at(b, h0 + e / D, r)[e % D]);
        }
        if (t < count) {
            s.m[t] = -INFINITY;
            s.l[t] = 0.0f;
        }
        __syncthreads();
        const bool compute = *s.any_active != 0;

        float accumulator[X::kMaxOutputs];
#pragma unroll
        for (int u = 0; u < X::kMaxOutputs; ++u) accumulator[u] = 0.0f;

        const int64_t n = compute ? args.lists.length(b, list_head, r) : 0;
        const int32_t* const list = args.lists.list(b, list_head, r);
        for (int64_t base = 0; base < n; base += X::kTile) {
            if (t < X::kTile) {
                const int64_t slot = base + t;
                const int32_t j = slot < n ? list[slot] : -1;
                s.keys[t] = args.lists.counts(j, r) ? j : -1;
            }
            __syncthreads();
            gather_tile<Raw, kVector>(args.k, b, kv_head, s.keys, s.k_tile, args.row_bytes, args.row_stride);
            if (args.tiles == 2) {
                gather_tile<Raw, kVector>(args.v, b, kv_head, s.keys, s.v_tile, args.row_bytes, args.row_stride);
            }
            __syncthreads();

            for (int g0 = 0; g0 < count; g0 += X::kHeadsPerPass) {
                const int g = g0 + t / X::kTile;
                const int key = t % X::kTile;
                const bool mine = g < count;
                const float score = mine && s.keys[key] >= 0
                                        ? score_of<Storage>(s.q + g * D, s.k_tile + key * args.row_stride, D, args.scale)
                                        : -INFINITY;
                const float m_old = mine ? s.m[g] : -INFINITY;
                const float m_new = fmaxf(m_old, group_reduce(score, s.reduce, MaxOp()));
                const float p = score == -INFINITY ? 0.0f : expf(score - m_new);
                const float sum = group_reduce(p, s.reduce, SumOp());
                if (mine) {
                    s.weights[g * X::kTile + key] = p;
                    if (key == 0) {
                        const float rescale = m_old == -INFINITY ? 0.0f : expf(m_old - m_new);
                        s.rescale[g] = rescale;
                        s.l[g] = s.l[g] * rescale + sum;
                        s.m[g] = m_new;
                    }
                }
            }
            __syncthreads();  // weights and factors are complete (and the K tile read)
            if (args.tiles == 1) {  // args-uniform: V over the K tile
                gather_tile<Raw, kVector>(args.v, b, kv_head, s.keys, s.v_tile, args.row_bytes, args.row_stride);
                __syncthreads();
            }

#pragma unroll
            for (int u = 0; u < X::kMaxOutputs; ++u) {
                const int output = t + u * X::kThreads;
                if (output < count * D) {
                    const int g = output / D;
                    const int d = output % D;
                    const float* weights = s.weights + g * X::kTile;
                    float sum = 0.0f;
                    for (int key = 0; key < X::kTile; ++key) {
                        sum += weights[key] * Storage::load(reinterpret_cast<const Raw*>(s.v_tile + key * args.row_stride)[d]);
                    }
                    accumulator[u] = accumulator[u] * s.rescale[g] + sum;
                }
            }
            __syncthreads();  // the next tile rewrites keys, tiles and weights
        }

#pragma unroll
        for (int u = 0; u < X::kMaxOutputs; ++u) {
            const int output = t + u * X::kThreads;
            if (output < count * D) {
                const int g = output / D;
                const int64_t h = h0 + g;
                const bool active = args.active.data == nullptr || *args.active.at(b, h, r) != 0;
                const float l = s.l[g];
                args.o.at(b, h, r)[output % D] = Storage::store(active && l > 0.0f ? accumulator[u] / l : 0.0f);
            }
        }
        if (t < count && args.lse.data != nullptr) {
            const int64_t h = h0 + t;
            const bool active = args.active.data == nullptr || *args.active.at(b, h, r) != 0;
            *args.lse.at(b, h, r) = active && s.l[t] > 0.0f ? s.m[t] + logf(s.l[t]) : -INFINITY;
        }
        __syncthreads();  // m, l and q are rewritten by the next unit
    }
}

/** Query heads a unit takes at head dim D: heads · D outputs over kThreads threads of kMaxOutputs accumulators each. */
int64_t fitting_heads(int64_t head_dim)
{
    return std::min<int64_t>(X::kThreads * X::kMaxOutputs / head_dim, X::kMaxHeadsPerBlock);
}

/** Gathered tiles resident at once: K and V where both fit kSharedBytes beside the rest, else one. */
int resident_tiles(int row_stride, int heads, int head_dim)
{
    return ExplicitShared::bytes(2, row_stride, heads, head_dim) <= X::kSharedBytes ? 2 : 1;
}

/** Whether every K and V row starts on a 16-byte boundary (base and strides), so the gather may copy 16 bytes at a time. */
bool rows_aligned(const TensorRef& tensor, size_t element)
{
    const auto aligned = [](uint64_t bytes) { return bytes % 16 == 0; };
    if (!aligned(reinterpret_cast<uintptr_t>(tensor.data))) return false;
    for (int axis = 0; axis < 3; ++axis) {
        if (!aligned(static_cast<uint64_t>(tensor.strides[axis]) * element)) return false;
    }
    return true;
}

template <typename Storage, bool kVector>
proteus_status launch(const ExplicitArgs<typename Storage::Raw>& args, size_t shared, int multiprocessors,
                      cudaStream_t stream)
{
    const int64_t blocks =
        std::min<int64_t>(args.units, static_cast<int64_t>(std::max(multiprocessors, 1)) * X::kBlocksPerMultiprocessor);
    flux_explicit<Storage, kVector><<<static_cast<unsigned>(blocks), X::kThreads, shared, stream>>>(args);
    return check_launch("flux_explicit");
}

template <typename Storage>
proteus_status run(const FluxProblem& problem, int multiprocessors, cudaStream_t stream)
{
    using Raw = typename Storage::Raw;
    ExplicitArgs<Raw> args;
    args.q = rows_of<const Raw>(problem.q);
    args.k = rows_of<const Raw>(problem.k);
    args.v = rows_of<const Raw>(problem.v);
    args.o = rows_of<Raw>(problem.o);
    if (problem.active.present()) args.active = rows_of<const uint8_t>(problem.active);
    if (problem.lse.present()) args.lse = rows_of<float>(problem.lse);
    args.lists = explicit_lists_of(problem);
    args.heads = problem.heads;
    args.group = problem.heads / problem.kv_heads;
    args.query_len = problem.query_len;
    args.span = problem.lists_per_head ? 1 : args.group;
    args.heads_per_block = static_cast<int>(std::min(args.span, fitting_heads(problem.head_dim)));
    args.chunks = (args.span + args.heads_per_block - 1) / args.heads_per_block;
    args.units = problem.batch * problem.query_len * (problem.heads / args.span) * args.chunks;
    args.head_dim = static_cast<int>(problem.head_dim);
    args.row_bytes = static_cast<int>(problem.head_dim * sizeof(Raw));
    args.row_stride = args.row_bytes + X::kRowPad;
    args.tiles = resident_tiles(args.row_stride, args.heads_per_block, args.head_dim);
    args.scale = problem.scale;
    if (args.units == 0) return PROTEUS_STATUS_OK;
    const size_t shared = ExplicitShared::bytes(args.tiles, args.row_stride, args.heads_per_block, args.head_dim);
    const bool vector = rows_aligned(problem.k, sizeof(Raw)) && rows_aligned(problem.v, sizeof(Raw));
    return vector ? launch<Storage, true>(args, shared, multiprocessors, stream)
                  : launch<Storage, false>(args, shared, multiprocessors, stream);
}

}  // namespace

std::string explicit_kernel_refusal(const FluxProblem& problem)
{
    if (problem.candidates.policy != PROTEUS_POLICY_EXPLICIT) return "the explicit-list kernel takes the explicit policy only";
    if (problem.head_dim > X::kMaxHeadDim) {
        return "the explicit-list kernel supports head dims up to " + std::to_string(X::kMaxHeadDim);
    }
    // 16-byte reads of a gathered row need D · element size to be a multiple of 16.
    const int64_t element = problem.q.dtype == PROTEUS_DTYPE_FLOAT32 ? 4 : 2;
    if (problem.head_dim * element % 16 != 0) {
        return "the explicit-list kernel needs D · element size to be a multiple of 16 bytes";
    }
    // The largest unit at this D, with one resident tile, within the shared memory of a launch without
    // an opt-in (every D of the library fits: float32 at D 256 takes about 38 KiB).
    const int head_dim = static_cast<int>(problem.head_dim);
    const int row_stride = static_cast<int>(problem.head_dim * element) + X::kRowPad;
    const size_t bytes = ExplicitShared::bytes(1, row_stride, static_cast<int>(fitting_heads(head_dim)), head_dim);
    if (bytes > X::kSharedBytes) {
        return "the explicit-list kernel at head dim " + std::to_string(head_dim) + " needs " + std::to_string(bytes) +
               " bytes of shared memory a block, above " + std::to_string(X::kSharedBytes);
    }
    return {};
}

proteus_status launch_flux_explicit(const FluxProblem& problem, int multiprocessors, cudaStream_t stream)
{
    switch (problem.q.dtype) {
    case PROTEUS_DTYPE_FLOAT32: return run<Float32Storage>(problem, multiprocessors, stream);
    case PROTEUS_DTYPE_FLOAT16: return run<Float16Storage>(problem, multiprocessors, stream);
    case PROTEUS_DTYPE_BFLOAT16: return run<BFloat16Storage>(problem, multiprocessors, stream);
    default: break;
    }
    return set_error(PROTEUS_STATUS_UNSUPPORTED_DTYPE, "flux attention takes float32, float16 or bfloat16", "q.dtype");
}

}  // namespace proteus::gpu
