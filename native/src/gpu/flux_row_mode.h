// Host entry of the row mode (gpu/flux_row_mode.cu): flux attention over the active rows only, for
// sparse masks (router / token keep), where the tile and block-per-row kernels would spend their
// time on rows that only write zeros. gpu/flux_dispatch.cu decides when to use it.
#pragma once

#include <string>

#include "backend.h"
#include "gpu/flux_common.h"
#include "gpu/flux_dna.h"
#include "gpu/vendor.h"

namespace proteus::gpu {

/**
 * Query rows per DNA list when the row mode runs without the tile kernel (explicit ROW, or AUTO's row
 * mode on float32): a row walks its list of at most K + 64 entries, about K on random salience.
 */
constexpr int kRowModeDnaRows = 64;

/**
 * Empty when the row mode computes `problem`: the Aligned or Relative policy, DNA keys with the Aligned
 * policy only and K ≤ kMaxTileDnaKeys (a problem has none when dna_count = 0 or every row of the query
 * slice is at a position i < W, so that Dna(i) is empty: has_dna_keys); float32, float16 or bfloat16;
 * D in {8, 16, 32, 64, 80, 96, 128, 256}. Else the reason it does not, for the error of an explicit ROW. The mask may be
 * absent (every row active: correct, but the tile or row kernel is the better choice then).
 */
std::string row_mode_refusal(const FluxProblem& problem);

inline bool row_mode_takes(const FluxProblem& problem) { return row_mode_refusal(problem).empty(); }

/**
 * The row mode's attention kernel under the Aligned policy: kTiles (active_row_tiles: 16 listed rows
 * of a head as the rows of tensor-core tile products over the union of their windows and anchors;
 * 16-bit storage, 16-byte aligned rows, D 16, 32 or 64, else kGroups), kGroups (active_row_groups: 8 listed
 * rows of one head share K/V tiles, scored lane by lane) or kRows (active_rows: every key a per-row
 * gather). The Relative policy always runs kRows. All give the same rows up to rounding.
 */
enum class RowModeKernel { kTiles, kGroups, kRows };

/**
 * PROTEUS_ROW_MODE_KERNEL=rows: kRows; =groups: kGroups; unset or anything else: kTiles (NOTES.md,
 * "Row tiles"). Read when a context is created.
 */
RowModeKernel row_mode_kernel_requested();

/**
 * Queues flux attention over `problem` (one row_mode_takes accepts) on `stream`: compacts the active
 * rows of the mask into a list ordered by (b, head, token), writes o = 0 and lse = −inf for the
 * inactive rows, and computes the active rows with `kernel` (Relative: always kRows). With DNA keys `dna` holds their
 * candidates (build_tile_dna, queued before on the same stream, any block_q); without, it is empty.
 * Nothing waits: the list is sized for every row (8 bytes a row of q, plus B·H·⌈Tq/256⌉ + 1 counts, from
 * `workspace`) and the kernels read the number of active rows from device memory. `multiprocessors`
 * sizes the persistent attention grid. With `tile_gate` (AUTO deciding on the device,
 * TILE_OR_ROW_MODE) the row mode's scan also picks the kernel, its own kernels run only when it picked
 * the row mode, and *tile_gate receives the gate for the tile kernel queued after it in the same
 * workspace.
 */
proteus_status launch_flux_row_mode(const FluxProblem& problem, const TileDna& dna, int multiprocessors,
                                    RowModeKernel kernel, StreamWorkspace& workspace, cudaStream_t stream,
                                    Gate* tile_gate);

}  // namespace proteus::gpu
