// The Hopper building blocks of the wgmma tile kernel (issue 12), each checked on its own against the
// host before a kernel is built on them: shared-memory matrix descriptors for wgmma (K-major operands
// with the 128-byte swizzle, the MN-major V operand read transposed), the A operand from registers (P
// in the accumulator layout of the scores), and the bulk tensor copy (TMA, 128-byte swizzle) completing
// on an mbarrier. Each probe prints PASS or FAIL with its largest error; exit 0 when all pass.
//
// Build (the device harness, tests/gpu/run.sh step `hopper`; needs a CUDA ≥ 12.0 nvcc, an sm_90 device):
//   nvcc -std=c++17 -O2 -gencode=arch=compute_90a,code=sm_90a tests/gpu/hopper_probe.cu -o hopper_probe
// Run:  hopper_probe
//
// Layouts, as the probes assume them (what they test):
//   K-major 128B-swizzled tile [rows][64] of 16-bit elements: row r's 16-byte chunk c at byte
//   r·128 + ((c ^ (r % 8)) · 16), rows in 1024-byte atoms of 8; descriptor: start >> 4, LBO 1 (unused),
//   SBO 1024 >> 4, swizzle mode 1 (128B) in bits 62–63; a k16 step advances the start by 32 bytes; a
//   reduction of 128 is two [rows][64] sub-tiles, steps 4–7 start at the second.
//   MN-major B (V [keys][D], D contiguous, read as B = V with K = keys): the same swizzled image of
//   [keys][64]; SBO 1024 (8 keys), LBO = the byte distance between 64-column sub-tiles (D 128); the
//   k16 step advances the start by 16 keys · 128 bytes; trans-b = 1.
//   Accumulators of m64nN, warp w of the warpgroup rows 16w + g and 16w + g + 8 (g = lane / 4, t =
//   lane % 4): d[4n + e] is row 16w + g + 8·(e / 2), column 8n + 2t + e % 2. The A fragment from
//   registers of k16 chunk j: {d[8j], d[8j+1]}, {d[8j+2], d[8j+3]}, {d[8j+4], d[8j+5]}, {d[8j+6], d[8j+7]}
//   packed pairwise (the mma.m16n8k16 A layout).
#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>

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

// ---- device helpers ------------------------------------------------------------------------------

__device__ __forceinline__ uint32_t shared_address(const void* pointer)
{
    return static_cast<uint32_t>(__cvta_generic_to_shared(pointer));
}

/** Byte offset of element (row, column < 64) in a K-major 128B-swizzled [rows][64] tile of 16-bit values. */
__host__ __device__ __forceinline__ uint32_t swizzled(uint32_t row, uint32_t column)
{
    const uint32_t chunk = column / 8, within = column % 8;
    return row * 128 + ((chunk ^ (row % 8)) * 16) + within * 2;
}

__device__ __forceinline__ uint64_t descriptor(const void* tile, uint32_t leading_bytes, uint32_t stride_bytes)
{
    uint64_t d = 0;
    d |= static_cast<uint64_t>((shared_address(tile) & 0x3FFFF) >> 4);
    d |= static_cast<uint64_t>(leading_bytes >> 4) << 16;
    d |= static_cast<uint64_t>(stride_bytes >> 4) << 32;
    d |= uint64_t{1} << 62;  // 128-byte swizzle
    return d;
}

__device__ __forceinline__ void fence_operands() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void commit_group() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wait_group0() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }

/** d[32] += A(desc, 64×16) · B(desc, 16×64)ᵀ-as-stored: m64n64k16, both K-major. */
__device__ __forceinline__ void wgmma_ss_64(float (&d)[32], uint64_t a, uint64_t b, int scale_d)
{
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
        "%32, %33, p, 1, 1, 0, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]),
          "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),
          "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),
          "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "l"(a), "l"(b), "r"(scale_d));
}

/** d[32] += A(registers, 64×16) · B(desc, MN-major 16×64, read transposed): m64n64k16. */
__device__ __forceinline__ void wgmma_rs_64(float (&d)[32], const uint32_t (&a)[4], uint64_t b)
{
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
        "{%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]),
          "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),
          "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),
          "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
}

__device__ __forceinline__ uint32_t pack_bf16(float low, float high)
{
    const __nv_bfloat162 pair = __floats2bfloat162_rn(low, high);
    return *reinterpret_cast<const uint32_t*>(&pair);
}

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
        *reinterpret_cast<__nv_bfloat16*>(q_tile[column / 64] + swizzled(row, column % 64)) = q[e];
        *reinterpret_cast<__nv_bfloat16*>(k_tile[column / 64] + swizzled(row, column % 64)) = k[e];
    }
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();
    float d[32] = {};
    fence_operands();
#pragma unroll
    for (int step = 0; step < kDim / 16; ++step) {
        const int sub = step / 4, offset = (step % 4) * 32;  // 16 elements = 32 bytes along the swizzled row
        wgmma_ss_64(d, descriptor(q_tile[sub] + offset, 16, 1024), descriptor(k_tile[sub] + offset, 16, 1024), step > 0);
    }
    commit_group();
    wait_group0();
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
        *reinterpret_cast<__nv_bfloat16*>(v_tile[column / 64] + swizzled(key, column % 64)) = v[e];
    }
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int row0 = 16 * warp + g, row1 = row0 + 8;
    for (int half = 0; half < kSubtiles; ++half) {
        float d[32] = {};
        fence_operands();
#pragma unroll
        for (int j = 0; j < 4; ++j) {  // 64 keys, k16 chunks
            const int c = 16 * j + 2 * t;
            const uint32_t a[4] = {pack_bf16(p[row0 * 64 + c], p[row0 * 64 + c + 1]), pack_bf16(p[row1 * 64 + c], p[row1 * 64 + c + 1]),
                                   pack_bf16(p[row0 * 64 + c + 8], p[row0 * 64 + c + 9]),
                                   pack_bf16(p[row1 * 64 + c + 8], p[row1 * 64 + c + 9])};
            // 16 keys = 2 atoms of 8 rows: the step advances 16 · 128 bytes; LBO: the next 64 columns (unused at N 64).
            wgmma_rs_64(d, a, descriptor(v_tile[half] + j * 16 * 128, sizeof(v_tile[0]), 1024));
        }
        commit_group();
        wait_group0();
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
    const uint32_t bar = shared_address(&barrier);
    if (threadIdx.x == 0) {
        asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(bar));
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(64 * 128) : "memory");
        asm volatile(
            "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n"
            ::"r"(shared_address(tile)), "l"(&map), "r"(0), "r"(first_row), "r"(bar)
            : "memory");
    }
    uint32_t done = 0;
    while (!done) {
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], 0;\nselp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(bar)
                     : "memory");
    }
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
    const auto values = random_bf16(rng, kRows * 64, rounded);
    __nv_bfloat16* tensor = upload(values);
    PFN_cuTensorMapEncodeTiled_v12000 encode = nullptr;
    cudaDriverEntryPointQueryResult found{};
    check(cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", reinterpret_cast<void**>(&encode), cudaEnableDefault, &found),
          "cudaGetDriverEntryPoint(cuTensorMapEncodeTiled)");
    if (found != cudaDriverEntryPointSuccess || encode == nullptr) {
        std::printf("FAIL TMA: cuTensorMapEncodeTiled not found\n");
        ++failures;
        return;
    }
    CUtensorMap map{};
    const cuuint64_t dims[2] = {64, kRows};
    const cuuint64_t strides[1] = {64 * sizeof(__nv_bfloat16)};
    const cuuint32_t box[2] = {64, 64};
    const cuuint32_t element_strides[2] = {1, 1};
    const CUresult encoded = encode(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, tensor, dims, strides, box, element_strides,
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
                const __nv_bfloat16 got = *reinterpret_cast<const __nv_bfloat16*>(image.data() + swizzled(r, c));
                const float expected = first_row + r < kRows ? rounded[(first_row + r) * 64 + c] : 0.0f;
                worst = std::max(worst, double(std::fabs(__bfloat162float(got) - expected)));
            }
        }
    }
    report("TMA 2D box [64][64] bf16, 128B swizzle, mbarrier complete_tx (rows 0, 17, 256 of 300)", worst, 0.0);
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
