// The Hopper tile kernel (issue 12, first version): dense causal and local-window attention (the Aligned
// policy's window band, no anchors or DNA keys, no active mask), bfloat16, D 64 or 128, GQA, query
// slices, on warpgroup matrix instructions fed by the bulk tensor copy engine. Compiled only for sm_90a
// (-gencode=arch=compute_90a,code=sm_90a, a CUDA ≥ 12 compiler): see gpu/hopper/flux_wgmma.h.
//
// A block owns 128 query rows of one (b, h): warpgroup 0 is the producer (one thread issues the TMA
// copies; 40 registers a thread after setmaxnreg), warpgroups 1 and 2 the consumers (64 rows each, 232
// registers). Q arrives once; K and V tiles of 64 keys pass through a ring of two stages: the producer
// waits until both consumers released a stage (mbarrier `empty`), announces its bytes and copies K and V
// into it (mbarrier `full`, complete_tx). A consumer per tile: S = Q·Kᵀ (m64n64k16 from shared memory,
// D/16 steps), the mask only on tiles that cross a row's causal or window edge, the online softmax on the
// accumulators (rows g and g + 8 of each warp's 16, the row's 4 lanes reduced by shuffles), P rounded to
// bfloat16 in registers as the A operand of O += P·V (m64n64k16 per 64 columns of D, V read MN-major).
// Shared memory is in the 128-byte swizzled layout that both the copies write and the descriptors name
// (tests/gpu/hopper_probe.cu checks each of these pieces against the host).
//
// The blocks are ordered longest first (the last query tiles have the most keys).
#include "gpu/hopper/flux_wgmma.h"

#include "gpu/hopper/wgmma.h"

#include <cuda.h>
#include <cudaTypedefs.h>

#include <cstdint>
#include <string>

#include "core/error.h"
#include "gpu/device_call.h"
#include "gpu/flux_common.h"

namespace proteus::gpu {
namespace {

using namespace hopper;

constexpr int kRows = 128;          // query rows of a block
constexpr int kKeys = 64;           // keys of a tile
constexpr int kConsumerRows = 64;   // rows of a consumer warpgroup
constexpr int kThreads = 384;       // the producer warpgroup and two consumers
constexpr int kStages = 2;
constexpr int kSubtileBytes64 = 64 * 128;  // [64 rows][64 columns] of 16-bit values, 128B-swizzled

struct WgmmaArgs {
    int64_t query_len = 0, seq_len = 0, query_offset = 0, window = 0;
    int heads = 0, group = 1, query_tiles = 0;
    float scale_log2 = 0.0f;  // softmax scale · log2(e)
    __nv_bfloat16* o = nullptr;
    int64_t o_batch = 0, o_head = 0, o_token = 0;
    float* lse = nullptr;
    int64_t lse_batch = 0, lse_head = 0, lse_token = 0;
};

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define PROTEUS_WGMMA_DEVICE 1
#endif


/** The block's shared memory: Q, then the stages' K and V, each D/64 swizzled [rows][64] sub-tiles; then the barriers. */
template <int kDim>
struct Layout {
    static constexpr int kSub = kDim / 64;
    static constexpr int kQBytes = kSub * kRows * 128;
    static constexpr int kTileBytes = kSub * kSubtileBytes64;  // K or V of one stage
    static constexpr int kBarriers = kQBytes + 2 * kStages * kTileBytes;
    static constexpr int kBytes = kBarriers + 8 * (1 + 2 * kStages) + 1024;  // + alignment slack
};

template <int kDim>
__global__ void __launch_bounds__(kThreads, 1)
    flux_wgmma(const __grid_constant__ CUtensorMap q_map, const __grid_constant__ CUtensorMap k_map,
               const __grid_constant__ CUtensorMap v_map, const WgmmaArgs args)
{
#if defined(PROTEUS_WGMMA_DEVICE)
    using L = Layout<kDim>;
    extern __shared__ uint8_t raw[];
    uint8_t* const base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(raw) + 1023) & ~uintptr_t{1023});
    uint8_t* const q_tile = base;
    uint8_t* const k_tiles = base + L::kQBytes;                          // [stage][sub][64 keys][128 B]
    uint8_t* const v_tiles = k_tiles + kStages * L::kTileBytes;
    uint64_t* const q_full = reinterpret_cast<uint64_t*>(base + L::kBarriers);
    uint64_t* const full = q_full + 1;
    uint64_t* const empty = full + kStages;

    // Longest first: block x takes query tile (tiles − 1 − x) of (b, h) = (z, y).
    const int tile = args.query_tiles - 1 - static_cast<int>(blockIdx.x);
    const int h = blockIdx.y, b = blockIdx.z, kv_head = h / args.group;
    const int64_t first_row = int64_t{tile} * kRows;
    const int64_t rows = args.query_len - first_row < kRows ? args.query_len - first_row : kRows;
    const int64_t first_position = args.query_offset + first_row, last_position = first_position + rows - 1;
    const int64_t lo = first_position - args.window + 1 > 0 ? first_position - args.window + 1 : 0;
    const int first_tile = static_cast<int>(lo / kKeys), last_tile = static_cast<int>(last_position / kKeys);
    const int tiles = last_tile - first_tile + 1;

    const int warpgroup = threadIdx.x / 128;
    if (threadIdx.x == 0) {
        barrier_init(q_full, 1);
        for (int s = 0; s < kStages; ++s) {
            barrier_init(&full[s], 1);
            barrier_init(&empty[s], 2);  // one arrival from each consumer warpgroup
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    if (warpgroup == 0) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
        if (threadIdx.x != 0) return;
        barrier_expect(q_full, L::kQBytes);
        for (int sub = 0; sub < L::kSub; ++sub) {
            copy_box(q_tile + sub * kRows * 128, &q_map, 64 * sub, static_cast<int>(first_row), h, b, q_full);
        }
        for (int n = 0; n < tiles; ++n) {
            const int stage = n % kStages;
            if (n >= kStages) barrier_wait(&empty[stage], ((n / kStages) - 1) & 1);
            barrier_expect(&full[stage], 2 * L::kTileBytes);
            const int key = (first_tile + n) * kKeys;
            for (int sub = 0; sub < L::kSub; ++sub) {
                copy_box(k_tiles + stage * L::kTileBytes + sub * kSubtileBytes64, &k_map, 64 * sub, key, kv_head, b, &full[stage]);
                copy_box(v_tiles + stage * L::kTileBytes + sub * kSubtileBytes64, &v_map, 64 * sub, key, kv_head, b, &full[stage]);
            }
        }
        return;
    }

    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    const int consumer = warpgroup - 1;
    const int lane = threadIdx.x % 32, warp = (threadIdx.x % 128) / 32, g = lane / 4, t = lane % 4;
    // This thread's rows: r[k] = row within the block (k 0: g, k 1: g + 8 of its warp's 16).
    int64_t position[2];
    for (int k = 0; k < 2; ++k) position[k] = first_position + consumer * kConsumerRows + 16 * warp + g + 8 * k;
    const int64_t wg_first = first_position + consumer * kConsumerRows;
    const int64_t wg_last = wg_first + kConsumerRows - 1;

    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    float o[L::kSub][32] = {};
    barrier_wait(q_full, 0);

    for (int n = 0; n < tiles; ++n) {
        const int stage = n % kStages;
        barrier_wait(&full[stage], (n / kStages) & 1);
        const int64_t key0 = int64_t{first_tile + n} * kKeys;
        const uint8_t* const k_stage = k_tiles + stage * L::kTileBytes;
        const uint8_t* const v_stage = v_tiles + stage * L::kTileBytes;

        // Descriptors first: a non-wgmma instruction between the fence and the commit that defines a
        // wgmma input serialises the group (ptxas C7513).
        uint64_t q_desc[kDim / 16], k_desc[kDim / 16];
#pragma unroll
        for (int step = 0; step < kDim / 16; ++step) {
            const int sub = step / 4, offset = (step % 4) * 32;  // 16 elements = 32 bytes along a swizzled row
            q_desc[step] = descriptor(q_tile + sub * kRows * 128 + consumer * kConsumerRows * 128 + offset, 16, 1024);
            k_desc[step] = descriptor(k_stage + sub * kSubtileBytes64 + offset, 16, 1024);
        }
        float s[32];
        fence_operands();
#pragma unroll
        for (int step = 0; step < kDim / 16; ++step) mma_ss(s, q_desc[step], k_desc[step], step > 0);
        commit_group();
        wait_all();

        // Every key of the tile is a candidate of every row of the warpgroup: no mask.
        const bool full_tile = key0 + kKeys - 1 <= wg_first && key0 >= wg_last - args.window + 1;
        float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int c = 0; c < 8; ++c) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int k = e / 2;
                const int64_t j = key0 + 8 * c + 2 * t + e % 2;
                const bool taken = full_tile || (j <= position[k] && j > position[k] - args.window);
                s[4 * c + e] = taken ? s[4 * c + e] * args.scale_log2 : -INFINITY;
                tile_max[k] = fmaxf(tile_max[k], s[4 * c + e]);
            }
        }
        float base[2];
#pragma unroll
        for (int k = 0; k < 2; ++k) {
            tile_max[k] = fmaxf(tile_max[k], __shfl_xor_sync(0xffffffffu, tile_max[k], 1));
            tile_max[k] = fmaxf(tile_max[k], __shfl_xor_sync(0xffffffffu, tile_max[k], 2));
            const float m_new = fmaxf(m[k], tile_max[k]);
            base[k] = m_new == -INFINITY ? 0.0f : m_new;
            const float rescale = exp2_approx(m[k] - base[k]);  // 0 while m = −inf
            l[k] *= rescale;
#pragma unroll
            for (int sub = 0; sub < L::kSub; ++sub) {
#pragma unroll
                for (int c = 0; c < 8; ++c) {
                    o[sub][4 * c + 2 * k] *= rescale;
                    o[sub][4 * c + 2 * k + 1] *= rescale;
                }
            }
            m[k] = m_new;
        }
#pragma unroll
        for (int c = 0; c < 8; ++c) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                s[4 * c + e] = exp2_approx(s[4 * c + e] - base[e / 2]);
                l[e / 2] += s[4 * c + e];
            }
        }

        // O += P·V: P's k16 chunk j (keys 16j … 16j + 15) is accumulator blocks 2j and 2j + 1, packed
        // (with the descriptors) before the fence.
        uint32_t p[kKeys / 16][4];
        uint64_t v_desc[kKeys / 16][L::kSub];
#pragma unroll
        for (int j = 0; j < kKeys / 16; ++j) {
            p[j][0] = pack_bf16(s[8 * j], s[8 * j + 1]);
            p[j][1] = pack_bf16(s[8 * j + 2], s[8 * j + 3]);
            p[j][2] = pack_bf16(s[8 * j + 4], s[8 * j + 5]);
            p[j][3] = pack_bf16(s[8 * j + 6], s[8 * j + 7]);
#pragma unroll
            for (int sub = 0; sub < L::kSub; ++sub) {
                v_desc[j][sub] = descriptor(v_stage + sub * kSubtileBytes64 + j * 16 * 128, kSubtileBytes64, 1024);
            }
        }
        fence_operands();
#pragma unroll
        for (int j = 0; j < kKeys / 16; ++j) {
#pragma unroll
            for (int sub = 0; sub < L::kSub; ++sub) mma_rs(o[sub], p[j], v_desc[j][sub]);
        }
        commit_group();
        wait_all();
        // The warpgroup's reads of the stage are done: release it to the producer.
        asm volatile("bar.sync %0, 128;\n" ::"r"(1 + consumer));
        if (threadIdx.x % 128 == 0) barrier_arrive(&empty[stage]);
    }

    // o = acc / l (the row's 4 lanes hold parts of l); lse = (m + log2 l)·ln 2.
#pragma unroll
    for (int k = 0; k < 2; ++k) {
        l[k] += __shfl_xor_sync(0xffffffffu, l[k], 1);
        l[k] += __shfl_xor_sync(0xffffffffu, l[k], 2);
        const int64_t row = position[k] - args.query_offset;
        if (row >= args.query_len) continue;
        const float inverse = 1.0f / l[k];
        __nv_bfloat16* const out = args.o + b * args.o_batch + h * args.o_head + row * args.o_token;
#pragma unroll
        for (int sub = 0; sub < L::kSub; ++sub) {
#pragma unroll
            for (int c = 0; c < 8; ++c) {
                *reinterpret_cast<uint32_t*>(out + 64 * sub + 8 * c + 2 * t) =
                    pack_bf16(o[sub][4 * c + 2 * k] * inverse, o[sub][4 * c + 2 * k + 1] * inverse);
            }
        }
        if (t == 0 && args.lse != nullptr) {
            args.lse[b * args.lse_batch + h * args.lse_head + row * args.lse_token] = (m[k] + log2f(l[k])) * 0.6931471805599453f;
        }
    }
#endif  // PROTEUS_WGMMA_DEVICE
}

/** cuTensorMapEncodeTiled, looked up once. */
PFN_cuTensorMapEncodeTiled_v12000 encoder()
{
    static const PFN_cuTensorMapEncodeTiled_v12000 found = find_tensor_map_encoder();
    return found;
}

/** The map of a [B, heads, rows, D] tensor (strides in elements) with boxes of [rows_per_box][64]. */
proteus_status encode(const TensorRef& tensor, int box_rows, CUtensorMap& map)
{
    const PFN_cuTensorMapEncodeTiled_v12000 encode_tiled = encoder();
    if (encode_tiled == nullptr) {
        return set_error(PROTEUS_STATUS_BACKEND_UNAVAILABLE, "the driver has no cuTensorMapEncodeTiled (the Hopper kernel needs it)");
    }
    const cuuint64_t dims[4] = {static_cast<cuuint64_t>(tensor.shape[3]), static_cast<cuuint64_t>(tensor.shape[2]),
                                static_cast<cuuint64_t>(tensor.shape[1]), static_cast<cuuint64_t>(tensor.shape[0])};
    const cuuint64_t strides[3] = {static_cast<cuuint64_t>(tensor.strides[2]) * 2, static_cast<cuuint64_t>(tensor.strides[1]) * 2,
                                   static_cast<cuuint64_t>(tensor.strides[0]) * 2};
    const cuuint32_t box[4] = {64, static_cast<cuuint32_t>(box_rows), 1, 1};
    const cuuint32_t element_strides[4] = {1, 1, 1, 1};
    const CUresult status = encode_tiled(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4, tensor.data, dims, strides, box, element_strides,
                                         CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                         CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (status != CUDA_SUCCESS) {
        return set_error(PROTEUS_STATUS_INTERNAL_ERROR, "cuTensorMapEncodeTiled failed (" + std::to_string(status) + ")");
    }
    return PROTEUS_STATUS_OK;
}

template <int kDim>
proteus_status launch(const FluxProblem& problem, cudaStream_t stream)
{
    CUtensorMap q_map{}, k_map{}, v_map{};
    proteus_status status = encode(problem.q, kRows, q_map);
    if (status == PROTEUS_STATUS_OK) status = encode(problem.k, kKeys, k_map);
    if (status == PROTEUS_STATUS_OK) status = encode(problem.v, kKeys, v_map);
    if (status != PROTEUS_STATUS_OK) return status;
    WgmmaArgs args;
    args.query_len = problem.query_len;
    args.seq_len = problem.seq_len;
    args.query_offset = problem.query_offset;
    args.window = problem.candidates.window < problem.seq_len ? problem.candidates.window : problem.seq_len;
    args.heads = static_cast<int>(problem.heads);
    args.group = static_cast<int>(problem.heads / problem.kv_heads);
    args.query_tiles = static_cast<int>((problem.query_len + kRows - 1) / kRows);
    args.scale_log2 = problem.scale * 1.4426950408889634f;
    args.o = static_cast<__nv_bfloat16*>(problem.o.data);
    args.o_batch = problem.o.strides[0];
    args.o_head = problem.o.strides[1];
    args.o_token = problem.o.strides[2];
    if (problem.lse.present()) {
        args.lse = static_cast<float*>(problem.lse.data);
        args.lse_batch = problem.lse.strides[0];
        args.lse_head = problem.lse.strides[1];
        args.lse_token = problem.lse.strides[2];
    }
    const int bytes = Layout<kDim>::kBytes;
    PROTEUS_GPU_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(flux_wgmma<kDim>), cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
                      "FuncSetAttribute");
    const dim3 grid(static_cast<unsigned>(args.query_tiles), static_cast<unsigned>(problem.heads), static_cast<unsigned>(problem.batch));
    flux_wgmma<kDim><<<grid, kThreads, bytes, stream>>>(q_map, k_map, v_map, args);
    return check_launch("flux_wgmma");
}

/** 16-byte aligned rows, and a stride the tensor copy engine takes on every axis of extent > 1 (no broadcast). */
bool aligned_rows(const TensorRef& tensor)
{
    if (!aligned16(tensor, sizeof(uint16_t))) return false;
    for (int axis = 0; axis < 3; ++axis) {
        if (tensor.shape[axis] > 1 && (tensor.strides[axis] <= 0 || tensor.strides[axis] * 2 >= (int64_t{1} << 40))) return false;
    }
    return true;
}

}  // namespace

bool wgmma_kernel_built() { return true; }

std::string wgmma_kernel_refusal(const FluxProblem& problem, const DeviceTraits& traits)
{
    if (traits.arch != 90) return "the Hopper kernel runs on sm_90 devices, not sm_" + std::to_string(traits.arch);
    if (problem.q.dtype != PROTEUS_DTYPE_BFLOAT16) return "the Hopper kernel takes bfloat16 (this version)";
    if (problem.head_dim != 64 && problem.head_dim != 128) return "the Hopper kernel takes head dims 64 and 128 (this version)";
    if (problem.candidates.policy != PROTEUS_POLICY_ALIGNED) return "the Hopper kernel takes the Aligned policy";
    if (problem.candidates.anchor_count > 0 || problem.candidates.dna_count > 0) {
        return "the Hopper kernel takes the window band alone (this version: no anchors or DNA keys)";
    }
    if (problem.active.present()) return "the Hopper kernel computes every row (this version: no active mask)";
    if (!aligned_rows(problem.q) || !aligned_rows(problem.k) || !aligned_rows(problem.v) || !aligned_rows(problem.o)) {
        return "the Hopper kernel needs 16-byte aligned rows and no broadcast axis";
    }
    if (problem.query_len > INT32_MAX || problem.seq_len > INT32_MAX) return "the Hopper kernel takes up to 2^31 - 1 rows";
    return "";
}

proteus_status launch_flux_wgmma(const FluxProblem& problem, cudaStream_t stream)
{
    return problem.head_dim == 64 ? launch<64>(problem, stream) : launch<128>(problem, stream);
}

}  // namespace proteus::gpu
