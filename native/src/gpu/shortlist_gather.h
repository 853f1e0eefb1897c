// proteus_shortlist_gather on the GPU: C(i) of the requested rows built by a kernel (gpu/shortlist_gather.cu).
#pragma once

#include "backend.h"
#include "gpu/vendor.h"

namespace proteus::gpu {

/**
 * Writes C(i) of `problem`'s rows (SPEC §3, Appendix A; the sets of core/shortlist.cpp's
 * ShortlistBuilder, sorted ascending) into its host arrays. The rows are computed on the device of
 * `stream` in `workspace` (about 8 bytes per candidate of the rows asked, and per DNA key 16 more);
 * the call then waits for the stream, since it writes host memory. Work per row: its window and
 * anchors, plus with DNA keys (K > 0) a radix select over the salience prefix the row ranks.
 * `multiprocessors` sizes the grid.
 */
proteus_status shortlist_gather(const GatherProblem& problem, Allocator& workspace, int multiprocessors,
                                cudaStream_t stream);

}  // namespace proteus::gpu
