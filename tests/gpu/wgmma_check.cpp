// Checks and times the Hopper tile kernel (gpu/hopper/flux_wgmma.h, issue 12) through the C ABI, on the
// device machine: a CUDA context (check: launch mode TILE_WGMMA; time: AUTO, which runs the Hopper kernel
// where it takes the problem) against the CPU backend, and beside a context created
// with PROTEUS_GPU_TILE_KERNEL=mma (AUTO's mma.sync tile kernel) for time.
//   check: fixed awkward shapes (T 1, 63, 64, 65, 127, 128, 129, 300, 1000, 4097; D 64 and 128; GQA 1, 2, 8;
//          windows 1, 17, 256, 1500 and dense; query slices, Tq 1 among them; lse), then the segments and
//          types of version 2: aligned anchors (S 1, 7, 64; A 1 … 300), DNA lists (K 1 … 256, with and without
//          anchors), every head dim ≤ 128 the library takes (8, 16, 32, 64, 80, 96, 128), float16, the active mask, windows long enough
//          for the persistent walk to pass several items a block; inputs drawn fresh, the output poisoned
//          with NaN before the run: the GPU within SPEC §9 of the CPU backend (relative L2 1e-2, lse 1e-3),
//          the run info naming PROTEUS_KERNEL_GPU_TILE_WGMMA.
//   time:  dense causal H16 D64 and H8 D128 at T 16 384 and 65 536, the window W 341 at T 1M (D 64), the
//          issue's shortlist W341 S256 A171 at T 1M and with DNA W307 S256 A154 K51 at T 1M (D 64):
//          proteus_flux_time medians of both kernels (cache flushed), TFLOP/s of the causal work.
// Build (repository root, after building build-cuda):
//   g++ -O2 -std=c++17 -Inative/include -Inative/src tests/gpu/wgmma_check.cpp -Lbuild-cuda/lib -lproteus
//       -Wl,-rpath,$PWD/build-cuda/lib -o build-cuda/wgmma_check
// Run:  build-cuda/wgmma_check check [small] | time [REPEATS [alone [windows]]] | linear [REPEATS] | once [CASE] | energy [CASE [SECONDS]]
//       (small: the cases of ≤ 40 000 query rows in all and T ≤ 40 000; alone: the Hopper kernel's times only; windows: the 1M window and
//       shortlist cases only; linear: the shortlist and DNA cases at T 256K, 1M and 2M; once: time case CASE (0 … 6,
//       default 5: the shortlist) once after one warm-up, for ncu; energy: time case CASE back to back for about SECONDS
//       (default 3) with the card's energy counter read around it — joules a call, which set the time under the power cap)
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "core/numeric.h"
#include "proteus/proteus.h"
#include "abi_support.h"

namespace {

using namespace proteus::harness;

struct Case {
    int64_t B, H, Hkv, T, D, p0, Tq, W;
    int64_t S = 1, A = 0, K = 0;  // anchor stride and count, DNA keys
    bool half = false;            // float16 (else bfloat16)
    bool masked = false;          // an active mask with about a third of the rows off
    float spike = 0.0f;           // > 0: every 97th key (token % 97 == 50) times this, so that some scores jump far
                                  // above a row's first keys' (the bfloat16 kernels' references then move: version 10)
};

/** PROTEUS_WGMMA_CHECK_LSE=0: the calls ask for no log-sum-exp (the checks compare o alone), as the bench's do. */
bool with_lse()
{
    static const bool with = [] {
        const char* value = std::getenv("PROTEUS_WGMMA_CHECK_LSE");
        return value == nullptr || value[0] != '0';
    }();
    return with;
}

struct Result {
    std::vector<double> o;
    std::vector<float> lse;
    int32_t kernel = 0;
};

/**
 * One case's tensors on `context`: q, k and v drawn from `seed` (the same bits on every context), o
 * poisoned with NaN, lse beside it, the Aligned window W (dense when W ≥ T), p0 as the case says.
 */
struct Problem {
    Buffer q, k, v, o, lse, salience, active;
    proteus_flux_tensors tensors{};
    proteus_flux_params params{};

    Problem(proteus_context context, const Case& c, uint64_t seed)
        : q(context, c.B * c.H * c.Tq * c.D * 2), k(context, c.B * c.Hkv * c.T * c.D * 2), v(context, k.bytes),
          o(context, q.bytes), lse(context, c.B * c.H * c.Tq * 4), salience(context, c.K > 0 ? c.B * c.T * 4 : 4),
          active(context, c.masked ? c.B * c.H * c.Tq : 1)
    {
        // Values of a table of 4096 uniform draws in [−2, 2), picked by a xorshift stream: fresh bits for every
        // seed, and fast enough for the 3·2^30 values of the 1M timing shape.
        std::mt19937_64 random(seed);
        std::uniform_real_distribution<float> u(-2.0f, 2.0f);
        std::vector<uint16_t> table(4096);
        for (auto& x : table) x = c.half ? proteus::float_to_half(u(random)) : proteus::float_to_bfloat16(u(random));
        uint64_t state = random() | 1;
        for (Buffer* buffer : {&q, &k, &v}) {
            std::vector<uint16_t> values(buffer->bytes / 2);
            for (auto& x : values) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                x = table[state >> 52];
            }
            if (buffer == &k && c.spike > 0.0f) {
                for (size_t e = 0; e < values.size(); ++e) {
                    if ((static_cast<int64_t>(e) / c.D) % c.T % 97 != 50) continue;
                    const float value = (c.half ? proteus::half_to_float(values[e]) : proteus::bfloat16_to_float(values[e])) * c.spike;
                    values[e] = c.half ? proteus::float_to_half(value) : proteus::float_to_bfloat16(value);
                }
            }
            buffer->upload(values.data(), buffer->bytes);
        }
        const std::vector<uint16_t> nan(o.bytes / 2, 0x7FC0);  // NaN in bfloat16 and float16 alike
        o.upload(nan.data(), o.bytes);
        const proteus_dtype dtype = c.half ? PROTEUS_DTYPE_FLOAT16 : PROTEUS_DTYPE_BFLOAT16;
        tensors.struct_size = sizeof tensors;
        tensors.flags = PROTEUS_FLUX_QUERY_OFFSET;
        tensors.query_offset = c.p0;
        tensors.q = view(q, dtype, {c.B, c.H, c.Tq, c.D});
        tensors.k = view(k, dtype, {c.B, c.Hkv, c.T, c.D});
        tensors.v = view(v, dtype, {c.B, c.Hkv, c.T, c.D});
        tensors.o = view(o, dtype, {c.B, c.H, c.Tq, c.D});
        if (with_lse()) tensors.lse = view(lse, PROTEUS_DTYPE_FLOAT32, {c.B, c.H, c.Tq});
        if (c.K > 0) {
            // Salience with ties (a coarse grid) so that the rank order's tie rule is exercised too.
            std::vector<float> values(salience.bytes / 4);
            for (auto& x : values) x = std::floor(u(random) * 8.0f) / 8.0f;
            salience.upload(values.data(), salience.bytes);
            tensors.salience = view(salience, PROTEUS_DTYPE_FLOAT32, {c.B, c.T});
        }
        if (c.masked) {
            std::vector<uint8_t> flags(active.bytes);
            for (auto& x : flags) x = (random() % 3) != 0;
            active.upload(flags.data(), active.bytes);
            tensors.active = view(active, PROTEUS_DTYPE_UINT8, {c.B, c.H, c.Tq});
            tensors.flags |= PROTEUS_FLUX_ACTIVE_DENSE;  // the tile path (AUTO's Hopper kernel), not the row mode
        }
        params.struct_size = sizeof params;
        params.policy = PROTEUS_POLICY_ALIGNED;
        params.window = c.W;
        params.anchor_stride = c.S;
        params.anchor_count = c.A;
        params.dna_count = c.K;
        params.use_default_scale = 1;
    }
};

/** Launch mode TILE_WGMMA: the Hopper kernel, whatever AUTO would pick. */
proteus_launch_config hopper_launch()
{
    proteus_launch_config launch{};
    launch.struct_size = sizeof launch;
    launch.mode = PROTEUS_LAUNCH_TILE_WGMMA;
    return launch;
}

/** `hopper`: the Hopper kernel forced (hopper_launch); else AUTO (the CPU backend). */
Result run(proteus_context context, const Case& c, uint64_t seed, bool hopper)
{
    Problem problem(context, c, seed);
    proteus_flux_run_info info{};
    info.struct_size = sizeof info;
    const proteus_launch_config launch = hopper_launch();
    require(proteus_flux_attention_v2(context, &problem.tensors, &problem.params, hopper ? &launch : nullptr, &info),
            "flux_attention_v2");
    require(proteus_context_synchronize(context), "synchronize");
    std::vector<uint16_t> o(problem.o.bytes / 2);
    problem.o.download(o.data(), problem.o.bytes);
    Result result;
    if (with_lse()) {
        result.lse.resize(problem.lse.bytes / 4);
        problem.lse.download(result.lse.data(), problem.lse.bytes);
    }
    result.o.resize(o.size());
    for (size_t e = 0; e < o.size(); ++e) result.o[e] = c.half ? proteus::half_to_float(o[e]) : proteus::bfloat16_to_float(o[e]);
    result.kernel = info.kernel;
    return result;
}

/** `small`: only cases of at most 40 000 query rows in all and T ≤ 40 000 (the sanitizers' runs, which are slower by far). */
int check(proteus_context gpu, proteus_context cpu, bool small)
{
    std::vector<Case> cases;
    const int64_t lengths[] = {1, 63, 64, 65, 127, 128, 129, 300, 1000, 4097};
    // 1500: a finite window long enough for ping-pong at D 64 (every consumer then runs all the block's tiles).
    const int64_t windows[] = {1, 17, 256, 1500, INT64_MAX / 4};
    int n = 0;
    for (const int64_t T : lengths) {
        for (const int64_t D : {64, 128}) {
            const int64_t group = n % 3 == 0 ? 1 : n % 3 == 1 ? 2 : 8;
            const int64_t Hkv = n % 2 == 0 ? 1 : 2;
            const int64_t Tq = n % 4 == 3 ? std::max<int64_t>(1, T / 3) : n % 5 == 4 ? 1 : T;
            cases.push_back({1 + n % 2, Hkv * group, Hkv, T, D, T - Tq - (Tq < T ? (T - Tq) / 2 : 0), Tq, windows[n % 5]});
            ++n;
        }
    }
    // Version 2: anchors, DNA lists, head dims, float16, the active mask, several items a persistent block.
    //            B  H Hkv     T    D    p0    Tq     W    S    A    K   half   masked
    cases.push_back({1, 2, 1, 1000, 64, 0, 1000, 17, 7, 20});
    cases.push_back({2, 4, 2, 4097, 64, 0, 4097, 256, 64, 30});
    cases.push_back({1, 2, 2, 3000, 128, 0, 3000, 100, 1, 300});
    cases.push_back({1, 8, 1, 2500, 128, 1200, 900, 341, 64, 5});
    cases.push_back({1, 2, 1, 2049, 64, 0, 2049, 64, 16, 8, 51});
    cases.push_back({2, 4, 2, 3001, 64, 1000, 1500, 300, 64, 4, 256});
    cases.push_back({1, 2, 1, 4000, 128, 0, 4000, 200, 1, 0, 100});
    cases.push_back({1, 3, 3, 1000, 128, 0, 1000, 5, 1, 0, 1});
    cases.push_back({1, 8, 2, 5000, 64, 0, 5000, 307, 256, 154, 51});
    for (const int64_t D : {8, 16, 32, 80, 96}) {  // with 64 and 128 above: every head dim ≤ 128 the library takes
        cases.push_back({1, 2, 1, 777, D, 0, 777, D % 32 == 0 ? INT64_MAX / 4 : 100, 16, D % 3 == 0 ? 4 : 0, D == 96 ? 20 : 0});
    }
    cases.push_back({1, 4, 2, 1500, 64, 0, 1500, INT64_MAX / 4, 1, 0, 0, true});
    cases.push_back({2, 2, 1, 1300, 128, 0, 1300, 200, 32, 6, 12, true});
    cases.push_back({1, 4, 4, 1000, 64, 0, 1000, INT64_MAX / 4, 1, 0, 0, false, true});
    cases.push_back({1, 2, 1, 2000, 128, 500, 1000, 150, 64, 3, 10, false, true});
    cases.push_back({1, 16, 4, 20000, 64, 0, 20000, 341, 256, 40});  // ~1700 items: several a persistent block
    // The shortlist shape where rows reach two or three anchor tiles (93 … 156 anchors), GQA, a query slice, under
    // `check small` (so the sanitizers run it; version 8 checked its mixed-tile experiment on it).
    cases.push_back({1, 2, 1, 40000, 64, 24000, 16000, 341, 256, 171});
    // Version 6: causal bands whose keys (B·Hkv·T·D·4 bytes) pass twice the L2 (50 MiB on the H200) walk their items
    // head by head (head_by_head); query slices at the end keep the CPU reference short.
    cases.push_back({1, 8, 8, 60000, 128, 59800, 200, INT64_MAX / 4});
    cases.push_back({1, 8, 2, 240000, 64, 239900, 100, INT64_MAX / 4, 1, 0, 0, true});
    // Version 6: the 64-key kernels (D ≤ 64, short windows, anchors, DNA) in float16 too.
    cases.push_back({1, 2, 1, 2000, 32, 0, 2000, 300, 1, 0, 0, true});
    cases.push_back({1, 4, 2, 3000, 64, 700, 1500, 341, 64, 8, 0, true});
    cases.push_back({1, 4, 1, 2500, 64, 0, 2500, 307, 64, 6, 20, true, true});
    // Version 7: the shortlist and DNA shapes (three anchor tiles an item, DNA lists) in several items a persistent
    // block — the 20000-token case above has one anchor tile an item — on query slices that keep the CPU reference short.
    cases.push_back({1, 16, 4, 60000, 64, 40000, 20000, 341, 256, 171});      // ~1250 items
    cases.push_back({1, 16, 4, 50000, 64, 40000, 10000, 307, 256, 154, 51});  // ~850 items
    // Version 10: scores far above a row's first keys' (keys times 20 … 60: jumps of 100 to 400 in exp2 units), where the
    // bfloat16 kernels' fixed references overflow and the warp recomputes the tile: the 64-key band and anchors kernels
    // (four consumers), DNA (three), dense D 64 (ping-pong) and D 128, float16 (the running max) beside them.
    //            B  H Hkv     T    D   p0    Tq     W             S    A   K   half   masked spike
    cases.push_back({1, 4, 2, 3000, 64, 0, 3000, 341, 256, 8, 0, false, false, 20.0f});
    cases.push_back({1, 4, 2, 3000, 64, 0, 3000, 341, 256, 8, 0, false, false, 60.0f});
    cases.push_back({1, 2, 1, 2500, 64, 0, 2500, 307, 64, 6, 20, false, false, 40.0f});
    cases.push_back({1, 2, 1, 2000, 64, 0, 2000, INT64_MAX / 4, 1, 0, 0, false, false, 40.0f});
    cases.push_back({1, 2, 2, 1500, 128, 0, 1500, INT64_MAX / 4, 1, 0, 0, false, true, 40.0f});
    cases.push_back({1, 2, 1, 2000, 64, 0, 2000, 300, 64, 4, 0, true, false, 8.0f});
    // Version 12: the same where the anchors span two tiles an item (93 … 100 anchors: the last tile's first 29 … 36
    // columns used, with large scores), under `check small`.
    cases.push_back({1, 2, 1, 24000, 64, 20000, 4000, 341, 256, 100, 0, false, false, 40.0f});
    // Version 13: the four-consumer anchors kernel below D 64 (O's columns past D), with the active mask and a query slice,
    // and in float16 (its staged O writes a warp's 16 rows × 64 columns a store: kStoreO).
    cases.push_back({1, 4, 2, 3000, 32, 500, 2000, 341, 64, 8, 0, false, true});
    cases.push_back({1, 2, 1, 2100, 16, 0, 2100, 200, 32, 5, 0, true});
    int failures = 0, run_cases = 0;
    for (size_t index = 0; index < cases.size(); ++index) {
        const Case& c = cases[index];
        if (small && (c.B * c.H * c.Tq > 40000 || c.T > 40000)) continue;
        ++run_cases;
        const uint64_t seed = 1000 + index;
        const Result got = run(gpu, c, seed, true);
        const Result want = run(cpu, c, seed, false);
        double difference = 0, norm = 0, lse_error = 0;
        bool finite = true;
        for (size_t e = 0; e < want.o.size(); ++e) {
            difference += (got.o[e] - want.o[e]) * (got.o[e] - want.o[e]);
            norm += want.o[e] * want.o[e];
            finite = finite && std::isfinite(got.o[e]);
        }
        for (size_t row = 0; row < want.lse.size() && row < got.lse.size(); ++row) {
            if (std::isinf(want.lse[row]) && got.lse[row] == want.lse[row]) continue;  // an inactive row: −inf both
            lse_error = std::max<double>(lse_error, std::fabs(got.lse[row] - want.lse[row]) / std::max(1.0f, std::fabs(want.lse[row])));
        }
        const double error = std::sqrt(difference / std::max(norm, 1e-30));
        const bool ok = finite && error <= 1e-2 && lse_error <= 1e-3 && got.kernel == PROTEUS_KERNEL_GPU_TILE_WGMMA;
        std::printf("%s B%lld H%lld/%lld T%lld D%lld p0=%lld Tq=%lld W%lld S%lld A%lld K%lld%s%s%s: rel L2 %.3g, lse %.3g, finite %d, kernel %d\n",
                    ok ? "ok  " : "FAIL", (long long)c.B, (long long)c.H, (long long)c.Hkv, (long long)c.T, (long long)c.D,
                    (long long)c.p0, (long long)c.Tq, (long long)(c.W > c.T ? c.T : c.W), (long long)c.S, (long long)c.A,
                    (long long)c.K, c.half ? " fp16" : "", c.masked ? " masked" : "", c.spike > 0.0f ? " spikes" : "", error, lse_error,
                    finite, got.kernel);
        failures += ok ? 0 : 1;
    }
    std::printf("wgmma check: %d cases, %d failed\n", run_cases, failures);
    return failures == 0 ? 0 : 1;
}

/** `hopper`: the Hopper kernel forced (hopper_launch: a case AUTO gives to another kernel); else AUTO. */
double case_ms(proteus_context context, const Case& c, int repeats, int32_t& kernel, bool hopper = false)
{
    const Problem problem(context, c, 5);
    proteus_flux_run_info info{};
    const proteus_launch_config launch = hopper_launch();
    const double ms = median_ms(context, problem.tensors, problem.params, repeats > 1 ? 2 : 1, repeats, info, hopper ? &launch : nullptr);
    kernel = info.kernel;
    return ms;
}

/** The timed shapes: dense D 64 and D 128 at 16K and 64K, the 1M window, the shortlist and its DNA case. */
const Case kTimeCases[] = {{1, 16, 16, 16384, 64, 0, 16384, INT64_MAX / 4}, {1, 16, 16, 65536, 64, 0, 65536, INT64_MAX / 4},
                           {1, 8, 8, 16384, 128, 0, 16384, INT64_MAX / 4},  {1, 8, 8, 65536, 128, 0, 65536, INT64_MAX / 4},
                           {1, 16, 16, 1 << 20, 64, 0, 1 << 20, 341},
                           {1, 16, 16, 1 << 20, 64, 0, 1 << 20, 341, 256, 171},
                           {1, 16, 16, 1 << 20, 64, 0, 1 << 20, 307, 256, 154, 51}};

/** `windows_only`: the 1M cases alone (window, shortlist, DNA). */
int time_both(proteus_context wgmma, proteus_context plain, int repeats, bool windows_only)
{
    for (const Case& c : kTimeCases) {
        if (windows_only && c.W >= c.T) continue;
        const int64_t W = std::min(c.W, c.T);
        // Causal pairs (i, j) with i − W < j ≤ i, 4·D flops each, plus each row's anchors and DNA keys (rows i ≥ W;
        // the anchors are min(A, (i − W) / S + 1) a row, approximated by A).
        const double pairs = static_cast<double>(c.T) * W - static_cast<double>(W) * (W - 1) / 2 +
                             static_cast<double>(c.T - W) * (c.A + c.K);
        const double flops = 4.0 * c.D * c.B * c.H * pairs;
        int32_t kernel_a = 0, kernel_b = 0;
        const double a = case_ms(wgmma, c, repeats, kernel_a);
        if (plain == nullptr) {
            std::printf("time H%lld D%lld T%lld W%lld A%lld K%lld: wgmma (kernel %d) %.3f ms %.0f TFLOP/s\n", (long long)c.H,
                        (long long)c.D, (long long)c.T, (long long)W, (long long)c.A, (long long)c.K, kernel_a, a, flops / a / 1e9);
            if (kernel_a != PROTEUS_KERNEL_GPU_TILE_WGMMA) {  // AUTO took another kernel: the Hopper kernel's time too
                const double forced = case_ms(wgmma, c, repeats, kernel_a, true);
                std::printf("time H%lld D%lld T%lld W%lld A%lld K%lld: TILE_WGMMA (kernel %d) %.3f ms %.0f TFLOP/s\n", (long long)c.H,
                            (long long)c.D, (long long)c.T, (long long)W, (long long)c.A, (long long)c.K, kernel_a, forced,
                            flops / forced / 1e9);
            }
            continue;
        }
        const double b = case_ms(plain, c, repeats, kernel_b);
        std::printf("time H%lld D%lld T%lld W%lld A%lld K%lld: wgmma (kernel %d) %.3f ms %.0f TFLOP/s; mma.sync (kernel %d) %.3f ms %.0f TFLOP/s; %.2fx\n",
                    (long long)c.H, (long long)c.D, (long long)c.T, (long long)W, (long long)c.A, (long long)c.K, kernel_a, a,
                    flops / a / 1e9, kernel_b, b, flops / b / 1e9, b / a);
    }
    return 0;
}

/**
 * "Linear in T": the shortlist (W341 S256 A171) and its DNA case (W307 A154 K51), H16 D64, at T = 256K, 1M and
 * 2M, each time with its milliseconds per 2^20 tokens (constant when the time is linear in T).
 */
int time_linear(proteus_context wgmma, int repeats)
{
    for (const int64_t T : {int64_t{1} << 18, int64_t{1} << 20, int64_t{1} << 21}) {
        for (Case c : {kTimeCases[5], kTimeCases[6]}) {  // the shortlist and DNA time cases at this T
            c.T = c.Tq = T;
            int32_t kernel = 0;
            const double ms = case_ms(wgmma, c, repeats, kernel);
            std::printf("linear H%lld D%lld T%lld W%lld A%lld K%lld: kernel %d %.3f ms, %.3f ms per 2^20 tokens\n", (long long)c.H,
                        (long long)c.D, (long long)c.T, (long long)c.W, (long long)c.A, (long long)c.K, kernel, ms,
                        ms * static_cast<double>(int64_t{1} << 20) / static_cast<double>(T));
        }
    }
    return 0;
}

/**
 * `energy [CASE [SECONDS]]`: time case CASE (default 5, the shortlist) back to back for about SECONDS (default 3) and read
 * the card's energy counter around it (NVML's total energy in mJ, opened at run time from the driver's
 * libnvidia-ml.so.1; device 0, the machine's one GPU): the joules a call, which set the time under the card's power cap
 * (NOTES.md, version 10), beside the milliseconds and the mean power.
 */
int energy(proteus_context context, int index, double seconds)
{
    void* nvml = dlopen("libnvidia-ml.so.1", RTLD_NOW);
    using Init = int (*)();
    using HandleByIndex = int (*)(unsigned, void**);
    using TotalEnergy = int (*)(void*, unsigned long long*);
    const auto init = nvml != nullptr ? reinterpret_cast<Init>(dlsym(nvml, "nvmlInit_v2")) : nullptr;
    const auto handle_by_index = nvml != nullptr ? reinterpret_cast<HandleByIndex>(dlsym(nvml, "nvmlDeviceGetHandleByIndex_v2")) : nullptr;
    const auto total_energy = nvml != nullptr ? reinterpret_cast<TotalEnergy>(dlsym(nvml, "nvmlDeviceGetTotalEnergyConsumption")) : nullptr;
    void* device = nullptr;
    if (init == nullptr || handle_by_index == nullptr || total_energy == nullptr || init() != 0 || handle_by_index(0, &device) != 0) {
        std::printf("SKIP energy: NVML (libnvidia-ml.so.1) is not usable here\n");
        return 0;
    }
    const Case& c = kTimeCases[index];
    const Problem problem(context, c, 5);
    proteus_flux_run_info info{};
    info.struct_size = sizeof info;
    const auto call = [&] { require(proteus_flux_attention_v2(context, &problem.tensors, &problem.params, nullptr, &info), "flux_attention_v2"); };
    call();  // warm-up
    require(proteus_context_synchronize(context), "context_synchronize");
    auto start = std::chrono::steady_clock::now();
    call();
    require(proteus_context_synchronize(context), "context_synchronize");
    const double estimate = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const int calls = std::max(1, static_cast<int>(seconds * 1000.0 / std::max(estimate, 1e-3)));
    unsigned long long before = 0, after = 0;
    if (total_energy(device, &before) != 0) {
        std::printf("SKIP energy: the device has no energy counter\n");
        return 0;
    }
    start = std::chrono::steady_clock::now();
    for (int n = 0; n < calls; ++n) call();
    require(proteus_context_synchronize(context), "context_synchronize");
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    total_energy(device, &after);
    const double millijoules = static_cast<double>(after - before);
    std::printf("energy H%lld D%lld T%lld W%lld A%lld K%lld: kernel %d, %d calls in %.2f s: %.3f ms, %.1f mJ a call, %.0f W mean\n",
                (long long)c.H, (long long)c.D, (long long)c.T, (long long)std::min(c.W, c.T), (long long)c.A, (long long)c.K,
                info.kernel, calls, ms / 1000.0, ms / calls, millijoules / calls, millijoules / ms);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    const std::string mode = argc > 1 ? argv[1] : "check";
    int32_t count = 0;
    if (proteus_device_count(PROTEUS_BACKEND_CUDA, &count) != PROTEUS_STATUS_OK || count == 0) {
        std::printf("SKIP wgmma_check: no CUDA device\n");
        return 0;
    }
    proteus_context cpu = nullptr, wgmma = nullptr, plain = nullptr;
    require(proteus_context_create(PROTEUS_BACKEND_CPU, 0, &cpu), "context_create(cpu)");
    require(proteus_context_create(PROTEUS_BACKEND_CUDA, 0, &wgmma), "context_create(cuda)");
    setenv("PROTEUS_GPU_TILE_KERNEL", "mma", 1);  // read as the context is created: AUTO stays on mma.sync
    require(proteus_context_create(PROTEUS_BACKEND_CUDA, 0, &plain), "context_create(cuda, mma)");
    unsetenv("PROTEUS_GPU_TILE_KERNEL");
    const bool alone = argc > 3 && std::string(argv[3]) == "alone";
    const bool windows_only = argc > 4 && std::string(argv[4]) == "windows";
    int rc = 0;
    if (mode == "energy") {
        const int index = std::clamp(argc > 2 ? std::atoi(argv[2]) : 5, 0, static_cast<int>(std::size(kTimeCases)) - 1);
        rc = energy(wgmma, index, argc > 3 ? std::atof(argv[3]) : 3.0);
    } else if (mode == "once") {  // one timed case (index into kTimeCases), one call after one warm-up: for ncu
        const int index = std::clamp(argc > 2 ? std::atoi(argv[2]) : 5, 0, static_cast<int>(std::size(kTimeCases)) - 1);
        int32_t kernel = 0;
        const double ms = case_ms(wgmma, kTimeCases[index], 1, kernel);
        std::printf("once %d: kernel %d, %.3f ms\n", index, kernel, ms);
    } else {
        rc = mode == "linear" ? time_linear(wgmma, argc > 2 ? std::atoi(argv[2]) : 10)
             : mode == "time" ? time_both(wgmma, alone ? nullptr : plain, argc > 2 ? std::atoi(argv[2]) : 10, windows_only)
                             : check(wgmma, cpu, argc > 2 && std::string(argv[2]) == "small");
    }
    proteus_context_destroy(wgmma);
    proteus_context_destroy(plain);
    proteus_context_destroy(cpu);
    return rc;
}
