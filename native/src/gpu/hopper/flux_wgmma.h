// The Hopper tile kernel (issue 12): warpgroup matrix instructions (wgmma) fed by the bulk tensor copy
// engine (TMA), a producer warpgroup and two or three consumer warpgroups. gpu/hopper/flux_wgmma.cu holds
// it and is compiled only for sm_90a, by a CUDA ≥ 12 compiler (cmake/ProteusGpu.cmake); other builds
// (CUDA 11, HIP) compile gpu/hopper/flux_wgmma_unbuilt.cu instead, which refuses every problem.
//
// Version 2 takes the Aligned policy's three segments (window band, aligned anchors, DNA list with K ≤
// kMaxTileDnaKeys), bfloat16 and float16, D 8 … 128 in steps of 8, GQA, query slices and the active mask. AUTO
// runs it on sm_90 where it takes the problem (DeviceTraits::wgmma_auto; PROTEUS_GPU_TILE_KERNEL=mma turns
// that off).
#pragma once

#include <string>

#include "backend.h"
#include "gpu/flux_dispatch.h"
#include "gpu/flux_dna.h"
#include "gpu/vendor.h"

namespace proteus::gpu {

/** Whether this build holds the Hopper kernel (a CUDA ≥ 12 build with sm_90 among its architectures). */
bool wgmma_kernel_built();

/** "" when the Hopper kernel computes `problem` on a device with `traits`; else why not. */
std::string wgmma_kernel_refusal(const FluxProblem& problem, const DeviceTraits& traits);

/** Query rows of one work item of the Hopper kernel at `problem`: the DNA lists are built for query tiles of this many rows. */
int64_t wgmma_query_rows(const FluxProblem& problem);

/**
 * Queues the Hopper kernel for `problem` (wgmma_kernel_refusal empty) on `stream`. With DNA keys `dna` holds
 * their candidates for query tiles of wgmma_query_rows rows (build_tile_dna, queued before on the same
 * stream), and the kernel's table of list entries is taken from `workspace`; without, `dna` is empty.
 * `traits`: the device's SMs (short windows launch one block each) and L2 (the order of long bands' items).
 */
proteus_status launch_flux_wgmma(const FluxProblem& problem, const TileDna& dna, const DeviceTraits& traits, StreamWorkspace& workspace,
                                 cudaStream_t stream);

}  // namespace proteus::gpu
