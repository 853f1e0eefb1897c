// The row mode of flux attention (SPEC §2–§3) for sparse active masks: only the active rows compute,
// each on one 32-lane group, and the inactive rows are written in one streaming pass.
//
// Query slices (SPEC §1): the mask, q, o and lse have Tq rows; row r is position i = p0 + r. The
// compaction works on rows ("tokens" below are rows r of the slice, mask [B, H, Tq]); a listed row's
// candidates are those of position i, its q, o and lse entries those of row r.
//
// Passes (all on the caller's stream)
//   1. count_active: the counts are per (b, h, tile of kTokens rows), in that (list) order; a group of
//      32 lanes counts kCountsPerGroup consecutive ones (ballots over 32 rows at a time, mask reads
//      coalesced along Tq), a block kCountsPerBlock of them, and the block also writes their sum.
//   2. scan_counts: one block turns the per-block sums into block offsets and the number of active
//      rows (after the last offset, in device memory: the row list is sized for every row, 8 bytes
//      each, and the attention kernel reads the count there, so the host never waits for it). One
//      value per block of pass 1 (1024 at T 256K, H 32): one coalesced load per thread. Deciding AUTO
//      (TILE_OR_ROW_MODE), it also writes the choice: the row mode below 25 % active rows, else the
//      tile kernel; passes 3 and 4 then return at once unless the row mode was chosen.
//   3. write_rows: the blocks of pass 1 again; a block adds its counts before each group's first to
//      its offset, and each group walks its counts' rows 32 at a time: an active row writes its id
//      (b·Tq + r)·H + h at offset + popc(ballot below the lane), an inactive one lse = −inf; then the
//      group zeroes the o rows of the inactive ones among those 32 in 16-byte pieces (elements if
//      misaligned), consecutive lanes on consecutive pieces (contiguous runs for [B, H, T, D] storage;
//      whole 32-byte sectors for any strides when a row is ≥ 32 bytes). No block scans, one barrier.
//      Every row is touched once.
//   4. attention over the list, one of two kernels (RowModeKernel, the context's
//      PROTEUS_ROW_MODE_KERNEL; Relative always the second):
//      active_row_groups (Aligned; the default, PROTEUS_ROW_MODE_KERNEL=rows selects the other): a block takes 8 consecutive entries (a chunk), one
//        row per 32-lane group, and streams the union of their windows and anchors through shared
//        K/V tiles (below, "Row groups");
//      active_rows (Relative, or PROTEUS_ROW_MODE_KERNEL=rows): one group of kGroup = 32 lanes per listed row, every key a global gather; a
//        persistent grid of groups striding over the listed rows, the groups of a block on
//        consecutive entries.
//
// Order of the rows: the list is ordered by (b, head, token), so a block's groups take neighbouring
// active rows of one head: their windows overlap almost entirely, and their anchors and most of their
// DNA keys are the same keys, so the block's K/V gathers mostly hit L1 (at 1 % density a row's
// window of ~1200 keys is shared with the next ~15 active rows of its head). Ordered by (b, token,
// head), the rows in flight on one multiprocessor belonged to different heads and every gather went
// to L2 (measured: issue 9, NOTES.md).
//
// One row on one group
//   Lanes are split as lane = c · P + e: P = D / 8 lanes per candidate rounded up to a power of two
//   (lanes_per_key: the XOR shuffles below need one; D 80 and 96 take 16, D 8 one), lane e owning
//   dims [8e, 8e + 8) when 8e < D (one 16-byte load for 16-bit storage, two for float32; the lanes
//   past D load nothing, add 0 to the dot products and store nothing), and 32 / P candidates in
//   flight, each lane taking kUnroll of them per step (their K and V loads issued together). A
//   candidate's score is the lanes' partial dot products summed over the P lanes by XOR shuffles.
//   Each lane then runs its own online softmax (m, l and the o slice over the candidates it saw):
//   no per-step reduction. At the end the 32 / P partial states of each slice are merged by XOR
//   shuffles (m = max, l and o rescaled by exp(m_lane − m)), and the lanes with c = 0 write o,
//   lane 0 lse = m + log l.
//   Candidates: the window [lo, i], then the anchors below lo (Aligned: the multiples of S from
//   aligned_anchors, all ≤ i − W < lo; Relative: max(0, i − s·S) for the suffix of s whose keys fall
//   below lo), then (Aligned, rows i ≥ W) the DNA list of the row's query tile, each key once, as in
//   gpu/flux_kernel.cu and the CPU reference. All three are numbered slots, so they share one loop.
//
// Row groups (active_row_groups)
//   Rows of a head are sorted by token, so a chunk's rows of one (b, h) have windows [i − W + 1, i]
//   that are sub-ranges of [i_first − W + 1, i_last], and anchors that are sub-ranges of the multiples
//   of S in [first anchor of the first row, last of the last]. Two index streams: the window (index =
//   key) and the anchors (index n = key n·S); a row takes one index range of each. The block walks the
//   stream in tiles of up to 64 indices (tile_keys: a K+V stage ≤ 16 KB), starting each tile at the
//   next index some row takes (rows more than a window apart never load the gap), stages K and V in
//   shared memory (16-byte words, two stages: the next tile's words are in registers while this one
//   is scored), and each group scores the positions of the tile inside its own row's range with the
//   per-lane online softmax above (P lanes a key, 32 / P keys a step). A chunk that spans a change of
//   (b, h) runs one pass per (b, h), the other groups idle. The DNA slots (i ≥ W) stay per-row
//   gathers afterwards, exactly as in active_rows (a DNA key that is an anchor is skipped), so each
//   candidate counts once: window and anchors are disjoint (anchors ≤ i − W < window start).
//   R = 8 rows (one per group: no extra registers per row): at 1.25 % density rows of a head are ~80
//   tokens apart, so the window union is W + 7·80 ≈ 1.5 W for 8 rows, each key loaded once per chunk
//   instead of once per row (~5× fewer loads), and a group idles on ~1/3 of the tiles. 16 rows (two
//   per group) would cut the loads by another ~30 % but double the per-group state (registers are
//   already at the 128 cap of two resident blocks) and idle a group on ~half of the tiles.
//
// DNA keys (the kDna kernels, Aligned only): the lists are gpu/flux_dna.h's, built
//   once per call by flux_attention (gpu/flux_kernel.cu) for query tiles of dna.block_q rows (the tile
//   kernel's block_q under TILE_OR_ROW_MODE, so both read the same lists; kRowModeDnaRows alone). Row r
//   at position i ≥ W walks list r / block_q (≤ K + block_q rank keys, a superset of Dna(i)) and takes
//   the key j of an entry when j ≤ i − W, the rank key reaches the threshold of prefix i − W (the K-th
//   best of [0, i − W]) and j is not one of its own anchors (a multiple of S at or above the first; all
//   multiples of S in [first anchor, i − W] are its anchors), exactly the tile kernel's test. A slot
//   that fails it is a lane without a candidate for that step (no load), like a slot past the row's end.
//   Entries that fail are few: on random salience a list is about the K keys of its first prefix.
//
// Portability: the shuffles are group_shuffle_xor of width 32 (gpu/vendor.h), which on a 64-lane
// wavefront exchange within each half; every loop around a shuffle has a trip count that depends
// only on the group's row, so all 32 lanes of a group reach each shuffle together.
#include "gpu/vendor.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <type_traits>

#include "backend.h"
#include "core/candidate_rules.h"
#include "gpu/device_call.h"
#include "gpu/flux_common.h"
#include "gpu/flux_dna.h"
#include "gpu/flux_row_mode.h"
#include "gpu/mma.h"
#include "gpu/storage.h"
#include "core/error.h"

namespace proteus::gpu {
namespace {

// Rows per compaction count (per (b, h, tile)): kTokens / 32 ballots of a 32-lane group.
constexpr int kTokens = 256;
// Compaction blocks: kCompactThreads threads, groups of 32 lanes, kCountsPerGroup counts a group.
constexpr int kCompactThreads = 256;
constexpr int kCountsPerGroup = 4;
constexpr int kCountsPerBlock = kCompactThreads / 32 * kCountsPerGroup;
// Threads of the single block that scans the per-block sums.
constexpr int kScanThreads = 1024;
// Lanes that compute one row: a shuffle group (gpu/vendor.h), never assumed to be the whole warp.
constexpr int kGroup = 32;
// Threads per attention block: 8 groups, 8 neighbouring rows of a head at a time.
constexpr int kRowThreads = 256;
// Elements of a head-dim slice per lane.
constexpr int kSlice = 8;
// Candidates per lane per step.
constexpr int kUnroll = 2;
// The head dims the row mode is compiled for (launch_attention).
constexpr int64_t kRowModeHeadDims[] = {8, 16, 32, 64, 80, 96, 128, 256};

/** P, the lanes that share a candidate at head dim D: ⌈D / kSlice⌉ rounded up to a power of two (≤ 32). */
__host__ __device__ constexpr int lanes_per_key(int head_dim)
{
    int lanes = 1;
    while (lanes * kSlice < head_dim) lanes *= 2;
    return lanes;
}
static_assert(lanes_per_key(8) == 1 && lanes_per_key(80) == 16 && lanes_per_key(96) == 16 && lanes_per_key(256) == 32,
              "one group of 32 lanes holds a row at every head dim");

// ---- shared helpers -------------------------------------------------------------------------------

/** The mask; data null: every row is active. Any nonzero byte is active, as in the other kernels. */
struct Mask {
    Rows<const uint8_t> rows;

    __device__ bool active(int64_t b, int64_t h, int64_t t) const
    {
        return rows.data == nullptr || *rows.at(b, h, t) != 0;
    }
};

__device__ __forceinline__ int64_t smaller(int64_t a, int64_t b) { return a < b ? a : b; }

/**
 * float16 → float32 is exact, so the hardware conversion gives the bits of half_to_float; the
 * software one, unrolled over a slice of 8, made ptxas spill (24 bytes per lane).
 */
template <typename Storage>
__device__ __forceinline__ float load_one(typename Storage::Raw raw)
{
#if defined(__CUDA_ARCH__)
    if constexpr (std::is_same_v<Storage, Float16Storage>) {
        float value;
        asm("cvt.f32.f16 %0, %1;" : "=f"(value) : "h"(raw));
        return value;
    }
#endif
    return Storage::load(raw);
}

/** `count` elements of storage `Raw` from `source` into float32; `vector`: 16-byte aligned. */
template <typename Storage, int kCount>
__device__ __forceinline__ void load_elements(const typename Storage::Raw* source, bool vector, float (&out)[kCount])
{
    using Raw = typename Storage::Raw;
    constexpr int kPerWord = 16 / static_cast<int>(sizeof(Raw));
    static_assert(kCount % kPerWord == 0, "a slice is whole 16-byte words");
    if (vector) {
        const uint4* const words = reinterpret_cast<const uint4*>(source);
#pragma unroll
        for (int w = 0; w < kCount / kPerWord; ++w) {
            const uint4 bits = words[w];
            const uint32_t parts[4] = {bits.x, bits.y, bits.z, bits.w};
#pragma unroll
            for (int k = 0; k < kPerWord; ++k) {
                Raw raw;
                memcpy(&raw, reinterpret_cast<const char*>(parts) + k * sizeof(Raw), sizeof(Raw));
                out[w * kPerWord + k] = load_one<Storage>(raw);
            }
        }
    } else {
#pragma unroll
        for (int k = 0; k < kCount; ++k) out[k] = load_one<Storage>(source[k]);
    }
}

template <typename Storage, int kCount>
__device__ __forceinline__ void store_elements(typename Storage::Raw* target, bool vector, const float (&in)[kCount])
{
    using Raw = typename Storage::Raw;
    constexpr int kPerWord = 16 / static_cast<int>(sizeof(Raw));
    if (vector) {
        uint4* const words = reinterpret_cast<uint4*>(target);
#pragma unroll
        for (int w = 0; w < kCount / kPerWord; ++w) {
            uint32_t parts[4];
#pragma unroll
            for (int k = 0; k < kPerWord; ++k) {
                const Raw raw = Storage::store(in[w * kPerWord + k]);
                memcpy(reinterpret_cast<char*>(parts) + k * sizeof(Raw), &raw, sizeof(Raw));
            }
            words[w] = make_uint4(parts[0], parts[1], parts[2], parts[3]);
        }
    } else {
#pragma unroll
        for (int k = 0; k < kCount; ++k) target[k] = Storage::store(in[k]);
    }
}

// ---- compaction -----------------------------------------------------------------------------------

/** The per-(b, h, tile) counts of the compaction, c = (b·H + h)·tiles + tile: the row list's order. */
struct Tiles {
    Mask mask;
    int64_t heads = 0;
    int64_t query_len = 0;  // Tq: rows of the mask (and of q, o, lse)
    int64_t tiles = 0;      // per (b, h): ⌈Tq / kTokens⌉
    int64_t counts = 0;     // B·H·tiles

    /** Row (b, h, t) is active (false past the end). */
    __device__ bool active(int64_t b, int64_t h, int64_t t) const { return t < query_len && mask.active(b, h, t); }
};

/** The rows of count c: batch row b, head h, rows [first, first + kTokens) ∩ [0, Tq). */
struct CountRows {
    int64_t b, h, first;

    __device__ CountRows(const Tiles& tiles, int64_t c)
    {
        const int64_t bh = c / tiles.tiles;
        b = bh / tiles.heads;
        h = bh % tiles.heads;
        first = c % tiles.tiles * kTokens;
    }
};

/** The lane of this thread in its group of 32, and the group in the block. */
__device__ __forceinline__ int group_lane() { return static_cast<int>(threadIdx.x % 32); }
__device__ __forceinline__ int group_index() { return static_cast<int>(threadIdx.x / 32); }

/**
 * counts[c] = the active rows of count c, for the block's kCountsPerBlock counts (a group's
 * kCountsPerGroup consecutive ones); sums[block] = their sum.
 */
__global__ void __launch_bounds__(kCompactThreads) count_active(Tiles tiles, int64_t* counts, int64_t* sums)
{
    __shared__ int64_t group_sums[kCompactThreads / 32];
    const int lane = group_lane();
    int64_t group_sum = 0;
    for (int k = 0; k < kCountsPerGroup; ++k) {
        const int64_t c = static_cast<int64_t>(blockIdx.x) * kCountsPerBlock + group_index() * kCountsPerGroup + k;
        if (c >= tiles.counts) break;  // the whole group
        const CountRows at(tiles, c);
        int count = 0;
#pragma unroll
        for (int w = 0; w < kTokens / 32; ++w) count += __popc(group_ballot(tiles.active(at.b, at.h, at.first + w * 32 + lane)));
        if (lane == 0) counts[c] = count;
        group_sum += count;
    }
    if (lane == 0) group_sums[group_index()] = group_sum;
    __syncthreads();
    if (threadIdx.x == 0) {
        int64_t sum = 0;
        for (int g = 0; g < kCompactThreads / 32; ++g) sum += group_sums[g];
        sums[blockIdx.x] = sum;
    }
}

/**
 * sums[0, n) → offsets, in place, and sums[n] = the number of active rows; one block, kScanThreads
 * consecutive values a round (one coalesced load each). With `choice`, also the kernel that computes
 * the call: the row mode when fewer than a quarter of the `rows` are active (it computes only those,
 * while the tile kernel's cost follows the tiles that hold any active row: about all of them at 25 %
 * random rows), else the tile kernel.
 */
__global__ void __launch_bounds__(kScanThreads) scan_counts(int64_t* sums, int64_t n, int64_t rows, int32_t* choice)
{
    __shared__ int64_t scratch[kScanThreads];
    int64_t carried = 0;  // the sums of the rounds before
    for (int64_t base = 0; base < n; base += kScanThreads) {
        const int64_t c = base + threadIdx.x;
        const int64_t value = c < n ? sums[c] : 0;
        int64_t total = 0;
        const int64_t before = block_exclusive_scan<kScanThreads>(value, scratch, total);
        if (c < n) sums[c] = carried + before;
        carried += total;
    }
    if (threadIdx.x == 0) {
        sums[n] = carried;
        if (choice != nullptr) *choice = 4 * carried < rows ? PROTEUS_KERNEL_GPU_ROW_MODE : PROTEUS_KERNEL_GPU_TILE;
    }
}

template <typename Raw>
struct Inactive {
    Rows<Raw> o;
    Rows<float> lse;  // data null: not wanted
    int pieces = 0;        // of a row: 16-byte words when `vector`, else elements
    int pieces_shift = 0;  // log2 of the slots of a row: pieces rounded up to a power of two
    bool vector = false;
};

/**
 * The block's counts again (as count_active): the ids of the active rows at their places in the list,
 * lse = −inf and o = 0 for the inactive ones. `offsets`: scan_counts' per-block offsets.
 */
template <typename Raw>
__global__ void __launch_bounds__(kCompactThreads)
    write_rows(Tiles tiles, const int64_t* counts, const int64_t* offsets, int64_t* ids, Inactive<Raw> inactive, Gate gate)
{
    if (gate.closed()) return;  // the whole grid: the tile kernel computes this call
    __shared__ int64_t block_counts[kCountsPerBlock];
    const int64_t first_count = static_cast<int64_t>(blockIdx.x) * kCountsPerBlock;
    if (threadIdx.x < kCountsPerBlock) {
        const int64_t c = first_count + threadIdx.x;
        block_counts[threadIdx.x] = c < tiles.counts ? counts[c] : 0;
    }
    __syncthreads();
    const int lane = group_lane();
    const uint32_t below = (1u << lane) - 1u;  // the lanes before this one
    int64_t place = offsets[blockIdx.x];       // of the group's next active row
    for (int g = 0; g < group_index() * kCountsPerGroup; ++g) place += block_counts[g];

    const int shift = inactive.pieces_shift;
    const int row_pieces = 1 << shift;
    const int64_t H = tiles.heads;
    for (int k = 0; k < kCountsPerGroup; ++k) {
        const int64_t c = first_count + group_index() * kCountsPerGroup + k;
        if (c >= tiles.counts) break;  // the whole group
        const CountRows at(tiles, c);
        // The mask bytes first, all in flight together (the stores below may alias them for the compiler).
        bool on[kTokens / 32];
#pragma unroll
        for (int w = 0; w < kTokens / 32; ++w) on[w] = tiles.active(at.b, at.h, at.first + w * 32 + lane);
        // Ids and lse, 32 rows a step; bit u of inactive_rows[w]: row first + 32·w + u is inactive.
        uint32_t inactive_rows[kTokens / 32];
#pragma unroll
        for (int w = 0; w < kTokens / 32; ++w) {
            const int64_t t = at.first + w * 32 + lane;
            const bool exists = t < tiles.query_len;
            const uint32_t active_bits = group_ballot(on[w]);
            inactive_rows[w] = group_ballot(exists) & ~active_bits;
            if (on[w]) {
                ids[place + __popc(active_bits & below)] = (at.b * tiles.query_len + t) * H + at.h;
            } else if (exists && inactive.lse.data != nullptr) {
                *inactive.lse.at(at.b, at.h, t) = -INFINITY;
            }
            place += __popc(active_bits);
        }
        // o: per step of 32 rows, 32 · 2^shift pieces, lane p on pieces p, p + 32, … (row p >> shift).
        Raw* const rows = inactive.o.at(at.b, at.h, at.first);
#pragma unroll
        for (int w = 0; w < kTokens / 32; ++w) {
            const uint32_t zero = inactive_rows[w];
            if (zero == 0) continue;  // the whole group
            for (int p = lane; p < 32 * row_pieces; p += 32) {
                const int u = p >> shift;
                if ((zero >> u & 1u) == 0) continue;
                Raw* const row = rows + (w * 32 + u) * inactive.o.token;
                const int piece = p & (row_pieces - 1);
                if (piece >= inactive.pieces) continue;  // a slot past the row (pieces not a power of two)
                if (inactive.vector) {
                    reinterpret_cast<uint4*>(row)[piece] = make_uint4(0u, 0u, 0u, 0u);
                } else {
                    row[piece] = Raw{};  // +0 in every storage format
                }
            }
        }
    }
}

// ---- attention over the listed rows ---------------------------------------------------------------

template <typename Raw>
struct RowArgs {
    TileDna dna;  // the active_rows<·, ·, true> kernels: the lists and thresholds (gpu/flux_dna.h)
    Rows<const Raw> q, k, v;
    Rows<Raw> o;
    Rows<float> lse;  // data null: not wanted
    const float* salience = nullptr;  // [B, T] (the row tiles scan it for DNA keys); null without DNA keys
    int64_t salience_batch = 0, salience_token = 0;
    const int64_t* ids = nullptr;
    const int64_t* count = nullptr;  // listed rows, in device memory (scan_counts writes it)
    Gate gate;
    int64_t heads = 0;
    int64_t query_offset = 0;  // p0: row r is position p0 + r
    int64_t query_len = 0;     // Tq
    int64_t group = 1;  // query heads per kv head
    bool aligned = true;
    int64_t window = 0, stride = 0, anchor_count = 0;
    uint32_t anchor_modulus = 1;  // min(S, 2^31): j % S for positions j < 2^31 in 32 bits
    float scale = 0.0f;
    bool vector = false;  // every q/k/v/o row 16-byte aligned
};

/** C(i) as numbered slots: the window [lo, i], then the anchors below lo, then the DNA list's entries. */
struct Slots {
    int64_t i = 0, lo = 0, window_end = 0, size = 0;
    int64_t first_anchor = 0;  // Aligned: the smallest anchor; Relative: the first s with i − s·S < lo
    int64_t dna_begin = 0;     // slots [dna_begin, size): the entries of `dna_list`
    const uint64_t* dna_list = nullptr;
    uint64_t threshold = 0;    // the rank key a DNA entry must reach: the K-th best of [0, i − W]
};

/** The slots of row `query_row` of batch row b, at position i. */
template <bool kDna, typename Raw>
__device__ Slots slots_of(const RowArgs<Raw>& args, int64_t b, int64_t query_row, int64_t i)
{
    Slots row;
    row.i = i;
    row.lo = window_start(i, args.window);
    row.window_end = i - row.lo + 1;
    int64_t anchors = 0;
    if (args.aligned) {
        const AlignedAnchors found = aligned_anchors(i, args.window, args.stride, args.anchor_count);
        row.first_anchor = found.first;
        anchors = found.count;
    } else {
        const int64_t distinct = relative_anchor_count(i, args.stride, args.anchor_count);
        if (distinct > 0 && row.lo > 0) {
            // i − s·S < lo  ⇔  s > (i − lo) / S; the keys decrease with s, so those below lo are a suffix.
            row.first_anchor = (i - row.lo) / args.stride + 1;
            anchors = row.first_anchor <= distinct ? distinct - row.first_anchor + 1 : 0;
        }
    }
    row.size = row.window_end + anchors;
    row.dna_begin = row.size;
    if (kDna && i >= args.window) {
        // Prefix i − W's threshold is entry i − W − first_prefix (every row i ≥ W of the slice has one).
        const int64_t list = b * args.dna.query_tiles + query_row / args.dna.block_q;
        row.dna_list = args.dna.lists + list * args.dna.capacity;
        row.threshold = args.dna.thresholds[b * args.dna.prefixes + (i - args.window - args.dna.first_prefix)];
        row.size += args.dna.counts[list];
    }
    return row;
}

/** The key of `slot` (< row.size), or −1 for a DNA entry the row does not take. */
template <bool kDna, typename Raw>
__device__ __forceinline__ int64_t key_of(const RowArgs<Raw>& args, const Slots& row, int64_t slot)
{
    if (kDna && slot >= row.dna_begin) {
        const uint64_t key = row.dna_list[slot - row.dna_begin];
        const auto j = static_cast<uint32_t>(key & 0xffffffffu);
        // Aligned anchors are every multiple of S in [first_anchor, i − W], and DNA keys are ≤ i − W.
        const bool anchors = row.dna_begin > row.window_end;
        const bool anchor = anchors && j >= row.first_anchor && j % args.anchor_modulus == 0;
        return j <= row.i - args.window && key >= row.threshold && !anchor ? int64_t{j} : -1;
    }
    if (slot < row.window_end) return row.lo + slot;
    const int64_t a = slot - row.window_end;
    return args.aligned ? row.first_anchor + a * args.stride : relative_anchor(row.i, row.first_anchor + a, args.stride);
}

/** Factor that carries a partial state of maximum `m` to maximum `m_new` (0 for an empty state). */
__device__ __forceinline__ float carry(float m, float m_new) { return m == -INFINITY ? 0.0f : expf(m - m_new); }

/** One lane's online softmax over the candidates it saw: their maximum score m, sum l and o slice. */
struct LaneState {
    float m = -INFINITY;
    float l = 0.0f;
    float acc[kSlice] = {};
};

/**
 * One step of a group: lane c takes up to kUnroll candidates; `locate(u, key, value)` points at the
 * K and V slices of its u-th (false: none, no load). A candidate's score is the partial dot products
 * summed over its P lanes; each lane then folds its own candidates into its own state (no per-step
 * reduction across candidate lanes). `vector`: the slices are 16-byte aligned. `owns`: this lane's
 * slice lies inside D (false: a lane past D, which loads nothing and adds 0). Every lane of the group
 * calls it together (the shuffles).
 */
template <typename Storage, int kLanesPerKey, int kCount = kUnroll, typename Locate>
__device__ __forceinline__ void add_candidates(LaneState& state, const float (&q)[kSlice], float scale, bool vector,
                                               bool owns, Locate locate)
{
    using Raw = typename Storage::Raw;
    float score[kCount];
    float value[kCount][kSlice];
    bool valid[kCount];
#pragma unroll
    for (int u = 0; u < kCount; ++u) {
        const Raw* key_slice = nullptr;
        const Raw* value_slice = nullptr;
        valid[u] = locate(u, key_slice, value_slice);
        score[u] = 0.0f;
        if (valid[u] && !owns) {
#pragma unroll
            for (int d = 0; d < kSlice; ++d) value[u][d] = 0.0f;
        } else if (valid[u]) {
            float key[kSlice];
            load_elements<Storage>(key_slice, vector, key);
            load_elements<Storage>(value_slice, vector, value[u]);
#pragma unroll
            for (int d = 0; d < kSlice; ++d) score[u] += q[d] * key[d];
        }
    }
#pragma unroll
    for (int u = 0; u < kCount; ++u) {
#pragma unroll
        for (int mask = 1; mask < kLanesPerKey; mask *= 2) score[u] += group_shuffle_xor(score[u], mask, kGroup);
    }
    float m_new = state.m;
#pragma unroll
    for (int u = 0; u < kCount; ++u) {
        score[u] *= scale;
        if (valid[u]) m_new = fmaxf(m_new, score[u]);
    }
    // This lane saw no candidate yet (slots past the row's end, or DNA entries it does not take).
    if (m_new == -INFINITY) return;
    const float rescale = carry(state.m, m_new);
    state.l *= rescale;
#pragma unroll
    for (int d = 0; d < kSlice; ++d) state.acc[d] *= rescale;
#pragma unroll
    for (int u = 0; u < kCount; ++u) {
        if (!valid[u]) continue;
        const float p = expf(score[u] - m_new);
        state.l += p;
#pragma unroll
        for (int d = 0; d < kSlice; ++d) state.acc[d] += p * value[u][d];
    }
    state.m = m_new;
}

/** Row `row`'s slots [begin, row.size) gathered from global memory (K and V rows of batch b, kv_head). */
template <typename Storage, int kLanesPerKey, bool kDna>
__device__ __forceinline__ void gather_slots(LaneState& state, const float (&q)[kSlice],
                                             const RowArgs<typename Storage::Raw>& args, const Slots& row, int64_t b,
                                             int64_t kv_head, int64_t begin, int c, int offset, bool owns)
{
    using Raw = typename Storage::Raw;
    constexpr int kKeysPerStep = kGroup / kLanesPerKey;  // candidates in flight per group
    for (int64_t base = begin; base < row.size; base += kKeysPerStep * kUnroll) {
        add_candidates<Storage, kLanesPerKey>(state, q, args.scale, args.vector, owns,
                                              [&](int u, const Raw*& key_slice, const Raw*& value_slice) {
            const int64_t slot = base + u * kKeysPerStep + c;
            const int64_t j = slot < row.size ? key_of<kDna>(args, row, slot) : -1;
            if (j < 0) return false;
            key_slice = args.k.at(b, kv_head, j) + offset;
            value_slice = args.v.at(b, kv_head, j) + offset;
            return true;
        });
    }
}

/**
 * Merges the candidate lanes' states of each slice by XOR shuffles: afterwards every lane holds its
 * slice's state over all the candidates the group saw (m = −inf, l = 0 if none).
 */
template <int kLanesPerKey>
__device__ __forceinline__ void merge_lanes(LaneState& state)
{
#pragma unroll
    for (int mask = kLanesPerKey; mask < kGroup; mask *= 2) {
        const float m_other = group_shuffle_xor(state.m, mask, kGroup);
        const float l_other = group_shuffle_xor(state.l, mask, kGroup);
        const float m_new = fmaxf(state.m, m_other);
        const float mine = carry(state.m, m_new);
        const float theirs = carry(m_other, m_new);
        state.l = state.l * mine + l_other * theirs;
#pragma unroll
        for (int d = 0; d < kSlice; ++d) {
            const float other = group_shuffle_xor(state.acc[d], mask, kGroup);
            state.acc[d] = state.acc[d] * mine + other * theirs;
        }
        state.m = m_new;
    }
}

/**
 * Merges the lanes' states (merge_lanes), then lanes c = 0 inside D (`owns`) write o = acc / l, lane 0
 * lse = m + log l. The window's last key i is every row's candidate, so l > 0 and m is finite here.
 */
template <typename Storage, int kLanesPerKey>
__device__ __forceinline__ void finish_row(LaneState& state, const RowArgs<typename Storage::Raw>& args, int64_t b,
                                           int64_t h, int64_t query_row, int lane, int offset, bool owns)
{
    merge_lanes<kLanesPerKey>(state);
    if (lane < kLanesPerKey && owns) {  // c = 0
#pragma unroll
        for (int d = 0; d < kSlice; ++d) state.acc[d] /= state.l;
        store_elements<Storage>(args.o.at(b, h, query_row) + offset, args.vector, state.acc);
    }
    if (lane == 0 && args.lse.data != nullptr) *args.lse.at(b, h, query_row) = state.m + logf(state.l);
}

/** A listed row: where its ids entry says it is. */
struct ListedRow {
    int64_t b = 0, h = 0, query_row = 0, i = 0;  // query_row: of q, o, lse; i = p0 + query_row: its position
};

template <typename Raw>
__device__ __forceinline__ ListedRow listed_row(const RowArgs<Raw>& args, int64_t entry)
{
    const int64_t id = args.ids[entry];  // (b·Tq + row)·H + h
    ListedRow row;
    row.h = id % args.heads;
    row.query_row = id / args.heads % args.query_len;
    row.i = args.query_offset + row.query_row;
    row.b = id / args.heads / args.query_len;
    return row;
}

// kDna: some row has DNA keys (Aligned); the other kernels hold none of their bookkeeping.
template <typename Storage, int kDim, bool kDna>
__global__ void __launch_bounds__(kRowThreads) active_rows(RowArgs<typename Storage::Raw> args)
{
    constexpr int kLanesPerKey = lanes_per_key(kDim);
    const int lane = threadIdx.x % kGroup;
    const int e = lane % kLanesPerKey;  // slice of the head dim
    const int c = lane / kLanesPerKey;  // candidate lane
    const int64_t groups_per_block = blockDim.x / kGroup;
    const int64_t first = static_cast<int64_t>(blockIdx.x) * groups_per_block + threadIdx.x / kGroup;
    if (args.gate.closed()) return;  // the whole grid: the tile kernel computes this call
    const int64_t count = *args.count;
    const int offset = e * kSlice;
    const bool owns = offset < kDim;

    for (int64_t r = first; r < count; r += static_cast<int64_t>(gridDim.x) * groups_per_block) {
        const ListedRow at = listed_row(args, r);
        float q[kSlice] = {};
        if (owns) load_elements<Storage>(args.q.at(at.b, at.h, at.query_row) + offset, args.vector, q);
        const Slots row = slots_of<kDna>(args, at.b, at.query_row, at.i);
        LaneState state;
        gather_slots<Storage, kLanesPerKey, kDna>(state, q, args, row, at.b, at.h / args.group, 0, c, offset, owns);
        finish_row<Storage, kLanesPerKey>(state, args, at.b, at.h, at.query_row, lane, offset, owns);
    }
}

// ---- row groups: the rows of a list chunk share K/V tiles -----------------------------------------
//
// A block takes kGroupRows = 8 consecutive list entries (a chunk), one per group. Their window and
// aligned anchors are two "streams" of key indices: the window stream's index is the key itself, the
// anchor stream's index n is the key n·S. A row's candidates in a stream are one index range
// (window [lo, i + 1); anchors [first / S, first / S + count)). The block walks the union of its
// rows' ranges in tiles of kTileKeys consecutive indices, skipping indices no row takes, stages each
// tile's K and V rows in shared memory (cooperative 16-byte loads, two stages), and every group scores
// the tile's indices inside its own row's range. The DNA slots stay per-row gathers afterwards.

/** Keys per shared tile: at most 64, and a stage (K and V) at most 16 KB: two stages fit static shared memory. */
template <typename Raw>
constexpr int tile_keys(int head_dim)
{
    const int fit = 8192 / (head_dim * static_cast<int>(sizeof(Raw)));
    return fit < 64 ? fit : 64;
}

/** Rows of a chunk: one per group of the block. */
constexpr int kGroupRows = kRowThreads / kGroup;
/**
 * Resident blocks of active_row_groups a multiprocessor must fit (caps registers at 128 a thread with
 * 256 threads; unbounded, ptxas took up to 168 and fit one block of 8 warps).
 */
constexpr int kRowGroupBlocks = 2;
/** Streams of a row group: 0 the window (index = key), 1 the aligned anchors (index · S = key). */
constexpr int kStreams = 2;
constexpr int64_t kNoIndex = INT64_MAX;

/** A chunk's row as its block sees it; written by the row's group, read by the whole block. */
struct GroupRow {
    int64_t head;  // b·H + h; −1: past the end of the list
    int64_t begin[kStreams];  // stream s: the row takes indices [begin[s], end[s]) (empty: begin = end)
    int64_t end[kStreams];
};

/** The smallest index ≥ `from` that a row of table[first, last) takes in stream s; kNoIndex if none. */
__device__ __forceinline__ int64_t next_index(const GroupRow* table, int first, int last, int s, int64_t from)
{
    int64_t next = kNoIndex;
    for (int r = first; r < last; ++r) {
        const int64_t begin = table[r].begin[s] > from ? table[r].begin[s] : from;
        if (begin < table[r].end[s] && begin < next) next = begin;
    }
    return next;
}

/**
 * One stage of K and V tiles: the rows of keys index·step for index ∈ [x, x + kKeys), only those
 * below `limit` (every row's range ends at or before it, so the rest are never read; keys between
 * ranges are below the largest taken key, so they are keys of the tensor). Vector path: `fetch` loads
 * this thread's 16-byte words into registers before the previous tile is scored, `store` writes them
 * after; scalar path (rows not 16-byte aligned): `store` copies element by element, `fetch` does nothing.
 */
template <typename Storage, int kDim>
struct TileStage {
    using Raw = typename Storage::Raw;
    static constexpr int kKeys = tile_keys<Raw>(kDim);
    static constexpr int kPerWord = 16 / static_cast<int>(sizeof(Raw));
    static constexpr int kWordsPerKey = kDim / kPerWord;
    static constexpr int kWordsPerTensor = kKeys * kWordsPerKey;
    static constexpr int kWords = 2 * kWordsPerTensor;  // K, then V
    static constexpr int kWordsPerThread = (kWords + kRowThreads - 1) / kRowThreads;
    static constexpr int kElements = kKeys * kDim;  // of one tensor

    uint4 staged[kWordsPerThread];

    /** Word w of this thread: tensor (0 K, 1 V), key of the tile, 16-byte piece of the row. */
    __device__ static void word_of(int w, int& tensor, int& key, int& piece)
    {
        const int word = static_cast<int>(threadIdx.x) + w * kRowThreads;
        tensor = word / kWordsPerTensor;
        key = word % kWordsPerTensor / kWordsPerKey;
        piece = word % kWordsPerKey;
    }

    __device__ void fetch(const RowArgs<Raw>& args, int64_t b, int64_t kv_head, int64_t x, int64_t step, int64_t limit)
    {
        if (!args.vector) return;
#pragma unroll
        for (int w = 0; w < kWordsPerThread; ++w) {
            int tensor, key, piece;
            word_of(w, tensor, key, piece);
            if (tensor >= 2 || x + key >= limit) continue;
            const Raw* const row = (tensor == 0 ? args.k : args.v).at(b, kv_head, (x + key) * step);
            staged[w] = reinterpret_cast<const uint4*>(row)[piece];
        }
    }

    __device__ void store(Raw* tile, const RowArgs<Raw>& args, int64_t b, int64_t kv_head, int64_t x, int64_t step,
                          int64_t limit) const
    {
        if (args.vector) {
#pragma unroll
            for (int w = 0; w < kWordsPerThread; ++w) {
                int tensor, key, piece;
                word_of(w, tensor, key, piece);
                if (tensor >= 2 || x + key >= limit) continue;
                reinterpret_cast<uint4*>(tile + tensor * kElements + key * kDim)[piece] = staged[w];
            }
            return;
        }
        for (int n = threadIdx.x; n < 2 * kElements; n += kRowThreads) {
            const int tensor = n / kElements;
            const int key = n % kElements / kDim;
            const int d = n % kDim;
            if (x + key >= limit) continue;
            tile[n] = (tensor == 0 ? args.k : args.v).at(b, kv_head, (x + key) * step)[d];
        }
    }
};

/**
 * The row mode over row groups (Aligned policy): block k takes the chunks k, k + grid, … of the list;
 * group g of a chunk owns entry chunk·8 + g. Invariants that make the block-wide loops safe: every
 * trip count between two __syncthreads depends only on the chunk's table in shared memory and on
 * `count`, so all threads of the block reach every barrier; a group's own scoring loops depend only on
 * its row, so its 32 lanes reach every shuffle together.
 */
template <typename Storage, int kDim, bool kDna>
__global__ void __launch_bounds__(kRowThreads, kRowGroupBlocks) active_row_groups(RowArgs<typename Storage::Raw> args)
{
    using Raw = typename Storage::Raw;
    constexpr int kLanesPerKey = lanes_per_key(kDim);
    using Stage = TileStage<Storage, kDim>;
    constexpr int kKeys = Stage::kKeys;
    constexpr int kKeysPerStep = kGroup / kLanesPerKey;  // candidates in flight per group
    // [stage][K tile, then V tile]: index x + n of a tile at n·D (16-byte aligned: D·sizeof(Raw) ≥ 32).
    __shared__ __align__(16) Raw tiles[2][2 * Stage::kElements];
    __shared__ GroupRow table[kGroupRows];

    const int lane = threadIdx.x % kGroup;
    const int e = lane % kLanesPerKey;  // slice of the head dim
    const int c = lane / kLanesPerKey;  // candidate lane
    const int group = static_cast<int>(threadIdx.x) / kGroup;
    const int offset = e * kSlice;
    const bool owns = offset < kDim;  // lanes past D (D 80, 96) load and store nothing
    if (args.gate.closed()) return;  // the whole grid: the tile kernel computes this call
    const int64_t count = *args.count;
    const int64_t chunks = (count + kGroupRows - 1) / kGroupRows;

    for (int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
        const int64_t entry = chunk * kGroupRows + group;
        const bool listed = entry < count;  // group-uniform; the listed entries of a chunk are a prefix
        // Only q and the lane state stay live across the tiles; the row's position and slots are
        // recomputed for its DNA keys and output (registers: the tiles' staging words need them).
        float q[kSlice] = {};
        GroupRow mine{-1, {0, 0}, {0, 0}};
        if (listed) {
            const ListedRow at = listed_row(args, entry);
            if (owns) load_elements<Storage>(args.q.at(at.b, at.h, at.query_row) + offset, args.vector, q);
            const Slots row = slots_of<false>(args, at.b, at.query_row, at.i);
            mine.head = at.b * args.heads + at.h;
            mine.begin[0] = row.lo;
            mine.end[0] = at.i + 1;
            // Aligned (this kernel's only policy): slots [window_end, size) of a row without DNA are the
            // anchors first, first + S, …, all multiples of S; an empty range when it has none (i < W).
            const int64_t anchors = row.size - row.window_end;
            mine.begin[1] = anchors > 0 ? row.first_anchor / args.stride : 0;
            mine.end[1] = mine.begin[1] + anchors;
        }
        __syncthreads();  // the previous chunk's readers of `table` are done
        if (lane == 0) table[group] = mine;
        __syncthreads();

        LaneState state;
        // Passes: the rows of one (b, h) at a time. The list is sorted by (b, h, token), so a chunk's
        // rows of one (b, h) are a run; a chunk spans a change of (b, h) only at a head's last rows.
        for (int first = 0; first < kGroupRows && table[first].head >= 0;) {
            const int64_t head = table[first].head;
            int last = first + 1;
            while (last < kGroupRows && table[last].head == head) ++last;
            const bool mine = group >= first && group < last;  // implies listed
            const int64_t b = head / args.heads;
            const int64_t kv_head = head % args.heads / args.group;
            for (int s = 0; s < kStreams; ++s) {
                const int64_t step = s == 0 ? 1 : args.stride;
                int64_t limit = 0;  // one past the largest index a row of the pass takes
                for (int r = first; r < last; ++r) {
                    if (table[r].begin[s] < table[r].end[s] && table[r].end[s] > limit) limit = table[r].end[s];
                }
                int64_t x = next_index(table, first, last, s, 0);
                if (x == kNoIndex) continue;  // block-uniform: no row of the pass has keys in this stream
                Stage stage;
                stage.fetch(args, b, kv_head, x, step, limit);
                stage.store(tiles[0], args, b, kv_head, x, step, limit);
                __syncthreads();
                for (int buffer = 0; x != kNoIndex; buffer ^= 1) {
                    // The next tile starts at the next index some row takes: gaps between the rows'
                    // ranges (rows more than a window apart) are never loaded.
                    const int64_t next = next_index(table, first, last, s, x + kKeys);
                    if (next != kNoIndex) stage.fetch(args, b, kv_head, next, step, limit);
                    if (mine) {
                        // The tile's positions n ∈ [lo, hi) inside this row's range (index x + n).
                        const GroupRow& own = table[group];
                        const int lo = static_cast<int>(smaller(kKeys, own.begin[s] > x ? own.begin[s] - x : 0));
                        const int hi = static_cast<int>(smaller(kKeys, own.end[s] > x ? own.end[s] - x : 0));
                        const Raw* const keys = tiles[buffer];
                        const Raw* const values = keys + Stage::kElements;
                        for (int base = lo; base < hi; base += kKeysPerStep * kUnroll) {
                            add_candidates<Storage, kLanesPerKey>(state, q, args.scale, true, owns,
                                                                  [&](int u, const Raw*& key_slice, const Raw*& value_slice) {
                                const int n = base + u * kKeysPerStep + c;
                                if (n >= hi) return false;
                                key_slice = keys + n * kDim + offset;
                                value_slice = values + n * kDim + offset;
                                return true;
                            });
                        }
                    }
                    // The other stage: its last readers finished before the barrier that ended the
                    // previous iteration (or before the first tile's barrier).
                    if (next != kNoIndex) stage.store(tiles[buffer ^ 1], args, b, kv_head, next, step, limit);
                    __syncthreads();
                    x = next;
                }
            }
            first = last;
        }
        if (!listed) continue;  // group-uniform; no barrier below before the next chunk's first one
        const ListedRow at = listed_row(args, entry);
        if constexpr (kDna) {
            // DNA keys (i ≥ W): per-row gathers from the list of the row's query tile, after the shared
            // tiles; key_of skips entries that are also anchors, so each key counts once.
            const Slots row = slots_of<kDna>(args, at.b, at.query_row, at.i);
            gather_slots<Storage, kLanesPerKey, kDna>(state, q, args, row, at.b, at.h / args.group, row.dna_begin, c,
                                                      offset, owns);
        }
        finish_row<Storage, kLanesPerKey>(state, args, at.b, at.h, at.query_row, lane, offset, owns);
    }
}

// ---- row tiles: 16 listed rows on one warp's tensor-core products ---------------------------------
//
// A warp takes kTileRows = 16 consecutive list entries (a chunk) as the 16 rows of mma.m16n8k16
// products (gpu/mma.h): S = Q·Kᵀ over a tile of keys, each row's candidates kept by comparing the
// tile's indices with its two ranges (window, aligned anchors; as in the row groups), an online
// softmax per row in the accumulators' layout, and O += P·V with P rounded to the storage type, as
// the tile kernel does. The keys of a tile are the union of the chunk's ranges (rows 80 tokens apart
// share most of their windows), staged in the warp's own shared memory with asynchronous copies, the
// next tile in flight while this one is scored. The DNA keys (rows i ≥ W) differ per row: before the
// tiles, the warp gathers each row's DNA slots one row at a time with the per-row code (gather_slots),
// and the merged state seeds that row's softmax. 16-bit storage, 16-byte aligned rows, D 16, 32 or 64.

/** Rows of a chunk: the M of the tile products. */
constexpr int kTileRows = 16;
/** Warps (groups of kGroup lanes) per block of active_row_tiles; each owns its chunks and shared stages. */
constexpr int kTileWarps = 2;
constexpr int kTileThreads = kTileWarps * kGroup;
/** Blocks of active_row_tiles per multiprocessor in the persistent grid. */
constexpr int kTileBlocksPerMultiprocessor = 6;
/** The head dims of active_row_tiles (the others run the row groups). */
constexpr bool row_tiles_take(int64_t head_dim) { return head_dim == 16 || head_dim == 32 || head_dim == 64; }

/** Keys per tile: a stage (K and V, padded rows) stays ≤ 6 KB. */
template <int kDim>
constexpr int kRowTileKeys = kDim <= 16 ? 64 : kDim <= 32 ? 32 : 16;

/** int64 `value` of lane `source` of the group. */
__device__ __forceinline__ int64_t shuffle_int64(int64_t value, int source)
{
    const auto bits = static_cast<uint64_t>(value);
    const uint64_t low = group_shuffle(static_cast<uint32_t>(bits), source, kGroup);
    const uint64_t high = group_shuffle(static_cast<uint32_t>(bits >> 32), source, kGroup);
    return static_cast<int64_t>(high << 32 | low);
}

/** The smallest `value` over the group. */
__device__ __forceinline__ int64_t group_min(int64_t value, int lane)
{
#pragma unroll
    for (int mask = 1; mask < kGroup; mask *= 2) value = smaller(value, shuffle_int64(value, lane ^ mask));
    return value;
}

/** The largest `value` over the group. */
__device__ __forceinline__ int64_t group_max(int64_t value, int lane)
{
#pragma unroll
    for (int mask = 1; mask < kGroup; mask *= 2) {
        const int64_t other = shuffle_int64(value, lane ^ mask);
        value = other > value ? other : value;
    }
    return value;
}

/** One of a lane's two rows (accumulator rows g and g + 8) of its chunk. */
struct TileRow {
    int64_t head = -1;  // b·H + h; −1: past the end of the list
    ListedRow at;
    int64_t begin[kStreams] = {0, 0};  // stream s: the row takes indices [begin[s], end[s])
    int64_t end[kStreams] = {0, 0};
};

template <typename Raw>
__device__ TileRow tile_row(const RowArgs<Raw>& args, int64_t entry, int64_t count)
{
    TileRow row;
    if (entry >= count) return row;
    row.at = listed_row(args, entry);
    row.head = row.at.b * args.heads + row.at.h;
    const Slots slots = slots_of<false>(args, row.at.b, row.at.query_row, row.at.i);
    row.begin[0] = slots.lo;
    row.end[0] = row.at.i + 1;
    // Aligned: the slots after the window are the anchors first, first + S, …, all multiples of S.
    const int64_t anchors = slots.size - slots.window_end;
    row.begin[1] = anchors > 0 ? slots.first_anchor / args.stride : 0;
    row.end[1] = row.begin[1] + anchors;
    return row;
}

/** The smallest index ≥ `from` of the ranges [begin[k], end[k]) (empty outside the pass); kNoIndex if none. */
__device__ __forceinline__ int64_t next_taken(const int64_t (&begin)[2], const int64_t (&end)[2], int64_t from)
{
    int64_t next = kNoIndex;
#pragma unroll
    for (int k = 0; k < 2; ++k) {
        const int64_t first = begin[k] > from ? begin[k] : from;
        if (first < end[k] && first < next) next = first;
    }
    return next;
}

/** The smallest unsigned `value` over the group. */
__device__ __forceinline__ uint64_t group_min_unsigned(uint64_t value, int lane)
{
#pragma unroll
    for (int mask = 1; mask < kGroup; mask *= 2) {
        const auto other = static_cast<uint64_t>(shuffle_int64(static_cast<int64_t>(value), lane ^ mask));
        value = other < value ? other : value;
    }
    return value;
}

/**
 * The row tiles (Aligned policy, 16-bit storage, 16-byte aligned rows, D ∈ {16, 32, 64}). Warp w of
 * block k takes chunks (k·kTileWarps + w), + grid·kTileWarps, …; lane (g, t) holds rows g and g + 8
 * of the chunk in every accumulator (gpu/mma.h). Every loop's trip count is uniform over the warp: it
 * depends on the chunk's rows through group-wide minima and maxima only.
 *
 * A pass (the chunk's rows of one (b, h)) scores tiles of keys of three kinds with one online softmax
 * per row: the union of the rows' windows, of their aligned anchors, and (kDna) of their DNA keys.
 * Rows of a chunk are close (≈ 80 tokens apart at 1.25 % density), and Dna(i), the top K of
 * [0, i − W], changes little between them, so the DNA keys are tiles too: with i0 the pass's first
 * DNA row and P0 the first prefix of i0's query tile (P0 ≤ i − W for every row of the pass), every key
 * of Dna(i) at or below P0 has a rank key at least the threshold of i − W, which is at least that of
 * P0, so it is one of the top K of [0, P0]: an entry of that tile's list (gpu/flux_dna.h). The list's
 * entries at positions ≤ P0 are staged 64 at a time (gathered K and V rows); the positions in
 * (P0, i_last − W] whose rank keys reach the smallest threshold of the pass are found by a scan of the
 * salience (ballots) and staged the same way. Each row takes a key j of these tiles exactly when
 * j ≤ i − W, its rank key reaches the row's threshold and j is not one of its anchors (a multiple of S
 * from its first anchor on): Dna(i) minus its anchors, every key once.
 */
template <typename Storage, int kDim, bool kDna>
__global__ void __launch_bounds__(kTileThreads, kTileBlocksPerMultiprocessor) active_row_tiles(RowArgs<typename Storage::Raw> args)
{
    static_assert(sizeof(typename Storage::Raw) == 2, "the tile products take 16-bit storage");
    using Raw = typename Storage::Raw;
    constexpr int kKeys = kRowTileKeys<kDim>;
    constexpr int kPitch = kDim + 8;            // elements; padded so that ldmatrix rows spread over the banks
    constexpr int kTensor = kKeys * kPitch;     // one tensor of a stage
    constexpr int kStage = 2 * kTensor;         // K, then V
    constexpr int kKeyBlocks = kKeys / 8;       // score accumulators of a tile
    constexpr int kDimChunks = kDim / 16;       // A fragments of q
    constexpr int kDimBlocks = kDim / 8;        // output accumulators
    constexpr int kWordsPerKey = kDim / 8;      // 16-byte pieces of a key row
    constexpr int kWords = 2 * kKeys * kWordsPerKey;
    constexpr float kLog2e = 1.4426950408889634f;
    // An unused slot of a DNA tile: its position 2^32 − 1 is past every row's last DNA position.
    constexpr uint64_t kNoEntry = ~uint64_t{0};
    constexpr int kScan = kKeys < kGroup ? kKeys : kGroup;  // positions a step of the salience scan
    static_assert(kWords % kGroup == 0, "every lane copies the same number of words");
    __shared__ __align__(16) uint16_t shared[kTileWarps][2 * kStage];
    __shared__ uint64_t dna_ranks[kTileWarps][2][kDna ? kKeys : 1];  // a DNA stage's rank keys (position in the low word)

    const int lane = threadIdx.x % kGroup;
    const int warp = static_cast<int>(threadIdx.x) / kGroup;
    const int g = lane / 4;
    const int t = lane % 4;
    uint16_t* const stages = shared[warp];
    if (args.gate.closed()) return;  // the whole grid: the tile kernel computes this call
    const int64_t count = *args.count;
    const int64_t chunks = (count + kTileRows - 1) / kTileRows;
    const float scale = args.scale * kLog2e;  // scores in base 2

    for (int64_t chunk = static_cast<int64_t>(blockIdx.x) * kTileWarps + warp; chunk < chunks;
         chunk += static_cast<int64_t>(gridDim.x) * kTileWarps) {
        // Softmax state of rows g and g + 8 (index k): m in base 2 (the same in the row's 4 lanes), this
        // lane's part of l, and the output accumulators (element e of block n: row e / 2, dim 8n + 2t + e % 2).
        float m[2] = {-INFINITY, -INFINITY};
        float l[2] = {0.0f, 0.0f};
        mma::Accumulator o[kDimBlocks] = {};

        const TileRow rows[2] = {tile_row(args, chunk * kTileRows + g, count),
                                 tile_row(args, chunk * kTileRows + g + 8, count)};

        // DNA: row k takes key j ≤ dna_last[k] (i − W; −1: the row has none) whose rank key reaches
        // dna_threshold[k], unless j is a multiple of S at or above anchor_floor[k] (one of its anchors).
        int64_t dna_last[2] = {-1, -1};
        uint64_t dna_threshold[2] = {kNoEntry, kNoEntry};
        int64_t anchor_floor[2] = {kNoIndex, kNoIndex};
        if constexpr (kDna) {
#pragma unroll
            for (int k = 0; k < 2; ++k) {
                if (rows[k].head < 0 || rows[k].at.i < args.window) continue;
                dna_last[k] = rows[k].at.i - args.window;
                dna_threshold[k] = args.dna.thresholds[rows[k].at.b * args.dna.prefixes + (dna_last[k] - args.dna.first_prefix)];
                if (rows[k].end[1] > rows[k].begin[1]) anchor_floor[k] = rows[k].begin[1] * args.stride;
            }
        }

        // q as A fragments: row g and g + 8, dims 16c + 2t (+1) and 16c + 2t + 8 (+9); unlisted rows 0.
        mma::FragmentA q[kDimChunks];
#pragma unroll
        for (int c = 0; c < kDimChunks; ++c) {
#pragma unroll
            for (int k = 0; k < 2; ++k) {
                const Raw* const row = rows[k].head >= 0 ? args.q.at(rows[k].at.b, rows[k].at.h, rows[k].at.query_row) : nullptr;
                q[c].x[k] = row != nullptr ? *reinterpret_cast<const uint32_t*>(row + 16 * c + 2 * t) : 0u;
                q[c].x[k + 2] = row != nullptr ? *reinterpret_cast<const uint32_t*>(row + 16 * c + 2 * t + 8) : 0u;
            }
        }

        // Scores the staged tile `keys` (V after it): S = Q·Kᵀ, each row keeping the columns `taken(k,
        // column)` says (k: 0 for row g, 1 for row g + 8), the online softmax, O += P·V.
        const auto consume = [&](const uint16_t* keys, const auto& taken) {
            const uint16_t* const values = keys + kTensor;
            mma::Accumulator score[kKeyBlocks] = {};
#pragma unroll
            for (int c = 0; c < kDimChunks; ++c) {
#pragma unroll
                for (int n = 0; n < kKeyBlocks; n += 2) {
                    mma::FragmentB key_fragments[2];
                    mma::load_b_from_rows(key_fragments, keys + 8 * n * kPitch + 16 * c, kPitch, lane);
                    mma::mma<Storage>(score[n], q[c], key_fragments[0], lane);
                    mma::mma<Storage>(score[n + 1], q[c], key_fragments[1], lane);
                }
            }
            float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
            for (int n = 0; n < kKeyBlocks; ++n) {
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int k = e / 2;
                    const int column = 8 * n + 2 * t + e % 2;
                    score[n].x[e] = taken(k, column) ? score[n].x[e] * scale : -INFINITY;
                    tile_max[k] = fmaxf(tile_max[k], score[n].x[e]);
                }
            }
            float base[2];
#pragma unroll
            for (int k = 0; k < 2; ++k) {
                const float m_new = fmaxf(m[k], mma::row_max(tile_max[k]));
                // A row without a candidate so far keeps m = −inf; its p are all 0 (base 0).
                base[k] = m_new == -INFINITY ? 0.0f : m_new;
                const float rescale = mma::exp2_fast(m[k] - base[k]);  // 0 while m = −inf
                l[k] *= rescale;
#pragma unroll
                for (int n = 0; n < kDimBlocks; ++n) {
                    o[n].x[2 * k] *= rescale;
                    o[n].x[2 * k + 1] *= rescale;
                }
                m[k] = m_new;
            }
#pragma unroll
            for (int n = 0; n < kKeyBlocks; ++n) {
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    score[n].x[e] = mma::exp2_fast(score[n].x[e] - base[e / 2]);
                    l[e / 2] += score[n].x[e];
                }
            }
            // O += P·V, 16 keys at a time.
#pragma unroll
            for (int j = 0; j < kKeys / 16; ++j) {
                mma::FragmentA p;
                mma::pack_a<Storage>(p, score[2 * j], score[2 * j + 1]);
#pragma unroll
                for (int c = 0; c < kDimChunks; ++c) {
                    mma::FragmentB value_fragments[2];
                    mma::load_b_from_columns(value_fragments, values + 16 * j * kPitch + 16 * c, kPitch, lane);
                    mma::mma<Storage>(o[2 * c], p, value_fragments[0], lane);
                    mma::mma<Storage>(o[2 * c + 1], p, value_fragments[1], lane);
                }
            }
        };

        // Passes: the rows of one (b, h) at a time, in list order (heads ascend along the list).
        int64_t head = group_min(rows[0].head >= 0 ? rows[0].head : kNoIndex, lane);
        while (head != kNoIndex) {
            const bool in_pass[2] = {rows[0].head == head, rows[1].head == head};
            const int64_t b = head / args.heads;
            const int64_t kv_head = head % args.heads / args.group;
            const Raw* const key_head = args.k.at(b, kv_head, 0);  // position 0 of this (b, kv head)
            const Raw* const value_head = args.v.at(b, kv_head, 0);
            for (int s = 0; s < kStreams; ++s) {
                const int64_t step = s == 0 ? 1 : args.stride;
                // The rows' ranges in this stream, empty for rows outside the pass (registers: s is
                // not a constant here, so the rows' arrays are not indexed by it below).
                int64_t begin[2], end[2];
                int64_t last = 0;  // one past the largest index a row of the pass takes
#pragma unroll
                for (int k = 0; k < 2; ++k) {
                    begin[k] = s == 0 ? rows[k].begin[0] : rows[k].begin[1];
                    end[k] = s == 0 ? rows[k].end[0] : rows[k].end[1];
                    if (!in_pass[k] || end[k] < begin[k]) end[k] = begin[k];
                    if (begin[k] < end[k] && end[k] > last) last = end[k];
                }
                const int64_t limit = group_max(last, lane);
                int64_t x = group_min(next_taken(begin, end, 0), lane);
                const int64_t key_step = step * args.k.token, value_step = step * args.v.token;
                // Queues the copies of the tile at index x into stage `buffer` (keys past `limit` are
                // zeros and never read from memory: every index below it is a key of the tensor).
                const auto stage_tile = [&](int buffer, int64_t at) {
                    uint16_t* const stage = stages + buffer * kStage;
#pragma unroll
                    for (int copy = 0; copy < kWords / kGroup; ++copy) {
                        const int w = lane + copy * kGroup;
                        const int tensor = w / (kKeys * kWordsPerKey);
                        const int key = w / kWordsPerKey % kKeys;
                        const int piece = w % kWordsPerKey;
                        const int64_t index = at + key < limit ? at + key : 0;
                        const Raw* const source = (tensor == 0 ? key_head + index * key_step : value_head + index * value_step) + 8 * piece;
                        mma::copy_16(stage + tensor * kTensor + key * kPitch + 8 * piece, source, at + key < limit);
                    }
                    mma::copy_commit();
                };
                if (x != kNoIndex) stage_tile(0, x);
                for (int buffer = 0; x != kNoIndex; buffer ^= 1) {
                    const int64_t next = group_min(next_taken(begin, end, x + kKeys), lane);
                    if (next != kNoIndex) {
                        stage_tile(buffer ^ 1, next);
                        mma::copy_wait(1);
                    } else {
                        mma::copy_wait(0);
                    }
                    group_sync();  // every lane's copies of this tile have landed
                    // Each row keeps the tile's indices inside its own range of the stream.
                    int lo[2], hi[2];
#pragma unroll
                    for (int k = 0; k < 2; ++k) {
                        const int64_t from = begin[k] - x, to = end[k] - x;
                        lo[k] = static_cast<int>(smaller(kKeys, from > 0 ? from : 0));
                        hi[k] = static_cast<int>(smaller(kKeys, to > 0 ? to : 0));
                    }
                    consume(stages + buffer * kStage, [&](int k, int column) { return column >= lo[k] && column < hi[k]; });
                    group_sync();  // this stage's readers are done before the next copies into it
                    x = next;
                }
            }

            if constexpr (kDna) {
                // The pass's rows with DNA keys: the first one's query tile, the last DNA position, the smallest threshold.
                bool dna_row[2];
                int64_t first_row = kNoIndex, last = -1;
                uint64_t floor_rank = kNoEntry;
#pragma unroll
                for (int k = 0; k < 2; ++k) {
                    dna_row[k] = in_pass[k] && dna_last[k] >= 0;
                    if (!dna_row[k]) continue;
                    first_row = smaller(first_row, rows[k].at.query_row);
                    last = dna_last[k] > last ? dna_last[k] : last;
                    floor_rank = dna_threshold[k] < floor_rank ? dna_threshold[k] : floor_rank;
                }
                first_row = group_min(first_row, lane);
                if (first_row != kNoIndex) {
                    last = group_max(last, lane);
                    floor_rank = group_min_unsigned(floor_rank, lane);
                    const int64_t tile = first_row / args.dna.block_q;
                    const int64_t list_index = b * args.dna.query_tiles + tile;
                    const uint64_t* const list = args.dna.lists + list_index * args.dna.capacity;
                    const int entries = args.dna.counts[list_index];
                    // P0: the first prefix of the tile (its list holds the top K of [0, P0]).
                    const int64_t tile_start = args.query_offset + tile * args.dna.block_q - args.window;
                    const int64_t covered = tile_start > args.dna.first_prefix ? tile_start : args.dna.first_prefix;

                    // Row k takes DNA key j of a tile when above < j ≤ upto[k], its rank reaches the row's threshold and j is not its anchor.
                    const auto dna_taken = [&](const uint64_t* ranks, int64_t above, const int64_t (&upto)[2]) {
                        return [&, ranks, above](int k, int column) {
                            const uint64_t rank = ranks[column];
                            const int64_t j = static_cast<uint32_t>(rank);
                            const bool anchor = j >= anchor_floor[k] && static_cast<uint32_t>(j) % args.anchor_modulus == 0;
                            return dna_row[k] && j > above && j <= upto[k] && rank >= dna_threshold[k] && !anchor;
                        };
                    };
                    // Queues the copies of the keys whose rank keys are in stage `buffer`'s slots (kNoEntry: zeros).
                    const auto stage_ranked = [&](int buffer) {
                        group_sync();  // the slots are written
                        uint16_t* const stage = stages + buffer * kStage;
                        const uint64_t* const ranks = dna_ranks[warp][buffer];
#pragma unroll
                        for (int copy = 0; copy < kWords / kGroup; ++copy) {
                            const int w = lane + copy * kGroup;
                            const int tensor = w / (kKeys * kWordsPerKey);
                            const int key = w / kWordsPerKey % kKeys;
                            const int piece = w % kWordsPerKey;
                            const uint64_t rank = ranks[key];
                            const int64_t j = rank != kNoEntry ? static_cast<uint32_t>(rank) : 0;
                            const Raw* const source = (tensor == 0 ? key_head + j * args.k.token : value_head + j * args.v.token) + 8 * piece;
                            mma::copy_16(stage + tensor * kTensor + key * kPitch + 8 * piece, source, rank != kNoEntry);
                        }
                        mma::copy_commit();
                    };

                    // The list's entries at positions ≤ P0 that reach the smallest threshold, kKeys a tile.
                    const int64_t list_upto[2] = {smaller(dna_last[0], covered), smaller(dna_last[1], covered)};
                    const auto fill_list = [&](int buffer, int first) {
                        for (int k = lane; k < kKeys; k += kGroup) {
                            uint64_t rank = kNoEntry;
                            if (first + k < entries) {
                                const uint64_t entry = list[first + k];
                                if (static_cast<int64_t>(entry & 0xffffffffu) <= covered && entry >= floor_rank) rank = entry;
                            }
                            dna_ranks[warp][buffer][k] = rank;
                        }
                    };
                    if (entries > 0) {
                        fill_list(0, 0);
                        stage_ranked(0);
                    }
                    for (int first = 0, buffer = 0; first < entries; first += kKeys, buffer ^= 1) {
                        if (first + kKeys < entries) {
                            fill_list(buffer ^ 1, first + kKeys);
                            stage_ranked(buffer ^ 1);
                            mma::copy_wait(1);
                        } else {
                            mma::copy_wait(0);
                        }
                        group_sync();  // every lane's copies of this tile have landed
                        consume(stages + buffer * kStage, dna_taken(dna_ranks[warp][buffer], -1, list_upto));
                        group_sync();  // this stage's readers are done before the next copies into it
                    }

                    // The positions in (P0, last] whose rank keys reach the smallest threshold, by a scan of the salience.
                    const float* const salience = args.salience + b * args.salience_batch;
                    uint64_t* const slots = dna_ranks[warp][0];
                    for (int64_t j0 = covered + 1; j0 <= last;) {
                        int filled = 0;
                        while (j0 <= last && filled + kScan <= kKeys) {
                            const int64_t j = j0 + lane;
                            uint64_t rank = 0;
                            bool keep = false;
                            if (lane < kScan && j <= last) {
                                rank = dna_rank_key(salience[j * args.salience_token], j);
                                keep = rank >= floor_rank;
                            }
                            const uint32_t kept = group_ballot(keep);
                            if (keep) slots[filled + __popc(kept & ((1u << lane) - 1u))] = rank;
                            filled += __popc(kept);
                            j0 += kScan;
                        }
                        if (filled == 0) continue;
                        for (int k = filled + lane; k < kKeys; k += kGroup) slots[k] = kNoEntry;
                        stage_ranked(0);
                        mma::copy_wait(0);
                        group_sync();
                        consume(stages, dna_taken(slots, covered, dna_last));
                        group_sync();
                    }
                }
            }
            // The next head: rows g and g + 8 ascend along the list (unlisted rows are −1).
            head = group_min(rows[0].head > head ? rows[0].head : rows[1].head > head ? rows[1].head : kNoIndex, lane);
        }

        // o = acc / l, lse = (m + log2 l)·ln 2; the window's key i is every row's candidate, so l > 0.
#pragma unroll
        for (int k = 0; k < 2; ++k) {
            const float sum = mma::row_sum(l[k]);
            if (rows[k].head < 0) continue;
            const ListedRow& at = rows[k].at;
            Raw* const out = args.o.at(at.b, at.h, at.query_row);
#pragma unroll
            for (int n = 0; n < kDimBlocks; ++n) {
                *reinterpret_cast<uint32_t*>(out + 8 * n + 2 * t) =
                    mma::Format<Storage>::pack(o[n].x[2 * k] / sum, o[n].x[2 * k + 1] / sum);
            }
            if (t == 0 && args.lse.data != nullptr) {
                *args.lse.at(at.b, at.h, at.query_row) = (m[k] + log2f(sum)) * 0.6931471805599453f;
            }
        }
    }
}

// ---- host side ------------------------------------------------------------------------------------

// Attention blocks per multiprocessor: the persistent grid of active_rows (more rows are strided).
constexpr int64_t kRowBlocksPerMultiprocessor = 8;

/** Queues the attention kernel `kernel` names at head dim kDim. */
template <typename Storage, int kDim, bool kDna>
void launch_attention_for(RowModeKernel kernel, unsigned grid, const RowArgs<typename Storage::Raw>& args,
                          cudaStream_t stream)
{
    if (kernel == RowModeKernel::kGroups) {
        active_row_groups<Storage, kDim, kDna><<<grid, kRowThreads, 0, stream>>>(args);
    } else {
        active_rows<Storage, kDim, kDna><<<grid, kRowThreads, 0, stream>>>(args);
    }
}

/** Queues active_row_tiles for D ∈ {16, 32, 64} (16-bit storage). */
template <typename Storage, bool kDna>
void launch_row_tiles(int64_t head_dim, unsigned grid, const RowArgs<typename Storage::Raw>& args, cudaStream_t stream)
{
    if constexpr (sizeof(typename Storage::Raw) == 2) {
        switch (head_dim) {
        case 16: active_row_tiles<Storage, 16, kDna><<<grid, kTileThreads, 0, stream>>>(args); break;
        case 32: active_row_tiles<Storage, 32, kDna><<<grid, kTileThreads, 0, stream>>>(args); break;
        case 64: active_row_tiles<Storage, 64, kDna><<<grid, kTileThreads, 0, stream>>>(args); break;
        default: break;  // row_tiles_take ruled it out
        }
    }
}

/** Queues active_row_groups or active_rows for a D of kRowModeHeadDims. */
template <typename Storage, bool kDna>
void launch_attention(RowModeKernel kernel, int64_t head_dim, unsigned grid, const RowArgs<typename Storage::Raw>& args,
                      cudaStream_t stream)
{
    switch (head_dim) {
    case 8: launch_attention_for<Storage, 8, kDna>(kernel, grid, args, stream); break;
    case 16: launch_attention_for<Storage, 16, kDna>(kernel, grid, args, stream); break;
    case 32: launch_attention_for<Storage, 32, kDna>(kernel, grid, args, stream); break;
    case 64: launch_attention_for<Storage, 64, kDna>(kernel, grid, args, stream); break;
    case 80: launch_attention_for<Storage, 80, kDna>(kernel, grid, args, stream); break;
    case 96: launch_attention_for<Storage, 96, kDna>(kernel, grid, args, stream); break;
    case 128: launch_attention_for<Storage, 128, kDna>(kernel, grid, args, stream); break;
    default: launch_attention_for<Storage, 256, kDna>(kernel, grid, args, stream); break;
    }
}

template <typename Storage>
proteus_status run(const FluxProblem& problem, const TileDna& dna, int multiprocessors, RowModeKernel requested,
                   StreamWorkspace& workspace, cudaStream_t stream, Gate* tile_gate)
{
    using Raw = typename Storage::Raw;
    const int64_t B = problem.batch, H = problem.heads, Tq = problem.query_len, D = problem.head_dim;
    const int64_t rows = B * H * Tq;  // every row of q: the bound of the row list
    if (rows == 0) return PROTEUS_STATUS_OK;
    const bool with_dna = has_dna_keys(problem);
    if (with_dna && (dna.lists == nullptr || problem.candidates.policy != PROTEUS_POLICY_ALIGNED)) {
        return set_error(PROTEUS_STATUS_INTERNAL_ERROR,
                         "the row mode's DNA keys need the Aligned policy and their lists");
    }

    Tiles tiles;
    if (problem.active.present()) tiles.mask.rows = rows_of<const uint8_t>(problem.active);
    tiles.heads = H;
    tiles.query_len = Tq;
    tiles.tiles = (Tq + kTokens - 1) / kTokens;
    tiles.counts = B * H * tiles.tiles;  // the list in (b, head, token) order
    const int64_t blocks = (tiles.counts + kCountsPerBlock - 1) / kCountsPerBlock;
    if (blocks > INT32_MAX) {
        return set_error(PROTEUS_STATUS_INVALID_ARGUMENT,
                         "the GPU row mode supports up to 2^31 - 1 blocks of " + std::to_string(kCountsPerBlock) +
                             " tiles of " + std::to_string(kTokens) + " rows, not " + std::to_string(blocks),
                         "q.shape");
    }

    const uint64_t bytes = sizeof(Raw);
    const bool vector = aligned16(problem.q, bytes) && aligned16(problem.k, bytes) && aligned16(problem.v, bytes) &&
                        aligned16(problem.o, bytes) && D * static_cast<int64_t>(bytes) % 16 == 0;

    int64_t* counts = nullptr;
    int64_t* offsets = nullptr;  // per compaction block, then the number of active rows
    int64_t* ids = nullptr;
    int32_t* choice = nullptr;
    proteus_status status = workspace.allocate(static_cast<uint64_t>(tiles.counts), &counts);
    if (status == PROTEUS_STATUS_OK) status = workspace.allocate(static_cast<uint64_t>(blocks) + 1, &offsets);
    if (status == PROTEUS_STATUS_OK) status = workspace.allocate(static_cast<uint64_t>(rows), &ids);
    if (status == PROTEUS_STATUS_OK && tile_gate != nullptr) status = workspace.allocate(1, &choice);
    if (status != PROTEUS_STATUS_OK) return status;
    const Gate gate{choice, PROTEUS_KERNEL_GPU_ROW_MODE};  // closed to nobody without a choice

    const auto grid = static_cast<unsigned>(blocks);
    count_active<<<grid, kCompactThreads, 0, stream>>>(tiles, counts, offsets);
    if ((status = check_launch("count_active")) != PROTEUS_STATUS_OK) return status;
    scan_counts<<<1, kScanThreads, 0, stream>>>(offsets, blocks, rows, choice);
    if ((status = check_launch("scan_counts")) != PROTEUS_STATUS_OK) return status;

    Inactive<Raw> inactive;
    inactive.o = rows_of<Raw>(problem.o);
    if (problem.lse.present()) inactive.lse = rows_of<float>(problem.lse);
    inactive.vector = vector;
    // A row's pieces are spread over the next power of two of slots (D 80 and 96: not one itself).
    const int64_t pieces = vector ? D * static_cast<int64_t>(bytes) / 16 : D;
    inactive.pieces = static_cast<int>(pieces);
    while ((int64_t{1} << inactive.pieces_shift) < pieces) ++inactive.pieces_shift;
    write_rows<Raw><<<grid, kCompactThreads, 0, stream>>>(tiles, counts, offsets, ids, inactive, gate);
    if ((status = check_launch("write_rows")) != PROTEUS_STATUS_OK) return status;

    RowArgs<Raw> args;
    args.q = rows_of<const Raw>(problem.q);
    args.k = rows_of<const Raw>(problem.k);
    args.v = rows_of<const Raw>(problem.v);
    args.o = rows_of<Raw>(problem.o);
    if (problem.lse.present()) args.lse = rows_of<float>(problem.lse);
    if (with_dna) {
        args.salience = static_cast<const float*>(problem.salience.data);
        args.salience_batch = problem.salience.strides[0];
        args.salience_token = problem.salience.strides[1];
    }
    args.ids = ids;
    args.count = offsets + blocks;
    args.gate = gate;
    args.heads = H;
    args.query_offset = problem.query_offset;
    args.query_len = Tq;
    args.group = H / problem.kv_heads;
    args.aligned = problem.candidates.policy == PROTEUS_POLICY_ALIGNED;
    args.window = problem.candidates.window;
    args.stride = problem.candidates.anchor_stride;
    args.anchor_count = problem.candidates.anchor_count;
    args.anchor_modulus = static_cast<uint32_t>(std::clamp<int64_t>(args.stride, 1, int64_t{1} << 31));
    args.dna = dna;
    args.scale = problem.scale;
    args.vector = vector;
    // Row groups share the window and the aligned anchors; Relative anchors max(0, i − s·S) of
    // neighbouring rows are different keys, so Relative keeps the per-row kernel.
    // The row tiles take 16-bit storage in 16-byte aligned rows at D 16, 32 and 64 (D 8 is below one
    // k16 step of their products); the row groups the rest.
    RowModeKernel kernel = args.aligned ? requested : RowModeKernel::kRows;
    if (kernel == RowModeKernel::kTiles && !(bytes == 2 && vector && row_tiles_take(D))) {
        kernel = RowModeKernel::kGroups;
    }
    const int64_t devices_worth = std::max(multiprocessors, 1);
    if (kernel == RowModeKernel::kTiles) {
        // Enough warps for every row when all are active, at most a persistent grid that fills the device.
        const auto tile_grid = static_cast<unsigned>(std::min<int64_t>(
            (rows + kTileRows * kTileWarps - 1) / (kTileRows * kTileWarps), kTileBlocksPerMultiprocessor * devices_worth));
        if (with_dna) {
            launch_row_tiles<Storage, true>(D, tile_grid, args, stream);
        } else {
            launch_row_tiles<Storage, false>(D, tile_grid, args, stream);
        }
    } else {
        // Enough groups for every row when all are active (active_row_groups: a chunk of kGroupRows rows
        // per block, as many as active_rows' groups), at most a persistent grid that fills the device.
        const auto row_grid = static_cast<unsigned>(
            std::min<int64_t>((rows + kGroupRows - 1) / kGroupRows, kRowBlocksPerMultiprocessor * devices_worth));
        if (with_dna) {
            launch_attention<Storage, true>(kernel, D, row_grid, args, stream);
        } else {
            launch_attention<Storage, false>(kernel, D, row_grid, args, stream);
        }
    }
    status = check_launch(kernel == RowModeKernel::kTiles    ? "active_row_tiles"
                          : kernel == RowModeKernel::kGroups ? "active_row_groups"
                                                             : "active_rows");
    if (status != PROTEUS_STATUS_OK) return status;
    if (tile_gate != nullptr) *tile_gate = Gate{choice, PROTEUS_KERNEL_GPU_TILE};
    return PROTEUS_STATUS_OK;
}

}  // namespace

std::string row_mode_refusal(const FluxProblem& problem)
{
    const proteus_candidate_policy policy = problem.candidates.policy;
    if (policy != PROTEUS_POLICY_ALIGNED && policy != PROTEUS_POLICY_RELATIVE) {
        return "the row mode takes the Aligned and Relative policies only";
    }
    // Dna(i) ranks keys j ≤ i − W: no row has one when the last row's position is below W.
    if (has_dna_keys(problem)) {
        if (policy != PROTEUS_POLICY_ALIGNED) return "the row mode takes DNA keys with the Aligned policy only";
        if (problem.candidates.dna_count > kMaxTileDnaKeys) {
            return "the row mode takes up to " + std::to_string(kMaxTileDnaKeys) + " DNA keys, not " +
                   std::to_string(problem.candidates.dna_count);
        }
    }
    const proteus_dtype dtype = problem.q.dtype;
    if (dtype != PROTEUS_DTYPE_FLOAT32 && dtype != PROTEUS_DTYPE_FLOAT16 && dtype != PROTEUS_DTYPE_BFLOAT16) {
        return "the row mode takes float32, float16 or bfloat16, not dtype " + std::to_string(dtype);
    }
    const int64_t D = problem.head_dim;
    if (std::find(std::begin(kRowModeHeadDims), std::end(kRowModeHeadDims), D) == std::end(kRowModeHeadDims)) {
        return "the row mode takes head dims 8, 16, 32, 64, 80, 96, 128 or 256, not " + std::to_string(D);
    }
    return "";
}

RowModeKernel row_mode_kernel_requested()
{
    const char* requested = std::getenv("PROTEUS_ROW_MODE_KERNEL");
    const std::string name = requested != nullptr ? requested : "";
    return name == "rows" ? RowModeKernel::kRows : name == "groups" ? RowModeKernel::kGroups : RowModeKernel::kTiles;
}

proteus_status launch_flux_row_mode(const FluxProblem& problem, const TileDna& dna, int multiprocessors,
                                    RowModeKernel kernel, StreamWorkspace& workspace, cudaStream_t stream,
                                    Gate* tile_gate)
{
    switch (problem.q.dtype) {
    case PROTEUS_DTYPE_FLOAT32:
        return run<Float32Storage>(problem, dna, multiprocessors, kernel, workspace, stream, tile_gate);
    case PROTEUS_DTYPE_FLOAT16:
        return run<Float16Storage>(problem, dna, multiprocessors, kernel, workspace, stream, tile_gate);
    default: return run<BFloat16Storage>(problem, dna, multiprocessors, kernel, workspace, stream, tile_gate);
    }
}

}  // namespace proteus::gpu
