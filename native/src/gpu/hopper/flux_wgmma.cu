// The Hopper tile kernel (issue 12, version 1): dense causal and local-window attention (the Aligned
// policy's window band, no anchors or DNA keys, no active mask), bfloat16, D 64 or 128, GQA, query
// slices, on warpgroup matrix instructions fed by the bulk tensor copy engine. Compiled only for sm_90a
// (-gencode=arch=compute_90a,code=sm_90a, a CUDA ≥ 12 compiler): see gpu/hopper/flux_wgmma.h.
//
// A block owns 64 query rows per consumer warpgroup of one (b, h) — three consumers at D 64 (192 rows, 160
// registers each after setmaxnreg), two at D 128 (128 rows, 232) — and warpgroup 0 is the producer (one
// thread issues the TMA copies). Q arrives once; K and V tiles of 128 keys pass through a ring of stages
// (four at D 64, three at D 128): the producer waits until every consumer warp released a stage (mbarrier
// `empty`), then copies K and V into it, each completing its own mbarrier (`k_full`, `v_full`), so that
// S = Q·Kᵀ starts before V has landed.
//
// A consumer warpgroup runs only the tiles its own 64 rows reach (the others it releases unread) and
// overlaps its softmax with the tensor cores: in step n it issues S(n) = Q·K(n)ᵀ (m64n128k16 from shared
// memory, D/16 of them) and O += P(n−1)·V(n−1) (P from registers, V read MN-major: m64n64k16 at D 64, one
// m64n128k16 at D 128) as two commit groups, waits for the first, and computes the mask (only on tiles crossing a
// row's causal or window edge) and the online softmax of S(n) while P(n−1)·V(n−1) still runs; then it waits
// for that, releases the stage, rescales O and rounds P(n) to bfloat16. At D 64 from W 1024 on (dense
// included) the consumers issue their products in turns (ping-pong, named barriers). Shared memory is in the 128-byte
// swizzled layout that both the copies write and the descriptors name (tests/gpu/hopper_probe.cu checks each
// piece against the host).
//
// Blocks run longest first: block x takes query tile x / (B·H) counted from the last (the most keys) of the
// (b, h) pair x % (B·H), so every head's longest tiles start before any head's shorter ones.
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

constexpr int kKeys = 128;        // keys of a tile
constexpr int kConsumerRows = 64;  // rows of a consumer warpgroup
constexpr int64_t kPingPongWindow = 1024;  // D 64: ping-pong from this window on (dense included)

/** The launch shape and the block's shared memory: Q, then the stages' K and V (D/64 swizzled [rows][64] sub-tiles each), then the barriers. */
template <int kDim, int kConsumerCount, int kStageCount>
struct Shape {
    static constexpr int kConsumers = kConsumerCount;
    static constexpr int kRows = kConsumers * kConsumerRows;
    static constexpr int kThreads = 128 * (kConsumers + 1);
    static constexpr int kStages = kStageCount;
    // 65 536 registers: 128 producer threads at the low count, the consumers at the high one.
    static constexpr int kProducerRegisters = kConsumers == 3 ? 24 : 40;
    static constexpr int kConsumerRegisters = kConsumers == 3 ? 160 : 232;
    static constexpr int kSub = kDim / 64;
    static constexpr int kSubtileBytes = kKeys * 128;  // [128 keys][64 columns] of 16-bit values
    static constexpr int kQBytes = kSub * kRows * 128;
    static constexpr int kTileBytes = kSub * kSubtileBytes;  // K or V of one stage
    static constexpr int kBarriers = kQBytes + 2 * kStages * kTileBytes;
    static constexpr int kBytes = kBarriers + 8 * (1 + 3 * kStages) + 1024;  // + alignment slack
};

struct WgmmaArgs {
    int64_t query_len = 0, query_offset = 0, window = 0;  // window ≤ T
    int heads = 0, group = 1, query_tiles = 0, pairs = 0;  // pairs: B · H
    float scale_log2 = 0.0f;  // softmax scale · log2(e)
    __nv_bfloat16* o = nullptr;
    int64_t o_batch = 0, o_head = 0, o_token = 0;
    float* lse = nullptr;
    int64_t lse_batch = 0, lse_head = 0, lse_token = 0;
};

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define PROTEUS_WGMMA_DEVICE 1
#endif

#if defined(PROTEUS_WGMMA_DEVICE)
/** A consumer thread's online-softmax state: its two rows' running max (raw scores) and partial sums. */
struct RowState {
    float m[2] = {-INFINITY, -INFINITY};
    float l[2] = {0.0f, 0.0f};
};

/**
 * The softmax step of one tile on S (64 × 128, this thread's 64 values): masks the keys outside each row's
 * band when `masked`, moves the running max, turns S into exp2 of the scaled scores (P, in float), adds them
 * to l and returns each row's rescale factor for O (0 while the row has seen no key).
 */
__device__ __forceinline__ void softmax_step(float (&s)[64], RowState& state, float (&rescale)[2], bool masked, int64_t key0,
                                             const int64_t (&position)[2], int64_t window, float scale_log2, int t)
{
    if (masked) {
#pragma unroll
        for (int c = 0; c < 16; ++c) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int64_t j = key0 + 8 * c + 2 * t + e % 2, i = position[e / 2];
                if (j > i || j <= i - window) s[4 * c + e] = -INFINITY;
            }
        }
    }
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int c = 0; c < 16; ++c) {
#pragma unroll
        for (int e = 0; e < 4; ++e) tile_max[e / 2] = fmaxf(tile_max[e / 2], s[4 * c + e]);
    }
    float base[2];
#pragma unroll
    for (int k = 0; k < 2; ++k) {
        tile_max[k] = fmaxf(tile_max[k], __shfl_xor_sync(0xffffffffu, tile_max[k], 1));
        tile_max[k] = fmaxf(tile_max[k], __shfl_xor_sync(0xffffffffu, tile_max[k], 2));
        const float m_new = fmaxf(state.m[k], tile_max[k]);
        base[k] = m_new == -INFINITY ? 0.0f : m_new * scale_log2;
        rescale[k] = exp2_approx(state.m[k] * scale_log2 - base[k]);  // 0 while m = −inf
        state.m[k] = m_new;
        state.l[k] *= rescale[k];
    }
#pragma unroll
    for (int c = 0; c < 16; ++c) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            s[4 * c + e] = exp2_approx(fmaf(s[4 * c + e], scale_log2, -base[e / 2]));
            state.l[e / 2] += s[4 * c + e];
        }
    }
}

/** P's k16 chunk j (keys 16j … 16j + 15) as the A operand: accumulator blocks 2j and 2j + 1, packed to bfloat16. */
__device__ __forceinline__ void pack_p(const float (&s)[64], uint32_t (&p)[kKeys / 16][4])
{
#pragma unroll
    for (int j = 0; j < kKeys / 16; ++j) {
        p[j][0] = pack_bf16(s[8 * j], s[8 * j + 1]);
        p[j][1] = pack_bf16(s[8 * j + 2], s[8 * j + 3]);
        p[j][2] = pack_bf16(s[8 * j + 4], s[8 * j + 5]);
        p[j][3] = pack_bf16(s[8 * j + 6], s[8 * j + 7]);
    }
}
#endif  // PROTEUS_WGMMA_DEVICE

/**
 * kConsumers consumer warpgroups of 64 rows, kStages K/V stages; kPingPong: the consumers issue their
 * products in turns; kWidePv: O += P·V as one m64n128k16 per k16 step at D 128 (else one m64n64k16 per
 * 64 columns).
 */
template <int kDim, int kConsumers, bool kPingPong, int kStages, bool kWidePv>
__global__ void __launch_bounds__(Shape<kDim, kConsumers, kStages>::kThreads, 1)
    flux_wgmma(const __grid_constant__ CUtensorMap q_map, const __grid_constant__ CUtensorMap k_map,
               const __grid_constant__ CUtensorMap v_map, const WgmmaArgs args)
{
#if defined(PROTEUS_WGMMA_DEVICE)
    using L = Shape<kDim, kConsumers, kStages>;
    extern __shared__ uint8_t raw[];
    uint8_t* const base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(raw) + 1023) & ~uintptr_t{1023});
    uint8_t* const q_tile = base;                       // [sub][kRows][128 B]
    uint8_t* const k_tiles = base + L::kQBytes;         // [stage][sub][128 keys][128 B]
    uint8_t* const v_tiles = k_tiles + L::kStages * L::kTileBytes;
    uint64_t* const q_full = reinterpret_cast<uint64_t*>(base + L::kBarriers);
    uint64_t* const k_full = q_full + 1;
    uint64_t* const v_full = k_full + L::kStages;
    uint64_t* const empty = v_full + L::kStages;

    const int pair = static_cast<int>(blockIdx.x % args.pairs);
    const int tile = args.query_tiles - 1 - static_cast<int>(blockIdx.x / args.pairs);
    const int h = pair % args.heads, b = pair / args.heads;
    const int kv_head = h / args.group;
    const int64_t first_row = int64_t{tile} * L::kRows;
    const int64_t rows = args.query_len - first_row < L::kRows ? args.query_len - first_row : L::kRows;
    const int64_t first_position = args.query_offset + first_row, last_position = first_position + rows - 1;
    const int64_t lo = first_position - args.window + 1 > 0 ? first_position - args.window + 1 : 0;
    const int first_tile = static_cast<int>(lo / kKeys), last_tile = static_cast<int>(last_position / kKeys);
    const int tiles = last_tile - first_tile + 1;

    // Through a shuffle, so that the compiler knows it is the same across the warp (the descriptors built
    // from it then live in uniform registers, as the wgmma instructions read them).
    const int warpgroup = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x / 128), 0);
    if (threadIdx.x == 0) {
        barrier_init(q_full, 1);
        for (int s = 0; s < L::kStages; ++s) {
            barrier_init(&k_full[s], 1);
            barrier_init(&v_full[s], 1);
            barrier_init(&empty[s], 4 * L::kConsumers);  // one arrival from each consumer warp
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    if (warpgroup == 0) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(L::kProducerRegisters));
        if (threadIdx.x != 0) return;
        barrier_expect(q_full, L::kQBytes);
        for (int sub = 0; sub < L::kSub; ++sub) {
            copy_box(q_tile + sub * L::kRows * 128, &q_map, 64 * sub, static_cast<int>(first_row), h, b, q_full);
        }
        for (int n = 0; n < tiles; ++n) {
            const int stage = n % L::kStages;
            if (n >= L::kStages) barrier_wait(&empty[stage], ((n / L::kStages) - 1) & 1);
            const int key = (first_tile + n) * kKeys;
            barrier_expect(&k_full[stage], L::kTileBytes);
            for (int sub = 0; sub < L::kSub; ++sub) {
                copy_box(k_tiles + stage * L::kTileBytes + sub * L::kSubtileBytes, &k_map, 64 * sub, key, kv_head, b, &k_full[stage]);
            }
            barrier_expect(&v_full[stage], L::kTileBytes);
            for (int sub = 0; sub < L::kSub; ++sub) {
                copy_box(v_tiles + stage * L::kTileBytes + sub * L::kSubtileBytes, &v_map, 64 * sub, key, kv_head, b, &v_full[stage]);
            }
        }
        return;
    }

    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(L::kConsumerRegisters));
    const int consumer = warpgroup - 1;
    const int lane = threadIdx.x % 32, warp = (threadIdx.x % 128) / 32, g = lane / 4, t = lane % 4;
    // This thread's rows (k 0: row g, k 1: row g + 8 of its warp's 16) and the warpgroup's.
    int64_t position[2];
    for (int k = 0; k < 2; ++k) position[k] = first_position + consumer * kConsumerRows + 16 * warp + g + 8 * k;
    const int64_t wg_first = first_position + consumer * kConsumerRows;
    const int64_t wg_last = wg_first + kConsumerRows - 1 < last_position ? wg_first + kConsumerRows - 1 : last_position;
    // The tiles this warpgroup's rows reach, [na, nb] of the block's (empty past the query's last row).
    const int64_t wg_lo = wg_first - args.window + 1 > 0 ? wg_first - args.window + 1 : 0;
    // With ping-pong every warpgroup runs the block's tiles, so that their turns pair up.
    const int na = kPingPong ? 0 : static_cast<int>(wg_lo / kKeys) - first_tile;
    const int nb = kPingPong ? tiles - 1 : wg_first > last_position ? na - 1 : static_cast<int>(wg_last / kKeys) - first_tile;
    // Ping-pong: the warpgroups issue their tensor-core work in turns (consumer c waits on named barrier 1 + c,
    // then lets c + 1 go), so that one's softmax runs while the next one's products run. The last consumer
    // opens consumer 0's first turn; consumer 0 takes one turn more at the end to close it.
    const auto my_turn = [&] {
        if constexpr (kPingPong) asm volatile("bar.sync %0, 256;\n" ::"r"(1 + consumer) : "memory");
    };
    const auto pass_turn = [&] {
        if constexpr (kPingPong) asm volatile("bar.arrive %0, 256;\n" ::"r"(1 + (consumer + 1) % kConsumers) : "memory");
    };
    if (kPingPong && consumer == kConsumers - 1) pass_turn();

    const auto release = [&](int n) {
        __syncwarp();
        if (lane == 0) barrier_arrive(&empty[n % L::kStages]);
    };
    const auto skip = [&](int n) {
        barrier_wait(&k_full[n % L::kStages], (n / L::kStages) & 1);
        barrier_wait(&v_full[n % L::kStages], (n / L::kStages) & 1);
        release(n);
    };
    // Every key of tile n is a candidate of every row of the warpgroup: no mask.
    const auto masked = [&](int n) {
        const int64_t key0 = int64_t{first_tile + n} * kKeys;
        return !(key0 + kKeys - 1 <= wg_first && key0 >= wg_last - args.window + 1);
    };

    for (int n = 0; n < na && n < tiles; ++n) skip(n);

    RowState state;
    float o[L::kSub * 32] = {};  // 64 columns a sub-tile, each in m64n64's accumulator order
    if (na <= nb) {
        barrier_wait(q_full, 0);
        // Descriptors of Q (this warpgroup's 64 rows) and of stage 0's K and V; a stage, a sub-tile and a
        // k16 step add their byte offsets (>> 4) to the start address field.
        const uint64_t q_desc = descriptor(q_tile + consumer * kConsumerRows * 128, 16, 1024);
        const uint64_t k_desc = descriptor(k_tiles, 16, 1024);
        const uint64_t v_desc = descriptor(v_tiles, L::kSubtileBytes, 1024);
        const auto issue_s = [&](float (&s)[64], int stage) {
            uint64_t qd[kDim / 16], kd[kDim / 16];
#pragma unroll
            for (int step = 0; step < kDim / 16; ++step) {
                const int sub = step / 4, offset = (step % 4) * 32;  // 16 elements = 32 bytes along a swizzled row
                qd[step] = q_desc + ((sub * L::kRows * 128 + offset) >> 4);
                kd[step] = k_desc + ((stage * L::kTileBytes + sub * L::kSubtileBytes + offset) >> 4);
            }
#pragma unroll
            for (int step = 0; step < kDim / 16; ++step) mma_ss_n128(s, qd[step], kd[step], step > 0);
            commit_group();
        };
        const auto issue_pv = [&](const uint32_t (&p)[kKeys / 16][4], int stage) {
#pragma unroll
            for (int j = 0; j < kKeys / 16; ++j) {
                if constexpr (kWidePv && kDim == 128) {
                    // The m64n128 accumulator is the two m64n64 ones side by side.
                    mma_rs_n128(*reinterpret_cast<float(*)[64]>(o), p[j], v_desc + ((stage * L::kTileBytes + j * 16 * 128) >> 4));
                } else {
#pragma unroll
                    for (int sub = 0; sub < L::kSub; ++sub) {
                        mma_rs(*reinterpret_cast<float(*)[32]>(o + 32 * sub), p[j],
                               v_desc + ((stage * L::kTileBytes + sub * L::kSubtileBytes + j * 16 * 128) >> 4));
                    }
                }
            }
            commit_group();
        };
        const auto scale_o = [&](const float (&rescale)[2]) {
#pragma unroll
            for (int c = 0; c < 8 * L::kSub; ++c) {
#pragma unroll
                for (int e = 0; e < 4; ++e) o[4 * c + e] *= rescale[e / 2];
            }
        };

        float s[64];
        uint32_t p[kKeys / 16][4];
        float rescale[2];
        barrier_wait(&k_full[na % L::kStages], (na / L::kStages) & 1);
        my_turn();
        fence_operands();
        issue_s(s, na % L::kStages);
        pass_turn();
        wait_pending<0>();
        softmax_step(s, state, rescale, masked(na), int64_t{first_tile + na} * kKeys, position, args.window, args.scale_log2, t);
        pack_p(s, p);
        for (int n = na + 1; n <= nb; ++n) {
            const int stage = n % L::kStages, previous = (n - 1) % L::kStages;
            barrier_wait(&k_full[stage], (n / L::kStages) & 1);
            barrier_wait(&v_full[previous], ((n - 1) / L::kStages) & 1);
            my_turn();
            fence_operands();
            issue_s(s, stage);
            issue_pv(p, previous);
            pass_turn();
            wait_pending<1>();  // S(n) is in; P(n − 1)·V(n − 1) may still run
            softmax_step(s, state, rescale, masked(n), int64_t{first_tile + n} * kKeys, position, args.window, args.scale_log2, t);
            wait_pending<0>();
            release(n - 1);
            scale_o(rescale);
            pack_p(s, p);
        }
        barrier_wait(&v_full[nb % L::kStages], (nb / L::kStages) & 1);
        my_turn();
        fence_operands();
        issue_pv(p, nb % L::kStages);
        pass_turn();
        wait_pending<0>();
        release(nb);
        if (consumer == 0) my_turn();
    }
    for (int n = nb + 1 > na ? nb + 1 : na; n < tiles; ++n) skip(n);

    // o = acc / l (the row's 4 lanes hold parts of l); lse = (m·scale + log2 l)·ln 2 in natural-log units.
#pragma unroll
    for (int k = 0; k < 2; ++k) {
        float l = state.l[k];
        l += __shfl_xor_sync(0xffffffffu, l, 1);
        l += __shfl_xor_sync(0xffffffffu, l, 2);
        const int64_t row = position[k] - args.query_offset;
        if (row >= args.query_len) continue;
        const float inverse = 1.0f / l;
        __nv_bfloat16* const out = args.o + b * args.o_batch + h * args.o_head + row * args.o_token;
#pragma unroll
        for (int sub = 0; sub < L::kSub; ++sub) {
#pragma unroll
            for (int c = 0; c < 8; ++c) {
                *reinterpret_cast<uint32_t*>(out + 64 * sub + 8 * c + 2 * t) =
                    pack_bf16(o[32 * sub + 4 * c + 2 * k] * inverse, o[32 * sub + 4 * c + 2 * k + 1] * inverse);
            }
        }
        if (t == 0 && args.lse != nullptr) {
            args.lse[b * args.lse_batch + h * args.lse_head + row * args.lse_token] =
                (state.m[k] * args.scale_log2 + log2f(l)) * 0.6931471805599453f;
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

template <int kDim, int kConsumers, bool kPingPong, int kStages, bool kWidePv = false>
proteus_status launch(const FluxProblem& problem, cudaStream_t stream)
{
    CUtensorMap q_map{}, k_map{}, v_map{};
    proteus_status status = encode(problem.q, Shape<kDim, kConsumers, kStages>::kRows, q_map);
    if (status == PROTEUS_STATUS_OK) status = encode(problem.k, kKeys, k_map);
    if (status == PROTEUS_STATUS_OK) status = encode(problem.v, kKeys, v_map);
    if (status != PROTEUS_STATUS_OK) return status;
    WgmmaArgs args;
    args.query_len = problem.query_len;
    args.query_offset = problem.query_offset;
    args.window = problem.candidates.window < problem.seq_len ? problem.candidates.window : problem.seq_len;
    args.heads = static_cast<int>(problem.heads);
    args.group = static_cast<int>(problem.heads / problem.kv_heads);
    args.query_tiles = static_cast<int>((problem.query_len + Shape<kDim, kConsumers, kStages>::kRows - 1) / Shape<kDim, kConsumers, kStages>::kRows);
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
    const int bytes = Shape<kDim, kConsumers, kStages>::kBytes;
    PROTEUS_GPU_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(flux_wgmma<kDim, kConsumers, kPingPong, kStages, kWidePv>), cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
                      "FuncSetAttribute");
    // Block x: query tile x / pairs from the last (the longest first), (b, h) pair x % pairs.
    args.pairs = static_cast<int>(problem.batch * problem.heads);
    const unsigned blocks = static_cast<unsigned>(int64_t{args.pairs} * args.query_tiles);
    flux_wgmma<kDim, kConsumers, kPingPong, kStages, kWidePv><<<blocks, Shape<kDim, kConsumers, kStages>::kThreads, bytes, stream>>>(q_map, k_map, v_map, args);
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
    if (problem.batch * problem.heads * ((problem.query_len + kConsumerRows * 2 - 1) / (kConsumerRows * 2)) > INT32_MAX) {
        return "the Hopper kernel takes up to 2^31 - 1 blocks (B · H · query tiles)";
    }
    return "";
}

proteus_status launch_flux_wgmma(const FluxProblem& problem, cudaStream_t stream)
{
    // Measured on the H200 (NOTES.md, "Issue 12 — version 1"): D 64 with three consumers and four stages,
    // ping-pong for long windows (dense 16K: 523 against 482 TFLOP/s without) but not for short ones, where
    // every consumer would run the block's tiles instead of its own (W 341 at 1M: 8.1 against 9.8 ms);
    // D 128 with two consumers, three stages and P·V on m64n128 (650 TFLOP/s at 16K; 489 with two stages
    // and m64n64), ping-pong no faster there.
    if (problem.head_dim == 64) {
        return problem.candidates.window >= kPingPongWindow ? launch<64, 3, true, 4>(problem, stream)
                                                            : launch<64, 3, false, 4>(problem, stream);
    }
    return launch<128, 2, false, 3, true>(problem, stream);
}

}  // namespace proteus::gpu
