// The Hopper primitives of the wgmma tile kernel (gpu/hopper/flux_wgmma.cu), each checked against the host by
// tests/gpu/hopper_probe.cu: shared-memory matrix descriptors for the 128-byte swizzle, m64n64k16 products with
// both operands in shared memory (K-major) or A in registers and B read MN-major, mbarriers, and the 4D box
// copy of the tensor copy engine. Include it only from files compiled for sm_90a alone (a plain sm_90 pass
// rejects wgmma and setmaxnreg): the functions exist in device code compiled for it.
//
// Layouts (what the probes check):
//   a K-major 128B-swizzled tile [rows][64] of 16-bit values: row r's 16-byte chunk c at byte
//   r·128 + ((c ^ (r % 8))·16) (swizzled_offset), rows in 1024-byte atoms of 8; descriptor(tile, 16, 1024);
//   a k16 step advances the start by 32 bytes, a reduction of 128 is two such sub-tiles;
//   the MN-major B (V [keys][D]) is the same image of [keys][64]: descriptor(tile, sub-tile bytes, 1024),
//   a k16 step advances the start by 16 keys · 128 bytes, read with trans-b;
//   accumulators of m64nN: warp w of the warpgroup holds rows 16w + g and 16w + g + 8 (g = lane / 4, t =
//   lane % 4); d[4n + e] is row 16w + g + 8·(e / 2), column 8n + 2t + e % 2; P's k16 chunk j as the A operand
//   is {d[8j], d[8j+1]}, {d[8j+2], d[8j+3]}, {d[8j+4], d[8j+5]}, {d[8j+6], d[8j+7]} packed pairwise.
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>

#include <cstdint>

#include "gpu/mma_sm80.h"

namespace proteus::gpu::hopper {

// The sm_80 statements that hold on sm_90a as well.
using mma::sm80::exp2_approx;
using mma::sm80::pack_bf16;
using mma::sm80::shared_address;

/**
 * cuTensorMapEncodeTiled, found through the runtime (nothing links against the driver library); null when
 * the driver has none. CUDA 12.5 added the versioned query (and later runtimes keep only it).
 */
inline PFN_cuTensorMapEncodeTiled_v12000 find_tensor_map_encoder()
{
    void* function = nullptr;
    cudaDriverEntryPointQueryResult result{};
#if CUDART_VERSION >= 12050
    const cudaError_t status =
        cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &function, 12000, cudaEnableDefault, &result);
#else
    const cudaError_t status = cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", &function, cudaEnableDefault, &result);
#endif
    (void)cudaGetLastError();
    return status == cudaSuccess && result == cudaDriverEntryPointSuccess
               ? reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(function)
               : nullptr;
}

/** Byte offset of element (row, column < 64) in a K-major 128B-swizzled [rows][64] tile of 16-bit values. */
__host__ __device__ __forceinline__ uint32_t swizzled_offset(uint32_t row, uint32_t column)
{
    return row * 128 + (((column / 8) ^ (row % 8)) * 16) + (column % 8) * 2;
}

__device__ __forceinline__ uint64_t descriptor(const void* tile, uint32_t leading_bytes, uint32_t stride_bytes)
{
    uint64_t d = static_cast<uint64_t>((shared_address(tile) & 0x3FFFF) >> 4);
    d |= static_cast<uint64_t>(leading_bytes >> 4) << 16;
    d |= static_cast<uint64_t>(stride_bytes >> 4) << 32;
    d |= uint64_t{1} << 62;  // 128-byte swizzle
    return d;
}

/** A descriptor from its low and high words (a register pair: no 64-bit arithmetic on the way to the wgmma). */
__device__ __forceinline__ uint64_t join(uint32_t low, uint32_t high)
{
    uint64_t d;
    asm("mov.b64 %0, {%1, %2};\n" : "=l"(d) : "r"(low), "r"(high));
    return d;
}

__device__ __forceinline__ void barrier_init(uint64_t* barrier, int count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(shared_address(barrier)), "r"(count));
}

__device__ __forceinline__ void barrier_expect(uint64_t* barrier, uint32_t bytes)
{
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(shared_address(barrier)), "r"(bytes) : "memory");
}

__device__ __forceinline__ void barrier_arrive(uint64_t* barrier)
{
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(shared_address(barrier)) : "memory");
}

__device__ __forceinline__ void barrier_wait(uint64_t* barrier, uint32_t parity)
{
    uint32_t done = 0;
    while (!done) {
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(shared_address(barrier)), "r"(parity)
                     : "memory");
    }
}

/** The 4D box at (column, row, head, batch) of `map` into `destination`, completing on `barrier` (one thread). */
__device__ __forceinline__ void copy_box(void* destination, const CUtensorMap* map, int column, int row, int head, int batch,
                                         uint64_t* barrier)
{
    asm volatile(
        "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], [%6];\n"
        ::"r"(shared_address(destination)), "l"(map), "r"(column), "r"(row), "r"(head), "r"(batch), "r"(shared_address(barrier))
        : "memory");
}

/** `source` (shared, in the map's swizzled layout) into the 4D box at (column, row, head, batch) of `map` (one thread;
 * rows and columns past the tensor's are not written). Completes with the thread's bulk group (bulk_commit). */
__device__ __forceinline__ void store_box(const CUtensorMap* map, int column, int row, int head, int batch, const void* source)
{
    asm volatile("cp.async.bulk.tensor.4d.global.shared::cta.bulk_group [%0, {%1, %2, %3, %4}], [%5];\n"
                 ::"l"(map), "r"(column), "r"(row), "r"(head), "r"(batch), "r"(shared_address(source))
                 : "memory");
}

/** Closes this thread's bulk group of stores (store_box). */
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }

/** Waits until this thread's committed bulk stores have read their shared memory (it may then be written again). */
__device__ __forceinline__ void bulk_wait_read() { asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory"); }

/** Four 8×8 16-bit matrices from the warp's registers (r[i]: matrix i, the mma accumulator layout) to shared memory:
 * lane l gives the address of row l % 8 of matrix l / 8. */
__device__ __forceinline__ void store_matrices(uint32_t address, uint32_t r0, uint32_t r1, uint32_t r2, uint32_t r3)
{
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(address), "r"(r0), "r"(r1), "r"(r2), "r"(r3)
                 : "memory");
}

/** `bytes` (a multiple of 16, both addresses 16-byte aligned) from global to shared memory, completing on `barrier` (one thread). */
__device__ __forceinline__ void copy_bulk(void* destination, const void* source, uint32_t bytes, uint64_t* barrier)
{
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n"
                 ::"r"(shared_address(destination)), "l"(source), "r"(bytes), "r"(shared_address(barrier))
                 : "memory");
}

/** Orders this thread's generic-proxy writes to shared memory (st.shared, cp.async) before later async-proxy reads (wgmma, TMA). */
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// The accumulator operands of m64nNk16 (N / 2 floats a thread) and their register list, for the wrappers below.
#define PROTEUS_WGMMA_ACCUMULATORS_16 \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), \
    "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
#define PROTEUS_WGMMA_ACCUMULATORS_32 \
    PROTEUS_WGMMA_ACCUMULATORS_16, "+f"(d[16]), \
    "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), \
    "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
#define PROTEUS_WGMMA_ACCUMULATORS_64 \
    PROTEUS_WGMMA_ACCUMULATORS_32, "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), \
    "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), \
    "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), \
    "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), \
    "+f"(d[62]), "+f"(d[63])
#define PROTEUS_WGMMA_REGISTERS_16 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, "
#define PROTEUS_WGMMA_REGISTERS_32 \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
#define PROTEUS_WGMMA_REGISTERS_64 \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "

__device__ __forceinline__ void fence_operands() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void commit_group() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }

// The element type of A and B as the instruction names it: bfloat16 ("bf16") or float16 ("f16").
#define PROTEUS_WGMMA_TYPES(kHalf, statement) \
    do {                                       \
        if constexpr (kHalf) {                 \
            statement("f16");                  \
        } else {                               \
            statement("bf16");                 \
        }                                      \
    } while (0)

/** d += A(desc)·B(desc): m64n64k16, both K-major (scale_d 0: d = A·B); kHalf: float16 operands, else bfloat16. */
template <bool kHalf = false>
__device__ __forceinline__ void mma_ss(float (&d)[32], uint64_t a, uint64_t b, int scale_d)
{
#define PROTEUS_WGMMA_SS_64(type)                                                         \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                             \
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32." type "." type " "          \
                 PROTEUS_WGMMA_REGISTERS_32 "%32, %33, p, 1, 1, 0, 0;\n}\n"              \
                 : PROTEUS_WGMMA_ACCUMULATORS_32                                          \
                 : "l"(a), "l"(b), "r"(scale_d))
    PROTEUS_WGMMA_TYPES(kHalf, PROTEUS_WGMMA_SS_64);
#undef PROTEUS_WGMMA_SS_64
}

/** d += A(desc)·B(desc): m64n32k16, both K-major (scale_d 0: d = A·B); B's first 32 rows (a narrow edge tile's keys). */
template <bool kHalf = false>
__device__ __forceinline__ void mma_ss_n32(float (&d)[16], uint64_t a, uint64_t b, int scale_d)
{
#define PROTEUS_WGMMA_SS_32(type)                                                         \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"                             \
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32." type "." type " "          \
                 PROTEUS_WGMMA_REGISTERS_16 "%16, %17, p, 1, 1, 0, 0;\n}\n"              \
                 : PROTEUS_WGMMA_ACCUMULATORS_16                                          \
                 : "l"(a), "l"(b), "r"(scale_d))
    PROTEUS_WGMMA_TYPES(kHalf, PROTEUS_WGMMA_SS_32);
#undef PROTEUS_WGMMA_SS_32
}

/** d += A(registers)·B(desc, MN-major, read transposed): m64n64k16. */
template <bool kHalf = false>
__device__ __forceinline__ void mma_rs(float (&d)[32], const uint32_t (&a)[4], uint64_t b)
{
#define PROTEUS_WGMMA_RS_64(type)                                                         \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                              \
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32." type "." type " "          \
                 PROTEUS_WGMMA_REGISTERS_32 "{%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n" \
                 : PROTEUS_WGMMA_ACCUMULATORS_32                                          \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b))
    PROTEUS_WGMMA_TYPES(kHalf, PROTEUS_WGMMA_RS_64);
#undef PROTEUS_WGMMA_RS_64
}

/** d += A(desc)·B(desc): m64n128k16, both K-major (scale_d 0: d = A·B); d as m64n64k16's, columns 0 … 127. */
template <bool kHalf = false>
__device__ __forceinline__ void mma_ss_n128(float (&d)[64], uint64_t a, uint64_t b, int scale_d)
{
#define PROTEUS_WGMMA_SS_128(type)                                                        \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                            \
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32." type "." type " "         \
                 PROTEUS_WGMMA_REGISTERS_64 "%64, %65, p, 1, 1, 0, 0;\n}\n"              \
                 : PROTEUS_WGMMA_ACCUMULATORS_64                                          \
                 : "l"(a), "l"(b), "r"(scale_d))
    PROTEUS_WGMMA_TYPES(kHalf, PROTEUS_WGMMA_SS_128);
#undef PROTEUS_WGMMA_SS_128
}

/** d += A(registers)·B(desc, MN-major, read transposed): m64n128k16; B spans two 64-column swizzled sub-tiles (leading offset). */
template <bool kHalf = false>
__device__ __forceinline__ void mma_rs_n128(float (&d)[64], const uint32_t (&a)[4], uint64_t b)
{
#define PROTEUS_WGMMA_RS_128(type)                                                        \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                              \
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32." type "." type " "         \
                 PROTEUS_WGMMA_REGISTERS_64 "{%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n" \
                 : PROTEUS_WGMMA_ACCUMULATORS_64                                          \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b))
    PROTEUS_WGMMA_TYPES(kHalf, PROTEUS_WGMMA_RS_128);
#undef PROTEUS_WGMMA_RS_128
}

/** Waits until at most `kPending` committed wgmma groups of this warp are unfinished (groups finish in order). */
template <int kPending>
__device__ __forceinline__ void wait_pending()
{
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}

}  // namespace proteus::gpu::hopper
