// Host entry of the row mode (gpu/flux_row_mode.cu): flux attention over the active rows only, for
// sparse masks (router / token keep), where the tile and block-per-row kernels would spend their
// time on rows that only write zeros. gpu/flux_kernel.cu decides when to use it.
#pragma once

#include "backend.h"
#include "gpu/vendor.h"

namespace proteus::gpu {

/**
 * Whether the row mode computes `problem`: the Aligned or Relative policy, no DNA key in any row
 * (dna_count = 0, or every row of the query slice at a position i < W, so that Dna(i) is empty: the
 * prefix top-K lists live with the other kernels), float32, float16 or bfloat16, D in {16, 32, 64,
 * 128}. The mask may be absent
 * (every row active: correct, but the tile or row kernel is the better choice then). Seed and DNA
 * problems go to the general row kernel.
 */
bool row_mode_takes(const FluxProblem& problem);

/**
 * Queues flux attention over `problem` (one row_mode_takes accepts; INVALID_ARGUMENT otherwise) on
 * `stream`: compacts the active rows of the mask into a list ordered by (b, token, head), writes
 * o = 0 and lse = −inf for the inactive rows, and computes each active row with one 32-lane group.
 * It reads the number of active rows back to size its list, so it waits for the stream once midway
 * and again before releasing its workspace (B·⌈Tq/256⌉ counts and offsets plus 8 bytes per active
 * row, taken from `workspace`): when it returns, the work is done.
 */
proteus_status launch_flux_row_mode(const FluxProblem& problem, Allocator& workspace, cudaStream_t stream);

}  // namespace proteus::gpu
