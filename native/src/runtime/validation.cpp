#include "runtime/validation.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <string>

#include "core/error.h"
#include "runtime/versioned.h"

namespace proteus {
namespace {

proteus_status reject(const std::string& argument, const std::string& detail,
                      proteus_status status = PROTEUS_STATUS_INVALID_ARGUMENT)
{
    return set_error(status, argument + ": " + detail, argument.c_str());
}

std::string number(int64_t value) { return std::to_string(value); }

// ---- Budgets (SPEC §3) -------------------------------------------------------------------------

proteus_status check_policy(int32_t policy)
{
    if (policy >= PROTEUS_POLICY_ALIGNED && policy <= PROTEUS_POLICY_EXPLICIT) return PROTEUS_STATUS_OK;
    return reject("params.policy", number(policy) + " is not a proteus_candidate_policy");
}

proteus_status check_anchors(const proteus_flux_params& params)
{
    if (params.anchor_count < 0) return reject("params.anchor_count", number(params.anchor_count) + " is negative");
    if (params.anchor_stride < 0) return reject("params.anchor_stride", number(params.anchor_stride) + " is negative");
    // Seed reads stride 0 as "no anchors" (Appendix A); the other policies need a stride to place them.
    if (params.policy != PROTEUS_POLICY_SEED && params.anchor_count > 0 && params.anchor_stride == 0) {
        return reject("params.anchor_stride", "0 with anchor_count " + number(params.anchor_count) + "; must be > 0");
    }
    int64_t reach = 0;  // the anchor arithmetic forms count · stride
    if (__builtin_mul_overflow(params.anchor_count, params.anchor_stride, &reach)) {
        return reject("params.anchor_count", "anchor_count " + number(params.anchor_count) + " times anchor_stride " +
                                                 number(params.anchor_stride) + " overflows int64");
    }
    return PROTEUS_STATUS_OK;
}

proteus_status check_seed_caps(const proteus_flux_params& params)
{
    if (params.policy != PROTEUS_POLICY_SEED) return PROTEUS_STATUS_OK;
    if (params.seed_cap < 1) return reject("params.seed_cap", number(params.seed_cap) + " is below 1");
    if (params.seed_local_cap < 0) {
        return reject("params.seed_local_cap", number(params.seed_local_cap) + " is negative");
    }
    return PROTEUS_STATUS_OK;
}

// ---- Launch configuration and scale ---------------------------------------------------------------

proteus_status check_launch_field(int32_t value, const char* argument)
{
    return value >= 0 ? PROTEUS_STATUS_OK : reject(argument, number(value) + " is negative (0 means the heuristic)");
}

/** NULL is all-heuristic; a caller's shorter struct reads its missing fields as 0 (heuristic). */
proteus_status check_launch(const proteus_launch_config* launch, proteus_launch_config& resolved)
{
    resolved = proteus_launch_config{};
    if (launch != nullptr) {
        const proteus_status status = read_struct(launch, PROTEUS_LAUNCH_CONFIG_SIZE_V0_1, "launch", resolved);
        if (status != PROTEUS_STATUS_OK) return status;
    }
    resolved.struct_size = sizeof resolved;
    if (resolved.mode < PROTEUS_LAUNCH_AUTO || resolved.mode > PROTEUS_LAUNCH_TILE_WGMMA) {
        return reject("launch.mode", number(resolved.mode) + " is not a proteus_launch_mode");
    }
    proteus_status status = check_launch_field(resolved.block_q, "launch.block_q");
    if (status == PROTEUS_STATUS_OK) status = check_launch_field(resolved.block_k, "launch.block_k");
    if (status == PROTEUS_STATUS_OK) status = check_launch_field(resolved.rows_per_warp, "launch.rows_per_warp");
    if (status == PROTEUS_STATUS_OK) status = check_launch_field(resolved.stages, "launch.stages");
    return status;
}

proteus_status resolve_scale(const proteus_flux_params& params, int64_t head_dim, float& scale)
{
    if (params.use_default_scale != 0) {
        scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
        return PROTEUS_STATUS_OK;
    }
    if (!std::isfinite(params.scale) || params.scale <= 0.0f) {
        return reject("params.scale",
                      std::to_string(params.scale) + " is not finite and > 0 (or set use_default_scale)");
    }
    scale = params.scale;
    return PROTEUS_STATUS_OK;
}

// ---- Tensors (SPEC §1) -----------------------------------------------------------------------------

struct FluxTensors {
    CheckedTensor q, k, v, o, active, salience, lse, candidates, candidate_lengths;
};

constexpr const char* kShareDtype = "q, k, v and o share one dtype";

/** The head dims every backend and policy computes (docs/flux-attention.md, "Head dims"). */
constexpr int64_t kHeadDims[] = {8, 16, 32, 64, 80, 96, 128, 256};

bool is_supported_head_dim(int64_t d) { return std::find(std::begin(kHeadDims), std::end(kHeadDims), d) != std::end(kHeadDims); }

/** q is [B, H, Tq, D]; k and v are [B, Hkv, T, D] with H a multiple of Hkv; o is like q. */
proteus_status check_attention_shapes(const FluxTensors& t)
{
    const int64_t* q = t.q.ref.shape;
    if (!is_supported_head_dim(q[3])) {
        return reject("q.shape", "head dim D = " + number(q[3]) + " is not supported; use 8, 16, 32, 64, 80, 96, 128 or 256",
                      PROTEUS_STATUS_UNSUPPORTED_HEAD_DIM);
    }
    proteus_status status = check_extent(t.k, "k", 0, q[0], "B of q");
    if (status == PROTEUS_STATUS_OK) status = check_extent(t.k, "k", 3, q[3], "D of q");
    for (int axis = 0; axis < 4 && status == PROTEUS_STATUS_OK; ++axis) {
        status = check_extent(t.v, "v", axis, t.k.ref.shape[axis], "the same axis of k");
    }
    for (int axis = 0; axis < 4 && status == PROTEUS_STATUS_OK; ++axis) {
        status = check_extent(t.o, "o", axis, q[axis], "the same axis of q");
    }
    if (status == PROTEUS_STATUS_OK && q[1] % t.k.ref.shape[1] != 0) {
        return reject("k.shape",
                      "q has H = " + number(q[1]) + " heads, not a multiple of Hkv = " + number(t.k.ref.shape[1]));
    }
    return status;
}

proteus_status check_row_tensor(const CheckedTensor& tensor, const char* name, const CheckedTensor& q)
{
    if (!tensor.present()) return PROTEUS_STATUS_OK;
    proteus_status status = check_extent(tensor, name, 0, q.ref.shape[0], "B of q");
    if (status == PROTEUS_STATUS_OK) status = check_extent(tensor, name, 1, q.ref.shape[1], "H of q");
    if (status == PROTEUS_STATUS_OK) status = check_extent(tensor, name, 2, q.ref.shape[2], "Tq of q");
    return status;
}

/** Salience is read only when the DNA budget is > 0; then it is required. */
proteus_status check_salience(const Context& context, const proteus_tensor* salience, int64_t dna_count,
                              CheckedTensor& checked)
{
    if (dna_count == 0) return PROTEUS_STATUS_OK;
    if (salience == nullptr || salience->buffer == nullptr) {
        return reject("salience", "required when params.dna_count > 0 (it is " + number(dna_count) + ")");
    }
    return check_tensor(context, *salience, "salience", 2, DtypeRule::Float32, checked);
}

proteus_status check_attention_tensors(const Context& context, const proteus_flux_tensors& tensors, FluxTensors& t)
{
    proteus_status status = check_required(context, tensors.q, "q", 4, DtypeRule::Storage, t.q);
    if (status == PROTEUS_STATUS_OK) status = check_required(context, tensors.k, "k", 4, DtypeRule::Storage, t.k);
    if (status == PROTEUS_STATUS_OK) status = check_required(context, tensors.v, "v", 4, DtypeRule::Storage, t.v);
    if (status == PROTEUS_STATUS_OK) status = check_required(context, tensors.o, "o", 4, DtypeRule::Storage, t.o);
    if (status == PROTEUS_STATUS_OK) status = check_same_dtype(t.k, t.q, kShareDtype);
    if (status == PROTEUS_STATUS_OK) status = check_same_dtype(t.v, t.q, kShareDtype);
    if (status == PROTEUS_STATUS_OK) status = check_same_dtype(t.o, t.q, kShareDtype);
    if (status == PROTEUS_STATUS_OK) status = check_attention_shapes(t);
    return status;
}

proteus_status check_optional_tensors(const Context& context, const proteus_flux_tensors& tensors, int64_t dna_count,
                                      FluxTensors& t)
{
    proteus_status status = check_optional(context, tensors.active, "active", 3, DtypeRule::Mask, t.active);
    if (status == PROTEUS_STATUS_OK) status = check_row_tensor(t.active, "active", t.q);
    if (status == PROTEUS_STATUS_OK) status = check_optional(context, tensors.lse, "lse", 3, DtypeRule::Float32, t.lse);
    if (status == PROTEUS_STATUS_OK) status = check_row_tensor(t.lse, "lse", t.q);
    if (status == PROTEUS_STATUS_OK) status = check_salience(context, &tensors.salience, dna_count, t.salience);
    if (status != PROTEUS_STATUS_OK || !t.salience.present()) return status;
    status = check_extent(t.salience, "salience", 0, t.q.ref.shape[0], "B of q");
    if (status == PROTEUS_STATUS_OK) status = check_extent(t.salience, "salience", 1, t.k.ref.shape[2], "T of k");
    return status;
}

/**
 * PROTEUS_POLICY_EXPLICIT (docs/explicit-candidates.md): int32 lists [B, Tq, L] shared by the heads or
 * [B, H, Tq, L] per head, and optional int32 lengths of the lists' leading axes ([B, Tq] / [B, H, Tq]).
 * Their values are not read here (they may be device memory): the CPU backend checks the lengths.
 */
proteus_status check_candidate_tensors(const Context& context, const proteus_flux_tensors& tensors, FluxTensors& t)
{
    const proteus_tensor& lists = tensors.candidates;
    if (lists.buffer == nullptr) {
        return reject("candidates", "required by params.policy PROTEUS_POLICY_EXPLICIT (int32 [B, Tq, L] or [B, H, Tq, L])");
    }
    if (lists.rank != 3 && lists.rank != 4) {
        return reject("candidates.rank", number(lists.rank) + "; the lists are [B, Tq, L] (shared by the heads) or "
                                                             "[B, H, Tq, L] (one per head)");
    }
    const bool per_head = lists.rank == 4;
    proteus_status status = check_tensor(context, lists, "candidates", lists.rank, DtypeRule::Index, t.candidates);
    if (status != PROTEUS_STATUS_OK) return status;
    const int64_t* q = t.q.ref.shape;
    status = check_extent(t.candidates, "candidates", 0, q[0], "B of q");
    if (status == PROTEUS_STATUS_OK && per_head) status = check_extent(t.candidates, "candidates", 1, q[1], "H of q");
    if (status == PROTEUS_STATUS_OK) {
        status = check_extent(t.candidates, "candidates", per_head ? 2 : 1, q[2], "Tq of q");
    }
    if (status != PROTEUS_STATUS_OK) return status;

    status = check_optional(context, tensors.candidate_lengths, "candidate_lengths", lists.rank - 1, DtypeRule::Index,
                            t.candidate_lengths);
    if (status != PROTEUS_STATUS_OK || !t.candidate_lengths.present()) return status;
    for (int axis = 0; axis < lists.rank - 1 && status == PROTEUS_STATUS_OK; ++axis) {
        status = check_extent(t.candidate_lengths, "candidate_lengths", axis, t.candidates.ref.shape[axis],
                              "the same axis of candidates");
    }
    return status;
}

/**
 * SPEC §1: row r of q is position p0 + r with 0 ≤ p0 and p0 + Tq ≤ T; p0 is T − Tq unless the flags
 * say the caller set it.
 */
proteus_status check_query_slice(const proteus_flux_tensors& tensors, const FluxTensors& t, int64_t& query_offset)
{
    const uint32_t known = PROTEUS_FLUX_QUERY_OFFSET | PROTEUS_FLUX_ACTIVE_SPARSE | PROTEUS_FLUX_ACTIVE_DENSE;
    const uint32_t unknown = tensors.flags & ~known;
    if (unknown != 0) {
        return reject("tensors.flags", "has bits " + std::to_string(unknown) + " that are not proteus_flux_tensor_flags");
    }
    const int64_t query_len = t.q.ref.shape[2];
    const int64_t seq_len = t.k.ref.shape[2];
    if (query_len > seq_len) {
        return reject("q.shape", "Tq = " + number(query_len) + " query rows, more than the T = " + number(seq_len) +
                                     " keys of k");
    }
    query_offset = (tensors.flags & PROTEUS_FLUX_QUERY_OFFSET) != 0 ? tensors.query_offset : seq_len - query_len;
    if (query_offset < 0 || query_offset > seq_len - query_len) {
        return reject("tensors.query_offset", number(query_offset) + " puts the Tq = " + number(query_len) +
                                                  " query rows outside [0, T = " + number(seq_len) +
                                                  "); it must be in [0, T - Tq]");
    }
    return PROTEUS_STATUS_OK;
}

/** The flags' hint on the share of active rows: one of the two, and only with an active tensor. */
proteus_status check_active_hint(const proteus_flux_tensors& tensors, const FluxTensors& t, ActiveHint& hint)
{
    const bool sparse = (tensors.flags & PROTEUS_FLUX_ACTIVE_SPARSE) != 0;
    const bool dense = (tensors.flags & PROTEUS_FLUX_ACTIVE_DENSE) != 0;
    hint = sparse ? ActiveHint::kSparse : dense ? ActiveHint::kDense : ActiveHint::kUnknown;
    if (sparse && dense) {
        return reject("tensors.flags", "sets both PROTEUS_FLUX_ACTIVE_SPARSE and PROTEUS_FLUX_ACTIVE_DENSE; give one hint or none");
    }
    if ((sparse || dense) && !t.active.present()) {
        return reject("tensors.flags", std::string(sparse ? "PROTEUS_FLUX_ACTIVE_SPARSE" : "PROTEUS_FLUX_ACTIVE_DENSE") +
                                           " describes the active tensor, which is absent");
    }
    return PROTEUS_STATUS_OK;
}

/**
 * No element of an output may be an element of an input or of the other output, and no two of its
 * elements one address. Tensors may interleave in one buffer ([B, T, 4, H, D] holding q, k, v, o per
 * token): elements are compared, not the byte spans.
 */
proteus_status check_output_apart(const FluxTensors& t, const CheckedTensor& output)
{
    if (!output.present()) return PROTEUS_STATUS_OK;
    if (elements_alias(output)) {
        return reject(std::string(output.name) + ".strides",
                      "two of its elements share an address, so a row would be written twice");
    }
    for (const CheckedTensor* other :
         {&t.q, &t.k, &t.v, &t.active, &t.salience, &t.o, &t.lse, &t.candidates, &t.candidate_lengths}) {
        if (other != &output && elements_overlap(output, *other)) {
            return reject(output.name, std::string("shares elements with ") + other->name + " in the same buffer");
        }
    }
    return PROTEUS_STATUS_OK;
}

void fill_problem(const FluxTensors& t, const core::CandidateSpec& spec, int64_t query_offset, FluxProblem& problem,
                  BufferLease& lease)
{
    problem.q = t.q.ref;
    problem.k = t.k.ref;
    problem.v = t.v.ref;
    problem.o = t.o.ref;
    problem.active = t.active.ref;
    problem.salience = t.salience.ref;
    problem.lse = t.lse.ref;
    problem.batch = t.q.ref.shape[0];
    problem.heads = t.q.ref.shape[1];
    problem.seq_len = t.k.ref.shape[2];
    problem.query_len = t.q.ref.shape[2];
    problem.query_offset = query_offset;
    problem.head_dim = t.q.ref.shape[3];
    problem.kv_heads = t.k.ref.shape[1];
    problem.candidates = spec;
    if (t.candidates.present()) {
        problem.candidate_lists = t.candidates.ref;
        problem.candidate_lengths = t.candidate_lengths.ref;
        problem.lists_per_head = t.candidates.ref.rank == 4;
        problem.list_len = t.candidates.ref.shape[t.candidates.ref.rank - 1];
    }
    for (const CheckedTensor* tensor :
         {&t.q, &t.k, &t.v, &t.o, &t.active, &t.salience, &t.lse, &t.candidates, &t.candidate_lengths}) {
        if (tensor->present()) lease.push_back(tensor->buffer);
    }
}

// ---- Gather ------------------------------------------------------------------------------------------

proteus_status check_rows(const int64_t* rows, int64_t row_count, int64_t seq_len)
{
    for (int64_t r = 0; r < row_count; ++r) {
        if (rows[r] < 0 || rows[r] >= seq_len) {
            return reject("rows",
                          "rows[" + number(r) + "] = " + number(rows[r]) + " is outside [0, " + number(seq_len) + ")");
        }
    }
    return PROTEUS_STATUS_OK;
}

proteus_status check_gather_output(int64_t row_count, int64_t capacity, int64_t bound, const int64_t* rows,
                                   const int64_t* indices, const int64_t* lengths)
{
    if (row_count < 0) return reject("row_count", number(row_count) + " is negative");
    if (capacity < bound) {
        return reject("capacity", number(capacity) + " is below the shortlist bound " + number(bound));
    }
    int64_t slots = 0;
    if (__builtin_mul_overflow(row_count, capacity, &slots)) {
        return reject("capacity",
                      "row_count " + number(row_count) + " times capacity " + number(capacity) + " overflows int64");
    }
    if (row_count == 0) return PROTEUS_STATUS_OK;
    proteus_status status = check_not_null(rows, "rows");
    if (status == PROTEUS_STATUS_OK) status = check_not_null(indices, "indices");
    if (status == PROTEUS_STATUS_OK) status = check_not_null(lengths, "lengths");
    return status;
}

proteus_status check_gather_salience(const Context& context, const proteus_tensor* salience, int64_t dna_count,
                                     int64_t seq_len, int64_t batch, CheckedTensor& checked)
{
    if (batch < 0) return reject("batch", number(batch) + " is negative");
    proteus_status status = check_salience(context, salience, dna_count, checked);
    if (status != PROTEUS_STATUS_OK || !checked.present()) return status;
    status = check_extent(checked, "salience", 1, seq_len, "seq_len");
    if (status == PROTEUS_STATUS_OK && batch >= checked.ref.shape[0]) {
        return reject("batch",
                      number(batch) + " is outside [0, " + number(checked.ref.shape[0]) + ") of salience.shape[0]");
    }
    return status;
}

// ---- Buffers ----------------------------------------------------------------------------------------

proteus_status check_range(const Buffer& buffer, uint64_t offset, uint64_t bytes, const char* argument)
{
    if (offset <= buffer.bytes() && bytes <= buffer.bytes() - offset) return PROTEUS_STATUS_OK;
    return reject(argument, "offset " + std::to_string(offset) + " + " + std::to_string(bytes) +
                                " bytes runs past the buffer's " + std::to_string(buffer.bytes()) + " bytes");
}

}  // namespace

proteus_status check_not_null(const void* pointer, const char* argument)
{
    return pointer != nullptr ? PROTEUS_STATUS_OK : reject(argument, "is NULL");
}

proteus_status reject_dead_handle(const char* argument, const char* kind)
{
    return reject(argument, std::string("not a live ") + kind + " (null, destroyed, or not made by this library)",
                  PROTEUS_STATUS_INVALID_HANDLE);
}

proteus_status check_buffer_size(uint64_t bytes)
{
    return bytes > 0 ? PROTEUS_STATUS_OK : reject("bytes", "0; a buffer holds at least one byte");
}

proteus_status check_transfer(const Buffer& buffer, uint64_t offset, const void* host, uint64_t bytes,
                              const char* host_name)
{
    proteus_status status = check_range(buffer, offset, bytes, "offset");
    if (status == PROTEUS_STATUS_OK && bytes > 0) status = check_not_null(host, host_name);
    if (status != PROTEUS_STATUS_OK || bytes == 0) return status;
    // Host memory is the buffer's own on the CPU backend (and for wrapped host memory): a host range
    // over the buffer's bytes would make the copy overlap itself. Device addresses never meet a host
    // range, so the test holds on every backend.
    const uintptr_t host_first = reinterpret_cast<uintptr_t>(host);
    const uintptr_t buffer_first = reinterpret_cast<uintptr_t>(buffer.data());
    const bool overlapping = host_first < buffer_first ? buffer_first - host_first < bytes
                                                       : host_first - buffer_first < buffer.bytes();
    return overlapping ? reject(host_name, "the host range overlaps the buffer's own bytes") : PROTEUS_STATUS_OK;
}

proteus_status check_copy(const Buffer& destination, uint64_t destination_offset, const Buffer& source,
                          uint64_t source_offset, uint64_t bytes)
{
    if (destination.context() != source.context()) {
        return reject("source", "the buffers belong to different contexts", PROTEUS_STATUS_DEVICE_MISMATCH);
    }
    proteus_status status = check_range(destination, destination_offset, bytes, "destination_offset");
    if (status == PROTEUS_STATUS_OK) status = check_range(source, source_offset, bytes, "source_offset");
    if (status != PROTEUS_STATUS_OK) return status;
    const bool overlapping = &destination == &source && destination_offset < source_offset + bytes &&
                             source_offset < destination_offset + bytes;
    return overlapping ? reject("source_offset", "the source and destination ranges overlap") : PROTEUS_STATUS_OK;
}

proteus_status check_wrap_range(const void* pointer, uint64_t bytes)
{
    proteus_status status = check_not_null(pointer, "pointer");
    if (status == PROTEUS_STATUS_OK) status = check_buffer_size(bytes);
    if (status != PROTEUS_STATUS_OK) return status;
    // Tensor offsets within a buffer are computed in int64.
    if (bytes > static_cast<uint64_t>(INT64_MAX) || reinterpret_cast<uintptr_t>(pointer) > UINTPTR_MAX - bytes) {
        return reject("bytes", std::to_string(bytes) + " bytes from the pointer run past the address space");
    }
    return PROTEUS_STATUS_OK;
}

proteus_status check_fill(const Buffer& buffer, uint64_t offset, uint64_t bytes, const void* pattern,
                          uint32_t pattern_bytes)
{
    if (pattern_bytes != 1 && pattern_bytes != 2 && pattern_bytes != 4 && pattern_bytes != 8) {
        return reject("pattern_bytes", std::to_string(pattern_bytes) + " is not 1, 2, 4 or 8");
    }
    if (bytes % pattern_bytes != 0) {
        return reject("bytes",
                      std::to_string(bytes) + " is not a multiple of pattern_bytes " + std::to_string(pattern_bytes));
    }
    proteus_status status = check_not_null(pattern, "pattern");
    if (status == PROTEUS_STATUS_OK) status = check_range(buffer, offset, bytes, "offset");
    return status;
}

proteus_status check_seq_len(int64_t seq_len)
{
    return seq_len >= 1 ? PROTEUS_STATUS_OK : reject("seq_len", number(seq_len) + " is below 1");
}

proteus_status read_params(const proteus_flux_params* params, proteus_flux_params& read)
{
    return read_struct(params, PROTEUS_FLUX_PARAMS_SIZE_V0_1, "params", read);
}

proteus_status check_budgets(const proteus_flux_params& params, core::CandidateSpec& spec)
{
    proteus_status status = check_policy(params.policy);
    if (status != PROTEUS_STATUS_OK) return status;
    if (params.policy == PROTEUS_POLICY_EXPLICIT) {  // the lists are the budget; the other fields are ignored
        spec = core::CandidateSpec{};
        spec.policy = PROTEUS_POLICY_EXPLICIT;
        return PROTEUS_STATUS_OK;
    }
    if (params.window < 1) return reject("params.window", number(params.window) + " is below 1");
    status = check_anchors(params);
    if (status != PROTEUS_STATUS_OK) return status;
    if (params.dna_count < 0) return reject("params.dna_count", number(params.dna_count) + " is negative");
    status = check_seed_caps(params);
    if (status != PROTEUS_STATUS_OK) return status;
    spec.policy = static_cast<proteus_candidate_policy>(params.policy);
    spec.window = params.window;
    spec.anchor_stride = params.anchor_stride;
    spec.anchor_count = params.anchor_count;
    spec.dna_count = params.dna_count;
    spec.seed_cap = params.seed_cap;
    // cap_loc = 0 (no local piece, Appendix A) leaves {i} alone of the window, which is exactly what a local
    // width of 1 adds to the union: every backend then builds the same list with no case of its own.
    spec.seed_local_cap = std::max<int64_t>(params.seed_local_cap, 1);
    return PROTEUS_STATUS_OK;
}

proteus_status check_budgets(const proteus_flux_params* params, core::CandidateSpec& spec)
{
    proteus_flux_params read;
    const proteus_status status = read_params(params, read);
    return status != PROTEUS_STATUS_OK ? status : check_budgets(read, spec);
}

proteus_status check_rule_budgets(const proteus_flux_params* params, core::CandidateSpec& spec)
{
    const proteus_status status = check_budgets(params, spec);
    if (status != PROTEUS_STATUS_OK || spec.policy != PROTEUS_POLICY_EXPLICIT) return status;
    return reject("params.policy", "PROTEUS_POLICY_EXPLICIT has no candidate rule to evaluate: the lists are the "
                                   "caller's (see proteus_validate_explicit_candidates)");
}

proteus_status check_explicit_validation_call(const Context& context, const proteus_flux_tensors* tensors,
                                              const proteus_explicit_candidates_report* report, FluxProblem& problem,
                                              BufferLease& lease)
{
    proteus_flux_tensors given;
    proteus_status status = read_struct(tensors, PROTEUS_FLUX_TENSORS_SIZE_V0_2, "tensors", given);
    if (status == PROTEUS_STATUS_OK) status = check_not_null(report, "report");
    if (status != PROTEUS_STATUS_OK) return status;
    FluxTensors t;
    int64_t query_offset = 0;
    status = check_attention_tensors(context, given, t);
    if (status == PROTEUS_STATUS_OK) status = check_query_slice(given, t, query_offset);
    if (status == PROTEUS_STATUS_OK) status = check_candidate_tensors(context, given, t);
    if (status != PROTEUS_STATUS_OK) return status;
    core::CandidateSpec spec;
    spec.policy = PROTEUS_POLICY_EXPLICIT;
    fill_problem(t, spec, query_offset, problem, lease);
    return PROTEUS_STATUS_OK;
}

proteus_status check_config_array(const proteus_launch_config* configs, uint32_t config_size, int32_t capacity,
                                  const int32_t* count)
{
    proteus_status status =
        check_struct_size(config_size, PROTEUS_LAUNCH_CONFIG_SIZE_V0_1, sizeof(proteus_launch_config), "config_size");
    if (status == PROTEUS_STATUS_OK && capacity < 0) status = reject("capacity", number(capacity) + " is negative");
    if (status == PROTEUS_STATUS_OK && capacity > 0) status = check_not_null(configs, "configs");
    if (status == PROTEUS_STATUS_OK) status = check_not_null(count, "count");
    return status;
}

proteus_status check_timing(const proteus_flux_timing* timing, const float* milliseconds, proteus_flux_timing& read)
{
    proteus_status status = read_struct(timing, PROTEUS_FLUX_TIMING_SIZE_V0_2, "timing", read);
    if (status == PROTEUS_STATUS_OK && (read.warmup < 0 || read.warmup > 1000)) {
        status = reject("timing.warmup", number(read.warmup) + " is outside 0..1000");
    }
    if (status == PROTEUS_STATUS_OK && (read.repeats < 1 || read.repeats > 10000)) {
        status = reject("timing.repeats", number(read.repeats) + " is outside 1..10000");
    }
    if (status == PROTEUS_STATUS_OK && (read.flags & ~uint32_t{PROTEUS_FLUX_TIMING_FLUSH_CACHE}) != 0) {
        status = reject("timing.flags", "unknown bits " + number(read.flags & ~uint32_t{PROTEUS_FLUX_TIMING_FLUSH_CACHE}));
    }
    if (status == PROTEUS_STATUS_OK) status = check_not_null(milliseconds, "milliseconds");
    return status;
}

proteus_status check_flux_call(const Context& context, const proteus_flux_tensors* tensors,
                               const proteus_flux_params* params, const proteus_launch_config* launch,
                               FluxProblem& problem, BufferLease& lease)
{
    proteus_flux_tensors given;
    proteus_flux_params budgets;
    core::CandidateSpec spec;
    proteus_status status = read_struct(tensors, PROTEUS_FLUX_TENSORS_SIZE_V0_2, "tensors", given);
    if (status == PROTEUS_STATUS_OK) status = read_params(params, budgets);
    if (status == PROTEUS_STATUS_OK) status = check_budgets(budgets, spec);
    if (status == PROTEUS_STATUS_OK) status = check_launch(launch, problem.launch);
    if (status != PROTEUS_STATUS_OK) return status;

    FluxTensors t;
    int64_t query_offset = 0;
    status = check_attention_tensors(context, given, t);
    if (status == PROTEUS_STATUS_OK) status = check_query_slice(given, t, query_offset);
    if (status == PROTEUS_STATUS_OK) status = check_optional_tensors(context, given, spec.dna_count, t);
    if (status == PROTEUS_STATUS_OK && spec.policy == PROTEUS_POLICY_EXPLICIT) {
        status = check_candidate_tensors(context, given, t);
    }
    if (status == PROTEUS_STATUS_OK) status = check_output_apart(t, t.o);
    if (status == PROTEUS_STATUS_OK) status = check_output_apart(t, t.lse);
    if (status == PROTEUS_STATUS_OK) status = resolve_scale(budgets, t.q.ref.shape[3], problem.scale);
    ActiveHint hint = ActiveHint::kUnknown;
    if (status == PROTEUS_STATUS_OK) status = check_active_hint(given, t, hint);
    if (status != PROTEUS_STATUS_OK) return status;
    fill_problem(t, spec, query_offset, problem, lease);
    problem.active_hint = hint;
    return PROTEUS_STATUS_OK;
}

proteus_status check_gather_call(const Context& context, const proteus_flux_params* params, int64_t seq_len,
                                 const proteus_tensor* salience, int64_t batch, const int64_t* rows, int64_t row_count,
                                 int64_t capacity, int64_t* indices, int64_t* lengths, GatherProblem& problem,
                                 BufferLease& lease)
{
    CheckedTensor checked;
    proteus_status status = check_rule_budgets(params, problem.candidates);
    if (status == PROTEUS_STATUS_OK) status = check_seq_len(seq_len);
    if (status == PROTEUS_STATUS_OK) {
        status = check_gather_salience(context, salience, problem.candidates.dna_count, seq_len, batch, checked);
    }
    if (status == PROTEUS_STATUS_OK) {
        status = check_gather_output(row_count, capacity, core::shortlist_bound(problem.candidates, seq_len), rows,
                                     indices, lengths);
    }
    if (status == PROTEUS_STATUS_OK) status = check_rows(rows, row_count, seq_len);
    if (status != PROTEUS_STATUS_OK) return status;
    problem.seq_len = seq_len;
    problem.salience = checked.ref;
    problem.batch = batch;
    problem.rows = rows;
    problem.row_count = row_count;
    problem.capacity = capacity;
    problem.indices = indices;
    problem.lengths = lengths;
    if (checked.present()) lease.push_back(checked.buffer);
    return PROTEUS_STATUS_OK;
}

proteus_status check_total_call(const Context& context, const proteus_flux_params* params, int64_t seq_len,
                                const proteus_tensor* salience, int64_t batch, int64_t first_row, int64_t row_count,
                                const int64_t* total, TotalCall& call)
{
    proteus_status status = check_rule_budgets(params, call.candidates);
    if (status == PROTEUS_STATUS_OK) status = check_seq_len(seq_len);
    if (status == PROTEUS_STATUS_OK) {
        status = check_gather_salience(context, salience, call.candidates.dna_count, seq_len, batch, call.salience);
    }
    if (status != PROTEUS_STATUS_OK) return status;
    if (first_row < 0 || first_row > seq_len) {
        return reject("first_row", number(first_row) + " is outside [0, seq_len = " + number(seq_len) + "]");
    }
    if (row_count < 0 || row_count > seq_len - first_row) {
        return reject("row_count", number(row_count) + " rows from " + number(first_row) + " run past seq_len " +
                                       number(seq_len));
    }
    return check_not_null(total, "total");
}

}  // namespace proteus
