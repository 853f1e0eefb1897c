// C(i) of requested rows on the GPU (gpu/shortlist_gather.h), the same sets as core/shortlist.cpp's
// ShortlistBuilder, written sorted ascending.
//
// One block of kThreads threads builds one row at a time (a grid-strided loop over the rows asked).
// Every row's candidates are, in ascending order, the extras below the local range [lo, i] and then
// the range itself:
//   - the anchors below lo, ascending by index arithmetic (core/candidate_rules.h): Aligned, the
//     aligned_anchors progression (all ≤ i − W < lo); Relative and Seed, max(0, i − s·S) for the
//     suffix of s = 1..relative_anchor_count whose keys fall below lo, read in decreasing s;
//   - the DNA keys below lo: the top k of salience[b, 0..prefix) (Aligned, Relative: prefix = i − W + 1
//     and k = K; Seed: prefix = i + 1 and k = min(L, cap_dna, T)), ties to the larger j and NaN as
//     −inf. With k ≥ prefix they are the whole prefix; otherwise a radix select over the prefix (four
//     passes of 8 bits over the order-preserving 32-bit image of the salience) finds the k-th best
//     value t, a descending scan the smallest position `cut` among the keys equal to t that still
//     enter, and an ascending scan writes the keys with value > t, or = t and position ≥ cut, in order.
//     Keys that are anchors too count once: F[d] counts the anchors among the first d DNA keys.
// Each extra's place is its rank in the union (anchors: α + #DNA below it − F there; DNA key d:
// #anchors below it + d − F[d]), found by binary search in the two sorted sequences, so they are
// written in parallel without a sort. Seed keeps the first L. K = 0 reads no salience at all.
//
// Synchronisation: the loops that hold barriers (rows, radix passes, scan chunks) have trip counts
// the whole block shares; a chunk scan's decision to stop is block-uniform.
#include "gpu/shortlist_gather.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/candidate_rules.h"
#include "core/error.h"
#include "gpu/device_call.h"
#include "gpu/flux_common.h"

namespace proteus::gpu {
namespace {

constexpr int kThreads = 256;  // a power of two for the scans; also the radix bins
constexpr int kBlocksPerMultiprocessor = 4;
constexpr int kRadixBits = 8;
constexpr int kBins = 1 << kRadixBits;

/** The candidate rules of one policy over one sequence, as gather reads them. */
struct GatherSpec {
    bool aligned = true;           // Aligned anchors; else Relative (Relative and Seed)
    bool seed = false;             // DNA over [0, i], the first `cap` candidates kept
    int64_t width = 1;             // the local range: W, or Seed's n = min(W, L, cap_loc)
    int64_t stride = 0;
    int64_t anchor_count = 0;      // A; Seed: min(cap_anc, L, T) when S > 0, else 0
    int64_t dna_count = 0;         // K; Seed: min(L, cap_dna, T)
    int64_t cap = INT64_MAX;       // Seed: L
};

/** The index arithmetic of row i: its local range, its anchors below lo, its DNA prefix. */
struct RowShape {
    int64_t lo = 0;
    int64_t anchors = 0;       // below lo
    int64_t first = 0;         // Aligned: the smallest anchor
    int64_t distinct = 0;      // Relative: the distinct anchors s = 1..distinct
    int64_t prefix = 0;        // DNA ranks positions [0, prefix)
    int64_t dna = 0;           // DNA keys: min(dna_count, prefix)
    int64_t slots = 0;         // |C(i)| at most: the range, the anchors and the DNA keys (Seed: ≤ cap)
};

PROTEUS_HD RowShape row_shape(const GatherSpec& spec, int64_t i)
{
    RowShape row;
    row.lo = window_start(i, spec.width);
    if (spec.aligned) {
        const AlignedAnchors found = aligned_anchors(i, spec.width, spec.stride, spec.anchor_count);
        row.first = found.first;
        row.anchors = found.count;
    } else {
        row.distinct = relative_anchor_count(i, spec.stride, spec.anchor_count);
        if (row.distinct > 0 && row.lo > 0) {
            // i − s·S < lo  ⇔  s > (i − lo) / S; the keys decrease with s, so those below lo are a suffix.
            const int64_t first_below = (i - row.lo) / spec.stride + 1;
            row.anchors = first_below <= row.distinct ? row.distinct - first_below + 1 : 0;
        }
    }
    row.prefix = spec.seed ? i + 1 : i - spec.width + 1;
    row.dna = row.prefix > 0 ? (spec.dna_count < row.prefix ? spec.dna_count : row.prefix) : 0;
    row.slots = (i - row.lo + 1) + row.anchors + row.dna;
    if (row.slots > spec.cap) row.slots = spec.cap;
    return row;
}

GatherSpec gather_spec(const core::CandidateSpec& candidates, int64_t seq_len)
{
    GatherSpec spec;
    spec.aligned = candidates.policy == PROTEUS_POLICY_ALIGNED;
    spec.seed = candidates.policy == PROTEUS_POLICY_SEED;
    spec.stride = candidates.anchor_stride;
    if (spec.seed) {
        spec.width = std::min({candidates.window, candidates.seed_cap, candidates.seed_local_cap});
        spec.anchor_count = candidates.anchor_stride > 0 ? std::min({candidates.anchor_count, candidates.seed_cap, seq_len}) : 0;
        spec.dna_count = std::min({candidates.seed_cap, candidates.dna_count, seq_len});
        spec.cap = candidates.seed_cap;
    } else {
        spec.width = candidates.window;
        spec.anchor_count = candidates.anchor_count;
        spec.dna_count = candidates.dna_count;
    }
    return spec;
}

struct GatherArgs {
    GatherSpec spec;
    const float* salience = nullptr;  // the batch row's first value; null when no row takes a DNA key
    int64_t salience_token = 0;       // stride in elements
    const int64_t* rows = nullptr;    // [row_count]
    const int64_t* offsets = nullptr;  // [row_count]: where each row's candidates begin in `out`
    const int64_t* scratch_offsets = nullptr;  // [row_count]: each row's DNA keys and counts in `scratch`
    int64_t row_count = 0;
    int64_t* out = nullptr;
    int64_t* lengths = nullptr;  // [row_count]
    int64_t* scratch = nullptr;
};

/** The order-preserving image of a salience value: NaN as −inf, −0 as +0 (they tie). */
__device__ __forceinline__ uint32_t ordered(float value)
{
    if (value != value) value = -INFINITY;
    if (value == 0.0f) value = 0.0f;
    const uint32_t bits = __float_as_uint(value);
    return (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
}

/** Entries of the ascending `list[0, count)` below x. */
__device__ int64_t count_below(const int64_t* list, int64_t count, int64_t x)
{
    int64_t low = 0, high = count;
    while (low < high) {
        const int64_t middle = low + (high - low) / 2;
        if (list[middle] < x) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

/** Anchor α (ascending, α < row.anchors) of row i. */
__device__ int64_t anchor_at(const GatherSpec& spec, const RowShape& row, int64_t i, int64_t alpha)
{
    return spec.aligned ? row.first + alpha * spec.stride : relative_anchor(i, row.distinct - alpha, spec.stride);
}

/** Anchors of row i below x (all of them lie below lo). */
__device__ int64_t anchors_below(const GatherSpec& spec, const RowShape& row, int64_t i, int64_t x)
{
    int64_t low = 0, high = row.anchors;
    while (low < high) {
        const int64_t middle = low + (high - low) / 2;
        if (anchor_at(spec, row, i, middle) < x) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

__device__ bool is_anchor(const GatherSpec& spec, int64_t i, int64_t j)
{
    return spec.aligned ? is_aligned_anchor(j, i, spec.width, spec.stride, spec.anchor_count)
                        : is_relative_anchor(j, i, spec.stride, spec.anchor_count);
}

struct SelectShared {
    unsigned long long histogram[kBins];
    int64_t scan[kThreads];
    uint32_t prefix;
    int64_t need;
    int64_t cut;
};

/** Writes the row's DNA keys, ascending, to dna[0, row.dna). Every thread calls it; it ends on a barrier. */
__device__ void select_dna(const GatherArgs& args, const RowShape& row, int64_t* dna, SelectShared& shared)
{
    const int t = threadIdx.x;
    const int64_t n = row.prefix;
    const int64_t k = row.dna;
    if (k == 0) return;
    if (k == n) {  // the whole prefix
        for (int64_t j = t; j < n; j += kThreads) dna[j] = j;
        __syncthreads();
        return;
    }
    const auto value = [&](int64_t j) { return ordered(args.salience[j * args.salience_token]); };

    // The k-th best value t: 8 bits a pass, most significant first, among the values matching so far.
    uint32_t prefix = 0;
    uint32_t mask = 0;
    int64_t need = k;  // keys still to take at or below the bins decided
    for (int shift = 32 - kRadixBits; shift >= 0; shift -= kRadixBits) {
        for (int b = t; b < kBins; b += kThreads) shared.histogram[b] = 0;
        __syncthreads();
        for (int64_t j = t; j < n; j += kThreads) {
            const uint32_t u = value(j);
            if ((u & mask) == prefix) atomicAdd(&shared.histogram[(u >> shift) & (kBins - 1)], 1ull);
        }
        __syncthreads();
        if (t == 0) {
            int64_t above = 0;
            int bin = kBins - 1;
            for (; bin > 0; --bin) {
                const auto here = static_cast<int64_t>(shared.histogram[bin]);
                if (above + here >= need) break;
                above += here;
            }
            shared.prefix = prefix | (static_cast<uint32_t>(bin) << shift);
            shared.need = need - above;
        }
        __syncthreads();
        prefix = shared.prefix;
        need = shared.need;
        mask |= static_cast<uint32_t>(kBins - 1) << shift;
    }
    const uint32_t threshold = prefix;  // `need` ≥ 1 keys of this value enter: the largest positions

    // The need-th largest position holding the threshold value.
    int64_t taken = 0;
    for (int64_t top = n; top > 0; top -= kThreads) {
        const int64_t j = top - 1 - t;
        const bool equal = j >= 0 && value(j) == threshold;
        int64_t total = 0;
        const int64_t before = block_exclusive_scan<kThreads>(equal ? 1 : 0, shared.scan, total);
        if (taken + total >= need) {  // block-uniform
            if (equal && taken + before + 1 == need) shared.cut = j;
            __syncthreads();
            break;
        }
        taken += total;
    }
    const int64_t cut = shared.cut;

    int64_t placed = 0;
    for (int64_t base = 0; base < n; base += kThreads) {
        const int64_t j = base + t;
        bool selected = false;
        if (j < n) {
            const uint32_t u = value(j);
            selected = u > threshold || (u == threshold && j >= cut);
        }
        int64_t total = 0;
        const int64_t before = block_exclusive_scan<kThreads>(selected ? 1 : 0, shared.scan, total);
        if (selected) dna[placed + before] = j;
        placed += total;
    }
    __syncthreads();  // dna[] is complete
}

__global__ void __launch_bounds__(kThreads) gather_rows(const GatherArgs args)
{
    __shared__ SelectShared shared;
    const int t = threadIdx.x;
    for (int64_t r = blockIdx.x; r < args.row_count; r += gridDim.x) {
        const int64_t i = args.rows[r];
        const RowShape row = row_shape(args.spec, i);
        int64_t* const dna = args.scratch + args.scratch_offsets[r];
        int64_t* const anchors_before = dna + row.dna;  // F[0, below]: anchors among the first d DNA keys
        select_dna(args, row, dna, shared);
        // DNA keys at or above lo lie in the local range already (Seed only: the others rank j ≤ i − W < lo).
        const int64_t below = count_below(dna, row.dna, row.lo);

        int64_t counted = 0;
        for (int64_t base = 0; base < below; base += kThreads) {
            const int64_t d = base + t;
            const bool anchor = d < below && is_anchor(args.spec, i, dna[d]);
            int64_t total = 0;
            const int64_t before = block_exclusive_scan<kThreads>(anchor ? 1 : 0, shared.scan, total);
            if (d < below) anchors_before[d] = counted + before;
            counted += total;
        }
        if (t == 0) anchors_before[below] = counted;
        __syncthreads();  // anchors_before[] is complete

        const int64_t extras = row.anchors + below - counted;
        const int64_t range = i - row.lo + 1;
        const int64_t length = extras + range < args.spec.cap ? extras + range : args.spec.cap;
        int64_t* const out = args.out + args.offsets[r];
        for (int64_t a = t; a < row.anchors; a += kThreads) {
            const int64_t x = anchor_at(args.spec, row, i, a);
            const int64_t d = count_below(dna, below, x);
            const int64_t rank = a + d - anchors_before[d];
            if (rank < length) out[rank] = x;
        }
        for (int64_t d = t; d < below; d += kThreads) {
            const int64_t x = dna[d];
            if (is_anchor(args.spec, i, x)) continue;
            const int64_t rank = anchors_below(args.spec, row, i, x) + d - anchors_before[d];
            if (rank < length) out[rank] = x;
        }
        for (int64_t q = t; extras + q < length; q += kThreads) out[extras + q] = row.lo + q;
        if (t == 0) args.lengths[r] = length;
        __syncthreads();  // the shared state and scratch are reused by the block's next row
    }
}

}  // namespace

proteus_status shortlist_gather(const GatherProblem& problem, Allocator& allocator, int multiprocessors,
                                cudaStream_t stream)
{
    if (problem.row_count == 0) return PROTEUS_STATUS_OK;
    const GatherSpec spec = gather_spec(problem.candidates, problem.seq_len);
    const auto count = static_cast<size_t>(problem.row_count);
    // One upload: the rows, where each row's candidates begin, where its DNA scratch begins.
    std::vector<int64_t> index(3 * count);
    int64_t* const rows = index.data();
    int64_t* const offsets = rows + count;
    int64_t* const scratch_offsets = offsets + count;
    std::copy(problem.rows, problem.rows + count, rows);
    int64_t slots = 0;
    int64_t scratch = 0;
    for (size_t r = 0; r < count; ++r) {
        const RowShape row = row_shape(spec, rows[r]);
        offsets[r] = slots;
        scratch_offsets[r] = scratch;
        if (__builtin_add_overflow(slots, row.slots, &slots) || __builtin_add_overflow(scratch, 2 * row.dna + 1, &scratch)) {
            return set_out_of_memory("shortlist gather workspace", UINT64_MAX, 0);
        }
    }

    StreamWorkspace workspace(allocator);
    GatherArgs args;
    int64_t* device_index = nullptr;
    proteus_status status = workspace.allocate(index.size(), &device_index);
    if (status == PROTEUS_STATUS_OK) status = workspace.allocate(static_cast<uint64_t>(slots), &args.out);
    if (status == PROTEUS_STATUS_OK) status = workspace.allocate(count, &args.lengths);
    if (status == PROTEUS_STATUS_OK) status = workspace.allocate(static_cast<uint64_t>(scratch), &args.scratch);
    if (status != PROTEUS_STATUS_OK) return status;
    PROTEUS_GPU_CHECK(cudaMemcpyAsync(device_index, index.data(), index.size() * sizeof(int64_t), cudaMemcpyHostToDevice,
                                      stream),
                      "MemcpyAsync");
    args.spec = spec;
    if (problem.salience.present()) {
        args.salience = static_cast<const float*>(problem.salience.data) + problem.batch * problem.salience.strides[0];
        args.salience_token = problem.salience.strides[1];
    }
    args.rows = device_index;
    args.offsets = device_index + count;
    args.scratch_offsets = device_index + 2 * count;
    args.row_count = problem.row_count;
    const int64_t grid =
        std::min<int64_t>(problem.row_count, static_cast<int64_t>(std::max(multiprocessors, 1)) * kBlocksPerMultiprocessor);
    gather_rows<<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(args);
    status = check_launch("gather_rows");
    if (status != PROTEUS_STATUS_OK) return status;

    std::vector<int64_t> found(static_cast<size_t>(slots));
    PROTEUS_GPU_CHECK(cudaMemcpyAsync(found.data(), args.out, found.size() * sizeof(int64_t), cudaMemcpyDeviceToHost, stream),
                      "MemcpyAsync");
    PROTEUS_GPU_CHECK(cudaMemcpyAsync(problem.lengths, args.lengths, count * sizeof(int64_t), cudaMemcpyDeviceToHost, stream),
                      "MemcpyAsync");
    // The one wait: the host arrays are written when this call returns.
    PROTEUS_GPU_CHECK(cudaStreamSynchronize(stream), "StreamSynchronize");
    for (size_t r = 0; r < count; ++r) {
        const int64_t* const first = found.data() + offsets[r];
        std::copy(first, first + problem.lengths[r], problem.indices + static_cast<int64_t>(r) * problem.capacity);
    }
    return PROTEUS_STATUS_OK;
}

}  // namespace proteus::gpu
