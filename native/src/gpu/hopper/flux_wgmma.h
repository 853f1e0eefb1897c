// The Hopper tile kernel (issue 12): warpgroup matrix instructions (wgmma) fed by the bulk tensor copy
// engine (TMA), a producer warpgroup and two or three consumer warpgroups. gpu/hopper/flux_wgmma.cu holds
// it and is compiled only for sm_90a, by a CUDA ≥ 12 compiler (cmake/ProteusGpu.cmake); other builds
// (CUDA 11, HIP) compile gpu/hopper/flux_wgmma_unbuilt.cu instead, which refuses every problem.
//
// This version takes bfloat16, D 64 and 128, the Aligned policy's window band alone (dense causal when
// W ≥ T; no anchors, no DNA keys) and no active mask, with GQA and query slices. AUTO runs it on sm_90
// where it takes the problem (DeviceTraits::wgmma_auto; PROTEUS_GPU_TILE_KERNEL=mma turns that off).
#pragma once

#include <string>

#include "backend.h"
#include "gpu/flux_dispatch.h"
#include "gpu/vendor.h"

namespace proteus::gpu {

/** Whether this build holds the Hopper kernel (a CUDA ≥ 12 build with sm_90 among its architectures). */
bool wgmma_kernel_built();

/** "" when the Hopper kernel computes `problem` on a device with `traits`; else why not. */
std::string wgmma_kernel_refusal(const FluxProblem& problem, const DeviceTraits& traits);

/** Queues the Hopper kernel for `problem` (wgmma_kernel_refusal empty) on `stream`. */
proteus_status launch_flux_wgmma(const FluxProblem& problem, cudaStream_t stream);

}  // namespace proteus::gpu
