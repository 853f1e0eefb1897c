// The reference flux attention (SPEC §2 over the candidate sets of §3), literal and multithreaded.
#pragma once

#include "backend.h"

namespace proteus::cpu {

/** Computes a validated problem on up to `threads` threads; per-thread scratch comes from `workspace`. */
proteus_status flux_attention(const FluxProblem& problem, int threads, Allocator& workspace);

}  // namespace proteus::cpu
