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

/** INVALID_ARGUMENT unless a caller's struct declares the size this library was built with. */
proteus_status check_struct_size(uint32_t struct_size, size_t expected, const char* argument);

/** The candidate budgets of SPEC §3 (the scale is flux attention's alone and checked there). */
proteus_status check_budgets(const proteus_flux_params* params, core::CandidateSpec& spec);

/** INVALID_HANDLE for a handle the registry does not hold (`kind`: "context", "buffer"). */
proteus_status reject_dead_handle(const char* argument, const char* kind);

// Buffer calls: sizes and ranges within the buffer, never overflowing.
proteus_status check_buffer_size(uint64_t bytes);
/** A host ↔ device transfer; zero bytes is a no-op that accepts a NULL host pointer. */
proteus_status check_transfer(const Buffer& buffer, uint64_t offset, const void* host, uint64_t bytes,
                              const char* host_name);
/** Both buffers on one context, both ranges inside, and no overlap within one buffer. */
proteus_status check_copy(const Buffer& destination, uint64_t destination_offset, const Buffer& source,
                          uint64_t source_offset, uint64_t bytes);
/** A pattern of 1, 2, 4 or 8 bytes repeated a whole number of times inside the buffer. */
proteus_status check_fill(const Buffer& buffer, uint64_t offset, uint64_t bytes, const void* pattern,
                          uint32_t pattern_bytes);

/** INVALID_ARGUMENT unless the sequence length is ≥ 1. */
proteus_status check_seq_len(int64_t seq_len);

/** A proteus_flux_attention call on `context`, resolved into `problem`. */
proteus_status check_flux_call(const Context& context, const proteus_flux_tensors* tensors,
                               const proteus_flux_params* params, const proteus_launch_config* launch,
                               FluxProblem& problem, BufferLease& lease);

/** A proteus_shortlist_gather call; `salience` comes back absent when the budgets take no DNA. */
struct GatherCall {
    core::CandidateSpec spec;
    CheckedTensor salience;
};

proteus_status check_gather_call(const Context& context, const proteus_flux_params* params, int64_t seq_len,
                                 const proteus_tensor* salience, int64_t batch, const int64_t* rows, int64_t row_count,
                                 int64_t capacity, const int64_t* indices, const int64_t* lengths, GatherCall& call);

}  // namespace proteus
