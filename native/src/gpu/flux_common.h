// What the flux kernels share (the general row kernel in gpu/flux_kernel.cu, the tensor-core tile
// kernel in gpu/flux_tile_kernel.cu): tensor addressing and the workspace of a call; the storage
// formats are in gpu/storage.h.
#pragma once

#include "gpu/vendor.h"

#include <cstdint>
#include <vector>

#include "backend.h"
#include "gpu/device_call.h"
#include "gpu/storage.h"
#include "core/error.h"

namespace proteus::gpu {

// ---- tensor addressing ----------------------------------------------------------------------------

/** A [B, heads, T, …] tensor: element [b, h, t, 0] is at data + b·batch + h·head + t·token (elements). */
template <typename Element>
struct Rows {
    Element* data = nullptr;
    int64_t batch = 0, head = 0, token = 0;

    __device__ Element* at(int64_t b, int64_t h, int64_t t) const { return data + b * batch + h * head + t * token; }
};

template <typename Element>
Rows<Element> rows_of(const TensorRef& tensor)
{
    return {static_cast<Element*>(tensor.data), tensor.strides[0], tensor.strides[1], tensor.strides[2]};
}

// ---- block-wide scans -----------------------------------------------------------------------------

/**
 * Exclusive prefix sum of one value per thread over a block of kThreads threads (a power of two; all
 * threads call it); `total` receives the sum. `scratch` holds kThreads values.
 */
template <int kThreads>
__device__ int64_t block_exclusive_scan(int64_t value, int64_t* scratch, int64_t& total)
{
    const int t = threadIdx.x;
    scratch[t] = value;
    __syncthreads();
    for (int offset = 1; offset < kThreads; offset *= 2) {
        const int64_t add = t >= offset ? scratch[t - offset] : 0;
        __syncthreads();  // every read of this round precedes every write
        scratch[t] += add;
        __syncthreads();
    }
    total = scratch[kThreads - 1];
    const int64_t inclusive = scratch[t];
    __syncthreads();  // the scratch may be reused by the caller after this
    return inclusive - value;
}

// ---- the device's choice -------------------------------------------------------------------------

/**
 * PROTEUS_KERNEL_GPU_TILE_OR_ROW_MODE: both the tile kernel and the row mode are queued, and the row
 * mode's scan writes which of them computes (a proteus_flux_kernel) into device memory. Each gated
 * kernel returns at entry unless it is the chosen one; `chosen` null: the kernel always runs.
 */
struct Gate {
    const int32_t* chosen = nullptr;
    int32_t kernel = PROTEUS_KERNEL_NONE;

    __device__ bool closed() const { return chosen != nullptr && *chosen != kernel; }
};

// ---- query slices (SPEC §1) -----------------------------------------------------------------------

/**
 * The position of the last query row: row r of q, o, active and lse is position query_offset + r
 * (keys, salience and the candidate rules are in positions). Rows i ≥ W are those with anchors and
 * DNA keys, so a problem has such rows exactly when this is ≥ W.
 */
inline int64_t last_query_position(const FluxProblem& problem) { return problem.query_offset + problem.query_len - 1; }

/** Every row of `tensor` 16-byte aligned: its data and its three outer strides (elements of `element_bytes`). */
inline bool aligned16(const TensorRef& tensor, uint64_t element_bytes)
{
    if (reinterpret_cast<uintptr_t>(tensor.data) % 16 != 0) return false;
    for (int axis = 0; axis < 3; ++axis) {
        if (static_cast<uint64_t>(tensor.strides[axis]) * element_bytes % 16 != 0) return false;
    }
    return true;
}

// ---- host side ------------------------------------------------------------------------------------

/**
 * Workspace of one call, from the context's stream-ordered pool: memory taken here may be used by
 * work queued on the stream after it, and the destructor queues its release on the stream, behind
 * all of the call's work (so it must outlive the last launch that uses it). Nothing here waits.
 */
class StreamWorkspace {
public:
    explicit StreamWorkspace(Allocator& allocator) : allocator_(allocator) {}
    StreamWorkspace(const StreamWorkspace&) = delete;
    StreamWorkspace& operator=(const StreamWorkspace&) = delete;

    ~StreamWorkspace()
    {
        for (void* memory : held_) allocator_.release(memory);
    }

    /** `count` elements of `T`; on a size that does not fit 64 bits, an out-of-memory error. */
    template <typename T>
    proteus_status allocate(uint64_t count, T** pointer)
    {
        uint64_t bytes = 0;
        if (__builtin_mul_overflow(count, sizeof(T), &bytes)) return set_out_of_memory("flux workspace", UINT64_MAX, 0);
        void* memory = nullptr;
        const proteus_status status = allocator_.allocate(bytes, &memory);
        if (status != PROTEUS_STATUS_OK) return status;
        held_.push_back(memory);
        *pointer = static_cast<T*>(memory);
        return PROTEUS_STATUS_OK;
    }

private:
    Allocator& allocator_;
    std::vector<void*> held_;
};

}  // namespace proteus::gpu
