// The interface between the C ABI runtime and the compute backends. The runtime validates every
// argument, resolves buffers to addresses and counts memory; a backend only moves bytes and computes.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/candidate_spec.h"
#include "core/explicit_lists.h"
#include "core/error.h"
#include "proteus/proteus.h"

namespace proteus {

/** A validated tensor with its address resolved: `data` is element [0, …, 0] (null when absent). */
struct TensorRef {
    void* data = nullptr;
    proteus_dtype dtype = PROTEUS_DTYPE_FLOAT32;
    int rank = 0;
    int64_t shape[PROTEUS_MAX_RANK] = {1, 1, 1, 1};
    int64_t strides[PROTEUS_MAX_RANK] = {0, 0, 0, 0};

    bool present() const { return data != nullptr; }
};

/**
 * One flux attention call after validation (SPEC §1–§3). Shapes agree (q, o [B, H, Tq, D]; k, v
 * [B, Hkv, T, D]; active, lse [B, H, Tq]; salience [B, T]), strides are in elements with the D axis
 * contiguous, budgets are in range, the query slice is inside the keys (row r of q is position
 * i = query_offset + r, query_offset + query_len ≤ seq_len), and the scale is resolved.
 */
/** What the caller said about the share of active rows (proteus_flux_tensor_flags). */
enum class ActiveHint { kUnknown, kSparse, kDense };

struct FluxProblem {
    TensorRef q, k, v, o, active, salience, lse;
    // PROTEUS_POLICY_EXPLICIT: int32 lists [B, Tq, L] (shared by the heads) or [B, H, Tq, L] (per head),
    // and their optional lengths [B, Tq] / [B, H, Tq]; absent for the other policies.
    TensorRef candidate_lists, candidate_lengths;
    bool lists_per_head = false;
    int64_t list_len = 0;  // L
    int64_t batch = 0, heads = 0, kv_heads = 0, head_dim = 0;
    int64_t seq_len = 0;       // T: keys (and the positions salience covers)
    int64_t query_len = 0;     // Tq: rows of q, o, active, lse
    int64_t query_offset = 0;  // p0: the position of row 0
    // The caller's hint on the share of active rows (PROTEUS_FLUX_ACTIVE_SPARSE / _DENSE); kUnknown without one.
    ActiveHint active_hint = ActiveHint::kUnknown;
    core::CandidateSpec candidates;
    float scale = 0.0f;
    proteus_launch_config launch{};  // as the caller gave it: zero fields mean "heuristic"
};

/** The explicit lists of a validated problem (PROTEUS_POLICY_EXPLICIT), addressed as its tensors are. */
inline core::ExplicitLists explicit_lists_of(const FluxProblem& problem)
{
    core::ExplicitLists lists;
    lists.indices = static_cast<const int32_t*>(problem.candidate_lists.data);
    lists.lengths = static_cast<const int32_t*>(problem.candidate_lengths.data);
    const TensorRef& t = problem.candidate_lists;
    const int axes = t.rank;  // 3: [B, Tq, L]; 4: [B, H, Tq, L]
    lists.per_head = problem.lists_per_head;
    lists.batch = problem.batch;
    lists.heads = problem.lists_per_head ? problem.heads : 1;
    lists.rows = problem.query_len;
    lists.slots = problem.list_len;
    lists.query_offset = problem.query_offset;
    lists.batch_stride = t.strides[0];
    lists.head_stride = problem.lists_per_head ? t.strides[1] : 0;
    lists.row_stride = t.strides[axes - 2];
    if (problem.candidate_lengths.present()) {
        const TensorRef& n = problem.candidate_lengths;
        lists.length_batch_stride = n.strides[0];
        lists.length_head_stride = problem.lists_per_head ? n.strides[1] : 0;
        lists.length_row_stride = n.strides[axes - 2];
    }
    return lists;
}

/**
 * What a backend will run for a problem: the pure result of its dispatch (no work queued, nothing
 * allocated). flux_attention runs exactly this plan; proteus_flux_run_info reports it.
 */
struct FluxPlan {
    proteus_flux_kernel kernel = PROTEUS_KERNEL_NONE;
    proteus_launch_config launch{};  // resolved: every field the kernel has is set, the others 0
};

/**
 * Workspace memory for one backend call, taken through the context so that the peak counter and the
 * context's memory limit see it. Stream-ordered on GPU backends: memory from allocate() may be used by
 * work queued after the call, and release() (also queued) makes it reusable only for work queued
 * after that; nobody waits. allocate() records an out-of-memory error itself.
 */
class Allocator {
public:
    virtual ~Allocator() = default;
    virtual proteus_status allocate(uint64_t bytes, void** pointer) = 0;
    virtual void release(void* pointer) noexcept = 0;
};

/** One proteus_shortlist_gather call after validation: the rows of one batch row, host output arrays. */
struct GatherProblem {
    core::CandidateSpec candidates;
    int64_t seq_len = 0;
    TensorRef salience;  // [B, T] float32; absent when the budgets take no DNA
    int64_t batch = 0;
    const int64_t* rows = nullptr;  // host, each in [0, seq_len)
    int64_t row_count = 0;
    int64_t capacity = 0;  // ≥ core::shortlist_bound
    int64_t* indices = nullptr;  // host [row_count, capacity]
    int64_t* lengths = nullptr;  // host [row_count]
};

// ---- layer operations (SPEC §4–§7; proteus_linear, proteus_norm, …): validated by the runtime ----------
// 2-D tensors are [rows, columns] with strides[0] the row stride and the columns contiguous.

/** y [M, N] = x [M, K]·weight [N, K]ᵀ (+ bias [N]) (+ beta·y when accumulate). */
struct LinearProblem {
    TensorRef x, weight, bias, y;  // bias absent or present; x, weight, y share a dtype
    int64_t m = 0, n = 0, k = 0;
    bool accumulate = false;
    float beta = 0.0f;
};

/** y = x converted element-wise (same shape, rank ≤ 4, any strides; the innermost contiguous). */
struct ConvertProblem {
    TensorRef x, y;
};

/** y [M, C] = norm(x) per row; weight, bias [C] float32 (absent: 1, 0). */
struct NormProblem {
    TensorRef x, weight, bias, y;
    int64_t rows = 0, columns = 0;
    proteus_norm_kind kind = PROTEUS_NORM_LAYER;
    float eps = 1e-5f;
};

/** y = GELU(x) (erf form), x and y [M, N]. */
struct GeluProblem {
    TensorRef x, y;
    int64_t rows = 0, columns = 0;
};

/** RoPE in place on x [B, H, T, D]. */
struct RopeProblem {
    TensorRef x;
    int64_t batch = 0, heads = 0, seq_len = 0, head_dim = 0;
    proteus_rope_convention convention = PROTEUS_ROPE_INTERLEAVED;
    int64_t position_offset = 0;
    float base = 10000.0f;
};

/** Router + DNA blend (SPEC §5, §6) over x [B, T, C] with G gates and H heads. */
struct RouterProblem {
    TensorRef x, weight, prototypes, usage, confidence;  // DNA inputs absent without DNA
    TensorRef probs, head_probs, salience, importance;   // outputs; all but probs optional
    int64_t batch = 0, seq_len = 0, channels = 0, gates = 0, heads = 0;
    bool dna = false;
    float tau = 0.2f, theta = 0.25f, blend = 0.6f, usage_boost = 0.0f;
};

/** The active mask [B, H, T] from head_probs [B, T, H] and importance [B, T] (SPEC §4, §5). */
struct SelectProblem {
    TensorRef head_probs, importance, active;
    int64_t batch = 0, seq_len = 0, heads = 0;
    int64_t keep = 0;   // tokens kept per batch row, resolved: T when keep_ratio ≥ 0.999, else max(guard, round(ratio·T)) ≤ T
    int64_t guard = 1;  // the first guard positions always kept (≤ T)
    int32_t heads_per_token = 1;
};

/** The DNA EMA update (SPEC §6) from x [B, T, C] and probs [B, T, G]. */
struct DnaUpdateProblem {
    TensorRef x, probs, prototypes, usage, confidence;
    int64_t batch = 0, seq_len = 0, channels = 0, gates = 0;
    float decay = 0.97f;
};

/**
 * Marks recorded on the context's stream, whose distances are the device time between them: events on
 * a GPU, a steady clock on the CPU backend (whose calls complete before returning).
 */
class StreamClock {
public:
    virtual ~StreamClock() = default;
    /** Records mark `index` (0 ≤ index < the marks asked for) on the stream, without waiting. */
    virtual proteus_status record(int index) = 0;
    /** Milliseconds from mark `from` to mark `to`; both recorded and their work done (synchronize first). */
    virtual proteus_status elapsed(int from, int to, float& milliseconds) = 0;
};

/** One device of one backend. Calls are made by the runtime with validated arguments only. */
class Backend {
public:
    virtual ~Backend() = default;

    virtual proteus_status describe(proteus_device_info& info) = 0;

    /** Raw device allocation; on failure records set_out_of_memory(…, bytes, free) and returns its status. */
    virtual proteus_status allocate(uint64_t bytes, void** pointer) = 0;
    virtual void release(void* pointer) noexcept = 0;

    /**
     * Stream-ordered workspace from the context's pool (GPU: cudaMallocAsync / hipMallocAsync on the
     * context's stream, or the backend's own pool; CPU: an arena). Never synchronises. On failure
     * records set_out_of_memory.
     */
    virtual proteus_status allocate_workspace(uint64_t bytes, void** pointer) = 0;
    /** Queues the release of workspace on the stream (CPU: back to the arena at once). */
    virtual void release_workspace(void* pointer) noexcept = 0;
    /** Bytes the workspace pool keeps reserved beyond what is in use. */
    virtual uint64_t workspace_reserved_bytes() = 0;

    /**
     * INVALID_ARGUMENT or DEVICE_MISMATCH unless [pointer, pointer + bytes) is memory this backend's
     * device can address as a buffer (GPU: device memory of this device; CPU: any host pointer).
     */
    virtual proteus_status check_wrap(void* pointer, uint64_t bytes) = 0;

    /** Host → device; returns when the copy is complete. */
    virtual proteus_status upload(void* destination, const void* source, uint64_t bytes) = 0;
    /** Device → host; returns when the copy is complete. */
    virtual proteus_status download(void* destination, const void* source, uint64_t bytes) = 0;
    /** Device → device on the context's stream. */
    virtual proteus_status copy(void* destination, const void* source, uint64_t bytes) = 0;
    /** Repeats a 1, 2, 4 or 8-byte pattern over `bytes` (a multiple of pattern_bytes). */
    virtual proteus_status fill(void* destination, uint64_t bytes, const void* pattern, uint32_t pattern_bytes) = 0;
    virtual proteus_status synchronize() = 0;
    virtual proteus_status memory(uint64_t& free_bytes, uint64_t& total_bytes) = 0;

    /**
     * The kernel and resolved launch for `problem` (a pure function of the problem and the device):
     * a launch field or mode the chosen kernel cannot honour is INVALID_ARGUMENT naming the field.
     */
    virtual proteus_status plan_flux(const FluxProblem& problem, FluxPlan& plan) = 0;

    /** Every launch configuration offered for `problem` (its launch is ignored), the heuristic's first. */
    virtual proteus_status flux_launch_candidates(const FluxProblem& problem,
                                                  std::vector<proteus_launch_config>& configs) = 0;

    /**
     * Queues SPEC §2 over a validated problem as `plan` (from plan_flux) says, on the context's stream,
     * without waiting; workspace through `workspace` (stream-ordered), released by the end of the call.
     */
    virtual proteus_status flux_attention(const FluxProblem& problem, const FluxPlan& plan, Allocator& workspace) = 0;

    /** A clock of `marks` marks on the context's stream (proteus_flux_time). */
    virtual proteus_status create_clock(int marks, std::unique_ptr<StreamClock>& clock) = 0;

    /** Bytes a write must cover to evict the device's last-level cache (GPU: twice its L2). */
    virtual uint64_t cache_flush_bytes() = 0;

    /** C(i) of the requested rows into the host arrays; returns when they are written. */
    virtual proteus_status shortlist_gather(const GatherProblem& problem, Allocator& workspace) = 0;
    // Layer operations: queued on the context's stream without waiting; workspace through `workspace`.
    virtual proteus_status linear(const LinearProblem& problem, Allocator& workspace) = 0;
    virtual proteus_status convert(const ConvertProblem& problem) = 0;
    virtual proteus_status norm(const NormProblem& problem) = 0;
    virtual proteus_status gelu(const GeluProblem& problem) = 0;
    virtual proteus_status rope(const RopeProblem& problem) = 0;
    /** Deterministic: the same inputs give the same bits on every run. */
    virtual proteus_status router(const RouterProblem& problem, Allocator& workspace) = 0;
    virtual proteus_status select_rows(const SelectProblem& problem, Allocator& workspace) = 0;
    /** Deterministic: a fixed reduction order, no floating-point atomics. */
    virtual proteus_status dna_update(const DnaUpdateProblem& problem, Allocator& workspace) = 0;

    /**
     * The host worker threads of the backend's kernels (proteus_context_set_threads), 1 to 4096. The
     * GPU backends run none: the count reads 0 and setting one is INVALID_ARGUMENT naming "threads".
     */
    virtual proteus_status set_threads(int32_t)
    {
        return set_error(PROTEUS_STATUS_INVALID_ARGUMENT, "threads: this backend runs no host worker threads",
                         "threads");
    }
    virtual int32_t threads() { return 0; }
};

// CPU backend: always compiled (native/src/cpu).
int32_t cpu_device_count();
proteus_status cpu_device_info(int32_t ordinal, proteus_device_info& info);
/** `stream` must be null: the CPU backend has no streams (INVALID_ARGUMENT naming "stream" otherwise). */
proteus_status create_cpu_backend(int32_t ordinal, void* stream, bool own_stream, std::unique_ptr<Backend>& backend);

#if defined(PROTEUS_HAVE_GPU)
// GPU backend: compiled as CUDA or HIP (native/src/gpu); PROTEUS_GPU_BACKEND names which.
proteus_backend gpu_backend_kind();
/** Number of devices; 0 (and OK) when the driver or runtime is missing. */
int32_t gpu_device_count();
proteus_status gpu_device_info(int32_t ordinal, proteus_device_info& info);
/** A backend on its own new stream (`stream` null) or on the caller's `stream` (never destroyed by the backend). */
proteus_status create_gpu_backend(int32_t ordinal, void* stream, bool own_stream, std::unique_ptr<Backend>& backend);
/** The GPU runtime's and driver's versions (0 when no driver), for proteus_get_build_info. */
void gpu_versions(int32_t& runtime_version, int32_t& driver_version);
#endif

}  // namespace proteus
