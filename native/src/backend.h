// The interface between the C ABI runtime and the compute backends. The runtime validates every
// argument, resolves buffers to addresses and counts memory; a backend only moves bytes and computes.
#pragma once

#include <cstdint>
#include <memory>

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
 * One flux attention call after validation (SPEC §2–§3). Shapes agree (q, o [B, H, T, D]; k, v
 * [B, Hkv, T, D]; active, lse [B, H, T]; salience [B, T]), strides are in elements with the D axis
 * contiguous, budgets are in range, and the scale is resolved.
 */
struct FluxProblem {
    TensorRef q, k, v, o, active, salience, lse;
    int64_t batch = 0, heads = 0, kv_heads = 0, seq_len = 0, head_dim = 0;
    proteus_candidate_policy policy = PROTEUS_POLICY_ALIGNED;
    int64_t window = 0, anchor_stride = 0, anchor_count = 0, dna_count = 0;
    int64_t seed_cap = 0, seed_local_cap = 0;
    float scale = 0.0f;
    proteus_launch_config launch{};  // zero fields mean "heuristic"
};

/**
 * Workspace memory for a backend, taken through the context so that the peak counter and the
 * context's memory limit see it. allocate() records an out-of-memory error itself.
 */
class Allocator {
public:
    virtual ~Allocator() = default;
    virtual proteus_status allocate(uint64_t bytes, void** pointer) = 0;
    virtual void release(void* pointer) noexcept = 0;
};

/** One device of one backend. Calls are made by the runtime with validated arguments only. */
class Backend {
public:
    virtual ~Backend() = default;

    virtual proteus_status describe(proteus_device_info& info) = 0;

    /** Raw device allocation; on failure records set_out_of_memory(…, bytes, free) and returns its status. */
    virtual proteus_status allocate(uint64_t bytes, void** pointer) = 0;
    virtual void release(void* pointer) noexcept = 0;

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

    /** SPEC §2 over a validated problem; workspace through `workspace`, released before returning. */
    virtual proteus_status flux_attention(const FluxProblem& problem, Allocator& workspace) = 0;
};

// CPU backend: always compiled (native/src/cpu).
int32_t cpu_device_count();
proteus_status cpu_device_info(int32_t ordinal, proteus_device_info& info);
proteus_status create_cpu_backend(int32_t ordinal, std::unique_ptr<Backend>& backend);

#if defined(PROTEUS_HAVE_GPU)
// GPU backend: compiled as CUDA or HIP (native/src/gpu); PROTEUS_GPU_BACKEND names which.
proteus_backend gpu_backend_kind();
/** Number of devices; 0 (and OK) when the driver or runtime is missing. */
int32_t gpu_device_count();
proteus_status gpu_device_info(int32_t ordinal, proteus_device_info& info);
proteus_status create_gpu_backend(int32_t ordinal, std::unique_ptr<Backend>& backend);
#endif

}  // namespace proteus
