// Storage formats of the GPU kernels: raw bits in memory, float32 in registers, stores rounded to
// nearest even (the conversions of core/numeric.h, shared with the CPU reference).
#pragma once

#include "gpu/vendor.h"

#include <cstdint>

#include "core/numeric.h"

namespace proteus::gpu {

struct Float32Storage {
    using Raw = float;
    static __device__ float load(Raw x) { return x; }
    static __device__ Raw store(float x) { return x; }
};

struct Float16Storage {
    using Raw = uint16_t;
    static __device__ float load(Raw x) { return half_to_float(x); }
    static __device__ Raw store(float x) { return float_to_half(x); }
};

struct BFloat16Storage {
    using Raw = uint16_t;
    static __device__ float load(Raw x) { return bfloat16_to_float(x); }
    static __device__ Raw store(float x) { return float_to_bfloat16(x); }
};

}  // namespace proteus::gpu
