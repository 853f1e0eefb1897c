// Marks functions that compile for both the host and the GPU (CUDA or HIP), so that index arithmetic
// and number formats are written once for the CPU reference and the kernels.
#pragma once

#if defined(__HIPCC__)
#include <hip/hip_runtime.h>  // __forceinline__ (nvcc predefines its own; a header may come before gpu/vendor.h)
#endif

#if defined(__CUDACC__) || defined(__HIPCC__)
#define PROTEUS_HD __host__ __device__ __forceinline__
#else
#define PROTEUS_HD inline
#endif
