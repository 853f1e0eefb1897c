// The CPU backend's two flux attention kernels (SPEC §2 over the candidate sets of §3), both on the
// backend's worker pool: the literal reference, and the tile kernel (flux_tiles.cpp) that AUTO runs.
#pragma once

#include "backend.h"
#include "cpu/parallel.h"

namespace proteus::cpu {

/**
 * The reference: each row's softmax over its C(i) in two passes, literally. Scratch from `workspace`.
 * It is also the CPU kernel of the explicit policy (a row's list is its C(i) as given), which first
 * rejects a length outside [0, L] (INVALID_ARGUMENT naming candidate_lengths).
 */
proteus_status flux_attention(const FluxProblem& problem, WorkerPool& pool, Allocator& workspace);

/**
 * Whether the tile kernel computes `problem`: Aligned and Relative (any window, anchors, DNA, mask,
 * slice, GQA, storage type). The Seed and explicit policies stay on the reference.
 */
bool tiles_take(const FluxProblem& problem);

/**
 * The tile kernel: the candidate sets of a tile of query rows merged into one key list, scores and
 * weighted sums as small vectorised matrix products. A row's result depends on its own C(i) only (not
 * on the tile, the slice or the thread count), so a query slice keeps the bits of the full call.
 */
proteus_status flux_attention_tiles(const FluxProblem& problem, WorkerPool& pool, Allocator& workspace);

}  // namespace proteus::cpu
