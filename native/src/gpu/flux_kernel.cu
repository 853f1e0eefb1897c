// Flux attention on the GPU (SPEC §2–§3): the entry point, which runs the plan of gpu/flux_dispatch.h,
// and the general row kernel, which computes every policy and dtype. The tensor-core tile kernel
// (gpu/flux_tile_kernel.cu) takes the Aligned float16/bfloat16 problems (K ≤ 256); the row mode
// (gpu/flux_row_mode.cu) masked problems (DNA keys with the Aligned policy only, K ≤ 256); everything
// else runs here. The entry point also builds the DNA candidates of those two (gpu/flux_dna.h), once
// per call.
//
// Algorithm
//   One block of kThreads threads owns one query row (b, h, r) at a time, striding over the B·H·Tq
//   rows of the query slice (SPEC §1: row r is position i = p0 + r; q, o, active and lse are read and
//   written at r, keys and candidates are those of position i). C(i) is enumerated as numbered
//   slots by index arithmetic, so nothing of size T × L exists; the block walks the slots in chunks
//   of kThreads:
//     1. each thread maps its slot to a key j (or to no key) and computes s = scale · <q_i, k_j> in
//        float32 over D;
//     2. the chunk's maximum (a shared-memory tree reduction) updates the running maximum m; each
//        thread forms p = exp(s − m), and a second reduction sums them;
//     3. online softmax: the running sum l and the accumulators o[d] (thread t owns d = t and, for
//        D > kThreads, d = t + kThreads) are scaled by exp(m_old − m) and the chunk's Σ p · v[j][d]
//        is added.
//   Each thread then writes its o[d] / l, rounded to the storage type (RNE), and thread 0 lse = m + log l.
//   An inactive row writes o = 0 and lse = −inf.
//
// The slots of C(i)
//   Aligned, Relative: the window [lo, i] first; then the anchors below lo (Aligned: the multiples of
//   S from aligned_anchors, all ≤ i − W < lo; Relative: max(0, i − s·S) for the suffix of
//   s = 1..relative_anchor_count whose keys fall below lo); then Dna(i), where a slot whose key is
//   also an anchor maps to no key (DNA keys are ≤ i − W, never in the window), so every key counts
//   once. Dna(i) is the top K of salience[b, 0..i − W]: ties go to the larger j and NaN ranks as
//   −inf, as in the CPU reference. A first kernel, one thread per batch row, walks the prefixes
//   p = 0 … p0 + Tq − 1 − W (the last row's) and writes the top-K list of each prefix [0, p] (by
//   insertion into the previous list); it keeps those of the prefixes the slice's rows use
//   (p ≥ max(p0, W) − W), O(B·Tq·K) int32 workspace, and only two lists per batch row before them.
//   Seed (Appendix A): the local range [lo, i] with n = min(W, L, cap_loc); the extras are the
//   distinct anchors max(0, i − s·S), s = 1..min(cap_anc, L, T), and the top min(L, cap_dna, T)
//   salience keys j ≤ i (the same prefix kernel over prefixes ending at i, kept for i ≥ p0). Extras
//   at or above lo are in the range already; those below lo go to the block's scratch slice, keep
//   their first occurrence only, and are written at their rank among the rest, which sorts them.
//   C(i) is then the sorted extras followed by [lo, i], cut to its first L slots.
//
// Synchronisation: no barrier sits inside a loop whose trip count differs between threads; the
// loops around barriers (rows, chunks) depend only on the row, which the whole block shares, so
// every __syncthreads() is reached by every thread. Shared arrays are rewritten only after a
// barrier that follows their last read: each chunk ends with one, and a reduction's last barrier
// follows the read of its result.
#include "gpu/vendor.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "backend.h"
#include "core/candidate_rules.h"
#include "core/numeric.h"
#include "gpu/device_call.h"
#include "gpu/flux_common.h"
#include "gpu/flux_dispatch.h"
#include "gpu/flux_dna.h"
#include "gpu/flux_explicit.h"
#include "gpu/hopper/flux_wgmma.h"
#include "gpu/flux_kernel.h"
#include "gpu/flux_row_mode.h"
#include "gpu/flux_tile_kernel.h"
#include "core/error.h"

namespace proteus::gpu {
namespace {

// Threads per block of the row kernel: a power of two for the tree reductions. Thread t owns the
// output dims t + n·kThreads, n < kDimsPerThread.
constexpr int kThreads = 128;
constexpr int kDimsPerThread = static_cast<int>(kRowKernelMaxHeadDim) / kThreads;
static_assert(kDimsPerThread * kThreads == kRowKernelMaxHeadDim, "the threads own every dim");
// The attention grid is at most this many blocks per multiprocessor; more rows are grid-strided.
// It also sizes the Seed scratch (one slice per block).
constexpr int kBlocksPerMultiprocessor = 16;
// Threads per block of the prefix top-K kernel (one thread per batch row).
constexpr int kPrefixThreads = 64;

// ---- salience and DNA lists -----------------------------------------------------------------------

/** salience [B, T] float32. */
struct Salience {
    const float* data = nullptr;
    int64_t batch = 0, token = 0;

    /** The value that ranks key j: NaN ranks as −inf, as in the CPU reference. */
    __device__ float rank(int64_t b, int64_t j) const
    {
        const float value = data[b * batch + j * token];
        return value != value ? -INFINITY : value;
    }
};

/**
 * The top-`capacity` keys of the prefixes [0, p] of each batch row's salience, best first (the prefix
 * [0, p] has min(capacity, p + 1) of them), kept for the prefixes the query slice's rows use, p in
 * [first, prefixes); the walk over [0, first) keeps only its last two lists (two per batch row).
 */
struct PrefixLists {
    int32_t* keys = nullptr;  // [B, prefixes − first, capacity], then [B, 2, capacity] for the walk before first
    int64_t first = 0;
    int64_t prefixes = 0;
    int64_t capacity = 0;

    /** The list of prefix p, first ≤ p < prefixes. */
    __device__ int32_t* list(int64_t b, int64_t p) const { return keys + (b * (prefixes - first) + p - first) * capacity; }
    /** Where the walk writes the list of prefix p < prefixes. */
    __device__ int32_t* walk_list(int64_t batch, int64_t b, int64_t p) const
    {
        return p >= first ? list(b, p) : keys + (batch * (prefixes - first) + 2 * b + p % 2) * capacity;
    }
    __device__ int64_t length(int64_t p) const { return p + 1 < capacity ? p + 1 : capacity; }
};

// ---- block reductions -----------------------------------------------------------------------------

struct Max {
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

template <typename T>
struct Sum {
    __device__ T operator()(T a, T b) const { return a + b; }
};

/** Combines one value per thread over the block; every thread gets the result. All threads must call it. */
template <typename T, typename Op>
__device__ T block_reduce(T value, T* scratch, Op op)
{
    const int t = threadIdx.x;
    scratch[t] = value;
    __syncthreads();
    for (int half = kThreads / 2; half > 0; half /= 2) {
        if (t < half) scratch[t] = op(scratch[t], scratch[t + half]);
        __syncthreads();
    }
    const T result = scratch[0];
    __syncthreads();  // everyone has read scratch[0] before the next reduction overwrites it
    return result;
}

/** Shared memory a shortlist may use while preparing a row. */
struct BlockScratch {
    int64_t* counts;  // kThreads entries for block_reduce
};

// ---- candidate sets -------------------------------------------------------------------------------

/** Aligned and Relative (SPEC §3): the window, then the anchors below it, then the DNA keys that are not anchors. */
struct FluxShortlist {
    bool aligned = true;
    int64_t window = 0, stride = 0, anchor_count = 0;
    PrefixLists dna;  // prefix p = i − W; capacity 0 when K = 0

    struct Row {
        int64_t i = 0, lo = 0;
        int64_t anchors_begin = 0, anchors_end = 0, size = 0;  // slots
        int64_t first_anchor = 0;  // Aligned: the smallest anchor; Relative: the first s with i − s·S < lo
        const int32_t* dna = nullptr;
    };

    __device__ Row prepare(int64_t b, int64_t i, BlockScratch) const
    {
        Row row;
        row.i = i;
        row.lo = window_start(i, window);
        int64_t anchors = 0;
        if (aligned) {
            const AlignedAnchors found = aligned_anchors(i, window, stride, anchor_count);
            row.first_anchor = found.first;
            anchors = found.count;
        } else {
            const int64_t distinct = relative_anchor_count(i, stride, anchor_count);
            if (distinct > 0 && row.lo > 0) {
                // i − s·S < lo  ⇔  s > (i − lo) / S; the keys decrease with s, so those below lo are a suffix.
                row.first_anchor = (i - row.lo) / stride + 1;
                anchors = row.first_anchor <= distinct ? distinct - row.first_anchor + 1 : 0;
            }
        }
        const int64_t prefix = i - window;  // Dna(i) ranks j ≤ i − W; empty while i < W
        const int64_t dna_keys = dna.capacity > 0 && prefix >= 0 ? dna.length(prefix) : 0;
        if (dna_keys > 0) row.dna = dna.list(b, prefix);
        row.anchors_begin = i - row.lo + 1;
        row.anchors_end = row.anchors_begin + anchors;
        row.size = row.anchors_end + dna_keys;
        return row;
    }

    /** The key of `slot`, or −1 for a DNA key that is an anchor already. */
    __device__ int64_t key(const Row& row, int64_t slot) const
    {
        if (slot < row.anchors_begin) return row.lo + slot;
        if (slot < row.anchors_end) {
            const int64_t a = slot - row.anchors_begin;
            return aligned ? row.first_anchor + a * stride : relative_anchor(row.i, row.first_anchor + a, stride);
        }
        const int64_t j = row.dna[slot - row.anchors_end];
        const bool anchor = aligned ? is_aligned_anchor(j, row.i, window, stride, anchor_count)
                                    : is_relative_anchor(j, row.i, stride, anchor_count);
        return anchor ? -1 : j;
    }
};

/** Seed (SPEC Appendix A): the sorted distinct extras below the local range, then the range, first L kept. */
struct SeedShortlist {
    int64_t local = 1;    // n = min(W, L, cap_loc)
    int64_t stride = 0;
    int64_t anchors = 0;  // min(cap_anc, L, T), 0 when S = 0
    int64_t cap = 1;      // L
    PrefixLists dna;      // prefix p = i; capacity min(L, cap_dna, T)
    int32_t* scratch = nullptr;  // per block: two arrays of `extras` keys
    int64_t extras = 0;          // anchors + dna.capacity

    struct Row {
        int64_t lo = 0;
        int64_t sorted_count = 0;  // distinct extras below lo
        const int32_t* sorted = nullptr;
        int64_t size = 0;
    };

    __device__ Row prepare(int64_t b, int64_t i, BlockScratch block) const
    {
        const int t = threadIdx.x;
        int32_t* const found = scratch + 2 * extras * blockIdx.x;  // the extras below lo, −1 elsewhere
        int32_t* const unique = found + extras;                     // first occurrences only
        Row row;
        row.lo = window_start(i, local);
        const int64_t anchor_keys = relative_anchor_count(i, stride, anchors);  // the distinct ones
        const int64_t dna_keys = dna.capacity > 0 ? dna.length(i) : 0;
        const int32_t* const dna_list = dna_keys > 0 ? dna.list(b, i) : nullptr;
        const int64_t count = anchor_keys + dna_keys;

        for (int64_t a = t; a < count; a += kThreads) {
            const int64_t j = a < anchor_keys ? relative_anchor(i, a + 1, stride) : dna_list[a - anchor_keys];
            found[a] = j < row.lo ? static_cast<int32_t>(j) : -1;
        }
        __syncthreads();
        for (int64_t a = t; a < count; a += kThreads) {
            const int32_t j = found[a];
            bool first = j >= 0;
            for (int64_t c = 0; first && c < a; ++c) first = found[c] != j;
            unique[a] = first ? j : -1;
        }
        __syncthreads();
        // A distinct key's rank among the others is its index in ascending order (found[] is free now).
        int64_t placed = 0;
        for (int64_t a = t; a < count; a += kThreads) {
            const int32_t j = unique[a];
            if (j < 0) continue;
            int64_t rank = 0;
            for (int64_t c = 0; c < count; ++c) rank += unique[c] >= 0 && unique[c] < j;
            found[rank] = j;
            ++placed;
        }
        row.sorted_count = block_reduce(placed, block.counts, Sum<int64_t>());  // its barriers publish found[]
        row.sorted = found;
        const int64_t total = row.sorted_count + (i - row.lo + 1);
        row.size = total < cap ? total : cap;
        return row;
    }

    __device__ int64_t key(const Row& row, int64_t slot) const
    {
        return slot < row.sorted_count ? row.sorted[slot] : row.lo + (slot - row.sorted_count);
    }
};

// ---- kernels --------------------------------------------------------------------------------------

/** One thread per batch row writes the top-K list of every prefix by inserting p into the list of p − 1. */
__global__ void __launch_bounds__(kPrefixThreads) prefix_top_keys(Salience salience, int64_t batch, PrefixLists lists)
{
    const int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (b >= batch) return;
    const int64_t capacity = lists.capacity;
    const int32_t* previous = nullptr;
    for (int64_t p = 0; p < lists.prefixes; ++p) {
        int32_t* const list = lists.walk_list(batch, b, p);
        const int64_t kept = p < capacity ? p : capacity;  // length of the list of [0, p − 1]
        const float value = salience.rank(b, p);
        // Keys of higher salience stay ahead; on a tie p, the larger key, goes first.
        int64_t n = 0;
        for (; n < kept && salience.rank(b, previous[n]) > value; ++n) list[n] = previous[n];
        if (n < capacity) {
            list[n] = static_cast<int32_t>(p);
            for (; n < kept && n + 1 < capacity; ++n) list[n + 1] = previous[n];
        }
        previous = list;
    }
}

template <typename Raw>
struct AttentionArgs {
    Rows<const Raw> q, k, v;
    Rows<Raw> o;
    Rows<const uint8_t> active;  // data null: every row is active
    Rows<float> lse;             // data null: not wanted
    int64_t heads = 0;
    int64_t query_offset = 0;  // p0: row r of q, o, active, lse is position p0 + r
    int64_t query_len = 0;     // Tq
    int64_t rows = 0;          // B·H·Tq
    int head_dim = 0;
    int64_t group = 1;  // query heads per kv head
    float scale = 0.0f;
};

template <typename Storage, typename Shortlist>
__global__ void __launch_bounds__(kThreads)
    flux_rows(AttentionArgs<typename Storage::Raw> args, Shortlist shortlist)
{
    __shared__ float q_row[kRowKernelMaxHeadDim];
    __shared__ float weights[kThreads];
    __shared__ int64_t keys[kThreads];
    __shared__ float reduce_values[kThreads];
    __shared__ int64_t reduce_counts[kThreads];
    const BlockScratch block{reduce_counts};
    const int t = threadIdx.x;
    const int D = args.head_dim;

    for (int64_t row = blockIdx.x; row < args.rows; row += gridDim.x) {
        const int64_t r = row % args.query_len;  // the row of q, o, active, lse
        const int64_t i = args.query_offset + r;  // its position: keys and candidates
        const int64_t h = row / args.query_len % args.heads;
        const int64_t b = row / args.query_len / args.heads;
        const int64_t kv_head = h / args.group;
        typename Storage::Raw* const out = args.o.at(b, h, r);

        if (args.active.data != nullptr && *args.active.at(b, h, r) == 0) {
            for (int d = t; d < D; d += kThreads) out[d] = Storage::store(0.0f);
            if (t == 0 && args.lse.data != nullptr) *args.lse.at(b, h, r) = -INFINITY;
            continue;
        }

        for (int d = t; d < D; d += kThreads) q_row[d] = Storage::load(args.q.at(b, h, r)[d]);
        const typename Shortlist::Row candidates = shortlist.prepare(b, i, block);
        __syncthreads();  // q_row is complete

        // Slot 0 is always a key (the window or the smallest Seed extra), so m is finite after chunk 0.
        float m = -INFINITY;
        float l = 0.0f;
        float accumulator[kDimsPerThread] = {};
        for (int64_t base = 0; base < candidates.size; base += kThreads) {
            const int64_t slot = base + t;
            const int64_t j = slot < candidates.size ? shortlist.key(candidates, slot) : -1;
            float score = -INFINITY;
            if (j >= 0) {
                const typename Storage::Raw* const key_row = args.k.at(b, kv_head, j);
                float dot = 0.0f;
                for (int d = 0; d < D; ++d) dot += q_row[d] * Storage::load(key_row[d]);
                score = args.scale * dot;
            }
            const float m_new = fmaxf(m, block_reduce(score, reduce_values, Max()));
            const float p = j >= 0 ? expf(score - m_new) : 0.0f;
            keys[t] = j;
            weights[t] = p;
            const float chunk_sum = block_reduce(p, reduce_values, Sum<float>());  // also publishes keys, weights
            const float rescale = expf(m - m_new);  // 0 on the first chunk (m = −inf)
            l = l * rescale + chunk_sum;
            const int64_t in_chunk = candidates.size - base < kThreads ? candidates.size - base : kThreads;
            for (int n = 0; n < kDimsPerThread; ++n) {
                const int d = t + n * kThreads;
                if (d >= D) break;
                float sum = 0.0f;
                for (int64_t u = 0; u < in_chunk; ++u) {
                    if (keys[u] >= 0) sum += weights[u] * Storage::load(args.v.at(b, kv_head, keys[u])[d]);
                }
                accumulator[n] = accumulator[n] * rescale + sum;
            }
            m = m_new;
            __syncthreads();  // keys and weights are rewritten by the next chunk
        }

        for (int n = 0; n < kDimsPerThread && t + n * kThreads < D; ++n) {
            out[t + n * kThreads] = Storage::store(accumulator[n] / l);
        }
        if (t == 0 && args.lse.data != nullptr) *args.lse.at(b, h, r) = m + logf(l);
    }
}

// ---- host side ------------------------------------------------------------------------------------

/** a · b · c, or false when it does not fit 64 bits (all ≥ 0). */
bool product(uint64_t a, uint64_t b, uint64_t c, uint64_t& result)
{
    uint64_t ab = 0;
    return !__builtin_mul_overflow(a, b, &ab) && !__builtin_mul_overflow(ab, c, &result);
}

/**
 * Fills `lists` (first, prefixes and capacity already set: the query slice's rows use prefixes
 * [first, prefixes)) for every batch row, on the stream. Memory: (prefixes − first + 2) lists a batch
 * row, so a short slice (one decode step) holds a few lists, not one per position.
 */
proteus_status build_prefix_lists(const FluxProblem& problem, PrefixLists& lists, StreamWorkspace& workspace,
                                  cudaStream_t stream)
{
    if (lists.prefixes <= lists.first || lists.capacity <= 0) {
        lists.capacity = 0;  // no row takes a DNA key
        return PROTEUS_STATUS_OK;
    }
    uint64_t count = 0;
    if (!product(problem.batch, lists.prefixes - lists.first + 2, lists.capacity, count)) {
        return set_out_of_memory("flux DNA lists", UINT64_MAX, 0);
    }
    const proteus_status status = workspace.allocate(count, &lists.keys);
    if (status != PROTEUS_STATUS_OK) return status;
    const Salience salience{static_cast<const float*>(problem.salience.data), problem.salience.strides[0],
                            problem.salience.strides[1]};
    const int64_t blocks = (problem.batch + kPrefixThreads - 1) / kPrefixThreads;
    prefix_top_keys<<<static_cast<unsigned>(blocks), kPrefixThreads, 0, stream>>>(salience, problem.batch, lists);
    return check_launch("prefix_top_keys");
}

template <typename Storage>
AttentionArgs<typename Storage::Raw> attention_args(const FluxProblem& problem)
{
    using Raw = typename Storage::Raw;
    AttentionArgs<Raw> args;
    args.q = rows_of<const Raw>(problem.q);
    args.k = rows_of<const Raw>(problem.k);
    args.v = rows_of<const Raw>(problem.v);
    args.o = rows_of<Raw>(problem.o);
    if (problem.active.present()) args.active = rows_of<const uint8_t>(problem.active);
    if (problem.lse.present()) args.lse = rows_of<float>(problem.lse);
    args.heads = problem.heads;
    args.query_offset = problem.query_offset;
    args.query_len = problem.query_len;
    args.rows = problem.batch * problem.heads * problem.query_len;
    args.head_dim = static_cast<int>(problem.head_dim);
    args.group = problem.heads / problem.kv_heads;
    args.scale = problem.scale;
    return args;
}

template <typename Storage>
proteus_status run(const FluxProblem& problem, int multiprocessors, StreamWorkspace& workspace, cudaStream_t stream)
{
    const AttentionArgs<typename Storage::Raw> args = attention_args<Storage>(problem);
    if (args.rows == 0) return PROTEUS_STATUS_OK;
    const int64_t grid =
        std::min<int64_t>(args.rows, static_cast<int64_t>(std::max(multiprocessors, 1)) * kBlocksPerMultiprocessor);
    const auto blocks = static_cast<unsigned>(grid);

    const int64_t T = problem.seq_len;
    const int64_t p0 = problem.query_offset;
    const int64_t end = last_query_position(problem) + 1;  // p0 + Tq
    if (problem.candidates.policy == PROTEUS_POLICY_SEED) {
        SeedShortlist shortlist;
        shortlist.local = std::min({problem.candidates.window, problem.candidates.seed_cap, problem.candidates.seed_local_cap});
        shortlist.stride = problem.candidates.anchor_stride;
        shortlist.anchors = problem.candidates.anchor_stride > 0 ? std::min({problem.candidates.anchor_count, problem.candidates.seed_cap, T}) : 0;
        shortlist.cap = problem.candidates.seed_cap;
        shortlist.dna.first = p0;  // rows use prefix i
        shortlist.dna.prefixes = end;
        shortlist.dna.capacity = std::min({problem.candidates.seed_cap, problem.candidates.dna_count, T});
        proteus_status status = build_prefix_lists(problem, shortlist.dna, workspace, stream);
        if (status != PROTEUS_STATUS_OK) return status;
        shortlist.extras = shortlist.anchors + shortlist.dna.capacity;
        if (shortlist.extras > 0) {
            status = workspace.allocate(2 * static_cast<uint64_t>(shortlist.extras) * blocks, &shortlist.scratch);
            if (status != PROTEUS_STATUS_OK) return status;
        }
        flux_rows<Storage, SeedShortlist><<<blocks, kThreads, 0, stream>>>(args, shortlist);
    } else {
        FluxShortlist shortlist;
        shortlist.aligned = problem.candidates.policy == PROTEUS_POLICY_ALIGNED;
        shortlist.window = problem.candidates.window;
        shortlist.stride = problem.candidates.anchor_stride;
        shortlist.anchor_count = problem.candidates.anchor_count;
        // Rows at positions i ≥ W use prefix i − W.
        const int64_t W = problem.candidates.window;
        shortlist.dna.first = std::max(p0, W) - W;
        shortlist.dna.prefixes = std::max<int64_t>(end - W, 0);
        shortlist.dna.capacity = std::min(problem.candidates.dna_count, shortlist.dna.prefixes);
        const proteus_status status = build_prefix_lists(problem, shortlist.dna, workspace, stream);
        if (status != PROTEUS_STATUS_OK) return status;
        flux_rows<Storage, FluxShortlist><<<blocks, kThreads, 0, stream>>>(args, shortlist);
    }
    return check_launch("flux_rows");
}

}  // namespace

proteus_status flux_attention(const FluxProblem& problem, const FluxPlan& plan, const DeviceTraits& traits,
                              RowModeKernel row_kernel, Allocator& allocator, cudaStream_t stream)
{
    // Released on the stream behind every launch below, whichever returns.
    StreamWorkspace workspace(allocator);
    // The DNA candidates of the tile kernel and the row mode (empty without DNA keys), built here once:
    // under TILE_OR_ROW_MODE both read the lists of the tile launch's query tiles.
    TileDna dna;
    switch (plan.kernel) {
    case PROTEUS_KERNEL_NONE: return PROTEUS_STATUS_OK;
    case PROTEUS_KERNEL_GPU_TILE: {
        const TileLaunch launch = tile_launch_of(plan.launch);
        const proteus_status status = build_tile_dna(problem, launch.block_q, workspace, stream, dna);
        if (status != PROTEUS_STATUS_OK) return status;
        return tile_attention(problem, launch, dna, Gate{}, stream);
    }
    case PROTEUS_KERNEL_GPU_ROW_MODE: {
        const proteus_status status = build_tile_dna(problem, kRowModeDnaRows, workspace, stream, dna);
        if (status != PROTEUS_STATUS_OK) return status;
        return launch_flux_row_mode(problem, dna, traits.multiprocessors, row_kernel, workspace, stream, nullptr);
    }
    case PROTEUS_KERNEL_GPU_TILE_OR_ROW_MODE: {
        // Both are queued; the row mode's scan writes which one computes, the other returns at entry.
        const TileLaunch launch = tile_launch_of(plan.launch);
        proteus_status status = build_tile_dna(problem, launch.block_q, workspace, stream, dna);
        Gate tile_gate;
        if (status == PROTEUS_STATUS_OK) {
            status = launch_flux_row_mode(problem, dna, traits.multiprocessors, row_kernel, workspace, stream,
                                          &tile_gate);
        }
        if (status != PROTEUS_STATUS_OK) return status;
        return tile_attention(problem, launch, dna, tile_gate, stream);
    }
    case PROTEUS_KERNEL_GPU_EXPLICIT: return launch_flux_explicit(problem, traits.multiprocessors, stream);
    case PROTEUS_KERNEL_GPU_TILE_WGMMA: {
        const proteus_status status = build_tile_dna(problem, wgmma_query_rows(problem), workspace, stream, dna);
        if (status != PROTEUS_STATUS_OK) return status;
        return launch_flux_wgmma(problem, dna, traits, workspace, stream);
    }
    case PROTEUS_KERNEL_GPU_ROW:
        switch (problem.q.dtype) {
        case PROTEUS_DTYPE_FLOAT32: return run<Float32Storage>(problem, traits.multiprocessors, workspace, stream);
        case PROTEUS_DTYPE_FLOAT16: return run<Float16Storage>(problem, traits.multiprocessors, workspace, stream);
        default: return run<BFloat16Storage>(problem, traits.multiprocessors, workspace, stream);
        }
    default: break;
    }
    return set_error(PROTEUS_STATUS_INTERNAL_ERROR, "flux attention: no GPU kernel " + std::to_string(plan.kernel));
}

}  // namespace proteus::gpu
