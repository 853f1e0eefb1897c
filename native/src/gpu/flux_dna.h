// DNA candidates for the tile kernel and the row mode (SPEC §3): Dna(i) is the top K of
// salience[b, 0..i − W], ties to the larger j, NaN ranked as −inf. gpu/flux_dna.cu computes, once per
// call and in O(T·K) work:
//   - for every prefix p = i − W of a query row at position i ≥ W (query slices, SPEC §1: row r is
//     position p0 + r, so p runs over [max(p0, W) − W, p0 + Tq − W)), the K-th best rank key of [0, p]
//     (a row takes key j ≤ p exactly when j's rank key is at least that threshold);
//   - for every query tile (block_q rows of the slice), a list of the keys that some row of the tile
//     takes: the top K of the tile's first prefix, plus the positions of its later prefixes that enter
//     their own top K (a key that does not enter when its prefix reaches it never does later).
// A rank key is (the salience as an order-preserving unsigned 32-bit value) << 32 | j: unique per key,
// larger means ranked higher, and 0 ranks below every key (the threshold of a prefix shorter than K).
#pragma once

#include <cmath>
#include <cstdint>

#include "backend.h"
#include "gpu/flux_common.h"
#include "gpu/vendor.h"

namespace proteus::gpu {

/** The order-preserving rank key of key j (above): NaN as −inf, −0 as +0 (they tie). */
__device__ __forceinline__ uint64_t dna_rank_key(float value, int64_t j)
{
    if (value != value) value = -INFINITY;
    if (value == 0.0f) value = 0.0f;
    uint32_t bits = __float_as_uint(value);
    bits = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
    return (uint64_t{bits} << 32) | static_cast<uint32_t>(j);
}

/** The largest K the tile kernel and the row mode take (a DNA walker keeps its top K in shared memory). */
constexpr int64_t kMaxTileDnaKeys = 256;

/** Whether some row of `problem` has DNA keys (rows at positions i ≥ W, K > 0). */
inline bool has_dna_keys(const FluxProblem& problem)
{
    return problem.candidates.dna_count > 0 && last_query_position(problem) >= problem.candidates.window;
}

/**
 * What the tile kernel and the row mode read of the DNA candidates (device pointers into the call's
 * workspace; all null when no row has DNA keys). Row r of the slice takes list r / block_q.
 */
struct TileDna {
    // [B, prefixes]: entry p − first_prefix is the K-th best rank key of [0, p] (0 when p + 1 < K), for
    // the prefixes p = i − W of the slice's rows i ≥ W.
    const uint64_t* thresholds = nullptr;
    const uint64_t* lists = nullptr;       // [B, query tiles, capacity]: rank keys some row of the tile takes
    const int32_t* counts = nullptr;       // [B, query tiles]: entries of each list (written for tiles with i1 ≥ W)
    int64_t first_prefix = 0;              // max(p0, W) − W: the prefix of the slice's first row with DNA keys
    int64_t prefixes = 0;                  // p0 + Tq − max(p0, W): prefixes [first_prefix, first_prefix + prefixes)
    int32_t keys = 0;                      // K, at most the last row's prefix length p0 + Tq − W
    int32_t capacity = 0;                  // K + block_q: the most a tile's list holds
    int32_t block_q = 0;                   // query rows per list
    int32_t query_tiles = 0;               // ⌈Tq / block_q⌉: lists per batch row
};

/**
 * Builds the DNA candidates of `problem` (Aligned or Relative rank order, K ≤ kMaxTileDnaKeys) for
 * query tiles of `block_q` rows, on `stream`, in memory from `workspace`; without a row with DNA keys
 * (has_dna_keys false) `dna` is left empty and nothing is queued. flux_attention (gpu/flux_kernel.cu)
 * is its one caller: it builds them once per call, for whichever of the tile kernel and the row mode
 * runs (both read the same lists under TILE_OR_ROW_MODE).
 */
proteus_status build_tile_dna(const FluxProblem& problem, int block_q, StreamWorkspace& workspace, cudaStream_t stream,
                              TileDna& dna);

}  // namespace proteus::gpu
