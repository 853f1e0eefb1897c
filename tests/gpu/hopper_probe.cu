// The Hopper building blocks of the wgmma tile kernel (issue 12, gpu/hopper/wgmma.h), each checked on its
// own against the host: shared-memory matrix descriptors for wgmma (K-major operands
// with the 128-byte swizzle, the MN-major V operand read transposed), the A operand from registers (P
// in the accumulator layout of the scores), and the bulk tensor copy (TMA, 128-byte swizzle) completing
// on an mbarrier. Each probe prints PASS or FAIL with its largest error; exit 0 when all pass. A last probe prints
// INFO only (not a failure either way): whether a box written at a tile row that is not a multiple of 8 lands in the
// whole tile's swizzle (a question for a kernel design, not a check of today's kernel).
//
// Build (the device harness, tests/gpu/run.sh step `hopper`; needs a CUDA ≥ 12.0 nvcc, an sm_90 device):
//   nvcc -std=c++17 -O2 -Inative/src -gencode=arch=compute_90a,code=sm_90a tests/gpu/hopper_probe.cu -o hopper_probe
// Run:  hopper_probe
//
// The layouts and primitives under test are gpu/hopper/wgmma.h's, the ones the kernel uses.
#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>

#include "gpu/hopper/wgmma.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

int failures = 0;

void check(cudaError_t status, const char* what)
{
    if (status != cudaSuccess) {
        std::printf("FAIL %s: %s\n", what, cudaGetErrorString(status));
        std::exit(2);
    }
}

void report(const char* name, double worst, double limit)
{
    const bool pass = worst <= limit;
    failures += pass ? 0 : 1;
    std::printf("%s %s: largest error %.3e (limit %.1e)\n", pass ? "PASS" : "FAIL", name, worst, limit);
}

using namespace proteus::gpu::hopper;  // the kernel's own primitives (gpu/hopper/wgmma.h)

/** Writes the accumulators of an m64n64 product into out [64][64] (row-major floats). */
__device__ void store_accumulators(const float (&d)[32], float* out)
{
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    for (int n = 0; n < 8; ++n) {
        for (int e = 0; e < 4; ++e) {
            const int row = 16 * warp + g + 8 * (e / 2), column = 8 * n + 2 * t + e % 2;
            out[row * 64 + column] = d[4 * n + e];
        }
    }
}

// ---- probe 1: S = Q·Kᵀ, both K-major, reduction D (64 or 128) -----------------------------------

template <int kDim>
__global__ void __launch_bounds__(128) probe_scores(const __nv_bfloat16* q, const __nv_bfloat16* k, float* s)
{
    constexpr int kSubtiles = kDim / 64;
    __shared__ __align__(1024) uint8_t q_tile[kSubtiles][64 * 128];
    __shared__ __align__(1024) uint8_t k_tile[kSubtiles][64 * 128];
    for (int e = threadIdx.x; e < 64 * kDim; e += blockDim.x) {
        const int row = e / kDim, column = e % kDim;
        *reinterpret_cast<__nv_bfloat16*>(q_tile[column / 64] + swizzled_offset(row, column % 64)) = q[e];
        *reinterpret_cast<__nv_bfloat16*>(k_tile[column / 64] + swizzled_offset(row, column % 64)) = k[e];
    }
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();
    float d[32] = {};
    uint64_t q_desc[kDim / 16], k_desc[kDim / 16];
    for (int step = 0; step < kDim / 16; ++step) {
        const int sub = step / 4, offset = (step % 4) * 32;  // 16 elements = 32 bytes along the swizzled row
        q_desc[step] = descriptor(q_tile[sub] + offset, 16, 1024);
        k_desc[step] = descriptor(k_tile[sub] + offset, 16, 1024);
    }
    fence_operands();
#pragma unroll
    for (int step = 0; step < kDim / 16; ++step) mma_ss(d, q_desc[step], k_desc[step], step > 0);
    commit_group();
    wait_pending<0>();
    store_accumulators(d, s);
}

// ---- probe 2: O = P·V, P from registers, V MN-major (trans-b), N = D (64 or 128) ------------------

template <int kDim>
__global__ void __launch_bounds__(128) probe_values(const float* p, const __nv_bfloat16* v, float* o)
{
    constexpr int kSubtiles = kDim / 64;
    __shared__ __align__(1024) uint8_t v_tile[kSubtiles][64 * 128];  // [key][64 columns] per 64 columns of D
    for (int e = threadIdx.x; e < 64 * kDim; e += blockDim.x) {
        const int key = e / kDim, column = e % kDim;
        *reinterpret_cast<__nv_bfloat16*>(v_tile[column / 64] + swizzled_offset(key, column % 64)) = v[e];
    }
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int row0 = 16 * warp + g, row1 = row0 + 8;
    for (int half = 0; half < kSubtiles; ++half) {
        float d[32] = {};
        uint32_t a[4][4];
        uint64_t v_desc[4];
        for (int j = 0; j < 4; ++j) {  // 64 keys, k16 chunks
            const int c = 16 * j + 2 * t;
            a[j][0] = pack_bf16(p[row0 * 64 + c], p[row0 * 64 + c + 1]);
            a[j][1] = pack_bf16(p[row1 * 64 + c], p[row1 * 64 + c + 1]);
            a[j][2] = pack_bf16(p[row0 * 64 + c + 8], p[row0 * 64 + c + 9]);
            a[j][3] = pack_bf16(p[row1 * 64 + c + 8], p[row1 * 64 + c + 9]);
            // 16 keys = 2 atoms of 8 rows: the step advances 16 · 128 bytes; LBO: the next 64 columns (unused at N 64).
            v_desc[j] = descriptor(v_tile[half] + j * 16 * 128, sizeof(v_tile[0]), 1024);
        }
        fence_operands();
#pragma unroll
        for (int j = 0; j < 4; ++j) mma_rs(d, a[j], v_desc[j]);
        commit_group();
        wait_pending<0>();
        for (int n = 0; n < 8; ++n) {
            for (int e = 0; e < 4; ++e) {
                const int row = 16 * warp + g + 8 * (e / 2), column = 64 * half + 8 * n + 2 * t + e % 2;
                o[row * kDim + column] = d[4 * n + e];
            }
        }
    }
}

// ---- probe 3: a TMA copy of a [64][64] box, 128B swizzle, on an mbarrier ---------------------------

__global__ void __launch_bounds__(128) probe_tma(const __grid_constant__ CUtensorMap map, int first_row, uint8_t* image)
{
    __shared__ __align__(1024) uint8_t tile[64 * 128];
    __shared__ __align__(8) uint64_t barrier;
    if (threadIdx.x == 0) {
        barrier_init(&barrier, 1);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        barrier_expect(&barrier, 64 * 128);
        copy_box(tile, &map, 0, first_row, 1, 0, &barrier);  // head 1 of batch 0: the tensor is [1, 2, rows, 64]
    }
    barrier_wait(&barrier, 0);
    for (int e = threadIdx.x; e < 64 * 128; e += blockDim.x) image[e] = tile[e];
}

// ---- probe 4 (informational): two boxes in one tile, the second at a row that is not a multiple of 8 ----------
// Whether the copy engine swizzles by shared-memory address (then a box of `second_rows` rows written at tile row
// `first_rows` lands where the 128-byte swizzle of the whole tile puts those rows, and a tile can mix two sources:
// NOTES.md, "version 8", mixed tiles). Not counted as a failure either way: the answer decides a design.

__global__ void __launch_bounds__(128) probe_tma_split(const __grid_constant__ CUtensorMap first, const __grid_constant__ CUtensorMap second,
                                                       int first_rows, int second_rows, uint8_t* image)
{
    __shared__ __align__(1024) uint8_t tile[64 * 128];
    __shared__ __align__(8) uint64_t barrier;
    for (int e = threadIdx.x; e < 64 * 128; e += blockDim.x) tile[e] = 0xCD;
    if (threadIdx.x == 0) {
        barrier_init(&barrier, 1);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    fence_proxy_async();
    __syncthreads();
    if (threadIdx.x == 0) {
        barrier_expect(&barrier, (first_rows + second_rows) * 128);
        copy_box(tile, &first, 0, 0, 1, 0, &barrier);                        // tensor rows 0 … first_rows − 1
        copy_box(tile + first_rows * 128, &second, 0, 100, 1, 0, &barrier);  // tensor rows 100 … 100 + second_rows − 1
    }
    barrier_wait(&barrier, 0);
    for (int e = threadIdx.x; e < 64 * 128; e += blockDim.x) image[e] = tile[e];
}

// ---- host ---------------------------------------------------------------------------------------

std::vector<__nv_bfloat16> random_bf16(std::mt19937& rng, size_t n, std::vector<float>& rounded)
{
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::vector<__nv_bfloat16> values(n);
    rounded.resize(n);
    for (size_t e = 0; e < n; ++e) {
        values[e] = __float2bfloat16(uniform(rng));
        rounded[e] = __bfloat162float(values[e]);
    }
    return values;
}

template <typename T>
T* upload(const std::vector<T>& host)
{
    T* device = nullptr;
    check(cudaMalloc(&device, host.size() * sizeof(T)), "cudaMalloc");
    check(cudaMemcpy(device, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), "upload");
    return device;
}

template <int kDim>
void run_scores(std::mt19937& rng)
{
    std::vector<float> q_host, k_host;
    const auto q = random_bf16(rng, 64 * kDim, q_host), k = random_bf16(rng, 64 * kDim, k_host);
    __nv_bfloat16* q_device = upload(q);
    __nv_bfloat16* k_device = upload(k);
    float* s_device = upload(std::vector<float>(64 * 64, NAN));
    probe_scores<kDim><<<1, 128>>>(q_device, k_device, s_device);
    check(cudaDeviceSynchronize(), "probe_scores");
    std::vector<float> s(64 * 64);
    check(cudaMemcpy(s.data(), s_device, s.size() * 4, cudaMemcpyDeviceToHost), "download");
    double worst = 0;
    for (int r = 0; r < 64; ++r) {
        for (int c = 0; c < 64; ++c) {
            double expected = 0;
            for (int x = 0; x < kDim; ++x) expected += double(q_host[r * kDim + x]) * k_host[c * kDim + x];
            const double error = std::fabs(s[r * 64 + c] - expected);
            worst = std::isnan(s[r * 64 + c]) ? INFINITY : std::max(worst, error);
        }
    }
    char name[96];
    std::snprintf(name, sizeof name, "wgmma m64n64k16 S = Q·Kᵀ, K-major 128B swizzle, D %d", kDim);
    report(name, worst, 1e-3);
    cudaFree(q_device);
    cudaFree(k_device);
    cudaFree(s_device);
}

template <int kDim>
void run_values(std::mt19937& rng)
{
    std::vector<float> v_host, p_rounded;
    const auto v = random_bf16(rng, 64 * kDim, v_host);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    std::vector<float> p(64 * 64);
    for (auto& x : p) x = uniform(rng);
    p_rounded.resize(p.size());
    for (size_t e = 0; e < p.size(); ++e) p_rounded[e] = __bfloat162float(__float2bfloat16(p[e]));
    float* p_device = upload(p);
    __nv_bfloat16* v_device = upload(v);
    float* o_device = upload(std::vector<float>(64 * kDim, NAN));
    probe_values<kDim><<<1, 128>>>(p_device, v_device, o_device);
    check(cudaDeviceSynchronize(), "probe_values");
    std::vector<float> o(64 * kDim);
    check(cudaMemcpy(o.data(), o_device, o.size() * 4, cudaMemcpyDeviceToHost), "download");
    double worst = 0;
    for (int r = 0; r < 64; ++r) {
        for (int c = 0; c < kDim; ++c) {
            double expected = 0;
            for (int key = 0; key < 64; ++key) expected += double(p_rounded[r * 64 + key]) * v_host[key * kDim + c];
            const double error = std::fabs(o[r * kDim + c] - expected);
            worst = std::isnan(o[r * kDim + c]) ? INFINITY : std::max(worst, error);
        }
    }
    char name[96];
    std::snprintf(name, sizeof name, "wgmma m64n64k16 O = P·V, P in registers, V MN-major (trans-b), D %d", kDim);
    report(name, worst, 1e-3);
    cudaFree(p_device);
    cudaFree(v_device);
    cudaFree(o_device);
}

void run_tma(std::mt19937& rng)
{
    constexpr int kRows = 300;
    std::vector<float> rounded;
    const auto values = random_bf16(rng, 2 * kRows * 64, rounded);  // [1, 2, kRows, 64]: the box reads head 1
    __nv_bfloat16* tensor = upload(values);
    const PFN_cuTensorMapEncodeTiled_v12000 encode = find_tensor_map_encoder();
    if (encode == nullptr) {
        std::printf("FAIL TMA: cuTensorMapEncodeTiled not found\n");
        ++failures;
        return;
    }
    CUtensorMap map{};
    const cuuint64_t dims[4] = {64, kRows, 2, 1};
    const cuuint64_t strides[3] = {64 * sizeof(__nv_bfloat16), kRows * 64 * sizeof(__nv_bfloat16), 2 * kRows * 64 * sizeof(__nv_bfloat16)};
    const cuuint32_t box[4] = {64, 64, 1, 1};
    const cuuint32_t element_strides[4] = {1, 1, 1, 1};
    const CUresult encoded = encode(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4, tensor, dims, strides, box, element_strides,
                                    CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                                    CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (encoded != CUDA_SUCCESS) {
        std::printf("FAIL TMA: cuTensorMapEncodeTiled returned %d\n", static_cast<int>(encoded));
        ++failures;
        return;
    }
    uint8_t* image_device = upload(std::vector<uint8_t>(64 * 128, 0xAB));
    double worst = 0;
    for (const int first_row : {0, 17, 256}) {  // 256: rows past 299 are filled with zeros
        probe_tma<<<1, 128>>>(map, first_row, image_device);
        check(cudaDeviceSynchronize(), "probe_tma");
        std::vector<uint8_t> image(64 * 128);
        check(cudaMemcpy(image.data(), image_device, image.size(), cudaMemcpyDeviceToHost), "download");
        for (int r = 0; r < 64; ++r) {
            for (int c = 0; c < 64; ++c) {
                const __nv_bfloat16 got = *reinterpret_cast<const __nv_bfloat16*>(image.data() + swizzled_offset(r, c));
                const float expected = first_row + r < kRows ? rounded[(kRows + first_row + r) * 64 + c] : 0.0f;
                worst = std::max(worst, double(std::fabs(__bfloat162float(got) - expected)));
            }
        }
    }
    report("TMA 4D box [64][64] bf16 (head 1 of [1, 2, 300, 64]), 128B swizzle, mbarrier complete_tx (rows 0, 17, 256)", worst, 0.0);

    // Probe 4: boxes of 44 and 20 rows (W 341's anchor tail and band part tile), the second at tile row 44. Last, as a
    // misaligned destination may fault and leave the context unusable.
    constexpr int kFirst = 44, kSecond = 20;
    const auto encode_rows = [&](cuuint32_t rows, CUtensorMap& split_map) {  // the map above, with boxes of `rows` rows
        const cuuint32_t split_box[4] = {64, rows, 1, 1};
        return encode(&split_map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4, tensor, dims, strides, split_box, element_strides,
                      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    };
    CUtensorMap first{}, second{};
    CUresult split = encode_rows(kFirst, first);
    if (split == CUDA_SUCCESS) split = encode_rows(kSecond, second);
    if (split != CUDA_SUCCESS) {
        std::printf("INFO TMA split tile: cuTensorMapEncodeTiled returned %d\n", static_cast<int>(split));
    } else {
        probe_tma_split<<<1, 128>>>(first, second, kFirst, kSecond, image_device);
        const cudaError_t status = cudaDeviceSynchronize();
        if (status != cudaSuccess) {
            std::printf("INFO TMA split tile (boxes of %d and %d rows, the second at tile row %d): the copy failed: %s\n", kFirst, kSecond,
                        kFirst, cudaGetErrorString(status));
        } else {
            std::vector<uint8_t> image(64 * 128);
            check(cudaMemcpy(image.data(), image_device, image.size(), cudaMemcpyDeviceToHost), "download");
            double split_worst = 0;
            for (int r = 0; r < 64; ++r) {
                const int row = r < kFirst ? r : 100 + r - kFirst;  // of head 1
                for (int c = 0; c < 64; ++c) {
                    const __nv_bfloat16 got = *reinterpret_cast<const __nv_bfloat16*>(image.data() + swizzled_offset(r, c));
                    split_worst = std::max(split_worst, double(std::fabs(__bfloat162float(got) - rounded[(kRows + row) * 64 + c])));
                }
            }
            std::printf("INFO TMA split tile (boxes of %d and %d rows, the second at tile row %d): %s the whole tile's 128B swizzle "
                        "(largest error %.3e)\n",
                        kFirst, kSecond, kFirst, split_worst == 0.0 ? "matches" : "does NOT match", split_worst);
        }
    }
    cudaFree(tensor);
    cudaFree(image_device);
}

}  // namespace

int main()
{
    int device = 0, major = 0, minor = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), "attribute");
    check(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device), "attribute");
    if (major != 9) {
        std::printf("SKIP hopper_probe: compute capability %d.%d is not Hopper\n", major, minor);
        return 0;
    }
    std::mt19937 rng(7);
    run_scores<64>(rng);
    run_scores<128>(rng);
    run_values<64>(rng);
    run_values<128>(rng);
    run_tma(rng);
    std::printf("hopper_probe: %d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
