// Warp-level tile products for the flux kernels: 16-bit inputs (bf16, fp16), float32 accumulators,
// in the shape of mma.m16n8k16. The kernels see only this interface. On CUDA sm_80+ it is ldmatrix,
// mma.sync, cvt and cp.async (gpu/mma_sm80.h); everywhere else (HIP, older CUDA targets) a portable
// version builds the same fragments from per-lane loads and group shuffles, and copies synchronously.
//
// Fragments are held by a group of kLanes = 32 threads; lane = 4·g + t (g = lane / 4, t = lane % 4):
//   A, 16×16 row-major, four registers of two elements (the lower column in the low half):
//       x[0] = A[g][2t, 2t+1]   x[1] = A[g+8][2t, 2t+1]   x[2] = A[g][2t+8, 2t+9]   x[3] = A[g+8][2t+8, 2t+9]
//   B, 16×8 (k × n), two registers:  x[0] = B[2t, 2t+1][g]   x[1] = B[2t+8, 2t+9][g]
//   C, 16×8 float32:  x[e] = C[g + 8·(e / 2)][2t + e % 2]
// (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type".) The C fragments of two
// adjacent 8-column blocks are, once rounded to 16 bits, the A fragment of their 16×16 block
// (pack_a): that is how P = softmax(S) feeds P·V without leaving registers.
//
// The group of 32 is the shape of the product, not an assumption about the hardware: on a 64-lane
// wavefront two groups run side by side and exchange only within themselves (group_shuffle, width 32).
// Every lane of a group must call each function here together (no divergence inside a group).
#pragma once

#include "gpu/vendor.h"

#include <cstdint>

#include "core/numeric.h"
#include "gpu/storage.h"

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define PROTEUS_MMA_TENSOR_CORES 1
#include "gpu/mma_sm80.h"
#else
#define PROTEUS_MMA_TENSOR_CORES 0
#endif

namespace proteus::gpu::mma {

/** Threads that hold one tile product together. */
constexpr int kLanes = 32;

struct FragmentA {
    uint32_t x[4];
};

struct FragmentB {
    uint32_t x[2];
};

struct Accumulator {
    float x[4];
};

/** Row (0..15) of accumulator element e (0..3) held by `lane`. */
__device__ __forceinline__ int accumulator_row(int lane, int e) { return lane / 4 + 8 * (e / 2); }

/** Column (0..7) of accumulator element e held by `lane`. */
__device__ __forceinline__ int accumulator_column(int lane, int e) { return 2 * (lane % 4) + e % 2; }

// ---- element formats ----------------------------------------------------------------------------

template <typename Storage>
struct Format;

template <>
struct Format<BFloat16Storage> {
    static __device__ __forceinline__ uint32_t pack(float low, float high)
    {
#if PROTEUS_MMA_TENSOR_CORES
        return sm80::pack_bf16(low, high);
#else
        return float_to_bfloat16(low) | static_cast<uint32_t>(float_to_bfloat16(high)) << 16;
#endif
    }

    static __device__ __forceinline__ float low(uint32_t pair) { return bfloat16_to_float(pair & 0xffffu); }
    static __device__ __forceinline__ float high(uint32_t pair) { return bfloat16_to_float(pair >> 16); }
#if PROTEUS_MMA_TENSOR_CORES
    static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2])
    {
        sm80::mma_bf16(d, a, b);
    }
#endif
};

template <>
struct Format<Float16Storage> {
    static __device__ __forceinline__ uint32_t pack(float low, float high)
    {
#if PROTEUS_MMA_TENSOR_CORES
        return sm80::pack_f16(low, high);
#else
        return float_to_half(low) | static_cast<uint32_t>(float_to_half(high)) << 16;
#endif
    }

    static __device__ __forceinline__ float low(uint32_t pair) { return half_to_float(pair & 0xffffu); }
    static __device__ __forceinline__ float high(uint32_t pair) { return half_to_float(pair >> 16); }
#if PROTEUS_MMA_TENSOR_CORES
    static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2])
    {
        sm80::mma_f16(d, a, b);
    }
#endif
};

// ---- loads from shared memory -------------------------------------------------------------------
// `tile` points at element [0][0] of a row-major block of 16-bit elements, `pitch` elements apart;
// rows start 16-byte aligned (pitch a multiple of 8).

#if !PROTEUS_MMA_TENSOR_CORES
/** The two elements at tile[row][column], tile[row][column + 1] as one register. */
__device__ __forceinline__ uint32_t pair_along_row(const uint16_t* tile, int pitch, int row, int column)
{
    return *reinterpret_cast<const uint32_t*>(tile + row * pitch + column);
}

/** tile[row][column] (low half) and tile[row + 1][column] as one register. */
__device__ __forceinline__ uint32_t pair_along_column(const uint16_t* tile, int pitch, int row, int column)
{
    return tile[row * pitch + column] | static_cast<uint32_t>(tile[(row + 1) * pitch + column]) << 16;
}
#endif

/** a = tile[0..16)[0..16). */
__device__ __forceinline__ void load_a(FragmentA& a, const uint16_t* tile, int pitch, int lane)
{
#if PROTEUS_MMA_TENSOR_CORES
    // Matrices: 0 rows 0-7 columns 0-7, 1 rows 8-15, 2 columns 8-15, 3 both: the order of a.x.
    sm80::load_matrix_x4(a.x, tile + (lane % 16) * pitch + (lane / 16) * 8);
#else
    const int g = lane / 4;
    const int t = lane % 4;
    a.x[0] = pair_along_row(tile, pitch, g, 2 * t);
    a.x[1] = pair_along_row(tile, pitch, g + 8, 2 * t);
    a.x[2] = pair_along_row(tile, pitch, g, 2 * t + 8);
    a.x[3] = pair_along_row(tile, pitch, g + 8, 2 * t + 8);
#endif
}

/**
 * The B operands of X·Yᵀ from Y stored by rows (row = n, column = k), e.g. keys for S = Q·Kᵀ:
 * b[n] is the 16×8 block B[k][c] = tile[8n + c][k], k < 16, for n = 0, 1.
 */
__device__ __forceinline__ void load_b_from_rows(FragmentB (&b)[2], const uint16_t* tile, int pitch, int lane)
{
#if PROTEUS_MMA_TENSOR_CORES
    // Matrices: 0 rows 0-7 columns 0-7, 1 rows 0-7 columns 8-15, 2 rows 8-15 columns 0-7, 3 rows 8-15
    // columns 8-15, so that r = {b[0].x[0], b[0].x[1], b[1].x[0], b[1].x[1]}.
    uint32_t r[4];
    sm80::load_matrix_x4(r, tile + (lane % 8 + 8 * (lane / 16)) * pitch + 8 * (lane / 8 % 2));
    b[0].x[0] = r[0];
    b[0].x[1] = r[1];
    b[1].x[0] = r[2];
    b[1].x[1] = r[3];
#else
    const int g = lane / 4;
    const int t = lane % 4;
    for (int n = 0; n < 2; ++n) {
        b[n].x[0] = pair_along_row(tile, pitch, 8 * n + g, 2 * t);
        b[n].x[1] = pair_along_row(tile, pitch, 8 * n + g, 2 * t + 8);
    }
#endif
}

/**
 * The B operands of X·Y from Y stored by rows (row = k, column = n), e.g. values for O = P·V:
 * b[n] is the 16×8 block B[k][c] = tile[k][8n + c], k < 16, for n = 0, 1.
 */
__device__ __forceinline__ void load_b_from_columns(FragmentB (&b)[2], const uint16_t* tile, int pitch, int lane)
{
#if PROTEUS_MMA_TENSOR_CORES
    // Transposed matrices: 0 rows 0-7 columns 0-7, 1 rows 8-15 columns 0-7, 2 rows 0-7 columns 8-15,
    // 3 rows 8-15 columns 8-15.
    uint32_t r[4];
    sm80::load_matrix_x4_transposed(r, tile + (lane % 8 + 8 * (lane / 8 % 2)) * pitch + 8 * (lane / 16));
    b[0].x[0] = r[0];
    b[0].x[1] = r[1];
    b[1].x[0] = r[2];
    b[1].x[1] = r[3];
#else
    const int g = lane / 4;
    const int t = lane % 4;
    for (int n = 0; n < 2; ++n) {
        b[n].x[0] = pair_along_column(tile, pitch, 2 * t, 8 * n + g);
        b[n].x[1] = pair_along_column(tile, pitch, 2 * t + 8, 8 * n + g);
    }
#endif
}

// ---- arithmetic ---------------------------------------------------------------------------------

/** c += a·b (16×16 by 16×8). */
template <typename Storage>
__device__ __forceinline__ void mma(Accumulator& c, const FragmentA& a, const FragmentB& b, int lane)
{
#if PROTEUS_MMA_TENSOR_CORES
    (void)lane;
    Format<Storage>::mma(c.x, a.x, b.x);
#else
    // Lane (g, t) forms C[g][2t], C[g][2t+1], C[g+8][2t], C[g+8][2t+1]. Column pair q of A's row g
    // (q-th register pair along k) sits with lane 4g + q; B's column n with lanes 4n + q.
    using F = Format<Storage>;
    const int g = lane / 4;
    const int t = lane % 4;
    const auto dot2 = [](uint32_t u, uint32_t v) { return F::low(u) * F::low(v) + F::high(u) * F::high(v); };
    for (int q = 0; q < 4; ++q) {
        uint32_t row[4];
        for (int r = 0; r < 4; ++r) row[r] = group_shuffle(a.x[r], 4 * g + q, kLanes);
        uint32_t left[2], right[2];  // columns 2t and 2t + 1 of B
        for (int r = 0; r < 2; ++r) {
            left[r] = group_shuffle(b.x[r], 4 * (2 * t) + q, kLanes);
            right[r] = group_shuffle(b.x[r], 4 * (2 * t + 1) + q, kLanes);
        }
        // row[0], row[2]: row g at k = 2q.. and 2q + 8..; row[1], row[3]: row g + 8.
        c.x[0] += dot2(row[0], left[0]) + dot2(row[2], left[1]);
        c.x[1] += dot2(row[0], right[0]) + dot2(row[2], right[1]);
        c.x[2] += dot2(row[1], left[0]) + dot2(row[3], left[1]);
        c.x[3] += dot2(row[1], right[0]) + dot2(row[3], right[1]);
    }
#endif
}

/** The A fragment of the 16×16 block whose columns 0-7 are `left` and 8-15 `right`, rounded to nearest even. */
template <typename Storage>
__device__ __forceinline__ void pack_a(FragmentA& a, const Accumulator& left, const Accumulator& right)
{
    a.x[0] = Format<Storage>::pack(left.x[0], left.x[1]);
    a.x[1] = Format<Storage>::pack(left.x[2], left.x[3]);
    a.x[2] = Format<Storage>::pack(right.x[0], right.x[1]);
    a.x[3] = Format<Storage>::pack(right.x[2], right.x[3]);
}

/** The maximum over the four lanes that hold one accumulator row. */
__device__ __forceinline__ float row_max(float value)
{
    value = fmaxf(value, group_shuffle_xor(value, 1, kLanes));
    return fmaxf(value, group_shuffle_xor(value, 2, kLanes));
}

/** The sum over the four lanes that hold one accumulator row. */
__device__ __forceinline__ float row_sum(float value)
{
    value += group_shuffle_xor(value, 1, kLanes);
    return value + group_shuffle_xor(value, 2, kLanes);
}

/** 2^x to within a few ulp; 0 for x = −inf. */
__device__ __forceinline__ float exp2_fast(float x)
{
#if PROTEUS_MMA_TENSOR_CORES
    return sm80::exp2_approx(x);
#else
    return exp2f(x);
#endif
}

// ---- global → shared copies ---------------------------------------------------------------------
// Asynchronous on sm_80+: a thread's copies land once it waits for their group, and other threads
// see them after the barrier that follows. Elsewhere the copies are done when issued, and the same
// wait-then-barrier sequence is correct.

/** 16 bytes from `global` to `shared` (both 16-byte aligned), or 16 zero bytes when !valid (global is then not read). */
__device__ __forceinline__ void copy_16(void* shared, const void* global, bool valid)
{
#if PROTEUS_MMA_TENSOR_CORES
    sm80::copy_async_16(shared, global, valid ? 16u : 0u);
#else
    *static_cast<uint4*>(shared) = valid ? *static_cast<const uint4*>(global) : make_uint4(0, 0, 0, 0);
#endif
}

/** Ends the current group of this thread's copies. */
__device__ __forceinline__ void copy_commit()
{
#if PROTEUS_MMA_TENSOR_CORES
    sm80::copy_async_commit();
#endif
}

/** Waits until at most `pending` (0, 1 or 2) of this thread's committed groups are still in flight. */
__device__ __forceinline__ void copy_wait(int pending)
{
#if PROTEUS_MMA_TENSOR_CORES
    if (pending <= 0) {
        sm80::copy_async_wait<0>();
    } else if (pending == 1) {
        sm80::copy_async_wait<1>();
    } else {
        sm80::copy_async_wait<2>();
    }
#else
    (void)pending;
#endif
}

}  // namespace proteus::gpu::mma
