// The Hopper tile kernel (issue 12, version 2): the Aligned policy's three segments — the window band
// (dense causal when W ≥ T), the aligned anchors and the DNA list — in bfloat16 or float16, D 8 … 128 (as
// 64 or 128 columns, the rest zero), GQA, query slices and the active mask, on warpgroup matrix
// instructions fed by the bulk tensor copy engine. Compiled only for sm_90a (-gencode=arch=compute_90a,
// code=sm_90a, a CUDA ≥ 12 compiler): see gpu/hopper/flux_wgmma.h.
//
// Work items: 64 query rows per consumer warpgroup of one (b, h) — at D 64 three consumers (192 rows, 160
// registers each after setmaxnreg; four at 112 for short windows and for anchors without DNA lists), two at D 128
// (128 rows, 232) — in longest-first order (item x: query tile x / (B·H) counted from the last, of the (b, h) pair
// x % (B·H); head by head where long bands' keys outgrow the L2). Warpgroup 0 is the producer. An item's key
// tiles (128 keys each; 64 for the persistent kernels at D ≤ 64: narrow_consumers) are its anchors (the union
// of its rows' anchors, keys a·S, copied as consecutive rows of a tensor map whose row stride is S tokens), then its DNA list (gpu/flux_dna.h:
// rows gathered by the producer's warps 1–3 with cp.async into the same swizzled layout; each entry's rank
// key, key and anchor index beside the stage, copied by the bulk copy engine from a table that fill_entries
// writes before the kernel), then the band [window_start(first row), last row].
//
// Dense and long-window problems launch one block per item (the hardware balances the causal triangle);
// short windows, where an item is a few microseconds of work, launch one block per SM that walks the
// items (persistent): the producer then loads the next item's Q (two Q buffers at D 64) and first tiles
// while the consumers finish the current one, so that neither the copies' latency nor the epilogue
// leaves the tensor cores idle between items. The 64-key kernels (D <= 64) stage O in shared memory and
// store it by the tensor copy engine (kStoreO); those with one producer thread (all but the DNA kernel)
// take their items from a counter (kDynamic). The 128-key persistent kernels (D 128) take every
// gridDim.x-th item and store O from registers.
//
// Pipeline: Q arrives per item on q_full[buffer] and is released on q_empty[buffer] (one arrival per
// consumer warp); K and V tiles pass through a ring of stages (four at D 64, eight of 64 keys there on
// 64-key tiles, three at D 128, two for the DNA kernel at D 128): the producer waits until every consumer warp released a stage (mbarrier `empty`),
// then fills it, K and V completing one mbarrier (`full`; S(n) waits for it, and P(n)·V(n) runs a step later, so that
// V needs no wait of its own). The ring counter runs across items, so stage and phase follow from it alone.
//
// A consumer warpgroup runs only the tiles its own 64 rows reach (the others it releases unread) and
// overlaps its softmax with the tensor cores: in step n it issues S(n) = Q·K(n)ᵀ (m64n128k16, m64n64k16 on
// 64-key tiles, from shared memory, D/16 of them) and O += P(m)·V(m) for the tile m it ran before (P from registers, V read
// MN-major: m64n64k16 at D 64, one m64n128k16 at D 128) as two commit groups, waits for the first, and
// computes the mask and the online softmax of S(n) while P(m)·V(m) still runs; then it waits for that,
// releases m's stage, rescales O and rounds P(n). Where it skips a tile it first finishes P(m)·V(m) (a
// held stage could otherwise be the one the producer needs next). Masks: band tiles only where they cross
// a row's causal or window edge (a consumer's last band tile, where its rows take at most its first 32 keys, as an
// m64n32 step of its own after the step loop: the 64-key kernels); anchor tiles by each row's anchor range; DNA tiles by each entry's test
// (key ≤ i − W, rank key ≥ the row's threshold, not one of the row's anchors). At D 64 from W 1024 on
// (dense included, band only) the consumers issue their products in turns (ping-pong, named barriers).
// Shared memory is in the 128-byte swizzled layout that the copies write and the descriptors name
// (tests/gpu/hopper_probe.cu checks each piece against the host).
#include "gpu/hopper/flux_wgmma.h"

#include "gpu/hopper/wgmma.h"

#include <cuda.h>
#include <cudaTypedefs.h>

#include <algorithm>
#include <cfloat>
#include <cstdint>
#include <string>

#include "core/candidate_rules.h"
#include "core/error.h"
#include "core/fast_divide.h"
#include "gpu/device_call.h"
#include "gpu/flux_common.h"

namespace proteus::gpu {
namespace {

using namespace hopper;

constexpr int kKeys = 128;                     // keys of a tile (the default; kTileKeys 64 at D 64 for short windows)
// Consumer warpgroups at D ≤ 64 and at D 128 (every segment): they fix a work item's rows, and so the query tiles
// the DNA lists are built for (wgmma_query_rows), which must follow them.
constexpr int kConsumers64 = 3;
constexpr int kConsumers128 = 2;
constexpr int kConsumerRows = 64;              // rows of a consumer warpgroup
constexpr int64_t kPersistentWindow = 1024;    // below this window a block per SM walks the items
constexpr int kProducerBarrier = 8;            // named barrier of the producer's gathering warps (DNA)
constexpr int kGatherThreads = 96;            // the producer's warps 1 … 3 gather the DNA tiles
// The empty anchor range [2^30, −2^30]: anchor indices stay below 2^30, and the masks subtract a tile's first
// anchor index from the bounds without overflow.
constexpr int32_t kNoAnchors = 1 << 30;

/** Which segments the kernel runs: the band alone, anchors too, or anchors and the DNA list. */
enum class Segments { kBand, kAnchors, kDna };

/**
 * The launch shape and the block's shared memory: the Q buffers, the stages' K and V (D/64 swizzled
 * [rows][64] sub-tiles each), with DNA each stage's entries (rank key, key, anchor index), then the barriers.
 */
template <int kDim, int kConsumerCount, int kStageCount, int kQBufferCount, Segments kSegments, int kTileKeyCount = kKeys>
struct Shape {
    static constexpr int kTileKeys = kTileKeyCount;  // keys of a tile: 128, or 64 (D 64, short windows)
    static constexpr int kConsumers = kConsumerCount;
    static constexpr int kRows = kConsumers * kConsumerRows;
    static constexpr int kThreads = 128 * (kConsumers + 1);
    static constexpr int kStages = kStageCount;
    static constexpr int kQBuffers = kQBufferCount;
    // 65 536 registers: 128 producer threads at the low count, the consumers at the high one.
    // Four consumers: the block's 640 threads start at 96 registers (65 536 / 640, in steps of 8), and the pool that
    // setmaxnreg.inc draws from is what the producer gives back: 128 · (96 − 24) / 512 = 18 more a consumer.
    static constexpr int kProducerRegisters = kConsumers == 4 ? 24 : kConsumers == 3 ? 32 : 40;
    static constexpr int kConsumerRegisters = kConsumers == 4 ? 112 : kConsumers == 3 ? 160 : 232;
    static constexpr int kSub = kDim / 64;
    static constexpr int kSubtileBytes = kTileKeys * 128;  // [kTileKeys keys][64 columns] of 16-bit values
    static constexpr int kQBytes = kSub * kRows * 128;
    static constexpr int kTileBytes = kSub * kSubtileBytes;  // K or V of one stage
    static constexpr int kEntryBytes = kSegments == Segments::kDna ? kTileKeys * 16 : 0;  // u64 rank key, i32 key, i32 anchor
    static constexpr int kEntries = kQBuffers * kQBytes + 2 * kStages * kTileBytes;
    // Every row's anchor range (kAnchors, kDna: int2) and DNA threshold (kDna: uint64_t).
    static constexpr int kRanges = kEntries + kStages * kEntryBytes;
    // Each warp's common anchor range (int2: the anchors every one of its rows takes), then the DNA thresholds.
    static constexpr int kWarpRanges = kRanges + (kSegments != Segments::kBand ? kRows * 8 : 0);
    static constexpr int kThresholds = kWarpRanges + (kSegments != Segments::kBand ? kConsumers * 4 * 8 : 0);
    static constexpr int kBarriers = kThresholds + (kSegments == Segments::kDna ? kRows * 8 : 0);
    // The barriers: q_full, q_empty, full, empty, item_full; then the item slots (int, kDynamic).
    static constexpr int kBytes = kBarriers + 8 * (3 * kQBuffers + 2 * kStages) + 4 * kQBuffers + 1024;  // + alignment slack
    // The 64-key kernels (D <= 64) store O by the tensor copy engine (kStoreO) and, but for the DNA kernel (four producer
    // threads would have to share the taken index), take their items from a counter (kDynamic): see flux_wgmma.
    static constexpr bool kStoreO = kTileKeys == 64;
    static constexpr bool kDynamic = kTileKeys == 64 && kSegments != Segments::kDna;
};

/** A DNA list entry beside its stage: the rank key (0: no entry), the key (INT32_MAX: none) and its anchor index (−1: not a multiple of S). */
struct Entry {
    uint64_t rank;
    int32_t key;
    int32_t anchor;
};

struct WgmmaArgs {
    int64_t query_len = 0, query_offset = 0;
    int32_t window = 0;  // ≤ T
    int32_t anchor_stride = 1, anchor_count = 0;
    int heads = 0, group = 1, query_tiles = 0, pairs = 0, items = 0;  // pairs: B · H
    int head_dim = 0;
    float scale_log2 = 0.0f;  // softmax scale · log2(e)
    void* o = nullptr;
    int64_t o_batch = 0, o_head = 0, o_token = 0;
    float* lse = nullptr;
    int64_t lse_batch = 0, lse_head = 0, lse_token = 0;
    const uint8_t* active = nullptr;
    int64_t active_batch = 0, active_head = 0, active_token = 0;
    // The DNA gathers (kDna): K and V rows by key, and the lists of gpu/flux_dna.h for query tiles of kRows rows.
    const uint16_t* k = nullptr;
    const uint16_t* v = nullptr;
    int64_t k_batch = 0, k_head = 0, k_token = 0, v_batch = 0, v_head = 0, v_token = 0;
    TileDna dna;
    // Each list's entries (kDna; fill_entries): entry_slots a list, the slots past its count empty.
    const Entry* entries = nullptr;
    int32_t entry_slots = 0;
    // The item decode's divisors (core/fast_divide.h): B·H, H, the GQA group, the query tiles, S, and the grid's blocks.
    FastDivide pairs_divide, heads_divide, group_divide, tiles_divide, stride_divide, blocks_divide;
    // The items' counter of the dynamic walk (kDynamic): zero before the launch; a block's producer takes its next item
    // as gridDim.x + the counter's old value.
    int* item_counter = nullptr;
};

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define PROTEUS_WGMMA_DEVICE 1
#endif

#if defined(PROTEUS_WGMMA_DEVICE)
/** What the producer and the consumers both derive from an item's index. */
struct Item {
    int b = 0, h = 0, kv_head = 0;
    int32_t first_row = 0;                          // the slice's row of the item's first position
    int32_t first_position = 0, last_position = 0;  // [first, last] of the slice
    int32_t band_first = 0;                         // first key of the band's first tile: window_start(first position)
    int band_tiles = 0;
    int32_t anchor_base = 0;                        // anchor index (key / S) of the first anchor tile's row 0
    int anchor_tiles = 0;
    int32_t dna_count = 0;
    int dna_tiles = 0;
    const uint64_t* dna_list = nullptr;
    const Entry* dna_entries = nullptr;  // the list's entries (kDna): copied beside each DNA tile's stage

    __device__ int extra_tiles() const { return anchor_tiles + dna_tiles; }
    __device__ int tiles() const { return extra_tiles() + band_tiles; }
};

/**
 * Row i's aligned anchors (candidate_rules.h) as anchor indices key / S, [x, y] (empty: x > y), in 32-bit
 * arithmetic (positions stay below 2^30, wgmma_kernel_refusal): an item's set-up runs once per item on every
 * consumer thread, and a 64-bit division there costs as much as a tile's softmax.
 */
__device__ __forceinline__ int2 anchor_range(int32_t i, const WgmmaArgs& args)
{
    const int32_t limit = i - args.window;
    if (args.anchor_count <= 0 || limit < 0) return {kNoAnchors, -kNoAnchors};
    const int32_t last = static_cast<int32_t>(args.stride_divide.quotient(static_cast<uint32_t>(limit)));
    const int32_t count = last + 1 < args.anchor_count ? last + 1 : args.anchor_count;
    return {last - count + 1, last};
}

/**
 * Item x's (b, h) pair: query tile by query tile across the pairs (x % (B·H)); kHeadMajor (head_by_head: long
 * causal bands whose keys outgrow the L2): head by head (x / query tiles), so that the blocks in flight read one or
 * two heads' keys and values, which then stay in L2, instead of every head's.
 */
template <bool kHeadMajor>
__device__ __forceinline__ int pair_of(const WgmmaArgs& args, int index)
{
    const uint32_t x = static_cast<uint32_t>(index);
    return static_cast<int>(kHeadMajor ? args.tiles_divide.quotient(x) : args.pairs_divide.remainder(x));
}

/** Item x's query tile, the longest first (counted from the last). */
template <bool kHeadMajor>
__device__ __forceinline__ int query_tile_of(const WgmmaArgs& args, int index)
{
    const uint32_t x = static_cast<uint32_t>(index);
    return args.query_tiles - 1 - static_cast<int>(kHeadMajor ? args.tiles_divide.remainder(x) : args.pairs_divide.quotient(x));
}

template <int kRows, Segments kSegments, int kTileKeys, bool kHeadMajor>
__device__ __forceinline__ Item decode(const WgmmaArgs& args, int index)
{
    Item w;
    const int pair = pair_of<kHeadMajor>(args, index);
    const int tile = query_tile_of<kHeadMajor>(args, index);
    w.h = static_cast<int>(args.heads_divide.remainder(static_cast<uint32_t>(pair)));
    w.b = static_cast<int>(args.heads_divide.quotient(static_cast<uint32_t>(pair)));
    w.kv_head = static_cast<int>(args.group_divide.quotient(static_cast<uint32_t>(w.h)));
    w.first_row = tile * kRows;
    const int64_t rows = args.query_len - w.first_row < kRows ? args.query_len - w.first_row : kRows;
    w.first_position = static_cast<int32_t>(args.query_offset + w.first_row);
    w.last_position = static_cast<int32_t>(w.first_position + rows - 1);
    const int32_t lo = static_cast<int32_t>(window_start(w.first_position, args.window));
    // The band's tiles start at the item's first window key (not a multiple of kTileKeys): a consumer's 64 rows then
    // reach ⌈(63 + W) / kTileKeys⌉ tiles, never one more for where the window happens to begin.
    w.band_first = lo;
    w.band_tiles = (w.last_position - lo) / kTileKeys + 1;
    if constexpr (kSegments != Segments::kBand) {
        // Anchor indices only grow with the row: the union of the rows' anchors is [first row's low, last row's high].
        const int32_t first_anchored = w.first_position > args.window ? w.first_position : args.window;
        if (first_anchored <= w.last_position) {
            const int2 first = anchor_range(first_anchored, args), last = anchor_range(w.last_position, args);
            if (first.x <= last.y) {
                w.anchor_base = first.x;
                w.anchor_tiles = (last.y - first.x) / kTileKeys + 1;
            }
        }
    }
    if constexpr (kSegments == Segments::kDna) {
        if (w.last_position >= args.window) {
            const int64_t list = int64_t{w.b} * args.dna.query_tiles + tile;
            w.dna_list = args.dna.lists + list * args.dna.capacity;
            w.dna_entries = args.entries + list * args.entry_slots;
            w.dna_count = args.dna.counts[list];
            w.dna_tiles = (w.dna_count + kTileKeys - 1) / kTileKeys;
        }
    }
    return w;
}

/** threadIdx.x read anew where it is used (an asm volatile is not hoisted out of loops: no value to keep alive across them). */
__device__ __forceinline__ uint32_t fresh_thread_index()
{
    uint32_t index;
    asm volatile("mov.u32 %0, %%tid.x;\n" : "=r"(index));
    return index;
}

/**
 * The count of item `index` in this block (items blockIdx.x, + gridDim.x, …; `blocks` divides by gridDim.x), from a
 * fresh read of the block index: the compiler can neither hoist nor reuse it, so that no count or Q buffer index stays alive across the
 * step loop (the four-consumer kernels have no register for one there and spilled it).
 */
__device__ __forceinline__ int fresh_item_count(int index, const FastDivide& blocks)
{
    uint32_t block;
    asm volatile("mov.u32 %0, %%ctaid.x;\n" : "=r"(block));
    return static_cast<int>(blocks.quotient(static_cast<uint32_t>(index) - block));
}

/** The row slot (rows_ranges, row_thresholds) that consumer thread `thread` (t = lane % 4 < 2) writes: row g + 8t of its warp. */
__device__ __forceinline__ int row_slot(uint32_t thread)
{
    const uint32_t lane = thread % 32;
    return static_cast<int>((thread / 32 - 4) * 16 + lane / 4 + 8 * (lane % 4));
}

/** A consumer thread's online-softmax state: its two rows' running max (raw scores) and partial sums. */
struct RowState {
    float m[2] = {-INFINITY, -INFINITY};
    float l[2] = {0.0f, 0.0f};
};

/** Column of S value 4c + e of this thread (t = lane % 4) within its tile. */
__device__ __forceinline__ int column_of(int c, int e, int t) { return 8 * c + 2 * t + e % 2; }

/**
 * s = 2^(s·scale − base of its row) in place, and this thread's sum of each row's new values: four partial sums a row (by
 * c % 2 and e % 2, each from its first value), chains of 8 dependent additions instead of 32.
 */
template <int kValues>
__device__ __forceinline__ void exp_and_sum(float (&s)[kValues], const float (&base)[2], float scale_log2, float (&sum)[2])
{
    float part_sum[2][4];
#pragma unroll
    for (int c = 0; c < kValues / 4; ++c) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            s[4 * c + e] = exp2_approx(fmaf(s[4 * c + e], scale_log2, -base[e / 2]));
            float& part = part_sum[e / 2][2 * (c % 2) + e % 2];
            part = c < 2 ? s[4 * c + e] : part + s[4 * c + e];
        }
    }
#pragma unroll
    for (int k = 0; k < 2; ++k) sum[k] = (part_sum[k][0] + part_sum[k][1]) + (part_sum[k][2] + part_sum[k][3]);
}

/**
 * The softmax step of one tile on S (64 × kTileKeys, this thread's kValues values, masked keys at −inf): moves the
 * running max, turns S into exp2 of the scaled scores (P, in float), adds them to l and returns each row's
 * rescale factor for O (0 while the row has seen no key).
 *
 * kLazy: the running max moves only where the tile's max exceeds it by more than kLazyLog2 in exp2 units (and on a
 * row's first keys); else the row keeps it and its rescale factor is exactly 1, so that O's rescaling is skipped
 * where a warp's 16 rows all keep theirs. P then lies in [0, 2^kLazyLog2]; O, l and the log-sum-exp all refer to the
 * same kept max, so the result is the same quotient (the idea of FlashAttention 4's conditional rescaling).
 */
constexpr float kLazyLog2 = 8.0f;

template <int kValues, bool kLazy>
__device__ __forceinline__ void softmax_step(float (&s)[kValues], RowState& state, float (&rescale)[2], float scale_log2,
                                             float shift = 0.0f)
{
    // Four partial maxima a row (by c % 2 and e % 2; the sums likewise, exp_and_sum): chains of 8 dependent operations
    // instead of 32, as warps stall mostly on such dependencies here (the profile of version 2: "wait" is the largest stall).
    // Each starts from its first value (blocks c 0 and 1), not from −inf or 0: 16 instructions a step fewer.
    static_assert(kValues % 8 == 0, "whole pairs of 8-column blocks");
    float part_max[2][4];
#pragma unroll
    for (int e = 0; e < 8; ++e) part_max[(e % 4) / 2][2 * (e / 4) + e % 2] = s[e];
#pragma unroll
    for (int c = 2; c < kValues / 4; ++c) {
#pragma unroll
        for (int e = 0; e < 4; ++e) part_max[e / 2][2 * (c % 2) + e % 2] = fmaxf(part_max[e / 2][2 * (c % 2) + e % 2], s[4 * c + e]);
    }
    float base[2];
#pragma unroll
    for (int k = 0; k < 2; ++k) {
        float tile_max = fmaxf(fmaxf(part_max[k][0], part_max[k][1]), fmaxf(part_max[k][2], part_max[k][3]));
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
        float m_new = fmaxf(state.m[k], tile_max);
        // (m_new − m)·scale: +inf on a row's first keys (m −inf), NaN while both are −inf (then nothing moves).
        const bool move = !kLazy || (m_new - state.m[k]) * scale_log2 > kLazyLog2;
        m_new = move ? m_new : state.m[k];
        base[k] = m_new == -INFINITY ? 0.0f : fmaf(m_new, scale_log2, shift);
        rescale[k] = move ? exp2_approx(fmaf(state.m[k], scale_log2, shift) - base[k]) : 1.0f;  // 0 while m = −inf
        state.m[k] = m_new;
    }
    float sum[2];
    exp_and_sum(s, base, scale_log2, sum);
#pragma unroll
    for (int k = 0; k < 2; ++k) state.l[k] = state.l[k] * rescale[k] + sum[k];
}

/**
 * kReference (bfloat16): once each of a warp's rows has seen keys, its scores are exponentiated against a fixed
 * reference instead of a running max — the row's max over its first tile with keys (softmax_step with `shift`),
 * plus kReferenceShift in exp2 units — so that a step needs neither the tile's max (its 30 comparisons and 4 shuffles)
 * nor O's rescaling (32 or 64 multiplications). P = 2^(x − 64) with x = (score − reference)·scale in exp2 units: the
 * reference's own key gives 2^−64 and l ≥ 2^−64, bfloat16 has float's exponent range (so P keeps its 8 bits of
 * precision at any scale), and terms below x = −62 flush to zero where the running max would have kept them at
 * 2^−62 of the max's weight or less (float's sum keeps 24 bits). A score 128 or more above its reference (a P of
 * 2^64 or more, seen in a partial sum; +inf from 192 on) makes the warp recompute the tile's S from shared memory and
 * run softmax_step on it, which moves the references. With float16, P must fit float16's range: those kernels keep
 * the running max.
 */
constexpr float kReferenceShift = 64.0f;
constexpr float kReferenceLimit = 18446744073709551616.0f;  // 2^64

/** acc + a·b over a pair of bfloat16 values (two to a 32-bit word). */
__device__ __forceinline__ float dot_pair(uint32_t a, uint32_t b, float acc)
{
    acc = fmaf(__uint_as_float(a << 16), __uint_as_float(b << 16), acc);
    return fmaf(__uint_as_float(a & 0xffff0000u), __uint_as_float(b & 0xffff0000u), acc);
}

/** P = 2^(score·scale − (reference·scale + kReferenceShift)) in place; this thread's sums of each row's P (not yet in l). */
template <int kValues>
__device__ __forceinline__ void exp_against_reference(float (&s)[kValues], const RowState& state, float (&sum)[2], float scale_log2)
{
    const float base[2] = {fmaf(state.m[0], scale_log2, kReferenceShift), fmaf(state.m[1], scale_log2, kReferenceShift)};
    exp_and_sum(s, base, scale_log2, sum);
}

/** Two floats rounded to the storage type (bfloat16, or float16 with kHalf), packed. */
template <bool kHalf>
__device__ __forceinline__ uint32_t pack(float low, float high)
{
    if constexpr (kHalf) {
        return mma::sm80::pack_f16(low, high);
    } else {
        return pack_bf16(low, high);
    }
}

/** P's k16 chunk j (keys 16j … 16j + 15) as the A operand: accumulator blocks 2j and 2j + 1, packed. */
template <bool kHalf, int kChunks>
__device__ __forceinline__ void pack_p(const float (&s)[8 * kChunks], uint32_t (&p)[kChunks][4])
{
#pragma unroll
    for (int j = 0; j < kChunks; ++j) {
        p[j][0] = pack<kHalf>(s[8 * j], s[8 * j + 1]);
        p[j][1] = pack<kHalf>(s[8 * j + 2], s[8 * j + 3]);
        p[j][2] = pack<kHalf>(s[8 * j + 4], s[8 * j + 5]);
        p[j][3] = pack<kHalf>(s[8 * j + 6], s[8 * j + 7]);
    }
}

/** P of a tile none of the warp's rows takes a key of: zeros (its P·V product then adds nothing). */
template <int kChunks>
__device__ __forceinline__ void clear_p(uint32_t (&p)[kChunks][4])
{
#pragma unroll
    for (int j = 0; j < kChunks; ++j) {
        for (int x = 0; x < 4; ++x) p[j][x] = 0u;
    }
}

/**
 * A DNA tile's K and V rows (rows past `count` entries and columns past D as zeros; row r's chunk c of a swizzled
 * [kTileKeys][64] sub-tile). Its entries (rank key, key, anchor index) come beside it by a bulk copy (the async proxy,
 * as the tensor copies), not from these threads' stores: a generic store there, read by the consumers across the
 * stage's mbarriers, was what compute-sanitizer's racecheck reported against version 2.
 */
template <int kDim, int kSubtileBytes>
__device__ __forceinline__ void gather_rows(uint8_t* k_tile, uint8_t* v_tile, const WgmmaArgs& args, const Item& w, int first_entry,
                                            int thread)
{
    constexpr int kChunks = kDim / 8;  // 16-byte chunks of a row
    const uint16_t* const k_rows = args.k + w.b * args.k_batch + w.kv_head * args.k_head;
    const uint16_t* const v_rows = args.v + w.b * args.v_batch + w.kv_head * args.v_head;
#pragma unroll 1
    for (int c = thread; c < kSubtileBytes / 128 * kChunks; c += kGatherThreads) {
        const int r = c / kChunks, chunk = c % kChunks;
        const int e = first_entry + r;
        const bool present = e < w.dna_count && chunk * 8 < args.head_dim;
        // Absent: 16 zero bytes, nothing read (the source is the head's first row).
        const int64_t key = present ? static_cast<int64_t>(w.dna_list[e] & 0xffffffffu) : 0;
        const int column = present ? chunk * 8 : 0;
        const uint32_t offset = (chunk / 8) * kSubtileBytes + swizzled_offset(r, (chunk % 8) * 8);
        mma::sm80::copy_async_16(k_tile + offset, k_rows + key * args.k_token + column, present ? 16 : 0);
        mma::sm80::copy_async_16(v_tile + offset, v_rows + key * args.v_token + column, present ? 16 : 0);
    }
    mma::sm80::copy_async_commit();
    mma::sm80::copy_async_wait<0>();
    fence_proxy_async();  // the rows were written through the generic proxy; wgmma reads through the async one
}
#endif  // PROTEUS_WGMMA_DEVICE

/**
 * kConsumers consumer warpgroups of 64 rows, kStages K/V stages, kQBuffers Q buffers, the segments of
 * kSegments; kPingPong: the consumers issue their products in turns (band only: every consumer then runs
 * every tile); kHalf: float16 (else bfloat16); kHeadMajor: items head by head (pair_of).
 */
template <int kDim, int kConsumers, bool kPingPong, int kStages, int kQBuffers, Segments kSegments, bool kHalf, int kTileKeys,
          bool kHeadMajor>
__global__ void __launch_bounds__(Shape<kDim, kConsumers, kStages, kQBuffers, kSegments, kTileKeys>::kThreads, 1)
    flux_wgmma(const __grid_constant__ CUtensorMap q_map, const __grid_constant__ CUtensorMap k_map,
               const __grid_constant__ CUtensorMap v_map, const __grid_constant__ CUtensorMap k_anchor_map,
               const __grid_constant__ CUtensorMap v_anchor_map, const __grid_constant__ CUtensorMap o_map, const WgmmaArgs args)
{
#if defined(PROTEUS_WGMMA_DEVICE)
    static_assert(!kPingPong || kSegments == Segments::kBand, "ping-pong pairs the consumers' turns: every consumer runs every tile");
    using L = Shape<kDim, kConsumers, kStages, kQBuffers, kSegments, kTileKeys>;
    constexpr bool kAnchors = kSegments != Segments::kBand;
    constexpr bool kDna = kSegments == Segments::kDna;
    // bfloat16: P against fixed references once a warp's rows have seen keys (exp_against_reference; version 10);
    // float16 keeps the running max (its P must fit float16's range).
    constexpr bool kReference = !kHalf;
    // The lazy running max (softmax_step) at D 128 only: measured on the H200 (NOTES.md, "version 8") it took 4 % off
    // D 128's dense times and added 2–3 % to D 64's (and 0.5–1.6 % to the 64-key kernels'). Since version 10 it is
    // float16's alone: bfloat16 takes fixed references (kReference), and its first tiles the plain running max.
    constexpr bool kLazy = kDim == 128 && !kReference;
    // Whether a warp skips the softmax of a band tile none of its rows reaches (the short windows' last tile of a
    // consumer). Not with DNA lists or ping-pong: the branch there made ptxas serialise the wgmma (C7513) or spill.
    constexpr bool kSkipEmpty = !kDna && !kPingPong;
    // Whether a consumer's last band tile may run as a 32-key step (the 64-key kernels; see `narrow` below).
    constexpr bool kNarrowEdge = kTileKeys == 64 && !kPingPong;
    // kDynamic (the 64-key anchors and band kernels): the blocks take their items from a counter in the order they are free
    // to start one, instead of every gridDim.x-th; the producer hands each item's index to the consumers through a slot
    // beside its Q buffer (item_full). The blocks then stay within a few items of each other, so that the K and V tiles
    // which consecutive query tiles of a head share are read again while still in L2 (NOTES.md, version 13: the 1M
    // shortlist read 1.1 GB less from DRAM, 1.8 % less energy a call; version 14, with kStoreO: the 1M window 2.5 % faster).
    constexpr bool kDynamic = L::kDynamic;
    // kStoreO (the 64-key D 64 kernels: anchors, band and DNA lists): each warp stages its 16 rows of O in its
    // consumer's Q rows (stmatrix, in the swizzled layout of o_map) and one lane stores them by the tensor copy engine,
    // instead of 16 stores a thread with their addresses and column tests. Q's buffer is released at the next item's
    // start, once the store has read it (bulk_wait_read). Measured (NOTES.md, version 13, one call): the 1M shortlist's
    // bench samples 6.31 against 6.73–6.79 ms at boost clocks, 4.1 % less energy a call; the step loop's spill load goes.
    // Version 14: the 1M DNA case 2.5 % faster alone.
    constexpr bool kStoreO = L::kStoreO;
    static_assert(!kStoreO || kDim == 64, "the staged O: the 64-key D 64 kernels");
    extern __shared__ uint8_t raw[];
    // Aligned by an offset from `raw` (not through an integer): the compiler then keeps every pointer below in the shared
    // space (32-bit addresses, ld/st.shared) instead of generic 64-bit ones, which cost registers and, in the four-consumer
    // anchors kernel, spills reloaded on every item (NOTES.md, version 9).
    uint8_t* const base = raw + __shfl_sync(0xffffffffu, (1024u - (shared_address(raw) & 1023u)) & 1023u, 0);
    uint8_t* const q_tiles = base;                               // [buffer][sub][kRows][128 B]
    uint8_t* const k_tiles = base + L::kQBuffers * L::kQBytes;   // [stage][sub][128 keys][128 B]
    uint8_t* const v_tiles = k_tiles + L::kStages * L::kTileBytes;
    Entry* const entries = reinterpret_cast<Entry*>(base + L::kEntries);  // [stage][128] (kDna)
    // A row's aligned anchors [x, y] (anchor indices key / S; empty: x > y) and its DNA threshold (~0: none).
    int2* const row_ranges = reinterpret_cast<int2*>(base + L::kRanges);
    int2* const warp_ranges = reinterpret_cast<int2*>(base + L::kWarpRanges);
    uint64_t* const row_thresholds = reinterpret_cast<uint64_t*>(base + L::kThresholds);
    uint64_t* const q_full = reinterpret_cast<uint64_t*>(base + L::kBarriers);
    uint64_t* const q_empty = q_full + L::kQBuffers;
    uint64_t* const full = q_empty + L::kQBuffers;
    uint64_t* const empty = full + L::kStages;
    uint64_t* const item_full = empty + L::kStages;  // [buffer] (kDynamic): the item's slot is written
    volatile int* const item_slot = reinterpret_cast<volatile int*>(item_full + L::kQBuffers);  // [buffer] (kDynamic)

    // Through a shuffle, so that the compiler knows it is the same across the warp (the descriptors built
    // from it then live in uniform registers, as the wgmma instructions read them).
    const int warpgroup = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x / 128), 0);
    if (threadIdx.x == 0) {
        for (int q = 0; q < L::kQBuffers; ++q) {
            barrier_init(&q_full[q], 1);
            barrier_init(&q_empty[q], 4 * kConsumers);  // one arrival from each consumer warp
        }
        for (int s = 0; s < L::kStages; ++s) {
            barrier_init(&full[s], 1);
            barrier_init(&empty[s], 4 * kConsumers);  // one arrival from each consumer warp
        }
        if constexpr (kDynamic) {
            for (int q = 0; q < L::kQBuffers; ++q) barrier_init(&item_full[q], 1);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    if (warpgroup == 0) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(L::kProducerRegisters));
        // Thread 0 issues the tensor copies; with DNA lists warps 1 … 3 gather the DNA tiles (so that thread 0
        // goes on issuing the copies of later tiles while a gather lands), and every thread of the four follows
        // the whole ring (each waits for every stage, so that none runs a phase ahead of a barrier).
        const int thread = static_cast<int>(threadIdx.x);
        if (!kDna && thread != 0) return;
        int ring = 0, count = 0;
        int taken = 0;  // kDynamic: the next item, taken from the counter while this one's copies are issued
        for (int index = static_cast<int>(blockIdx.x); index < args.items;
             index = kDynamic ? taken : index + static_cast<int>(gridDim.x), ++count) {
            const Item w = decode<L::kRows, kSegments, kTileKeys, kHeadMajor>(args, index);
            const int buffer = count % L::kQBuffers, use = count / L::kQBuffers;
            if (thread == 0) {
                if (use > 0) barrier_wait(&q_empty[buffer], (use - 1) & 1);
                if constexpr (kDynamic) {
                    // Every consumer warp has read the slot's last item (before its q_empty arrival).
                    item_slot[buffer] = index;
                    barrier_arrive(&item_full[buffer]);
                    taken = static_cast<int>(gridDim.x) + atomicAdd(args.item_counter, 1);
                }
                barrier_expect(&q_full[buffer], L::kQBytes);
                for (int sub = 0; sub < L::kSub; ++sub) {
                    copy_box(q_tiles + buffer * L::kQBytes + sub * L::kRows * 128, &q_map, 64 * sub, w.first_row, w.h, w.b, &q_full[buffer]);
                }
            }
            const int tiles = w.tiles();
            for (int n = 0; n < tiles; ++n, ++ring) {
                const int stage = ring % L::kStages, round = ring / L::kStages;
                if (round > 0) barrier_wait(&empty[stage], (round - 1) & 1);
                uint8_t* const k_stage = k_tiles + stage * L::kTileBytes;
                uint8_t* const v_stage = v_tiles + stage * L::kTileBytes;
                if (kDna && n >= w.anchor_tiles && n < w.anchor_tiles + w.dna_tiles) {
                    if constexpr (kDna) {
                        if (thread < 32) continue;
                        const int first_entry = (n - w.anchor_tiles) * kTileKeys;
                        gather_rows<kDim, L::kSubtileBytes>(k_stage, v_stage, args, w, first_entry, thread - 32);
                        asm volatile("bar.sync %0, 96;\n" ::"n"(kProducerBarrier) : "memory");
                        if (thread == 32) {
                            // The rows have landed (the gather's wait and bar.sync): the stage is full when the entries have.
                            barrier_expect(&full[stage], kTileKeys * sizeof(Entry));
                            copy_bulk(entries + stage * kTileKeys, w.dna_entries + first_entry, kTileKeys * sizeof(Entry), &full[stage]);
                        }
                    }
                    continue;
                }
                if (thread != 0) continue;
                const bool anchor = kAnchors && n < w.anchor_tiles;
                const CUtensorMap* const km = anchor ? &k_anchor_map : &k_map;
                const CUtensorMap* const vm = anchor ? &v_anchor_map : &v_map;
                const int row = anchor ? w.anchor_base + n * kTileKeys : w.band_first + (n - w.extra_tiles()) * kTileKeys;
                barrier_expect(&full[stage], 2 * L::kTileBytes);
                for (int sub = 0; sub < L::kSub; ++sub) {
                    copy_box(k_stage + sub * L::kSubtileBytes, km, 64 * sub, row, w.kv_head, w.b, &full[stage]);
                    copy_box(v_stage + sub * L::kSubtileBytes, vm, 64 * sub, row, w.kv_head, w.b, &full[stage]);
                }
            }
        }
        if constexpr (kDynamic) {
            // The end: an index past the items in the next slot.
            const int buffer = count % L::kQBuffers, use = count / L::kQBuffers;
            if (use > 0) barrier_wait(&q_empty[buffer], (use - 1) & 1);
            item_slot[buffer] = args.items;
            barrier_arrive(&item_full[buffer]);
        }
        return;
    }

    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(L::kConsumerRegisters));
    const int consumer = warpgroup - 1;
    const int lane = threadIdx.x % 32, warp = (threadIdx.x % 128) / 32, g = lane / 4, t = lane % 4;
    // Ping-pong: the warpgroups issue their tensor-core work in turns (consumer c waits on named barrier 1 + c,
    // then lets c + 1 go), so that one's softmax runs while the next one's products run. The last consumer
    // opens consumer 0's first turn; consumer 0 takes one turn more at the end to close it. Every consumer
    // takes tiles + 1 turns an item.
    const auto my_turn = [&] {
        if constexpr (kPingPong) asm volatile("bar.sync %0, 256;\n" ::"r"(1 + consumer) : "memory");
    };
    const auto pass_turn = [&] {
        if constexpr (kPingPong) asm volatile("bar.arrive %0, 256;\n" ::"r"(1 + (consumer + 1) % kConsumers) : "memory");
    };
    if (kPingPong && consumer == kConsumers - 1) pass_turn();
    const auto release = [&](int stage) {
        // DNA: this thread's reads of the stage's entries (generic proxy) before the bulk copy that overwrites them.
        if constexpr (kDna) fence_proxy_async();
        __syncwarp();
        if (lane == 0) barrier_arrive(&empty[stage]);
    };
    // The descriptors' low words (start address / 16 and leading offset); a stage, a sub-tile and a k16 step add their
    // byte offsets / 16 to it in 32 bits (the start field holds every shared address / 16, < 2^14: no carry out of it).
    // The high words (stride, swizzle) are the same for Q, K and V.
    const uint32_t k_low = static_cast<uint32_t>(descriptor(k_tiles, 16, 1024));
    const uint32_t v_low = static_cast<uint32_t>(descriptor(v_tiles, L::kSubtileBytes, 1024));
    const uint32_t high = static_cast<uint32_t>(descriptor(k_tiles, 16, 1024) >> 32);
    const int32_t window = args.window;

    int ring = 0;
    // kDynamic: the items' count in this block is carried (the index is not: it is read again from its slot, which
    // stays until this warp's q_empty arrival); else the index is carried and the count follows from it.
    int dynamic_count = 0;
    // The count of item `index` in this block (which Q buffer and slot it has): carried, or fresh from the index.
    const auto item_count = [&](int index) {
        if constexpr (kDynamic) return dynamic_count;
        return fresh_item_count(index, args.blocks_divide);
    };
    // Lane 0 reads the slot for its warp: it also makes the warp's q_empty arrival, after which the producer may write it.
    const auto slot_index = [&](int count) {
        barrier_wait(&item_full[count % L::kQBuffers], (count / L::kQBuffers) & 1);
        return __shfl_sync(0xffffffffu, lane == 0 ? item_slot[count % L::kQBuffers] : 0, 0);
    };
    const auto next_index = [&](int index) {
        if constexpr (kStoreO) {
            // The item's O has left Q's buffer: the buffer may take a later item.
            if (lane == 0) {
                bulk_wait_read();
                barrier_arrive(&q_empty[item_count(index) % L::kQBuffers]);
            }
        }
        if constexpr (kDynamic) return slot_index(++dynamic_count);
        return index + static_cast<int>(gridDim.x);
    };
    for (int index = kDynamic ? slot_index(0) : static_cast<int>(blockIdx.x); index < args.items; index = next_index(index)) {
        // The item's count in this block, from its index (a division an item) rather than carried across the step loop,
        // where the four-consumer kernels have no register for it and spilled it (reloaded from local memory, which
        // missed the L1: NOTES.md, version 9).
        const int count = item_count(index);
        const int buffer = __shfl_sync(0xffffffffu, count % L::kQBuffers, 0), use = count / L::kQBuffers;
        int32_t position[2];           // this thread's rows (k 0: row g, k 1: row g + 8 of its warp's 16)
        int32_t wg_first, wg_last;     // the warpgroup's rows (wg_last < wg_first: none)
        int32_t band_first;            // the band's first key
        int32_t anchor_base = 0;       // anchor index of the first anchor tile's row 0
        int anchor_tiles, extra_tiles, tiles;  // anchor tiles, anchor and DNA tiles, all tiles
        int run_first[2], run_last[2];  // the stretches of tiles this warpgroup computes (empty: first > last)
        // Each row's anchors [low, high] (anchor indices; empty: low > high) and DNA threshold, in shared memory
        // (the D 64 consumers have no registers to spare for them): this warp's 16 rows.
        int2* const ranges = row_ranges + (consumer * 4 + warp) * 16;
        uint64_t* const thresholds = row_thresholds + (consumer * 4 + warp) * 16;
        {
            const Item w = decode<L::kRows, kSegments, kTileKeys, kHeadMajor>(args, index);
            wg_first = w.first_position + consumer * kConsumerRows;
            wg_last = wg_first + kConsumerRows - 1 < w.last_position ? wg_first + kConsumerRows - 1 : w.last_position;
            for (int k = 0; k < 2; ++k) position[k] = wg_first + 16 * warp + g + 8 * k;
            band_first = w.band_first;
            anchor_base = w.anchor_base;
            anchor_tiles = w.anchor_tiles;
            extra_tiles = w.extra_tiles();
            tiles = w.tiles();
            const bool has_rows = wg_first <= wg_last;
            // The anchor and DNA tiles where one of the warpgroup's rows has such keys (i ≥ W); the band tiles its
            // rows' windows reach (every band tile with ping-pong, so that the consumers' turns pair up).
            run_first[0] = 0;
            run_last[0] = has_rows && wg_last >= window ? extra_tiles - 1 : -1;
            const int32_t wg_lo = static_cast<int32_t>(window_start(wg_first, window));
            run_first[1] = extra_tiles + (kPingPong ? 0 : (wg_lo - band_first) / kTileKeys);
            run_last[1] = kPingPong ? tiles - 1 : has_rows ? extra_tiles + (wg_last - band_first) / kTileKeys : run_first[1] - 1;
            if (run_last[0] >= 0 && run_last[0] + 1 == run_first[1]) {  // adjacent: one stretch
                run_last[0] = run_last[1];
                run_first[1] = 1;
                run_last[1] = 0;
            }
            if constexpr (kAnchors) {
                // Lane t of the row's four writes row g (t 0) or g + 8 (t 1); the previous item's readers are done
                // (the warp passed its last mask before the epilogue).
                __syncwarp();  // every lane of the warp has read the previous item's ranges
                // The warp's common range: the anchors all its rows take (rows past wg_last do not count), so that
                // the mask skips the anchor tiles inside it.
                int32_t common_low = INT32_MIN, common_high = INT32_MAX;
                if (t < 2) {
                    const int32_t i = t == 0 ? position[0] : position[1];  // not position[t]: a local-memory array
                    int2 range{kNoAnchors, -kNoAnchors};
                    uint64_t threshold = ~uint64_t{0};
                    if (i <= wg_last) {
                        range = anchor_range(i, args);
                        common_low = range.x;
                        common_high = range.y;
                        if (kDna && i >= window) {
                            threshold = args.dna.thresholds[w.b * args.dna.prefixes + (i - window - args.dna.first_prefix)];
                        }
                    }
                    // The slot's address from a fresh read of the thread index: kept from before the item loop, it was
                    // one more value that the step loop's registers could not hold (spilled, as above).
                    row_ranges[row_slot(fresh_thread_index())] = range;
                    if (kDna) row_thresholds[row_slot(fresh_thread_index())] = threshold;
                }
                common_low = __reduce_max_sync(0xffffffffu, common_low);
                common_high = __reduce_min_sync(0xffffffffu, common_high);
                if (lane == 0) warp_ranges[consumer * 4 + warp] = int2{common_low, common_high};
                __syncwarp();
            }
        }
        // Masks S of tile n (stage `stage`) and says whether none of the warp's 16 rows takes a key of it (then its
        // softmax is skipped: P is zero and O keeps its scale). A thread's column 8c + 2t + (e & 1) is compared as the
        // constant 8c + (e & 1) against per-row bounds less 2t: two compares and a select a value.
        const auto mask = [&](auto& s, int n, int stage) -> bool {
            constexpr int kValues = static_cast<int>(sizeof(s) / sizeof(float));  // kTileKeys / 2, or 16 (narrow edge)
            if (kAnchors && n < anchor_tiles) {
                // Column c of the tile is anchor a0 + c: row k takes it when it lies in [low − a0, high − a0].
                const int32_t a0 = anchor_base + n * kTileKeys;
                const int2 common = warp_ranges[consumer * 4 + warp];
                if (a0 >= common.x && a0 + kTileKeys - 1 <= common.y) return false;  // every row takes every column
                int32_t low[2], high[2];
                for (int k = 0; k < 2; ++k) {
                    low[k] = ranges[g + 8 * k].x - a0 - 2 * t;
                    high[k] = ranges[g + 8 * k].y - a0 - 2 * t;
                }
#pragma unroll
                for (int c = 0; c < kValues / 4; ++c) {
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        const int32_t a = 8 * c + e % 2;
                        if (a < low[e / 2] || a > high[e / 2]) s[4 * c + e] = -INFINITY;
                    }
                }
                return false;
            } else if (kDna && n < extra_tiles) {
                const Entry* const tile_entries = entries + stage * kTileKeys;
                int2 range[2];
                uint64_t threshold[2];
                int32_t limit[2];
                for (int k = 0; k < 2; ++k) {
                    range[k] = ranges[g + 8 * k];
                    threshold[k] = thresholds[g + 8 * k];
                    limit[k] = position[k] - window;
                }
#pragma unroll
                for (int c = 0; c < kValues / 4; ++c) {
#pragma unroll
                    for (int odd = 0; odd < 2; ++odd) {
                        const Entry entry = tile_entries[column_of(c, odd, t)];
#pragma unroll
                        for (int k = 0; k < 2; ++k) {
                            const bool takes = entry.key <= limit[k] && entry.rank >= threshold[k] &&
                                               !(entry.anchor >= range[k].x && entry.anchor <= range[k].y);
                            if (!takes) s[4 * c + 2 * k + odd] = -INFINITY;
                        }
                    }
                }
                return false;
            } else {
                // Band: row i takes key j when i − W < j ≤ i. The warp's rows are [first, first + 15] (rows past the
                // item's last are never written): nothing to mask when every key of the tile is in every row's window,
                // nothing to compute when none is in any; else only the edge that crosses the tile is compared (a tile
                // is narrower than most windows, so mostly only one does: one compare and a select a value).
                const int32_t key0 = band_first + (n - extra_tiles) * kTileKeys;
                const int32_t first = wg_first + 16 * warp;
                const bool causal_edge = key0 + kTileKeys - 1 > first;       // a key past some row
                const bool window_edge = key0 <= first + 15 - window;    // a key before some row's window
                if (!causal_edge && !window_edge) return false;
                if (kSkipEmpty && (key0 > first + 15 || key0 + kTileKeys - 1 <= first - window)) return true;
                int32_t low[2], high[2];  // column c + 2t is taken when low < c ≤ high
                for (int k = 0; k < 2; ++k) {
                    high[k] = position[k] - key0 - 2 * t;
                    low[k] = high[k] - window;
                }
                if (causal_edge && window_edge) {
#pragma unroll
                    for (int c = 0; c < kValues / 4; ++c) {
#pragma unroll
                        for (int e = 0; e < 4; ++e) {
                            const int32_t column = 8 * c + e % 2;
                            if (column > high[e / 2] || column <= low[e / 2]) s[4 * c + e] = -INFINITY;
                        }
                    }
                } else if (causal_edge) {
#pragma unroll
                    for (int c = 0; c < kValues / 4; ++c) {
#pragma unroll
                        for (int e = 0; e < 4; ++e) {
                            if (8 * c + e % 2 > high[e / 2]) s[4 * c + e] = -INFINITY;
                        }
                    }
                } else {
#pragma unroll
                    for (int c = 0; c < kValues / 4; ++c) {
#pragma unroll
                        for (int e = 0; e < 4; ++e) {
                            if (8 * c + e % 2 <= low[e / 2]) s[4 * c + e] = -INFINITY;
                        }
                    }
                }
                return false;
            }
        };

        barrier_wait(&q_full[buffer], use & 1);
        // Descriptors of Q (this warpgroup's 64 rows); a stage, a sub-tile and a k16 step add their byte
        // offsets (>> 4) to the start address field.
        const uint32_t q_low = static_cast<uint32_t>(descriptor(q_tiles + buffer * L::kQBytes + consumer * kConsumerRows * 128, 16, 1024));
        const auto issue_s = [&](auto& s, int stage) {
            constexpr int kValues = static_cast<int>(sizeof(s) / sizeof(float));
            uint64_t qd[kDim / 16], kd[kDim / 16];
#pragma unroll
            for (int step = 0; step < kDim / 16; ++step) {
                const int sub = step / 4, offset = (step % 4) * 32;  // 16 elements = 32 bytes along a swizzled row
                qd[step] = join(q_low + static_cast<uint32_t>((sub * L::kRows * 128 + offset) >> 4), high);
                kd[step] = join(k_low + static_cast<uint32_t>(stage) * (L::kTileBytes >> 4) +
                                    static_cast<uint32_t>((sub * L::kSubtileBytes + offset) >> 4),
                                high);
            }
#pragma unroll
            for (int step = 0; step < kDim / 16; ++step) {
                if constexpr (kValues == 64) {
                    mma_ss_n128<kHalf>(s, qd[step], kd[step], step > 0);
                } else if constexpr (kValues == 32) {
                    mma_ss<kHalf>(s, qd[step], kd[step], step > 0);
                } else {
                    mma_ss_n32<kHalf>(s, qd[step], kd[step], step > 0);  // a narrow edge tile: its first 32 keys
                }
            }
            commit_group();
        };
        RowState state;
        float o[L::kSub * 32];  // 64 columns a sub-tile, each in m64n64's accumulator order
#pragma unroll
        for (int e = 0; e < L::kSub * 32; ++e) o[e] = 0.0f;
        // V's k16 chunk j (keys 16j … 16j + 15) of a stage.
        const auto v_descriptor = [&](int stage, int j) {
            return join(v_low + static_cast<uint32_t>(stage) * (L::kTileBytes >> 4) + static_cast<uint32_t>(j * 16 * 128 >> 4), high);
        };
        const auto issue_pv = [&](const auto& p, int stage) {
            constexpr int kChunks = static_cast<int>(sizeof(p) / sizeof(p[0]));  // kTileKeys / 16, or 2 (narrow edge)
#pragma unroll
            for (int j = 0; j < kChunks; ++j) {
                if constexpr (kDim == 128) {
                    // The m64n128 accumulator is the two m64n64 ones side by side.
                    mma_rs_n128<kHalf>(*reinterpret_cast<float(*)[64]>(o), p[j], v_descriptor(stage, j));
                } else {
                    mma_rs<kHalf>(*reinterpret_cast<float(*)[32]>(o), p[j], v_descriptor(stage, j));
                }
            }
            commit_group();
        };
        float s[kTileKeys / 2];
        uint32_t p[kTileKeys / 16][4];
        float rescale[2] = {1.0f, 1.0f};
        const auto scale_o = [&] {
            // kLazy: nothing to do where every row of the warp kept its max (each factor exactly 1).
            if (kLazy && !__any_sync(0xffffffffu, rescale[0] != 1.0f || rescale[1] != 1.0f)) return;
#pragma unroll
            for (int c = 0; c < 8 * L::kSub; ++c) {
#pragma unroll
                for (int e = 0; e < 4; ++e) o[4 * c + e] *= rescale[e / 2];
            }
        };
        // kReference (exp_against_reference): whether every row of the warp has its reference (each item starts without).
        bool settled = false;
        // A tile whose P left its references' range (rare: soften's 2) again: S from the item's Q and the stage's K in
        // shared memory, one dot product a value, before its mask and softmax_step (which moves the references).
        const auto recompute_s = [&](auto& s, int stage) {
            constexpr int kValues = static_cast<int>(sizeof(s) / sizeof(float));
            // The Q buffer from the item's index (as fresh_item_count's callers do): `buffer` kept alive for this rare
            // path cost the four-consumer kernels a spilled register in the step loop.
            const uint8_t* const q_base = q_tiles + item_count(index) % L::kQBuffers * L::kQBytes;
            const uint8_t* const k_base = k_tiles + stage * L::kTileBytes;
            // One value a pass, not unrolled, and put in place by a select over s (a static index for every register):
            // unrolled, the 32 passes' addresses took registers the step loop needs (spills in the four-consumer kernels).
#pragma unroll 1
            for (int v = 0; v < kValues; ++v) {
                const int row = consumer * kConsumerRows + 16 * warp + g + 8 * ((v % 4) / 2), key = column_of(v / 4, v % 4, t);
                float dot = 0.0f;
#pragma unroll 1
                for (int pair = 0; pair < L::kSub * 32; ++pair) {  // two columns a 32-bit word, one word of each at a time
                    const uint32_t column = (pair % 32) * 2;
                    const uint32_t q = *reinterpret_cast<const uint32_t*>(q_base + (pair / 32) * L::kRows * 128 + swizzled_offset(row, column));
                    const uint32_t k = *reinterpret_cast<const uint32_t*>(k_base + (pair / 32) * L::kSubtileBytes + swizzled_offset(key, column));
                    dot = dot_pair(q, k, dot);
                }
#pragma unroll
                for (int e = 0; e < kValues; ++e) s[e] = e == v ? dot : s[e];
            }
        };
        // The softmax of a masked tile with keys: 0 when P is against the fixed references (nothing to rescale), 1 when
        // O must be rescaled by `rescale` after the pending P·V (softmax_step ran), 2 when a P reached 2^64 (a score 128
        // or more above its reference in exp2 units; P may be +inf): the tile is recomputed by finish_tile.
        const auto soften = [&](auto& s) -> int {
            constexpr int kValues = static_cast<int>(sizeof(s) / sizeof(float));
            if constexpr (!kReference) {
                softmax_step<kValues, kLazy>(s, state, rescale, args.scale_log2);
                return 1;
            } else {
                if (!settled) {
                    softmax_step<kValues, false>(s, state, rescale, args.scale_log2, kReferenceShift);
                    settled = __all_sync(0xffffffffu, state.m[0] != -INFINITY && state.m[1] != -INFINITY);
                    return 1;
                }
                float sum[2];
                exp_against_reference<kValues>(s, state, sum, args.scale_log2);
                if (__all_sync(0xffffffffu, sum[0] < kReferenceLimit && sum[1] < kReferenceLimit)) {
                    state.l[0] += sum[0];
                    state.l[1] += sum[1];
                    return 0;
                }
                return 2;  // a P of 2^64 or more (rare): recomputed after the pending P·V
            }
        };
        // After the pending P·V: S of a tile past its references again (recompute_s, its mask, softmax_step, which moves
        // them), O rescaled where `how` asks, and P rounded for the next P·V.
        const auto finish_tile = [&](auto& s, int how, int n, int stage) {
            constexpr int kValues = static_cast<int>(sizeof(s) / sizeof(float));
            if constexpr (kReference) {
                if (how == 2) {
                    recompute_s(s, stage);
                    mask(s, n, stage);
                    softmax_step<kValues, false>(s, state, rescale, args.scale_log2, kReferenceShift);
                }
            }
            if (how != 0) scale_o();
            pack_p<kHalf>(s, *reinterpret_cast<uint32_t(*)[kValues / 8][4]>(p));  // a narrow tile: P's first two chunks
        };
        // Through a shuffle, so that the compiler knows the stage is the same across the warp: the descriptors built
        // from it then stay in uniform registers (without it every step rebuilt them in ordinary registers and moved
        // them over, ~170 instructions a tile: the profile of version 2).
        const auto stage_of = [&](int n) {
            return __shfl_sync(0xffffffffu, static_cast<int>(static_cast<uint32_t>(ring + n) % L::kStages), 0);
        };
        const auto phase_of = [&](int n) { return (static_cast<uint32_t>(ring + n) / L::kStages) & 1; };
        const auto skip = [&](int n) {
            barrier_wait(&full[stage_of(n)], phase_of(n));
            release(stage_of(n));
        };

        // A step: S(n) on `tile` (S, or a narrow edge's 16 values) beside P(m)·V(m) of the tile m run before it (its stage
        // `previous`), the mask and softmax of S(n) while that product runs, then m's stage released and P(n) rounded into
        // `p_tile` (P, or its first two chunks).
        const auto step = [&](auto& tile, auto& p_tile, int n, int stage, int previous) {
            barrier_wait(&full[stage], phase_of(n));  // K(n) and V(n); V(m) was in before S(m)
            my_turn();
            fence_operands();
            issue_s(tile, stage);
            issue_pv(p, previous);
            pass_turn();
            wait_pending<1>();  // S(n) is in; P(m)·V(m) may still run
            const bool none = mask(tile, n, stage);
            int how = 0;
            if (!none) how = soften(tile);
            wait_pending<0>();
            release(previous);
            if (!none) {
                finish_tile(tile, how, n, stage);
            } else {
                clear_p(p_tile);
            }
        };

        // The warpgroup's tiles, its two stretches [first, last] as one pipeline: S of the first tile alone; then S(n)
        // beside P(m)·V(m) of the tile m it ran before; it ends with P(last)·V(last). Tiles outside the stretches are
        // released unread: before the first, after the last, and between the stretches (at most a consumer count of
        // them, while m's stage is held: the ring's other stages hold them).
        const bool has_first = kAnchors && run_first[0] <= run_last[0], has_second = run_first[1] <= run_last[1];
        int n = 0;
        if (has_first || has_second) {
            const int first = has_first ? run_first[0] : run_first[1];
            const int last = has_second ? run_last[1] : run_last[0];
            // kNarrowEdge: where the warpgroup's rows take at most the first 32 keys of its last band tile (a
            // consumer's seventh tile at W 341 holds keys to column 19), the step loop stops before it and the tile
            // runs as a 32-key step of its own (S on m64n32, P·V over two k16 chunks): half the tile's products and
            // softmax. Its columns past the rows' last key are masked as in any tile at the causal edge.
            // The pipeline ends in the band where its stretch holds the band's tiles (has_second), or where the anchor
            // stretch and the band were joined into one (consumer 0 of an item with anchors: last ≥ extra_tiles).
            const bool narrow = kNarrowEdge && (has_second || (kAnchors && last >= extra_tiles)) && last > first &&
                                (wg_last - band_first) % kTileKeys < 32;
            const int stop = narrow ? last - 1 : last;
            for (; n < first; ++n) skip(n);
            barrier_wait(&full[stage_of(n)], phase_of(n));
            my_turn();
            fence_operands();
            issue_s(s, stage_of(n));
            pass_turn();
            wait_pending<0>();
            if (!mask(s, n, stage_of(n))) {
                finish_tile(s, soften(s), n, stage_of(n));
            } else {
                clear_p(p);
            }
            int ran = n;  // the tile whose P·V is next
            ++n;
#pragma unroll 1
            for (; n <= stop; ++n) {
                // The gap between the stretches: the tiles run_last[0] < n < run_first[1] (none inside [first, last] unless
                // both stretches hold tiles; adjacent ones were joined above).
                for (; n > run_last[0] && n < run_first[1]; ++n) skip(n);
                step(s, p, n, stage_of(n), stage_of(ran));
                ran = n;
            }
            if (kNarrowEdge && narrow && n == last) {
                // The narrow last tile: the loop ended just before it (n == last; where the loop skipped a gap onto it, it
                // ran there whole and n is past it). No gap lies before it here, and nothing is in flight.
                float s_edge[16];
                uint32_t(&p_edge)[2][4] = *reinterpret_cast<uint32_t(*)[2][4]>(p);
                const int stage = stage_of(n);
                step(s_edge, p_edge, n, stage, stage_of(ran));
                fence_operands();
                issue_pv(p_edge, stage);
                wait_pending<0>();
                release(stage);
                ++n;  // past it: the item's remaining tiles are released unread below
            } else {
                my_turn();
                fence_operands();
                issue_pv(p, stage_of(ran));
                pass_turn();
                wait_pending<0>();
                release(stage_of(ran));
            }
        }
        for (; n < tiles; ++n) skip(n);
        ring += tiles;
        // Every S of the item has been read: Q's buffer may take a later item (kDynamic: and its slot a later index, so
        // the index is read from it again first).
        int item = index;
        if constexpr (kDynamic) item = __shfl_sync(0xffffffffu, lane == 0 ? item_slot[dynamic_count % L::kQBuffers] : 0, 0);
        __syncwarp();
        // Not `buffer` (see fresh_item_count); kStoreO: at the next item, once O has left the buffer (next_index).
        if (!kStoreO && lane == 0) barrier_arrive(&q_empty[item_count(index) % L::kQBuffers]);

        // o = acc / l (the row's 4 lanes hold parts of l); lse = (m·scale + log2 l)·ln 2 in natural-log units;
        // an inactive row writes 0 and −inf.
        const int pair = pair_of<kHeadMajor>(args, item);
        const int h = static_cast<int>(args.heads_divide.remainder(static_cast<uint32_t>(pair)));
        const int b = static_cast<int>(args.heads_divide.quotient(static_cast<uint32_t>(pair)));
        float factor[2] = {0.0f, 0.0f};  // kStoreO: each row's 1 / l (0: inactive, or past the slice)
#pragma unroll
        for (int k = 0; k < 2; ++k) {
            float l = state.l[k];
            l += __shfl_xor_sync(0xffffffffu, l, 1);
            l += __shfl_xor_sync(0xffffffffu, l, 2);
            // Past the item's last row (position > wg_last): tested on the slice's length, which the kernel's
            // parameters hold, rather than on wg_last, which would have to stay alive across the step loop.
            const int64_t row = position[k] - args.query_offset;
            if (row >= args.query_len) continue;
            const bool active = args.active == nullptr ||
                                args.active[b * args.active_batch + h * args.active_head + row * args.active_token] != 0;
            // l ≥ 1 (the max's own term), or ≥ 2^−64 against a reference (2^−32 once moved): no IEEE slow path needed.
            const float inverse = active ? __fdividef(1.0f, l) : 0.0f;
            if constexpr (kStoreO) {
                factor[k] = inverse;
            } else {
                uint16_t* const out = static_cast<uint16_t*>(args.o) + b * args.o_batch + h * args.o_head + row * args.o_token;
#pragma unroll
                for (int sub = 0; sub < L::kSub; ++sub) {
#pragma unroll
                    for (int c = 0; c < 8; ++c) {
                        const int column = 64 * sub + 8 * c + 2 * t;
                        if (column < args.head_dim) {
                            *reinterpret_cast<uint32_t*>(out + column) =
                                pack<kHalf>(o[32 * sub + 4 * c + 2 * k] * inverse, o[32 * sub + 4 * c + 2 * k + 1] * inverse);
                        }
                    }
                }
            }
            if (t == 0 && args.lse != nullptr) {
                args.lse[b * args.lse_batch + h * args.lse_head + row * args.lse_token] =
                    active ? (fmaf(state.m[k], args.scale_log2, kReference ? kReferenceShift : 0.0f) + __log2f(l)) * 0.6931471805599453f
                           : -INFINITY;
            }
        }
        if constexpr (kStoreO) {
            // The warp's 16 rows of its consumer's Q rows (no S reads them any more): row r at 128 r bytes, its 16-byte
            // chunk c at (c ^ r % 8) · 16 (the 128-byte swizzle; the rows start 2 KB-aligned). stmatrix j takes columns
            // 16j … 16j + 15: matrix i holds rows 8 (i % 2) … + 7 of chunk 2j + i / 2, lane l gives row l % 8 of matrix l / 8.
            uint8_t* const staged = q_tiles + item_count(index) % L::kQBuffers * L::kQBytes + (consumer * kConsumerRows + 16 * warp) * 128;
            const uint32_t i = static_cast<uint32_t>(lane) / 8, r = static_cast<uint32_t>(lane) % 8;
            const uint32_t row_address = shared_address(staged) + (r + 8 * (i % 2)) * 128;
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const uint32_t chunk = 2 * j + i / 2;
                store_matrices(row_address + ((chunk ^ r) << 4), pack<kHalf>(o[8 * j] * factor[0], o[8 * j + 1] * factor[0]),
                               pack<kHalf>(o[8 * j + 2] * factor[1], o[8 * j + 3] * factor[1]),
                               pack<kHalf>(o[8 * j + 4] * factor[0], o[8 * j + 5] * factor[0]),
                               pack<kHalf>(o[8 * j + 6] * factor[1], o[8 * j + 7] * factor[1]));
            }
            fence_proxy_async();  // the generic writes before the tensor copy's reads
            __syncwarp();
            const int first_row = position[0] - g - static_cast<int>(args.query_offset);
            if (lane == 0 && first_row < args.query_len) {
                store_box(&o_map, 0, first_row, h, b, staged);
                bulk_commit();
            }
        }
    }
    if (kPingPong && consumer == 0) my_turn();
#endif  // PROTEUS_WGMMA_DEVICE
}

/**
 * The kernel's table of DNA list entries: list l's slot e (of `slots`, a multiple of kKeys) is its entry e while
 * e < its count (rank key, key, anchor index key / S or −1), else empty (0, INT32_MAX, −1). Lists of query tiles
 * whose last row is below W hold nothing (their counts are not written: gpu/flux_dna.h).
 */
__global__ void fill_entries(WgmmaArgs args, int64_t rows, int64_t lists, Entry* table)
{
    const int64_t total = lists * args.entry_slots;
    for (int64_t index = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; index < total; index += int64_t{gridDim.x} * blockDim.x) {
        const int64_t list = index / args.entry_slots;
        const int32_t e = static_cast<int32_t>(index % args.entry_slots);
        const int64_t tile = list % args.dna.query_tiles;
        const int64_t last_row = ((tile + 1) * rows < args.query_len ? (tile + 1) * rows : args.query_len) - 1;
        Entry entry{0, INT32_MAX, -1};
        if (args.query_offset + last_row >= args.window && e < args.dna.counts[list]) {
            entry.rank = args.dna.lists[list * args.dna.capacity + e];
            entry.key = static_cast<int32_t>(entry.rank & 0xffffffffu);
            if (args.anchor_count > 0 && entry.key % args.anchor_stride == 0) entry.anchor = entry.key / args.anchor_stride;
        }
        table[index] = entry;
    }
}

/** cuTensorMapEncodeTiled, looked up once. */
PFN_cuTensorMapEncodeTiled_v12000 encoder()
{
    static const PFN_cuTensorMapEncodeTiled_v12000 found = find_tensor_map_encoder();
    return found;
}

/**
 * The map of a [B, heads, rows, D] tensor (strides in elements) with boxes of [box_rows][64] (columns past
 * D read as zeros); `row_step` > 1 maps row r to the tensor's row r·row_step (the aligned anchors).
 */
proteus_status encode(const TensorRef& tensor, int box_rows, int64_t row_step, CUtensorMap& map)
{
    const PFN_cuTensorMapEncodeTiled_v12000 encode_tiled = encoder();
    if (encode_tiled == nullptr) {
        return set_error(PROTEUS_STATUS_BACKEND_UNAVAILABLE, "the driver has no cuTensorMapEncodeTiled (the Hopper kernel needs it)");
    }
    const int64_t rows = (tensor.shape[2] + row_step - 1) / row_step;
    const cuuint64_t dims[4] = {static_cast<cuuint64_t>(tensor.shape[3]), static_cast<cuuint64_t>(rows),
                                static_cast<cuuint64_t>(tensor.shape[1]), static_cast<cuuint64_t>(tensor.shape[0])};
    const cuuint64_t strides[3] = {static_cast<cuuint64_t>(tensor.strides[2] * row_step) * 2, static_cast<cuuint64_t>(tensor.strides[1]) * 2,
                                   static_cast<cuuint64_t>(tensor.strides[0]) * 2};
    const cuuint32_t box[4] = {64, static_cast<cuuint32_t>(box_rows), 1, 1};
    const cuuint32_t element_strides[4] = {1, 1, 1, 1};
    const CUtensorMapDataType type = tensor.dtype == PROTEUS_DTYPE_FLOAT16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
    const CUresult status = encode_tiled(&map, type, 4, tensor.data, dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                                         CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (status != CUDA_SUCCESS) {
        return set_error(PROTEUS_STATUS_INTERNAL_ERROR, "cuTensorMapEncodeTiled failed (" + std::to_string(status) + ")");
    }
    return PROTEUS_STATUS_OK;
}

/** Whether some row of `problem` has aligned anchors (a row i ≥ W, with W < T and A > 0). */
bool has_anchor_rows(const FluxProblem& problem)
{
    const int64_t W = problem.candidates.window;
    return problem.candidates.anchor_count > 0 && W < problem.seq_len && last_query_position(problem) >= W;
}

/** The segments `problem`'s rows need (the DNA lists are built when some row has DNA keys). */
Segments segments_of(const FluxProblem& problem, const TileDna& dna)
{
    if (dna.lists != nullptr) return Segments::kDna;
    return has_anchor_rows(problem) ? Segments::kAnchors : Segments::kBand;
}

template <int kDim, int kConsumers, bool kPingPong, int kStages, int kQBuffers, Segments kSegments, bool kHalf, int kTileKeys = kKeys,
          bool kHeadMajor = false>
proteus_status launch(const FluxProblem& problem, const TileDna& dna, int multiprocessors, StreamWorkspace& workspace,
                      cudaStream_t stream)
{
    using L = Shape<kDim, kConsumers, kStages, kQBuffers, kSegments, kTileKeys>;
    CUtensorMap q_map{}, k_map{}, v_map{}, k_anchor_map{}, v_anchor_map{}, o_map{};
    proteus_status status = encode(problem.q, L::kRows, 1, q_map);
    if (L::kStoreO && status == PROTEUS_STATUS_OK) status = encode(problem.o, 16, 1, o_map);  // a warp's 16 rows a store
    if (status == PROTEUS_STATUS_OK) status = encode(problem.k, kTileKeys, 1, k_map);
    if (status == PROTEUS_STATUS_OK) status = encode(problem.v, kTileKeys, 1, v_map);
    const int64_t stride = problem.candidates.anchor_stride > 0 ? problem.candidates.anchor_stride : 1;
    if (kSegments != Segments::kBand) {
        if (status == PROTEUS_STATUS_OK) status = encode(problem.k, kTileKeys, stride, k_anchor_map);
        if (status == PROTEUS_STATUS_OK) status = encode(problem.v, kTileKeys, stride, v_anchor_map);
    } else {
        k_anchor_map = k_map;
        v_anchor_map = v_map;
    }
    if (status != PROTEUS_STATUS_OK) return status;
    WgmmaArgs args;
    args.query_len = problem.query_len;
    args.query_offset = problem.query_offset;
    args.window = static_cast<int32_t>(problem.candidates.window < problem.seq_len ? problem.candidates.window : problem.seq_len);
    args.anchor_stride = static_cast<int32_t>(stride);
    args.anchor_count = static_cast<int32_t>(std::min<int64_t>(problem.candidates.anchor_count, problem.seq_len));
    args.heads = static_cast<int>(problem.heads);
    args.group = static_cast<int>(problem.heads / problem.kv_heads);
    args.head_dim = static_cast<int>(problem.head_dim);
    args.query_tiles = static_cast<int>((problem.query_len + L::kRows - 1) / L::kRows);
    args.pairs = static_cast<int>(problem.batch * problem.heads);
    args.items = args.pairs * args.query_tiles;
    args.pairs_divide = FastDivide(static_cast<uint32_t>(args.pairs));
    args.heads_divide = FastDivide(static_cast<uint32_t>(args.heads));
    args.group_divide = FastDivide(static_cast<uint32_t>(args.group));
    args.tiles_divide = FastDivide(static_cast<uint32_t>(args.query_tiles));
    args.stride_divide = FastDivide(static_cast<uint32_t>(std::max<int32_t>(args.anchor_stride, 1)));

    args.scale_log2 = problem.scale * 1.4426950408889634f;
    args.o = problem.o.data;
    args.o_batch = problem.o.strides[0];
    args.o_head = problem.o.strides[1];
    args.o_token = problem.o.strides[2];
    if (problem.lse.present()) {
        args.lse = static_cast<float*>(problem.lse.data);
        args.lse_batch = problem.lse.strides[0];
        args.lse_head = problem.lse.strides[1];
        args.lse_token = problem.lse.strides[2];
    }
    if (problem.active.present()) {
        args.active = static_cast<const uint8_t*>(problem.active.data);
        args.active_batch = problem.active.strides[0];
        args.active_head = problem.active.strides[1];
        args.active_token = problem.active.strides[2];
    }
    args.k = static_cast<const uint16_t*>(problem.k.data);
    args.v = static_cast<const uint16_t*>(problem.v.data);
    args.k_batch = problem.k.strides[0];
    args.k_head = problem.k.strides[1];
    args.k_token = problem.k.strides[2];
    args.v_batch = problem.v.strides[0];
    args.v_head = problem.v.strides[1];
    args.v_token = problem.v.strides[2];
    args.dna = dna;
    if constexpr (kSegments == Segments::kDna) {
        // One table of entries for the call, kKeys-aligned per list so that each DNA tile's are one bulk copy.
        const int64_t lists = problem.batch * int64_t{dna.query_tiles};
        args.entry_slots = (dna.capacity + kKeys - 1) / kKeys * kKeys;
        Entry* table = nullptr;
        status = workspace.allocate(static_cast<uint64_t>(lists * args.entry_slots), &table);
        if (status != PROTEUS_STATUS_OK) return status;
        const int64_t total = lists * args.entry_slots;
        const unsigned fill_blocks = static_cast<unsigned>(std::min<int64_t>((total + 255) / 256, 65536));
        fill_entries<<<fill_blocks, 256, 0, stream>>>(args, L::kRows, lists, table);
        status = check_launch("fill_entries");
        if (status != PROTEUS_STATUS_OK) return status;
        args.entries = table;
    }
    const auto kernel =
        flux_wgmma<kDim, kConsumers, kPingPong, kStages, kQBuffers, kSegments, kHalf, kTileKeys, kHeadMajor>;
    PROTEUS_GPU_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), cudaFuncAttributeMaxDynamicSharedMemorySize, L::kBytes),
                      "FuncSetAttribute");
    // Short windows: a block per SM walks the items (one block fits an SM); else a block per item.
    const int64_t W = args.window;
    const bool persistent = W < kPersistentWindow || kSegments != Segments::kBand;
    const int64_t blocks = persistent ? std::min<int64_t>(args.items, std::max(multiprocessors, 1)) : args.items;
    args.blocks_divide = FastDivide(static_cast<uint32_t>(blocks));
    if constexpr (L::kDynamic) {
        status = workspace.allocate(1, &args.item_counter);
        if (status != PROTEUS_STATUS_OK) return status;
        PROTEUS_GPU_CHECK(cudaMemsetAsync(args.item_counter, 0, sizeof(int), stream), "MemsetAsync");
    }
    kernel<<<static_cast<unsigned>(blocks), L::kThreads, L::kBytes, stream>>>(q_map, k_map, v_map, k_anchor_map, v_anchor_map, o_map, args);
    return check_launch("flux_wgmma");
}

/**
 * Consumer warpgroups of the 64-key kernels that run `problem`, 0 where the 128-key ones do. At D ≤ 64 the
 * persistent kernels (short windows, anchors, DNA lists) run on 64-key tiles: a consumer-item at W 341 + A 171 is
 * 640 key slots instead of 768, and a DNA list of ~52 entries one 64-key tile. Measured on the H200 (NOTES.md,
 * "Issue 12 — version 6" and "version 7"; 1M tokens, H16): with DNA lists three consumers at 160 registers (10.00 ms
 * against 13.90 on 128-key tiles; four spill 348 bytes and ran 12.28), with anchors four at 112 (shortlist 8.54 ms
 * against three's 8.93, once the 32-bit descriptors had moved their spills out of the loop), the band alone four
 * (window W 341 5.63 ms against three's 6.33). Dense and long windows keep 128-key tiles.
 */
int narrow_consumers(const FluxProblem& problem)
{
    if (problem.head_dim > 64) return 0;
    if (problem.candidates.dna_count > 0) return 3;
    return has_anchor_rows(problem) || problem.candidates.window < kPersistentWindow ? 4 : 0;
}

/**
 * Whether the block-per-item kernels (dense and long windows) take their items head by head instead of query tile
 * by query tile across the heads: where every head's K and V together exceed twice the L2, the blocks in flight
 * then read one or two heads' keys, which stay in L2, instead of passing each key tile at different times. Measured
 * on the H200 (50 MiB of L2; NOTES.md, "Issue 12 — version 6"): 64K tokens D 128 15.08 against 15.29 ms, D 64 16.96
 * against 17.32; at 16K (64 MiB of K and V) D 64 1.096 against 1.037, so the order stays there.
 */
bool head_by_head(const FluxProblem& problem, int64_t l2_bytes)
{
    if (has_anchor_rows(problem) || problem.candidates.dna_count > 0 || problem.candidates.window < kPersistentWindow) return false;
    const int64_t key_bytes = problem.batch * problem.kv_heads * problem.seq_len * problem.head_dim * int64_t{2} * 2;
    return l2_bytes > 0 && key_bytes > 2 * l2_bytes;
}

/** The 64-key instantiation for `problem`'s segments with `consumers` (narrow_consumers: three with DNA lists, else four). */
template <bool kHalf>
proteus_status launch_narrow(const FluxProblem& problem, const TileDna& dna, Segments segments, int consumers, int multiprocessors,
                             StreamWorkspace& workspace, cudaStream_t stream)
{
    // Eight stages: the same 512 keys of ring as the 128-key kernels' four. O staged and stored by the tensor copy
    // engine, the items from a counter but for the DNA kernel (Shape::kStoreO, kDynamic; NOTES.md, versions 13 and 14).
    switch (segments) {
    case Segments::kDna:
        return launch<64, 3, false, 8, 2, Segments::kDna, kHalf, 64>(problem, dna, multiprocessors, workspace, stream);
    case Segments::kAnchors:
        return launch<64, 4, false, 8, 2, Segments::kAnchors, kHalf, 64>(problem, dna, multiprocessors, workspace, stream);
    default:
        return consumers == 4 ? launch<64, 4, false, 8, 2, Segments::kBand, kHalf, 64>(problem, dna, multiprocessors, workspace, stream)
                              : launch<64, 3, false, 8, 2, Segments::kBand, kHalf, 64>(problem, dna, multiprocessors, workspace, stream);
    }
}

/** The 128-key instantiation for `problem`'s head dim, segments and window (narrow_consumers 0). */
template <bool kHalf>
proteus_status launch_wide(const FluxProblem& problem, const TileDna& dna, Segments segments, const DeviceTraits& traits,
                           StreamWorkspace& workspace, cudaStream_t stream)
{
    const int multiprocessors = traits.multiprocessors;
    const bool by_head = head_by_head(problem, traits.l2_bytes);
    if (problem.head_dim <= 64) {
        // Here only the band from W 1024 on (shorter windows, anchors and DNA lists run narrow): ping-pong.
        return by_head ? launch<64, kConsumers64, true, 4, 2, Segments::kBand, kHalf, kKeys, true>(problem, dna, multiprocessors, workspace, stream)
                       : launch<64, kConsumers64, true, 4, 2, Segments::kBand, kHalf, kKeys, false>(problem, dna, multiprocessors, workspace, stream);
    }
    switch (segments) {
    case Segments::kDna:
        return launch<128, kConsumers128, false, 2, 1, Segments::kDna, kHalf>(problem, dna, multiprocessors, workspace, stream);
    case Segments::kAnchors:
        return launch<128, kConsumers128, false, 3, 1, Segments::kAnchors, kHalf>(problem, dna, multiprocessors, workspace, stream);
    default:
        return by_head ? launch<128, kConsumers128, false, 3, 1, Segments::kBand, kHalf, kKeys, true>(problem, dna, multiprocessors, workspace, stream)
                       : launch<128, kConsumers128, false, 3, 1, Segments::kBand, kHalf, kKeys, false>(problem, dna, multiprocessors, workspace, stream);
    }
}

/** The instantiation for `problem`'s head dim, segments and window (see launch_flux_wgmma). */
template <bool kHalf>
proteus_status launch_typed(const FluxProblem& problem, const TileDna& dna, const DeviceTraits& traits, StreamWorkspace& workspace,
                            cudaStream_t stream)
{
    const Segments segments = segments_of(problem, dna);
    const int consumers = narrow_consumers(problem);
    return consumers != 0 ? launch_narrow<kHalf>(problem, dna, segments, consumers, traits.multiprocessors, workspace, stream)
                          : launch_wide<kHalf>(problem, dna, segments, traits, workspace, stream);
}

/** 16-byte aligned rows, and a stride the tensor copy engine takes on every axis of extent > 1 (no broadcast). */
bool aligned_rows(const TensorRef& tensor)
{
    if (!aligned16(tensor, sizeof(uint16_t))) return false;
    for (int axis = 0; axis < 3; ++axis) {
        if (tensor.shape[axis] > 1 && (tensor.strides[axis] <= 0 || tensor.strides[axis] * 2 >= (int64_t{1} << 40))) return false;
    }
    return true;
}

}  // namespace

bool wgmma_kernel_built() { return true; }

int64_t wgmma_query_rows(const FluxProblem& problem)
{
    if (const int consumers = narrow_consumers(problem); consumers != 0) return consumers * kConsumerRows;
    return (problem.head_dim <= 64 ? kConsumers64 : kConsumers128) * kConsumerRows;
}

std::string wgmma_kernel_refusal(const FluxProblem& problem, const DeviceTraits& traits)
{
    if (traits.arch != 90) return "the Hopper kernel runs on sm_90 devices, not sm_" + std::to_string(traits.arch);
    if (problem.q.dtype != PROTEUS_DTYPE_BFLOAT16 && problem.q.dtype != PROTEUS_DTYPE_FLOAT16) {
        return "the Hopper kernel takes bfloat16 and float16";
    }
    if (problem.head_dim < 8 || problem.head_dim > 128 || problem.head_dim % 8 != 0) {
        return "the Hopper kernel takes head dims 8 … 128 in steps of 8";
    }
    if (problem.candidates.policy != PROTEUS_POLICY_ALIGNED) return "the Hopper kernel takes the Aligned policy";
    if (problem.candidates.dna_count > kMaxTileDnaKeys) {
        return "the Hopper kernel takes up to " + std::to_string(kMaxTileDnaKeys) + " DNA keys a row";
    }
    if (!aligned_rows(problem.q) || !aligned_rows(problem.k) || !aligned_rows(problem.v) || !aligned_rows(problem.o)) {
        return "the Hopper kernel needs 16-byte aligned rows and no broadcast axis";
    }
    const int64_t stride = problem.candidates.anchor_stride > 0 ? problem.candidates.anchor_stride : 1;
    if (problem.candidates.anchor_count > 0 &&
        (problem.k.strides[2] * stride * 2 >= (int64_t{1} << 40) || problem.v.strides[2] * stride * 2 >= (int64_t{1} << 40))) {
        return "the Hopper kernel needs the anchor stride S times a key row's bytes below 2^40";
    }
    if (problem.query_len > INT32_MAX / 2 || problem.seq_len > INT32_MAX / 2) return "the Hopper kernel takes up to 2^30 - 1 rows";
    if (problem.batch * problem.heads * ((problem.query_len + kConsumerRows * 2 - 1) / (kConsumerRows * 2)) > INT32_MAX) {
        return "the Hopper kernel takes up to 2^31 - 1 work items (B · H · query tiles)";
    }
    return "";
}

proteus_status launch_flux_wgmma(const FluxProblem& problem, const TileDna& dna, const DeviceTraits& traits, StreamWorkspace& workspace,
                                 cudaStream_t stream)
{
    // Measured on the H200 (NOTES.md, "Issue 12 — version 1"): D 64 with three consumers and four stages,
    // ping-pong for long windows (dense 16K: 523 against 482 TFLOP/s without) but not for short ones, where
    // every consumer would run the block's tiles instead of its own; D 128 with two consumers, three stages
    // and P·V on m64n128 (650 TFLOP/s at 16K; 489 with two stages and m64n64), ping-pong no faster there.
    // Anchors and DNA lists (version 2) keep those shapes: at D 64 three consumers (10.4 ms for the issue's 1M
    // shortlist) beat two (11.6 ms) although they spill; the DNA kernel at D 128 has two stages (the entries
    // beside each stage leave no room for a third). The consumer counts fix the rows of a work item, and so
    // the query tiles the DNA lists are built for (read by wgmma_query_rows too). Version 6: at D ≤ 64 the
    // persistent kernels run on 64-key tiles (narrow_consumers), and long causal bands head by head where the
    // keys outgrow the L2 (head_by_head). Version 7: four consumers with anchors (without DNA lists). Version 8: the
    // lazy running max at D 128 (launch_wide), one full barrier a stage, a consumer's stretches as one pipeline.
    // Version 10: bfloat16's P against fixed references (exp_against_reference; float16 keeps the running max).
    // Version 11: the 64-key kernels run a consumer's last band tile as a 32-key step where its rows reach only that far.
    return problem.q.dtype == PROTEUS_DTYPE_FLOAT16 ? launch_typed<true>(problem, dna, traits, workspace, stream)
                                                    : launch_typed<false>(problem, dna, traits, workspace, stream);
}

}  // namespace proteus::gpu
