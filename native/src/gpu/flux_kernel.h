// Host entry of the GPU flux attention (SPEC §2–§3); the kernels are in gpu/flux_kernel.cu (the
// general row kernel), gpu/flux_tile_kernel.cu and gpu/flux_row_mode.cu.
#pragma once

#include <cstdint>

#include "backend.h"
#include "gpu/flux_dispatch.h"
#include "gpu/flux_row_mode.h"
#include "gpu/vendor.h"

namespace proteus::gpu {

/** The largest head dim of the general row kernel (thread t of a block owns o[t + n·threads]). */
constexpr int64_t kRowKernelMaxHeadDim = 256;

/**
 * Queues flux attention over a validated problem as `plan` (from plan_flux) says, on `stream` of the
 * current device (described by `traits`). Workspace (DNA lists, Seed scratch, the row mode's list)
 * comes from `workspace`, stream-ordered: its release is queued behind the call's kernels, and
 * nothing waits for the stream. `row_kernel`: the row mode's attention kernel (the context's
 * PROTEUS_ROW_MODE_KERNEL).
 */
proteus_status flux_attention(const FluxProblem& problem, const FluxPlan& plan, const DeviceTraits& traits,
                              RowModeKernel row_kernel, Allocator& workspace, cudaStream_t stream);

}  // namespace proteus::gpu
