// Host entry of the tensor-core tile kernel (gpu/flux_tile_kernel.cu): which problems it takes,
// its launch configuration, and the launch itself. gpu/flux_kernel.cu decides when to use it.
#pragma once

#include "backend.h"
#include "gpu/vendor.h"

namespace proteus::gpu {

/**
 * One launch of the tile kernel: query rows per tile, keys per tile, copy pipeline depth, and m16
 * tiles of query rows per warp (1: 16 rows, 2: 32 rows).
 */
struct TileLaunch {
    int block_q = 0;
    int block_k = 0;
    int stages = 0;
    int row_tiles = 1;

    int warps() const { return block_q / (16 * row_tiles); }
};

/**
 * Whether the tile kernel computes `problem`: the Aligned policy (window, anchors, DNA keys with
 * K ≤ kMaxTileDnaKeys), float16 or bfloat16, D in {16, 32, 64, 128}, every q/k/v/o row 16-byte
 * aligned. Everything else runs on the general row kernel or the row mode.
 */
bool tile_kernel_takes(const FluxProblem& problem);

/**
 * The tile launch for `problem` (one the tile kernel takes) from problem.launch: zero fields by the
 * heuristic, given ones checked against what the kernel is compiled for (INVALID_ARGUMENT naming
 * the field otherwise). `multiprocessors` and `shared_bytes` (a block's opt-in limit) describe the device.
 */
proteus_status resolve_tile_launch(const FluxProblem& problem, int multiprocessors, int shared_bytes,
                                   TileLaunch& launch);

/**
 * Queues the tile kernel over `problem` on `stream`. With DNA keys it first builds their candidates
 * (gpu/flux_dna.h) in memory from `allocator`, and then waits for the stream before releasing it.
 */
proteus_status tile_attention(const FluxProblem& problem, const TileLaunch& launch, Allocator& allocator,
                              cudaStream_t stream);

}  // namespace proteus::gpu
