// Flux attention on tensor cores (SPEC §2–§3): the flash-style tile kernel for the Aligned policy,
// float16 and bfloat16, D in {16, 32, 64, 80, 96, 128, 256} (Q·Kᵀ steps through D 16 at a time, P·V
// 8 dims at a time in pairs: every D a multiple of 16; D 8 runs the row kernels): the local window (dense causal attention is the
// window W ≥ T), the aligned anchors and the DNA keys (K ≤ kMaxTileDnaKeys; their candidates come
// from gpu/flux_dna.cu, built once per call).
//
// Query slices (SPEC §1): q, o, active and lse hold Tq rows; row r is position i = p0 + r. Query tiles
// cover rows [tile·block_q, (tile + 1)·block_q) ∩ [0, Tq), i.e. positions [i0, i1] = p0 + those rows
// (i0 any position, not a multiple of block_q); everything below is in positions except the loads and
// stores of q, o, active and lse, which take row i − p0.
//
// Algorithm (one block per (batch row, head, tile of block_q query rows at positions [i0, i1]))
//   Warp w owns 16·RowTiles consecutive query rows (RowTiles = 1 or 2 m16 tiles of gpu/mma.h; with
//   2, every K and V fragment read from shared memory serves both tiles); its accumulators for S,
//   the softmax statistics and O stay in registers.
//   1. The Q tile and the first key tiles are copied to shared memory (cp.async); each warp loads
//      its Q fragments once where they fit in registers (q_resident), else per key tile.
//   2. The key tiles: first the tile's anchors (the union of its rows' anchors, an arithmetic
//      progression of step S, gathered block_k rows at a time), then its DNA list (a superset of its
//      rows' Dna(i), gathered the same way; a row takes an entry by a threshold test, see below),
//      then the band [window_start(i0), i1] in steps of block_k keys. All use the same code below,
//      with per-row ranges of positions (a row's anchors, a row's window) in place of key ranges
//      and, for DNA tiles, the per-entry test. Per tile:
//        S = Q·Kᵀ on tensor cores; keys outside a row's range (its anchors, or its window
//        lo(i) ≤ j ≤ i) score −inf (tiles that lie inside every row's range of the warp skip the
//        mask, tiles outside all of them are skipped by the warp); a DNA entry j counts for row i
//        when j ≤ i − W, its rank key reaches row i's threshold (the K-th best of [0, i − W]) and j
//        is not one of row i's anchors; the online softmax in base 2 (scale·log2 e folded into one
//        FMA per score) rescales the running O and row sums; P is rounded to the storage type in
//        registers and O += P·V on tensor cores. A row's anchors and DNA keys lie below lo(i), and
//        its DNA keys exclude its anchors, so each key counts once for it even where a tile's anchors
//        or DNA keys fall in its band.
//      Copies run `stages` − 1 tiles ahead of the arithmetic, into a ring of `stages` buffers.
//   3. O / l is written through shared memory as 16-byte rows, lse = m·scale + log l. Inactive
//      rows write 0 and −inf (a warp without active rows skips all arithmetic).
//
// The anchor code is compiled only into the kAnchors instantiations; problems where no row has an
// anchor (A = 0, or W ≥ T, dense included) run the kAnchors = false kernel, v1's band-only code.
//
// Shared rows are padded by 8 elements (16 bytes): a row is then an odd number of 16-byte units
// (D / 8 + 1 with D / 8 even), so the eight rows an ldmatrix phase reads start on distinct 16-byte
// bank groups for every D the kernel takes (D 80: 11 units, 96: 13, 256: 33).
//
// Synchronisation: every barrier is in code that all threads of the block run the same number of
// times (the key-tile loop's trip count depends only on the block's tile). The rows' anchor ranges
// are written before the loop and first read after its first barrier. A stage buffer is
// refilled only after the barrier that ends the iteration that read it; a copy is read only after
// its issuing thread waited for its group and the block passed a barrier. Warp-level branches
// (skipping a tile, an inactive warp) are uniform within the warp, so each mma group is converged.
#include "gpu/flux_tile_kernel.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "core/candidate_rules.h"
#include "gpu/device_call.h"
#include "gpu/flux_common.h"
#include "gpu/flux_dna.h"
#include "gpu/mma.h"
#include "core/error.h"

namespace proteus::gpu {
namespace {

constexpr int kMaxWarps = 8;
constexpr int kRowPad = 8;        // elements after each shared row (see above)
constexpr int kChunk = 8;         // elements per 16-byte copy
constexpr float kLog2E = 1.4426950408889634f;

__device__ __forceinline__ int32_t smaller(int32_t a, int32_t b) { return a < b ? a : b; }

// ---- launch configurations ------------------------------------------------------------------------

/**
 * What the tile kernel is compiled for at one head dim: the key-tile widths (each a kernel) and the
 * heuristic's default with 16 query rows a warp. A wider key tile holds more scores in registers:
 * block_k / 2 floats per thread and m16 tile beside D / 2 for O and D / 4 registers of Q fragments,
 * so D ≥ 80 stops at 64 keys. D 256 holds 128 floats of O a thread: 16 rows a warp only, Q reloaded
 * from shared memory per key tile (q_resident), one block of 8 warps a multiprocessor.
 */
struct TileTraits {
    int head_dim;
    int block_keys[3];  // 0: no kernel
    int default_block_keys;
};

constexpr TileTraits kTileTraits[] = {
    {16, {32, 64, 128}, 64},
    {32, {32, 64, 128}, 64},
    {64, {32, 64, 128}, 64},
    {80, {32, 64, 0}, 64},
    {96, {32, 64, 0}, 64},
    {128, {32, 64, 0}, 64},
    {256, {32, 64, 0}, 64},
};

/** Whether the tile kernel is compiled for head dim `head_dim`. */
constexpr bool tile_head_dim(int64_t head_dim)
{
    for (const TileTraits& traits : kTileTraits) {
        if (traits.head_dim == head_dim) return true;
    }
    return false;
}

constexpr int kBlockRows[] = {64, 128};  // 2 to 8 warps (16 or 32 rows each)
constexpr int kMaxStages = 3;            // copy_wait takes up to 2 groups in flight
constexpr int kDefaultStages = 2;

/** Which segments a problem's rows need: the band only, anchors too, or anchors and DNA keys. */
enum class Segments { kBand, kAnchors, kDna };

/**
 * Threads of a block at most: a warp holds RowTiles m16 tiles of query rows (16 or 32 rows), a
 * block at most 128 rows.
 */
constexpr int max_threads(int row_tiles) { return kMaxWarps / row_tiles * mma::kLanes; }

/**
 * Blocks that should share a multiprocessor. 16 rows per warp: 2 blocks of 8 warps where the tiles
 * fit 128 registers a thread without spilling (ptxas, sm_80 and sm_90: D ≤ 64 with block_k ≤ 64),
 * so that 16 warps hide each other's latency; 1 otherwise. 32 rows per warp: 2 blocks of 4 warps
 * (up to 255 registers a thread).
 */
constexpr int blocks_per_multiprocessor(int head_dim, int block_k, int row_tiles)
{
    return row_tiles == 2 || (head_dim <= 64 && block_k <= 64) ? 2 : 1;
}

/**
 * Whether a warp keeps its Q fragments in registers for the whole key loop: where they fit beside
 * the O and S accumulators (RowTiles · (D/2 + block_k/2 + D/4) registers a thread, kept ≤ 168);
 * otherwise each key tile reloads them from the Q tile in shared memory.
 */
__host__ __device__ constexpr bool q_resident(int head_dim, int block_k, int row_tiles)
{
    return row_tiles * (head_dim / 2 + block_k / 2 + head_dim / 4) <= 168;
}

/** The traits of a head dim the kernel takes (tile_kernel_takes checked it). */
constexpr const TileTraits& tile_traits(int head_dim)
{
    int n = 0;
    while (kTileTraits[n].head_dim != head_dim && n + 1 < static_cast<int>(std::size(kTileTraits))) ++n;
    return kTileTraits[n];
}

constexpr bool offers_block_keys(int head_dim, int block_k)
{
    for (const int keys : tile_traits(head_dim).block_keys) {
        if (keys != 0 && keys == block_k) return true;
    }
    return false;
}

/**
 * Whether a kernel with `row_tiles` m16 tiles per warp is compiled for (D, block_k, segments): 16
 * rows per warp for all; 32 (each K and V fragment read from shared memory serves twice the rows)
 * for the kernels without DNA keys (dense, window, anchors) at D 64 and 128, and at D 80 and 96 with
 * 64 keys a tile (the heuristic's choice there, as at D 128).
 */
constexpr bool offers_row_tiles(int head_dim, int block_k, int row_tiles, Segments segments)
{
    if (!offers_block_keys(head_dim, block_k)) return false;
    const bool wide = head_dim == 64 || head_dim == 128 || ((head_dim == 80 || head_dim == 96) && block_k == 64);
    return row_tiles == 1 || (row_tiles == 2 && segments != Segments::kDna && wide);
}

// ---- the kernel -----------------------------------------------------------------------------------

struct TileArgs {
    Rows<const uint16_t> q, k, v;
    Rows<uint16_t> o;
    Rows<const uint8_t> active;  // data null: every row is active
    Rows<float> lse;             // data null: not wanted
    int64_t heads = 0, group = 1;  // group: query heads per kv head
    int64_t batch_heads = 0;       // B·H: blocks per query tile
    int64_t window = 0;
    int64_t anchor_stride = 1;   // S ≥ 1
    int64_t anchor_count = 0;    // A; 0: no anchors
    int32_t query_offset = 0;    // p0: row r of q, o, active, lse is position p0 + r
    int32_t query_len = 0;       // Tq: rows of q; query tiles cover rows [tile·block_q, …)
    int32_t query_tiles = 0;     // ⌈Tq / block_q⌉
    int32_t block_q = 0;
    int32_t stages = 0;
    float scale = 0.0f;       // of the scores, for lse
    float scale_log2 = 0.0f;  // scale · log2 e, for the base-2 softmax
    TileDna dna;              // kDna kernels: the thresholds and per-tile lists of gpu/flux_dna.h
    Gate gate;                // TILE_OR_ROW_MODE: the device's choice (gpu/flux_common.h)
};

/** Positions [low, high] of a row's keys in a segment of the key sequence; empty when low > high. */
struct KeyRange {
    int32_t low, high;
};

/**
 * Bytes of the shared-memory layout: the Q tile (reused for O), `stages` × (K tile, V tile), each
 * row's anchor positions, with DNA keys (`dna_capacity` > 0: the most a tile's list holds) each row's
 * threshold and the tile's list (rank key and anchor position per entry), row flags.
 */
size_t shared_bytes(int head_dim, int block_q, int block_k, int stages, int dna_capacity)
{
    const size_t elements = static_cast<size_t>(block_q + 2 * block_k * stages) * (head_dim + kRowPad);
    const size_t dna = dna_capacity > 0 ? static_cast<size_t>(block_q) * sizeof(uint64_t) +
                                              static_cast<size_t>(dna_capacity) * (sizeof(uint64_t) + sizeof(int32_t))
                                        : 0;
    return elements * sizeof(uint16_t) + static_cast<size_t>(block_q) * (sizeof(KeyRange) + 1) + dna;
}

// kAnchors false: the problem has no anchor key in any row (tile_attention checks); the kernel then
// holds none of the anchor bookkeeping (every key tile is a band tile), which keeps the D 64 /
// block_k 64 kernel inside its 128 registers (see NOTES.md, v2). kDna (only with kAnchors): some row
// has DNA keys; the kernel then runs the tile's DNA list as a third segment. kGated: queued behind
// the row mode's device-side choice (TILE_OR_ROW_MODE); the kernel returns at entry unless the tile
// kernel was chosen. Only those launches carry the check, so the other kernels are exactly as before
// (the D 128 kernels run at the register limit, where any extra state moves spills).
template <typename Storage, int D, int BlockN, int RowTiles, bool kAnchors, bool kDna, bool kGated>
__global__ void __launch_bounds__(max_threads(RowTiles), blocks_per_multiprocessor(D, BlockN, RowTiles))
    flux_tile(const TileArgs args)
{
    constexpr int kRowPitch = D + kRowPad;  // elements from one shared row to the next
    constexpr int kChunksPerRow = D / kChunk;
    constexpr int kDimSteps = D / 16;         // k16 steps of Q·Kᵀ
    constexpr int kScoreBlocks = BlockN / 8;  // n8 blocks of S
    constexpr int kDimBlocks = D / 8;         // n8 blocks of O
    constexpr int kWarpRows = 16 * RowTiles;  // query rows per warp
    constexpr int kLaneRows = 2 * RowTiles;   // accumulator rows per lane
    constexpr bool kQResident = q_resident(D, BlockN, RowTiles);
    using F = mma::Format<Storage>;

    if constexpr (kGated) {
        if (args.gate.closed()) return;  // the whole grid: the row mode computes this call
    }

    extern __shared__ uint4 shared_memory[];
    uint16_t* const q_tile = reinterpret_cast<uint16_t*>(shared_memory);
    uint16_t* const key_stages = q_tile + args.block_q * kRowPitch;  // stage s: K rows, then V rows
    KeyRange* const anchor_ranges = reinterpret_cast<KeyRange*>(key_stages + args.stages * 2 * BlockN * kRowPitch);
    // With DNA: each row's threshold, the tile's list of rank keys, and each entry's anchor position.
    uint64_t* const row_thresholds = reinterpret_cast<uint64_t*>(kAnchors ? anchor_ranges + args.block_q : anchor_ranges);
    uint64_t* const dna_keys = row_thresholds + (kDna ? args.block_q : 0);
    int32_t* const dna_anchors = reinterpret_cast<int32_t*>(dna_keys + (kDna ? args.dna.capacity : 0));
    uint8_t* const row_flags = reinterpret_cast<uint8_t*>(dna_anchors + (kDna ? args.dna.capacity : 0));

    const int threads = static_cast<int>(blockDim.x);
    const int thread = static_cast<int>(threadIdx.x);
    const int warp = thread / mma::kLanes;
    const int lane = thread % mma::kLanes;

    // Heaviest query tiles first: under a causal band the last ones (the largest positions) hold the
    // most keys.
    const int64_t tile = args.query_tiles - 1 - static_cast<int64_t>(blockIdx.x) / args.batch_heads;
    const int64_t batch_head = static_cast<int64_t>(blockIdx.x) % args.batch_heads;
    const int64_t b = batch_head / args.heads;
    const int64_t h = batch_head % args.heads;
    const int64_t kv_head = h / args.group;
    // The tile's rows are [row0, row0 + block_q) ∩ [0, Tq), its positions [i0, i1] = p0 + those rows:
    // everything below works in positions (keys, windows, anchors, DNA prefixes, the masks); only
    // the loads and stores of q, o, active and lse take rows, i − p0. i0 need not be a multiple of
    // block_q: nothing below assumes it. Positions fit int32 (T ≤ 2^31 − 1). The row of position i is
    // i − args.query_offset, read from the parameters where it is needed rather than kept in a register
    // across the key loop (the D 128 kernels run at the register limit).
    const int32_t i0 = args.query_offset + static_cast<int32_t>(tile) * args.block_q;
    const int32_t i1 = smaller(i0 + args.block_q, args.query_offset + args.query_len) - 1;

    const uint16_t* const q_rows = args.q.at(b, h, 0);
    const uint16_t* const k_rows = args.k.at(b, kv_head, 0);
    const uint16_t* const v_rows = args.v.at(b, kv_head, 0);

    // 1. The Q tile (rows past the slice zero) and the active flags of its rows.
    for (int c = thread; c < args.block_q * kChunksPerRow; c += threads) {
        const int r = c / kChunksPerRow;
        const int part = c % kChunksPerRow;
        const int32_t i = smaller(i0 + r, i1);
        mma::copy_16(q_tile + r * kRowPitch + part * kChunk, q_rows + (i - args.query_offset) * args.q.token + part * kChunk,
                     i0 + r <= i1);
    }
    for (int r = thread; r < args.block_q; r += threads) {
        const int32_t i = i0 + r;
        row_flags[r] = i <= i1 && (args.active.data == nullptr || *args.active.at(b, h, i - args.query_offset) != 0);
    }

    // 2. The key tiles: first the anchors, then the band. Keys are numbered by position p within
    //    their segment: anchor p is key anchor_first + p·S (the union of the tile's rows' anchors is
    //    that progression, since a row's first and last anchor grow by at most S per row), band p is
    //    key key_begin + p. Positions keep the masks in int32 whatever S is.
    const int32_t key_begin = static_cast<int32_t>(window_start(i0, args.window));
    const int band_tiles = (i1 - key_begin) / BlockN + 1;
    const int64_t first_anchored = i0 > args.window ? i0 : args.window;  // rows i ≥ W have anchors
    int32_t anchor_first = 0;
    int32_t anchor_keys = 0;
    if constexpr (kAnchors) {
        if (args.anchor_count > 0 && first_anchored <= i1) {
            anchor_first = static_cast<int32_t>(
                aligned_anchors(first_anchored, args.window, args.anchor_stride, args.anchor_count).first);
            const AlignedAnchors last = aligned_anchors(i1, args.window, args.anchor_stride, args.anchor_count);
            anchor_keys = static_cast<int32_t>((last.first - anchor_first) / args.anchor_stride + last.count);
        }
        // Each row's anchor positions [low, high] (empty: low > high), here rather than in the key
        // loop, whose registers the 64-bit divisions would crowd. Rows past i1 take i1's (never written).
        for (int r = thread; r < args.block_q; r += threads) {
            const AlignedAnchors a =
                aligned_anchors(smaller(i0 + r, i1), args.window, args.anchor_stride, args.anchor_count);
            const int32_t low =
                a.count > 0 ? static_cast<int32_t>((a.first - anchor_first) / args.anchor_stride) : INT32_MAX;
            anchor_ranges[r] = {low, a.count > 0 ? low + static_cast<int32_t>(a.count) - 1 : INT32_MIN};
        }
    }
    const int anchor_tiles = kAnchors ? (anchor_keys + BlockN - 1) / BlockN : 0;  // 0: only band tiles

    // The DNA segment: position p is the tile's list entry p (gpu/flux_dna.h), a superset of every
    // row's Dna(i); row i takes the key j of an entry when j ≤ i − W, its rank key reaches the row's
    // threshold (the K-th best of [0, i − W]) and j is not one of the row's anchors. Entries and
    // thresholds are staged here, first read after the key loop's first barrier.
    int32_t dna_count = 0;
    const uint64_t* dna_list = nullptr;
    if constexpr (kDna) {
        if (i1 >= args.window) {
            const int64_t list = b * args.query_tiles + tile;
            dna_list = args.dna.lists + list * args.dna.capacity;
            dna_count = args.dna.counts[list];
        }
        for (int n = thread; n < dna_count; n += threads) {
            const uint64_t key = dna_list[n];
            const int64_t j = static_cast<int64_t>(key & 0xffffffffu);
            const bool anchor = anchor_keys > 0 && j >= anchor_first && (j - anchor_first) % args.anchor_stride == 0;
            dna_keys[n] = key;
            dna_anchors[n] = anchor ? static_cast<int32_t>((j - anchor_first) / args.anchor_stride) : -1;
        }
        // Row i's threshold is that of prefix i − W (≥ the slice's first prefix, gpu/flux_dna.h).
        for (int r = thread; r < args.block_q; r += threads) {
            const int32_t i = i0 + r;
            row_thresholds[r] = i <= i1 && i >= args.window
                                    ? args.dna.thresholds[b * args.dna.prefixes + (i - args.window - args.dna.first_prefix)]
                                    : ~uint64_t{0};  // no DNA key (j ≤ i − W fails too)
        }
    }
    const int dna_tiles = kDna ? (dna_count + BlockN - 1) / BlockN : 0;
    const int key_tiles = anchor_tiles + dna_tiles + band_tiles;
    // The ring buffers are counted by wrapping counters, not `index % stages` (see the registers note below).
    int load_stage = 0;  // the ring buffer the next load_key_tile fills
    const auto load_key_tile = [&](int index) {
        uint16_t* const k_tile = key_stages + load_stage * 2 * BlockN * kRowPitch;
        load_stage = load_stage + 1 == args.stages ? 0 : load_stage + 1;
        uint16_t* const v_tile = k_tile + BlockN * kRowPitch;
        // The tile's keys are first, first + step, …; those from `present` on (past i1, past the last
        // anchor) belong to no row: zeros, masked.
        if constexpr (kAnchors) {
            const bool anchors = index < anchor_tiles;
            const bool dna = kDna && !anchors && index < anchor_tiles + dna_tiles;
            const int32_t position0 =
                (anchors ? index : dna ? index - anchor_tiles : index - anchor_tiles - dna_tiles) * BlockN;
            const int64_t step = anchors ? args.anchor_stride : 1;
            const int64_t first = anchors ? anchor_first + position0 * step : int64_t{key_begin} + position0;
            const int32_t count = anchors ? anchor_keys - position0
                                  : dna   ? dna_count - position0
                                          : i1 - key_begin - position0 + 1;
            for (int c = thread; c < BlockN * kChunksPerRow; c += threads) {
                const int r = c / kChunksPerRow;
                const int part = c % kChunksPerRow;
                const bool present = r < count;
                const int64_t source = !present ? i1
                                       : dna    ? static_cast<int64_t>(dna_list[position0 + r] & 0xffffffffu)
                                                : first + r * step;
                mma::copy_16(k_tile + r * kRowPitch + part * kChunk, k_rows + source * args.k.token + part * kChunk, present);
                mma::copy_16(v_tile + r * kRowPitch + part * kChunk, v_rows + source * args.v.token + part * kChunk, present);
            }
        } else {  // band tiles only: keys key_begin + index·block_k + r
            const int32_t key0 = key_begin + index * BlockN;
            for (int c = thread; c < BlockN * kChunksPerRow; c += threads) {
                const int r = c / kChunksPerRow;
                const int part = c % kChunksPerRow;
                const int32_t j = key0 + r;
                const int32_t source = smaller(j, i1);
                mma::copy_16(k_tile + r * kRowPitch + part * kChunk, k_rows + source * args.k.token + part * kChunk, j <= i1);
                mma::copy_16(v_tile + r * kRowPitch + part * kChunk, v_rows + source * args.v.token + part * kChunk, j <= i1);
            }
        }
    };
    for (int index = 0; index < args.stages - 1; ++index) {
        if (index < key_tiles) load_key_tile(index);
        mma::copy_commit();  // empty groups too: the wait below counts groups
    }

    // This lane's rows are accumulator rows g and g + 8 of each of its warp's m16 tiles (lane row r:
    // tile r / 2, row g + 8·(r % 2)). A row's keys in a
    // segment are the positions [low, high] (empty when low > high); both ends grow with the row, so
    // the warp's first and last (anchored) rows bound the positions that some row of the warp takes
    // and those that every row takes (tiles inside the latter skip the mask). They are derived per
    // tile, not held across the key loop, which keeps the dense kernel's registers.
    const int32_t warp_row = i0 + warp * kWarpRows;
    const int32_t warp_last = smaller(warp_row + kWarpRows - 1, i1);
    const auto lane_row = [&](int r) { return warp_row + 16 * (r / 2) + mma::accumulator_row(lane, 2 * (r % 2)); };
    const auto band_range = [&](int32_t i) {
        return KeyRange{static_cast<int32_t>(window_start(i, args.window)) - key_begin, i - key_begin};
    };
    const auto anchor_range = [&](int32_t i) { return anchor_ranges[smaller(i, i1) - i0]; };
    // The warp's first anchored row (its last row when it has none: an empty range).
    const int32_t first_anchored_row = warp_row >= args.window   ? warp_row
                                       : args.window <= warp_last ? static_cast<int32_t>(args.window)
                                                                  : warp_last;
    // Without anchors (kAnchors false) the key loop counts in keys, not segment positions, and the
    // warp's windows are held across it; this lane's rows' windows are derived where a tile needs the
    // mask. The kernel with anchors derives all its ranges per tile (these are then unused). Register
    // pressure: the D 128 band kernel runs at the limit, and holding the lane windows plus indexing the
    // ring buffers by `index % stages` cost it a spill reload per key tile on nvcc 13 (1.75 vs 1.68 ms
    // at T 16K; neither change alone recovered it, NOTES.md "Issue 8").
    const int32_t warp_low = static_cast<int32_t>(window_start(warp_row, args.window));
    const int32_t warp_high_low = static_cast<int32_t>(window_start(warp_last, args.window));
    const auto lane_window = [&](int r) {
        return KeyRange{static_cast<int32_t>(window_start(lane_row(r), args.window)), lane_row(r)};
    };
    float m[kLaneRows];  // running maximum of the raw scores q·k
    float l[kLaneRows];  // this lane's part of the running sum of 2^(scaled score − max)
    for (int r = 0; r < kLaneRows; ++r) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
    }
    mma::Accumulator o[RowTiles][kDimBlocks];
    for (auto& tile_o : o) {
        for (auto& block : tile_o) block = {};
    }
    // Q fragments stay in registers where they fit beside O and S (q_resident), else each key tile
    // reads them from the Q tile again.
    mma::FragmentA q_fragments[kQResident ? RowTiles : 1][kQResident ? kDimSteps : 1];
    const uint16_t* const warp_q = q_tile + warp * kWarpRows * kRowPitch;
    bool warp_active = false;

    int read_stage = 0;  // the ring buffer of key tile `index`
    for (int index = 0; index < key_tiles; ++index) {
        const int ahead = index + args.stages - 1;
        if (ahead < key_tiles) load_key_tile(ahead);
        mma::copy_commit();
        mma::copy_wait(args.stages - 1);  // this thread's copies of tile `index` (and of Q) have landed
        __syncthreads();                  // everyone's have

        if (index == 0) {
            for (int r = 0; r < kWarpRows; ++r) warp_active |= row_flags[warp * kWarpRows + r] != 0;
            if (kQResident && warp_active) {
                for (int t = 0; t < RowTiles; ++t) {
                    for (int d = 0; d < kDimSteps; ++d) {
                        mma::load_a(q_fragments[t][d], warp_q + 16 * t * kRowPitch + 16 * d, kRowPitch, lane);
                    }
                }
            }
        }

        const bool band = !kAnchors || index >= anchor_tiles + dna_tiles;
        const bool dna_segment = kDna && !band && index >= anchor_tiles;
        const int32_t key0 = kAnchors ? (band ? index - anchor_tiles - dna_tiles : dna_segment ? index - anchor_tiles : index) *
                                            BlockN                // positions
                                      : key_begin + index * BlockN;  // keys
        const int32_t key_last = key0 + BlockN - 1;
        const KeyRange first_range = !kAnchors ? KeyRange{warp_low, warp_row}
                                     : band    ? band_range(warp_row)
                                               : anchor_range(first_anchored_row);
        const KeyRange last_range = !kAnchors ? KeyRange{warp_high_low, warp_last}
                                    : band    ? band_range(warp_last)
                                              : anchor_range(warp_last);
        // A DNA tile: computed by every warp with a row that has DNA keys (i ≥ W).
        const bool takes_keys =
            dna_segment ? warp_last >= args.window : key0 <= last_range.high && key_last >= first_range.low;
        if (warp_active && takes_keys) {
            const uint16_t* const k_tile = key_stages + read_stage * 2 * BlockN * kRowPitch;
            const uint16_t* const v_tile = k_tile + BlockN * kRowPitch;

            // S = Q·Kᵀ: each K fragment serves every m16 tile of the warp.
            mma::Accumulator s[RowTiles][kScoreBlocks];
            for (auto& tile_s : s) {
                for (auto& block : tile_s) block = {};
            }
            for (int d = 0; d < kDimSteps; ++d) {
                mma::FragmentA query[RowTiles];
                for (int t = 0; t < RowTiles; ++t) {
                    if constexpr (kQResident) {
                        query[t] = q_fragments[t][d];
                    } else {
                        mma::load_a(query[t], warp_q + 16 * t * kRowPitch + 16 * d, kRowPitch, lane);
                    }
                }
                for (int n = 0; n < kScoreBlocks; n += 2) {
                    mma::FragmentB key[2];
                    mma::load_b_from_rows(key, k_tile + 8 * n * kRowPitch + 16 * d, kRowPitch, lane);
                    for (int t = 0; t < RowTiles; ++t) {
                        mma::mma<Storage>(s[t][n], query[t], key[0], lane);
                        mma::mma<Storage>(s[t][n + 1], query[t], key[1], lane);
                    }
                }
            }

            // Keys outside a row's range of the segment (its window [lo(i), i] or its anchors, which
            // lie below lo(i): each key counts once for a row) and the zero rows past the segment
            // do not count.
            // The warp's first row: its anchor range is empty unless every row of the warp has anchors.
            const KeyRange warp_first_range = band ? first_range : anchor_range(warp_row);
            const bool inside_every_range =
                !dna_segment && key_last <= warp_first_range.high && key0 >= last_range.low;
            if (kDna && dna_segment) {
                uint64_t threshold[kLaneRows];
                int32_t prefix[kLaneRows];
                KeyRange anchors_of[kLaneRows];
                for (int r = 0; r < kLaneRows; ++r) {
                    const int32_t i = lane_row(r);
                    threshold[r] = row_thresholds[smaller(i, i1) - i0];
                    prefix[r] = i - static_cast<int32_t>(args.window);  // W < T here
                    anchors_of[r] = anchor_range(i);
                }
                for (int n = 0; n < kScoreBlocks; ++n) {
                    for (int c = 0; c < 2; ++c) {
                        const int32_t p = key0 + 8 * n + mma::accumulator_column(lane, c);
                        const bool listed = p < dna_count;
                        const uint64_t key = listed ? dna_keys[p] : 0;
                        const auto j = static_cast<int32_t>(key & 0xffffffffu);
                        const int32_t anchor = listed ? dna_anchors[p] : -1;
                        for (int r = 0; r < kLaneRows; ++r) {
                            const bool takes = listed && j <= prefix[r] && key >= threshold[r] &&
                                               !(anchor >= anchors_of[r].low && anchor <= anchors_of[r].high);
                            if (!takes) s[r / 2][n].x[2 * (r % 2) + c] = -INFINITY;
                        }
                    }
                }
            } else if (!inside_every_range) {
                KeyRange range[kLaneRows];
                for (int r = 0; r < kLaneRows; ++r) {
                    range[r] = !kAnchors ? lane_window(r) : band ? band_range(lane_row(r)) : anchor_range(lane_row(r));
                }
                for (int t = 0; t < RowTiles; ++t) {
                    for (int n = 0; n < kScoreBlocks; ++n) {
                        for (int e = 0; e < 4; ++e) {
                            const int32_t p = key0 + 8 * n + mma::accumulator_column(lane, e);
                            const KeyRange& row = range[2 * t + e / 2];
                            if (p < row.low || p > row.high) s[t][n].x[e] = -INFINITY;
                        }
                    }
                }
            }

            // Online softmax in base 2: p = 2^(s·scale·log2 e − m·scale·log2 e).
            float tile_max[kLaneRows];
            for (int r = 0; r < kLaneRows; ++r) tile_max[r] = -INFINITY;
            for (int t = 0; t < RowTiles; ++t) {
                for (int n = 0; n < kScoreBlocks; ++n) {
                    for (int e = 0; e < 4; ++e) tile_max[2 * t + e / 2] = fmaxf(tile_max[2 * t + e / 2], s[t][n].x[e]);
                }
            }
            float shift[kLaneRows], rescale[kLaneRows];
            for (int r = 0; r < kLaneRows; ++r) {
                const float m_new = fmaxf(m[r], mma::row_max(tile_max[r]));
                shift[r] = m_new == -INFINITY ? 0.0f : m_new * args.scale_log2;  // a row with no key yet stays at 0
                rescale[r] = mma::exp2_fast(m[r] * args.scale_log2 - shift[r]);  // 0 while m was −inf
                m[r] = m_new;
                l[r] *= rescale[r];
            }
            for (int t = 0; t < RowTiles; ++t) {
                for (int n = 0; n < kDimBlocks; ++n) {
                    for (int e = 0; e < 4; ++e) o[t][n].x[e] *= rescale[2 * t + e / 2];
                }
                for (int n = 0; n < kScoreBlocks; ++n) {
                    for (int e = 0; e < 4; ++e) {
                        const float p = mma::exp2_fast(fmaf(s[t][n].x[e], args.scale_log2, -shift[2 * t + e / 2]));
                        s[t][n].x[e] = p;
                        l[2 * t + e / 2] += p;
                    }
                }
            }

            // O += P·V: each V fragment serves every m16 tile of the warp.
            for (int n = 0; n < kScoreBlocks; n += 2) {
                mma::FragmentA p[RowTiles];
                for (int t = 0; t < RowTiles; ++t) mma::pack_a<Storage>(p[t], s[t][n], s[t][n + 1]);
                for (int d = 0; d < kDimBlocks; d += 2) {
                    mma::FragmentB value[2];
                    mma::load_b_from_columns(value, v_tile + 8 * n * kRowPitch + 8 * d, kRowPitch, lane);
                    for (int t = 0; t < RowTiles; ++t) {
                        mma::mma<Storage>(o[t][d], p[t], value[0], lane);
                        mma::mma<Storage>(o[t][d + 1], p[t], value[1], lane);
                    }
                }
            }
        }
        __syncthreads();  // this stage is refilled next
        read_stage = read_stage + 1 == args.stages ? 0 : read_stage + 1;
    }

    // 3. Output rows through the Q tile, which no warp reads any more.
    for (int r = 0; r < kLaneRows; ++r) {
        const int32_t i = lane_row(r);
        const int local = i - i0;
        const float sum = mma::row_sum(l[r]);
        const bool active = warp_active && row_flags[local] != 0;
        const float inverse = active ? 1.0f / sum : 0.0f;
        const int half = r % 2;  // accumulator elements 2·half, 2·half + 1 of tile r / 2
        for (int n = 0; n < kDimBlocks; ++n) {
            const int column = 8 * n + mma::accumulator_column(lane, 2 * half);
            *reinterpret_cast<uint32_t*>(q_tile + local * kRowPitch + column) =
                F::pack(o[r / 2][n].x[2 * half] * inverse, o[r / 2][n].x[2 * half + 1] * inverse);
        }
        if (lane % 4 == 0 && args.lse.data != nullptr && i <= i1) {
            *args.lse.at(b, h, i - args.query_offset) = active ? m[r] * args.scale + logf(sum) : -INFINITY;
        }
    }
    __syncthreads();
    uint16_t* const o_rows = args.o.at(b, h, 0);
    for (int c = thread; c < args.block_q * kChunksPerRow; c += threads) {
        const int r = c / kChunksPerRow;
        const int part = c % kChunksPerRow;
        if (i0 + r > i1) continue;
        *reinterpret_cast<uint4*>(o_rows + (i0 - args.query_offset + r) * args.o.token + part * kChunk) =
            *reinterpret_cast<const uint4*>(q_tile + r * kRowPitch + part * kChunk);
    }
}

// ---- host side ------------------------------------------------------------------------------------

using TileKernel = void (*)(TileArgs);

template <typename Storage, int D, int BlockN>
TileKernel offered_kernel(int row_tiles, Segments segments, bool gated)
{
    if constexpr (offers_block_keys(D, BlockN)) {
        if (row_tiles == 2) {
            if constexpr (offers_row_tiles(D, BlockN, 2, Segments::kBand)) {
                if (segments == Segments::kBand) {
                    return gated ? flux_tile<Storage, D, BlockN, 2, false, false, true>
                                 : flux_tile<Storage, D, BlockN, 2, false, false, false>;
                }
                if (segments == Segments::kAnchors) {
                    return gated ? flux_tile<Storage, D, BlockN, 2, true, false, true>
                                 : flux_tile<Storage, D, BlockN, 2, true, false, false>;
                }
            }
            return nullptr;
        }
        switch (segments) {
        case Segments::kBand:
            return gated ? flux_tile<Storage, D, BlockN, 1, false, false, true>
                         : flux_tile<Storage, D, BlockN, 1, false, false, false>;
        case Segments::kAnchors:
            return gated ? flux_tile<Storage, D, BlockN, 1, true, false, true>
                         : flux_tile<Storage, D, BlockN, 1, true, false, false>;
        case Segments::kDna:
            return gated ? flux_tile<Storage, D, BlockN, 1, true, true, true>
                         : flux_tile<Storage, D, BlockN, 1, true, true, false>;
        }
    }
    return nullptr;
}

template <typename Storage, int D>
TileKernel kernel_for_block_k(int block_k, int row_tiles, Segments segments, bool gated)
{
    switch (block_k) {
    case 32: return offered_kernel<Storage, D, 32>(row_tiles, segments, gated);
    case 64: return offered_kernel<Storage, D, 64>(row_tiles, segments, gated);
    case 128: return offered_kernel<Storage, D, 128>(row_tiles, segments, gated);
    default: return nullptr;
    }
}

/** The kernel of a resolved launch (null when none is compiled for it; resolve_tile_launch rules that out). */
template <typename Storage>
TileKernel tile_kernel(int head_dim, int block_k, int row_tiles, Segments segments, bool gated)
{
    switch (head_dim) {
    case 16: return kernel_for_block_k<Storage, 16>(block_k, row_tiles, segments, gated);
    case 32: return kernel_for_block_k<Storage, 32>(block_k, row_tiles, segments, gated);
    case 64: return kernel_for_block_k<Storage, 64>(block_k, row_tiles, segments, gated);
    case 80: return kernel_for_block_k<Storage, 80>(block_k, row_tiles, segments, gated);
    case 96: return kernel_for_block_k<Storage, 96>(block_k, row_tiles, segments, gated);
    case 128: return kernel_for_block_k<Storage, 128>(block_k, row_tiles, segments, gated);
    case 256: return kernel_for_block_k<Storage, 256>(block_k, row_tiles, segments, gated);
    default: return nullptr;
    }
}

/**
 * The heuristic's block_k with 32 query rows a warp, or 0 where it keeps 16 (measured on the H100,
 * NOTES.md v5): band-only D 64 with 128 keys (Q reloaded per key tile beats Q resident with 64),
 * D 64 with anchors 64 keys (128 spills), band-only D 128 64 keys; D 128 with anchors stays at 16
 * rows a warp (its 32-row kernels spill and are not measured). D 80 and 96 follow D 128 (fewer
 * registers for O and Q, the same shape; not measured yet); D 256 has no 32-row kernel.
 */
int wide_block_keys(int head_dim, Segments segments)
{
    if (head_dim == 64) return segments == Segments::kBand ? 128 : segments == Segments::kAnchors ? 64 : 0;
    if (head_dim == 80 || head_dim == 96 || head_dim == 128) return segments == Segments::kBand ? 64 : 0;
    return 0;
}

/**
 * The segments `problem` needs. Rows i ≥ W have anchors (when A > 0) and DNA keys (when K > 0);
 * without such a row (A = 0, or W ≥ T: dense) the band-only kernel computes the same.
 */
Segments segments_of(const FluxProblem& problem)
{
    if (has_dna_keys(problem)) return Segments::kDna;
    const bool anchors = problem.candidates.anchor_stride > 0 && problem.candidates.anchor_count > 0 &&
                         last_query_position(problem) >= problem.candidates.window;
    return anchors ? Segments::kAnchors : Segments::kBand;
}

/**
 * Entries a query tile's DNA list holds at most (0 without DNA keys): K (at most the last row's prefix
 * length, last position − W + 1) + block_q, as build_tile_dna sizes it.
 */
int dna_capacity(const FluxProblem& problem, int block_q)
{
    if (!has_dna_keys(problem)) return 0;
    const int64_t prefixes = last_query_position(problem) + 1 - problem.candidates.window;
    return static_cast<int>(std::min(problem.candidates.dna_count, prefixes)) + block_q;
}

bool aligned_rows(const TensorRef& tensor) { return aligned16(tensor, sizeof(uint16_t)); }

std::string list_of(const int* values, size_t count)
{
    std::string text;
    for (size_t n = 0; n < count; ++n) text += (n == 0 ? "" : n + 1 == count ? " or " : ", ") + std::to_string(values[n]);
    return text;
}

proteus_status reject(const char* field, const std::string& message)
{
    return set_error(PROTEUS_STATUS_INVALID_ARGUMENT, std::string(field) + ": " + message, field);
}

}  // namespace

std::string tile_kernel_refusal(const FluxProblem& problem)
{
    const int64_t D = problem.head_dim;
    if (problem.candidates.policy != PROTEUS_POLICY_ALIGNED) return "the tile kernel takes the Aligned policy only";
    if (problem.q.dtype != PROTEUS_DTYPE_FLOAT16 && problem.q.dtype != PROTEUS_DTYPE_BFLOAT16) {
        return "the tile kernel takes float16 or bfloat16, not dtype " + std::to_string(problem.q.dtype);
    }
    if (!tile_head_dim(D)) {
        return D == 8 ? "the tile kernel takes head dims from 16 (its products step through D 16 at a time), not 8"
                      : "the tile kernel takes head dims 16, 32, 64, 80, 96, 128 or 256, not " + std::to_string(D);
    }
    if (has_dna_keys(problem) && problem.candidates.dna_count > kMaxTileDnaKeys) {
        return "the tile kernel takes up to " + std::to_string(kMaxTileDnaKeys) + " DNA keys, not " +
               std::to_string(problem.candidates.dna_count);
    }
    if (!aligned_rows(problem.q) || !aligned_rows(problem.k) || !aligned_rows(problem.v) || !aligned_rows(problem.o)) {
        return "the tile kernel needs every row of q, k, v and o 16-byte aligned (data pointers and strides)";
    }
    return "";
}

proteus_status resolve_tile_launch(const FluxProblem& problem, const proteus_launch_config& config, int multiprocessors,
                                   int shared_limit, TileLaunch& launch)
{
    const int block_q = config.block_q;
    const int rows_per_warp = config.rows_per_warp;
    const auto takes_rows = [](int rows) {
        return std::find(std::begin(kBlockRows), std::end(kBlockRows), rows) != std::end(kBlockRows);
    };
    if (block_q != 0 && !takes_rows(block_q)) {
        return reject("launch.block_q", "the tile kernel takes " + list_of(kBlockRows, std::size(kBlockRows)) +
                                            " query rows per tile, not " + std::to_string(block_q));
    }
    // A warp holds one or two m16 tiles of query rows; a tile of block_q rows runs block_q / rows_per_warp warps.
    if (rows_per_warp != 0 && rows_per_warp != 16 && rows_per_warp != 32) {
        return reject("launch.rows_per_warp",
                      "a warp of the tile kernel holds 16 or 32 query rows, not " + std::to_string(rows_per_warp));
    }
    if (config.stages < 0 || config.stages > kMaxStages) {
        return reject("launch.stages", "the tile kernel pipelines 1 to " + std::to_string(kMaxStages) +
                                           " key tiles, not " + std::to_string(config.stages));
    }

    const int head_dim = static_cast<int>(problem.head_dim);
    const TileTraits& traits = tile_traits(head_dim);
    if (config.block_k != 0 && !offers_block_keys(head_dim, config.block_k)) {
        const int* const end = std::find(std::begin(traits.block_keys), std::end(traits.block_keys), 0);
        return reject("launch.block_k", "the tile kernel takes " + list_of(traits.block_keys, end - traits.block_keys) +
                                            " keys per tile at head dim " + std::to_string(head_dim) + ", not " +
                                            std::to_string(config.block_k));
    }
    // The heuristic, in order of preference; given fields stay fixed. 128 query rows share each K/V
    // tile in shared memory, 64 when 128 would leave too few blocks to fill the device; 32 rows a
    // warp where wide_block_keys says so, else 16. Where a block's
    // shared memory is small (HIP: 64 KiB), fewer stages, then narrower key tiles.
    const Segments segments = segments_of(problem);
    const int64_t blocks_of_128 = problem.batch * problem.heads * ((problem.query_len + 127) / 128);
    const bool enough_blocks = blocks_of_128 >= 2 * static_cast<int64_t>(multiprocessors);
    struct Shape {
        int rows, row_tiles;
    };
    const int wide_keys = wide_block_keys(head_dim, segments);
    std::vector<Shape> shapes;  // (block_q, m16 tiles a warp) in order of preference
    for (const int rows : enough_blocks ? std::vector<int>{128, 64} : std::vector<int>{64, 128}) {
        for (const int row_tiles : wide_keys != 0 ? std::vector<int>{2, 1} : std::vector<int>{1, 2}) {
            const bool given_rows = block_q == 0 || block_q == rows;
            const bool given_rows_per_warp = rows_per_warp == 0 || rows_per_warp == 16 * row_tiles;
            if (given_rows && given_rows_per_warp) shapes.push_back({rows, row_tiles});
        }
    }
    const std::vector<int> stage_choices =
        config.stages != 0 ? std::vector<int>{config.stages} : std::vector<int>{kDefaultStages, 1};
    // The given block_k, else the default for the shape's rows a warp, then narrower ones.
    const auto key_choices = [&](int row_tiles) {
        std::vector<int> choices{config.block_k != 0             ? config.block_k
                                 : row_tiles == 2 && wide_keys != 0 ? wide_keys
                                                                    : traits.default_block_keys};
        if (config.block_k == 0) {
            for (auto keys = std::rbegin(traits.block_keys); keys != std::rend(traits.block_keys); ++keys) {
                if (*keys != 0 && *keys < choices.front()) choices.push_back(*keys);
            }
        }
        return choices;
    };
    size_t least = SIZE_MAX;
    bool offered = false;
    for (const Shape& shape : shapes) {
        for (const int stages : stage_choices) {
            for (const int keys : key_choices(shape.row_tiles)) {
                if (!offers_row_tiles(head_dim, keys, shape.row_tiles, segments)) continue;
                offered = true;
                const size_t bytes = shared_bytes(head_dim, shape.rows, keys, stages, dna_capacity(problem, shape.rows));
                if (bytes <= static_cast<size_t>(shared_limit)) {
                    launch = {shape.rows, keys, stages, shape.row_tiles};
                    return PROTEUS_STATUS_OK;
                }
                least = std::min(least, bytes);
            }
        }
    }
    if (!offered) {  // only 32 rows a warp fit the given fields, and no such kernel is compiled for the problem
        return reject("launch.rows_per_warp", "32 query rows a warp run only problems without DNA keys at head dim "
                                              "64 or 128, or 80 and 96 with 64 keys a tile (this one: head dim " +
                                                  std::to_string(head_dim) +
                                                  (segments == Segments::kDna ? ", DNA keys)" : ")"));
    }
    const char* field = config.stages != 0   ? "launch.stages"
                        : config.block_k != 0 ? "launch.block_k"
                        : rows_per_warp != 0  ? "launch.rows_per_warp"
                                              : "launch.block_q";
    return reject(field, "the tile configuration needs at least " + std::to_string(least) +
                             " bytes of shared memory; a block of this device has " + std::to_string(shared_limit));
}

bool tile_launch_fits(const FluxProblem& problem, int shared_limit)
{
    const int head_dim = static_cast<int>(problem.head_dim);
    const int rows = *std::min_element(std::begin(kBlockRows), std::end(kBlockRows));
    const int keys = tile_traits(head_dim).block_keys[0];  // the narrowest
    return shared_bytes(head_dim, rows, keys, 1, dna_capacity(problem, rows)) <= static_cast<size_t>(shared_limit);
}

std::vector<TileLaunch> tile_launch_options(const FluxProblem& problem, int shared_limit)
{
    const int head_dim = static_cast<int>(problem.head_dim);
    const Segments segments = segments_of(problem);
    std::vector<TileLaunch> options;
    for (const int rows : kBlockRows) {
        for (const int row_tiles : {1, 2}) {
            for (const int keys : tile_traits(head_dim).block_keys) {
                if (keys == 0 || !offers_row_tiles(head_dim, keys, row_tiles, segments)) continue;
                for (int stages = 1; stages <= kMaxStages; ++stages) {
                    const size_t bytes = shared_bytes(head_dim, rows, keys, stages, dna_capacity(problem, rows));
                    if (bytes <= static_cast<size_t>(shared_limit)) options.push_back({rows, keys, stages, row_tiles});
                }
            }
        }
    }
    return options;
}

proteus_status tile_attention(const FluxProblem& problem, const TileLaunch& launch, const TileDna& dna, Gate gate,
                              cudaStream_t stream)
{
    TileArgs args;
    args.q = rows_of<const uint16_t>(problem.q);
    args.k = rows_of<const uint16_t>(problem.k);
    args.v = rows_of<const uint16_t>(problem.v);
    args.o = rows_of<uint16_t>(problem.o);
    if (problem.active.present()) args.active = rows_of<const uint8_t>(problem.active);
    if (problem.lse.present()) args.lse = rows_of<float>(problem.lse);
    args.heads = problem.heads;
    args.group = problem.heads / problem.kv_heads;
    args.batch_heads = problem.batch * problem.heads;
    args.window = problem.candidates.window;
    args.anchor_stride = problem.candidates.anchor_stride > 0 ? problem.candidates.anchor_stride : 1;
    args.anchor_count = problem.candidates.anchor_stride > 0 ? problem.candidates.anchor_count : 0;
    args.query_offset = static_cast<int32_t>(problem.query_offset);  // positions fit int32 (T ≤ 2^31 − 1)
    args.query_len = static_cast<int32_t>(problem.query_len);
    args.query_tiles = static_cast<int32_t>((problem.query_len + launch.block_q - 1) / launch.block_q);
    args.block_q = launch.block_q;
    args.stages = launch.stages;
    args.scale = problem.scale;
    args.scale_log2 = problem.scale * kLog2E;
    args.dna = dna;
    args.gate = gate;

    const int64_t blocks = static_cast<int64_t>(args.query_tiles) * args.batch_heads;
    if (blocks > INT32_MAX) {
        return set_error(PROTEUS_STATUS_INVALID_ARGUMENT,
                         "B·H·(query tiles) = " + std::to_string(blocks) + " blocks exceed the grid limit 2^31 - 1",
                         "q.shape");
    }
    const int head_dim = static_cast<int>(problem.head_dim);
    const Segments segments = segments_of(problem);
    if (segments == Segments::kDna && (dna.lists == nullptr || dna.block_q != launch.block_q)) {
        return set_error(PROTEUS_STATUS_INTERNAL_ERROR, "the tile kernel needs the DNA lists built for its " +
                                                            std::to_string(launch.block_q) + "-row query tiles");
    }
    const bool gated = gate.chosen != nullptr;
    const TileKernel kernel =
        problem.q.dtype == PROTEUS_DTYPE_BFLOAT16
            ? tile_kernel<BFloat16Storage>(head_dim, launch.block_k, launch.row_tiles, segments, gated)
            : tile_kernel<Float16Storage>(head_dim, launch.block_k, launch.row_tiles, segments, gated);
    if (kernel == nullptr) {
        return set_error(PROTEUS_STATUS_INTERNAL_ERROR, "no tile kernel for head dim " + std::to_string(head_dim) +
                                                            " and " + std::to_string(launch.block_k) + " keys per tile");
    }
    const size_t bytes =
        shared_bytes(head_dim, launch.block_q, launch.block_k, launch.stages, dna_capacity(problem, launch.block_q));
    PROTEUS_GPU_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel),
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
                      "FuncSetAttribute");
    kernel<<<static_cast<unsigned>(blocks), launch.warps() * mma::kLanes, bytes, stream>>>(args);
    return check_launch("flux_tile");
}

}  // namespace proteus::gpu
