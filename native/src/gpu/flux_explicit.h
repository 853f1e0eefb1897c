// The GPU kernel of explicit candidate lists (PROTEUS_POLICY_EXPLICIT, docs/explicit-candidates.md).
#pragma once

#include <string>

#include "backend.h"
#include "gpu/vendor.h"

namespace proteus::gpu {

/** Empty when the explicit-list kernel computes `problem`, else why not. */
std::string explicit_kernel_refusal(const FluxProblem& problem);

/**
 * Queues flux attention over explicit lists on `stream`: no workspace, no host synchronisation, so it
 * can be captured in a graph.
 */
proteus_status launch_flux_explicit(const FluxProblem& problem, int multiprocessors, cudaStream_t stream);

}  // namespace proteus::gpu
