// Validation of every argument the caller passes, before any work or allocation starts. Each
// rejection records a message naming the argument ("q.shape", "params.window", …) and returns the
// specific status.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "backend.h"
#include "core/shortlist.h"
#include "runtime/context.h"
#include "runtime/tensor_check.h"

namespace proteus {

/** The buffers a validated call addresses, held so that a concurrent destroy cannot free them mid-call. */
using BufferLease = std::vector<std::shared_ptr<Buffer>>;

/** INVALID_ARGUMENT unless `pointer` is non-null. */
proteus_status check_not_null(const void* pointer, const char* argument);

/** The candidate budgets of SPEC §3 (the scale is flux attention's alone and checked there). */
proteus_status check_budgets(const proteus_flux_params* params, core::CandidateSpec& spec);

/**
 * check_budgets for the calls that evaluate the candidate rules (bound, gather, total): the explicit
 * policy has none, INVALID_ARGUMENT naming params.policy.
 */
proteus_status check_rule_budgets(const proteus_flux_params* params, core::CandidateSpec& spec);

/**
 * A proteus_validate_explicit_candidates call: the tensors' shapes and query slice as for a flux call
 * (the lists required), `report` non-null (its size is checked by the caller's Output).
 */
proteus_status check_explicit_validation_call(const Context& context, const proteus_flux_tensors* tensors,
                                              const proteus_explicit_candidates_report* report, FluxProblem& problem,
                                              BufferLease& lease);

/** INVALID_HANDLE for a handle the registry does not hold (`kind`: "context", "buffer"). */
proteus_status reject_dead_handle(const char* argument, const char* kind);

// Buffer calls: sizes and ranges within the buffer, never overflowing.
proteus_status check_buffer_size(uint64_t bytes);
/**
 * A host ↔ device transfer; zero bytes is a no-op that accepts a NULL host pointer. A host range that
 * overlaps the buffer's own bytes (CPU backend, wrapped host memory) is INVALID_ARGUMENT naming `host_name`.
 */
proteus_status check_transfer(const Buffer& buffer, uint64_t offset, const void* host, uint64_t bytes,
                              const char* host_name);
/** Both buffers on one context, both ranges inside, and no overlap within one buffer. */
proteus_status check_copy(const Buffer& destination, uint64_t destination_offset, const Buffer& source,
                          uint64_t source_offset, uint64_t bytes);
/** proteus_buffer_wrap's range: a non-null pointer, bytes in [1, 2^63), the range not wrapping around. */
proteus_status check_wrap_range(const void* pointer, uint64_t bytes);
/** A pattern of 1, 2, 4 or 8 bytes repeated a whole number of times inside the buffer. */
proteus_status check_fill(const Buffer& buffer, uint64_t offset, uint64_t bytes, const void* pattern,
                          uint32_t pattern_bytes);

/** INVALID_ARGUMENT unless the sequence length is ≥ 1. */
proteus_status check_seq_len(int64_t seq_len);

/**
 * proteus_flux_launch_candidates' output array: config_size a size of proteus_launch_config this
 * library accepts, capacity ≥ 0, configs non-null when capacity > 0, count non-null.
 */
proteus_status check_config_array(const proteus_launch_config* configs, uint32_t config_size, int32_t capacity,
                                  const int32_t* count);

/**
 * proteus_flux_time's timing and output: a proteus_flux_timing (struct_size in range, warmup 0..1000,
 * repeats 1..10000, known flags) read into `read`, and milliseconds non-null.
 */
proteus_status check_timing(const proteus_flux_timing* timing, const float* milliseconds, proteus_flux_timing& read);

/** A proteus_flux_attention call on `context`, resolved into `problem`. */
proteus_status check_flux_call(const Context& context, const proteus_flux_tensors* tensors,
                               const proteus_flux_params* params, const proteus_launch_config* launch,
                               FluxProblem& problem, BufferLease& lease);

/** A proteus_shortlist_gather call; problem.salience comes back absent when the budgets take no DNA. */
proteus_status check_gather_call(const Context& context, const proteus_flux_params* params, int64_t seq_len,
                                 const proteus_tensor* salience, int64_t batch, const int64_t* rows, int64_t row_count,
                                 int64_t capacity, int64_t* indices, int64_t* lengths, GatherProblem& problem,
                                 BufferLease& lease);

/** A proteus_shortlist_total call; `salience` comes back absent when the budgets take no DNA. */
struct TotalCall {
    core::CandidateSpec candidates;
    CheckedTensor salience;
};

/** Rows [first_row, first_row + row_count) inside [0, seq_len), salience as for gather, `total` non-null. */
proteus_status check_total_call(const Context& context, const proteus_flux_params* params, int64_t seq_len,
                                const proteus_tensor* salience, int64_t batch, int64_t first_row, int64_t row_count,
                                const int64_t* total, TotalCall& call);

}  // namespace proteus
