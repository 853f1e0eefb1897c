// Host entry of the GPU flux attention (SPEC §2–§3); the kernels are in gpu/flux_kernel.cu.
#pragma once

#include "backend.h"
#include "gpu/vendor.h"

namespace proteus::gpu {

/**
 * Queues flux attention over a validated problem on `stream` of `device` (the current device).
 * Workspace (DNA lists, Seed scratch) comes from `workspace`, so the context counts it; a call that
 * needs workspace waits for the stream before releasing it, one that needs none returns at once.
 */
proteus_status flux_attention(const FluxProblem& problem, Allocator& workspace, cudaStream_t stream, int device);

}  // namespace proteus::gpu
