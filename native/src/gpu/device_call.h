// Runtime errors into the library's statuses: every failing CUDA/HIP call becomes
// PROTEUS_STATUS_DEVICE_ERROR with "<function>: <runtime message>" as this thread's last error.
#pragma once

#include <string>

#include "gpu/vendor.h"
#include "core/error.h"

namespace proteus::gpu {

/**
 * OK, or the recorded device error for `error`, which `function` (the name without its "cuda"/"hip"
 * prefix, e.g. "Malloc") returned. Reading the error back clears it in the runtime when it is not
 * sticky, so that the next call on the thread does not report it again.
 */
inline proteus_status check(cudaError_t error, const char* function)
{
    if (error == cudaSuccess) return PROTEUS_STATUS_OK;
    (void)cudaGetLastError();
    return set_error(PROTEUS_STATUS_DEVICE_ERROR,
                     std::string(kRuntimePrefix) + function + ": " + cudaGetErrorString(error));
}

/** OK, or the recorded device error of the kernel launch just made (bad configuration, no image for this device, …). */
inline proteus_status check_launch(const char* kernel)
{
    const cudaError_t error = cudaGetLastError();  // also clears it
    if (error == cudaSuccess) return PROTEUS_STATUS_OK;
    return set_error(PROTEUS_STATUS_DEVICE_ERROR, std::string("launching ") + kernel + ": " + cudaGetErrorString(error));
}

}  // namespace proteus::gpu

/** Returns from the calling function when a runtime call fails (after recording the error). */
#define PROTEUS_GPU_CHECK(call, function)                                              \
    do {                                                                               \
        const proteus_status proteus_gpu_status_ = ::proteus::gpu::check((call), function); \
        if (proteus_gpu_status_ != PROTEUS_STATUS_OK) return proteus_gpu_status_;       \
    } while (0)
