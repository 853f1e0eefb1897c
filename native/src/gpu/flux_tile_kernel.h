// Host entry of the tensor-core tile kernel (gpu/flux_tile_kernel.cu): which problems it takes,
// its launch configuration, and the launch itself. gpu/flux_dispatch.cu decides when to use it.
#pragma once

#include <string>
#include <vector>

#include "backend.h"
#include "gpu/flux_common.h"
#include "gpu/flux_dna.h"
#include "gpu/vendor.h"

namespace proteus::gpu {

/**
 * One launch of the tile kernel: query rows per tile, keys per tile, copy pipeline depth, and m16
 * tiles of query rows per warp (1: 16 rows, 2: 32 rows; launch.rows_per_warp = 16 · row_tiles).
 */
struct TileLaunch {
    int block_q = 0;
    int block_k = 0;
    int stages = 0;
    int row_tiles = 1;

    int rows_per_warp() const { return 16 * row_tiles; }
    int warps() const { return block_q / rows_per_warp(); }
};

/**
 * Empty when the tile kernel computes `problem` (the Aligned policy: window, anchors, DNA keys with
 * K ≤ kMaxTileDnaKeys; float16 or bfloat16; D in {16, 32, 64, 80, 96, 128, 256}; every q/k/v/o row 16-byte
 * aligned), else the reason it does not, for the error of an explicit TILE.
 */
std::string tile_kernel_refusal(const FluxProblem& problem);

inline bool tile_kernel_takes(const FluxProblem& problem) { return tile_kernel_refusal(problem).empty(); }

/**
 * The tile launch for `problem` (one the tile kernel takes) from `config`: zero fields by the
 * heuristic, given ones checked against what the kernel is compiled for (INVALID_ARGUMENT naming the
 * field otherwise). `multiprocessors` and `shared_limit` (a block's limit in bytes) describe the device.
 */
proteus_status resolve_tile_launch(const FluxProblem& problem, const proteus_launch_config& config, int multiprocessors,
                                   int shared_limit, TileLaunch& launch);

/**
 * Whether some launch of the tile kernel at `problem` (one it takes) fits `shared_limit` bytes of
 * shared memory a block: its smallest, 64 query rows, one stage, the narrowest key tile.
 */
bool tile_launch_fits(const FluxProblem& problem, int shared_limit);

/** Every launch the tile kernel is compiled for at `problem` whose shared memory fits `shared_limit`. */
std::vector<TileLaunch> tile_launch_options(const FluxProblem& problem, int shared_limit);

/**
 * Queues the tile kernel over `problem` on `stream` (behind `gate`). With DNA keys `dna` holds their
 * candidates, built for query tiles of launch.block_q rows (build_tile_dna, queued before on the
 * same stream); without, it is empty. Nothing waits.
 */
proteus_status tile_attention(const FluxProblem& problem, const TileLaunch& launch, const TileDna& dna, Gate gate,
                              cudaStream_t stream);

}  // namespace proteus::gpu
