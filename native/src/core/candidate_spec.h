// The validated budgets of one candidate policy (SPEC §3; Appendix A for Seed): proteus_flux_params
// without the scale. The runtime fills it once; FluxProblem, gather and the shortlist rules all read it.
#pragma once

#include <cstdint>

#include "proteus/proteus.h"

namespace proteus::core {

struct CandidateSpec {
    proteus_candidate_policy policy = PROTEUS_POLICY_ALIGNED;
    int64_t window = 1;
    int64_t anchor_stride = 0;
    int64_t anchor_count = 0;
    int64_t dna_count = 0;
    int64_t seed_cap = 1;
    int64_t seed_local_cap = 1;  // ≥ 1: the ABI's 0 (no local piece) is stored as 1, the same list
};

}  // namespace proteus::core
