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

// ---- query slices (SPEC §1) -----------------------------------------------------------------------

/**
 * The position of the last query row: row r of q, o, active and lse is position query_offset + r
 * (keys, salience and the candidate rules are in positions). Rows i ≥ W are those with anchors and
 * DNA keys, so a problem has such rows exactly when this is ≥ W.
 */
inline int64_t last_query_position(const FluxProblem& problem) { return problem.query_offset + problem.query_len - 1; }

// ---- host side ------------------------------------------------------------------------------------

/** Workspace of one call: released only once the stream has finished with it, on every path. */
class StreamWorkspace {
public:
    StreamWorkspace(Allocator& allocator, cudaStream_t stream) : allocator_(allocator), stream_(stream) {}
    StreamWorkspace(const StreamWorkspace&) = delete;
    StreamWorkspace& operator=(const StreamWorkspace&) = delete;

    ~StreamWorkspace()
    {
        if (held_.empty()) return;
        (void)cudaStreamSynchronize(stream_);  // an error path: the error is recorded already
        (void)cudaGetLastError();
        release_all();
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

    /** Waits for the stream when anything is held, then releases it. */
    proteus_status finish()
    {
        if (held_.empty()) return PROTEUS_STATUS_OK;
        const proteus_status status = check(cudaStreamSynchronize(stream_), "StreamSynchronize");
        if (status == PROTEUS_STATUS_OK) release_all();
        return status;  // on failure the destructor releases
    }

private:
    void release_all()
    {
        for (void* memory : held_) allocator_.release(memory);
        held_.clear();
    }

    Allocator& allocator_;
    cudaStream_t stream_;
    std::vector<void*> held_;
};

}  // namespace proteus::gpu
