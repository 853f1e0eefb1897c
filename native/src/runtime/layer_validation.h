// Validation of the layer operations (proteus_linear, proteus_norm, …; SPEC §4–§7), as for flux
// attention: every argument is checked before any work starts, and each rejection names it
// ("x.shape", "params.eps", "tensors.probs", …) with its specific status. A call that passes comes
// back as the backend's problem, with the buffers it addresses held in the lease.
#pragma once

#include <cstdint>

#include "backend.h"
#include "runtime/context.h"
#include "runtime/validation.h"

namespace proteus {

proteus_status check_linear_call(const Context& context, const proteus_tensor* x, const proteus_tensor* weight,
                                 const proteus_tensor* bias, const proteus_tensor* y,
                                 const proteus_linear_params* params, LinearProblem& problem, BufferLease& lease);

proteus_status check_convert_call(const Context& context, const proteus_tensor* x, const proteus_tensor* y,
                                  ConvertProblem& problem, BufferLease& lease);

proteus_status check_norm_call(const Context& context, const proteus_tensor* x, const proteus_tensor* weight,
                               const proteus_tensor* bias, const proteus_tensor* y, const proteus_norm_params* params,
                               NormProblem& problem, BufferLease& lease);

proteus_status check_gelu_call(const Context& context, const proteus_tensor* x, const proteus_tensor* y,
                               GeluProblem& problem, BufferLease& lease);

proteus_status check_rope_call(const Context& context, const proteus_tensor* x, const proteus_rope_params* params,
                               RopeProblem& problem, BufferLease& lease);

proteus_status check_router_call(const Context& context, const proteus_router_tensors* tensors,
                                 const proteus_router_params* params, RouterProblem& problem, BufferLease& lease);

proteus_status check_select_call(const Context& context, const proteus_tensor* head_probs,
                                 const proteus_tensor* importance, const proteus_tensor* active,
                                 const proteus_select_params* params, SelectProblem& problem, BufferLease& lease);

proteus_status check_dna_update_call(const Context& context, const proteus_tensor* x, const proteus_tensor* probs,
                                     const proteus_tensor* prototypes, const proteus_tensor* usage,
                                     const proteus_tensor* confidence, const proteus_dna_update_params* params,
                                     DnaUpdateProblem& problem, BufferLease& lease);

/**
 * SPEC §4: the tokens a batch row of `seq_len` keeps (keep_ratio in (0, 1], guard ≥ 1): every token
 * when keep_ratio ≥ 0.999, else round(keep_ratio·T) (half to even), at least min(guard, T), at most T.
 */
int64_t resolve_keep(double keep_ratio, int64_t guard, int64_t seq_len);

}  // namespace proteus
