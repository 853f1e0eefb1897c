// Which GPU kernel computes a flux problem, with which launch: one pure function of the problem and
// the device's traits (no work queued, nothing allocated, no runtime call), and the configurations
// offered to an autotuner (proteus_flux_launch_candidates).
//
// Kernels (proteus_flux_kernel):
//   GPU_TILE            the tensor-core tile kernel: Aligned, float16/bfloat16, D in {16, 32, 64, 80,
//                       96, 128, 256}, DNA K ≤ 256, 16-byte rows (launch fields block_q, block_k,
//                       rows_per_warp, stages);
//   GPU_ROW_MODE        the row mode: Aligned (DNA K ≤ 256) or Relative without DNA keys, D in
//                       {8, 16, 32, 64, 80, 96, 128, 256};
//   GPU_ROW             the general row kernel: everything else with D ≤ 256;
//   GPU_EXPLICIT        the explicit-list kernel: the explicit policy, every storage type, D in
//                       {8, 16, 32, 64, 80, 96, 128, 256} (AUTO only; TILE and ROW refuse the
//                       explicit policy);
//   GPU_TILE_OR_ROW_MODE AUTO with a mask where the tile kernel and the row mode both take the
//                       problem and the caller gave no density hint: both are queued and the device
//                       picks (row mode below 25 % active rows).
// AUTO: with a mask and the hint PROTEUS_FLUX_ACTIVE_SPARSE the row mode where it takes the problem,
// with PROTEUS_FLUX_ACTIVE_DENSE the tile kernel where it runs; else TILE_OR_ROW_MODE, else the tile
// kernel where it takes the problem and a launch of it fits the device's shared memory (D 256 on a
// 64 KiB HIP block does not), else the row mode where a
// mask is given and it takes the problem (it computes only the active rows, 32 lanes each), else the
// general row kernel. On sm_90 the Hopper kernel comes first: wherever it takes the problem (the Aligned
// policy, bfloat16/float16, D 8 … 128 — head dims the tile kernel lacks included), no tile launch field is
// given and no mask leaves the choice to the device or the row mode, DNA keys included (not with
// PROTEUS_GPU_TILE_KERNEL=mma at context creation). TILE, ROW and TILE_WGMMA run exactly that kernel or fail with INVALID_ARGUMENT naming
// launch.mode; a launch field given for a kernel without it fails naming the field.
#pragma once

#include <vector>

#include "backend.h"
#include "gpu/flux_tile_kernel.h"

namespace proteus::gpu {

/** What dispatch reads of a device, queried once when its backend is created. */
struct DeviceTraits {
    int arch = 0;             // compute capability · 10 (CUDA sm_90: 90; HIP gfx90a: 90)
    int multiprocessors = 0;  // SMs / CUs
    int shared_limit = 0;     // bytes of shared memory one block may use (CUDA: the opt-in limit)
    int64_t l2_bytes = 0;     // the L2's bytes (0 where the device reports none)
    // A build with the Hopper kernel (gpu/hopper/flux_wgmma.h) on an sm_90 device: AUTO runs it where it
    // takes the problem, and the launch candidates offer it; PROTEUS_GPU_TILE_KERNEL=mma when the backend
    // was created turns both off (the mma.sync tile kernel then runs, for comparisons).
    bool wgmma_auto = false;
};

/** Queries `device`'s traits (the device must exist). */
proteus_status query_device_traits(int device, DeviceTraits& traits);

/** The kernel and resolved launch for `problem` on a device with `traits` (see above). */
proteus_status plan_flux(const FluxProblem& problem, const DeviceTraits& traits, FluxPlan& plan);

/**
 * Every launch offered for `problem` (its launch is ignored): the heuristic's plan first, then every
 * tile configuration the kernel is compiled for and the device fits (block_q × block_k ×
 * rows_per_warp × stages, mode TILE), then the row mode (mode ROW) where it takes the problem. Each
 * passes plan_flux as given.
 */
proteus_status flux_launch_candidates(const FluxProblem& problem, const DeviceTraits& traits,
                                      std::vector<proteus_launch_config>& configs);

/** The tile launch of a plan's resolved launch (kernel GPU_TILE or GPU_TILE_OR_ROW_MODE). */
TileLaunch tile_launch_of(const proteus_launch_config& launch);

}  // namespace proteus::gpu
