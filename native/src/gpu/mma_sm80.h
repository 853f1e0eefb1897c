// The sm_80+ instructions behind gpu/mma.h, one PTX statement each, so that the layouts they imply
// are stated once (here) and everything built on them is plain code. Included by gpu/mma.h where
// __CUDA_ARCH__ ≥ 800, and by gpu/hopper/wgmma.h (sm_90a only). Operand layouts: PTX ISA, "Warp-level matrix load
// instruction: ldmatrix" and "Matrix Fragments for mma.m16n8k16 with floating point type".
#pragma once

#include <cstdint>

namespace proteus::gpu::mma::sm80 {

__device__ __forceinline__ uint32_t shared_address(const void* pointer)
{
    return static_cast<uint32_t>(__cvta_generic_to_shared(pointer));
}

/**
 * ldmatrix .x4: lane 8·m + r supplies the address of row r (8 consecutive 16-bit elements) of 8×8
 * matrix m; r[m] receives row lane / 4, elements 2·(lane % 4) and 2·(lane % 4) + 1 (low half first).
 */
__device__ __forceinline__ void load_matrix_x4(uint32_t (&r)[4], const void* row)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(shared_address(row)));
}

/** As load_matrix_x4 with each matrix transposed: r[m] receives rows 2·(lane % 4) and 2·(lane % 4) + 1 of column lane / 4. */
__device__ __forceinline__ void load_matrix_x4_transposed(uint32_t (&r)[4], const void* row)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(shared_address(row)));
}

/** d += a·b over one m16n8k16 tile: bf16 inputs, float32 accumulators. */
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2])
{
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

/** d += a·b over one m16n8k16 tile: fp16 inputs, float32 accumulators. */
__device__ __forceinline__ void mma_f16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2])
{
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

/** Two floats rounded to nearest even into one register of two bf16 (`low` in the low half). */
__device__ __forceinline__ uint32_t pack_bf16(float low, float high)
{
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(high), "f"(low));  // the first source goes high
    return r;
}

/** Two floats rounded to nearest even into one register of two fp16 (`low` in the low half). */
__device__ __forceinline__ uint32_t pack_f16(float low, float high)
{
    uint32_t r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(high), "f"(low));
    return r;
}

/** 2^x, approximate (2 ulp), subnormal results flushed to zero: one MUFU.EX2. */
__device__ __forceinline__ float exp2_approx(float x)
{
    float r;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(r) : "f"(x));
    return r;
}

/** cp.async of 16 bytes global → shared through L2 only; `bytes` 0 writes 16 zero bytes and reads nothing. */
__device__ __forceinline__ void copy_async_16(void* shared, const void* global, uint32_t bytes)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(shared)), "l"(global),
                 "r"(bytes));
}

/** Closes the group of cp.async issued by this thread since the last commit. */
__device__ __forceinline__ void copy_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

/** Waits until at most `Pending` of this thread's committed groups are still in flight. */
template <int Pending>
__device__ __forceinline__ void copy_async_wait()
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending) : "memory");
}

}  // namespace proteus::gpu::mma::sm80
