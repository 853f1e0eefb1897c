// What the device harness's C ABI checkers share (tests/gpu/explicit_check.cpp, wgmma_check.cpp): a status
// that must be OK, a buffer owned for a scope, a view of it in the C ABI's terms, and a call's median time.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "proteus/proteus.h"

namespace proteus::harness {

inline void require(proteus_status status, const char* what)
{
    if (status == PROTEUS_STATUS_OK) return;
    std::fprintf(stderr, "%s failed: status %d: %s\n", what, status, proteus_last_error_message());
    std::exit(2);
}

struct Buffer {
    proteus_buffer buffer = nullptr;
    uint64_t bytes = 0;
    Buffer(proteus_context c, uint64_t n) : bytes(std::max<uint64_t>(n, 1)) { require(proteus_buffer_create(c, bytes, &buffer), "buffer_create"); }
    ~Buffer() { proteus_buffer_destroy(buffer); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    void upload(const void* data, uint64_t n) { require(proteus_buffer_upload(buffer, 0, data, n), "upload"); }
    void download(void* data, uint64_t n) const { require(proteus_buffer_download(buffer, 0, data, n), "download"); }
};

inline proteus_tensor view(const Buffer& b, proteus_dtype dtype, std::vector<int64_t> shape, uint64_t offset_elements = 0,
                    std::vector<int64_t> strides = {})
{
    proteus_tensor t{};
    t.buffer = b.buffer;
    t.dtype = dtype;
    t.rank = static_cast<int32_t>(shape.size());
    const uint64_t element = dtype == PROTEUS_DTYPE_FLOAT32 || dtype == PROTEUS_DTYPE_INT32 ? 4 : dtype == PROTEUS_DTYPE_UINT8 ? 1 : 2;
    t.offset_bytes = offset_elements * element;
    int64_t stride = 1;
    for (int axis = PROTEUS_MAX_RANK - 1; axis >= 0; --axis) {
        t.shape[axis] = axis < t.rank ? shape[axis] : 1;
        if (axis < t.rank) {
            t.strides[axis] = strides.empty() ? stride : strides[axis];
            stride *= shape[axis];
        }
    }
    return t;
}

/** The median of `repeats` timed runs of the call (after `warmup`, the L2 cache flushed before each); `info` its run info. */
inline double median_ms(proteus_context context, const proteus_flux_tensors& tensors, const proteus_flux_params& params, int warmup,
                        int repeats, proteus_flux_run_info& info, const proteus_launch_config* launch = nullptr)
{
    proteus_flux_timing timing{};
    timing.struct_size = sizeof timing;
    timing.warmup = warmup;
    timing.repeats = repeats;
    timing.flags = PROTEUS_FLUX_TIMING_FLUSH_CACHE;
    std::vector<float> ms(repeats);
    info = proteus_flux_run_info{};
    info.struct_size = sizeof info;
    require(proteus_flux_time(context, &tensors, &params, launch, &timing, ms.data(), &info), "flux_time");
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

}  // namespace proteus::harness
