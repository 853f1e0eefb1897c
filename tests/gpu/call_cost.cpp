// Per-call cost of flux attention through the C ABI's 0.1 entry point, so that the same program builds
// against an older libproteus and the current one and times both in one device call (before/after).
//   per call:   N back-to-back calls, then one context synchronize; wall time / N (launch cost plus
//               any synchronisation a call does; the kernels are tiny at small T).
//   return:     a long dense call (T 32768, ~7 ms on an H200) is queued first; then the time for the
//               measured call to RETURN. A call that waits for its stream returns only after the long
//               call finished (milliseconds); a stream-ordered one returns in microseconds.
// Cases: dense bf16 B1 H16 D64 at T 16, 256, 1024; at T 4096 the DNA shortlist (W307 S256 A154 K51)
// and a masked call (20 % of rows active, AUTO launch mode).
// Build: g++ -O2 -std=c++17 -I<include> tests/gpu/call_cost.cpp -L<lib> -lproteus -Wl,-rpath,<lib>
// Run:   call_cost [CALLS] [long]   prints one table row per case ("long": only the long dense calls).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "proteus/proteus.h"

namespace {

// sizeof is the size of the header each build uses: 0.1's and the current one agree on this struct.
constexpr uint32_t kParamsSize = sizeof(proteus_flux_params);

#if PROTEUS_VERSION_MAJOR == 0 && PROTEUS_VERSION_MINOR < 2
using Tensors01 = proteus_flux_tensors;  // the 0.1 header: the layout proteus_flux_attention takes
#else
using Tensors01 = proteus_flux_tensors_v0_1;
#endif

using Clock = std::chrono::steady_clock;

void require(proteus_status status, const char* what)
{
    if (status == PROTEUS_STATUS_OK) return;
    std::fprintf(stderr, "%s failed: status %d: %s\n", what, status, proteus_last_error_message());
    std::exit(2);
}

double microseconds(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

/**
 * bfloat16 bits of a float (round to nearest even; the inputs are finite). Written here rather than taken
 * from the library's core/numeric.h because this file must also build against the 0.1 sources, where that
 * header lived at common/numeric.h.
 */
uint16_t to_bf16(float x)
{
    uint32_t bits = 0;
    std::memcpy(&bits, &x, 4);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<uint16_t>(bits >> 16);
}

struct Buffer {
    proteus_buffer handle = nullptr;
    Buffer(proteus_context context, uint64_t bytes) { require(proteus_buffer_create(context, bytes, &handle), "buffer_create"); }
    ~Buffer() { proteus_buffer_destroy(handle); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
};

proteus_tensor bhtd(const Buffer& b, proteus_dtype dtype, int64_t B, int64_t H, int64_t T, int64_t D)
{
    proteus_tensor t{};
    t.buffer = b.handle;
    t.dtype = dtype;
    t.rank = D > 0 ? 4 : 3;
    const int64_t shape[4] = {B, H, T, D > 0 ? D : 1};
    const int64_t strides[4] = {H * T * std::max<int64_t>(D, 1), T * std::max<int64_t>(D, 1), std::max<int64_t>(D, 1), D > 0 ? 1 : 0};
    for (int a = 0; a < 4; ++a) {
        t.shape[a] = a < t.rank ? shape[a] : 1;
        t.strides[a] = a < t.rank ? strides[a] : 0;
    }
    return t;
}

/** q, k, v, o (and optional mask / salience) of one B1 bf16 problem (H16 D64 unless given), random contents. */
struct Problem {
    int64_t T, H, D;
    Buffer q, k, v, o, active, salience;
    Tensors01 tensors{};
    proteus_flux_params params{};

    Problem(proteus_context context, int64_t seq_len, std::mt19937& rng, int64_t heads = 16, int64_t head_dim = 64)
        : T(seq_len), H(heads), D(head_dim),
          q(context, 2 * H * T * D), k(context, 2 * H * T * D), v(context, 2 * H * T * D), o(context, 2 * H * T * D),
          active(context, H * T), salience(context, 4 * T)
    {
        std::normal_distribution<float> normal;
        std::vector<uint16_t> values(static_cast<size_t>(H * T * D));
        for (Buffer* b : {&q, &k, &v}) {
            for (auto& x : values) x = to_bf16(normal(rng));
            require(proteus_buffer_upload(b->handle, 0, values.data(), 2 * values.size()), "upload");
        }
        std::vector<uint8_t> mask(static_cast<size_t>(H * T));
        std::bernoulli_distribution keep(0.2);
        for (auto& m : mask) m = keep(rng) ? 1 : 0;
        require(proteus_buffer_upload(active.handle, 0, mask.data(), mask.size()), "upload");
        std::vector<float> s(static_cast<size_t>(T));
        for (auto& x : s) x = normal(rng);
        require(proteus_buffer_upload(salience.handle, 0, s.data(), 4 * s.size()), "upload");
        tensors.q = bhtd(q, PROTEUS_DTYPE_BFLOAT16, 1, H, T, D);
        tensors.k = bhtd(k, PROTEUS_DTYPE_BFLOAT16, 1, H, T, D);
        tensors.v = bhtd(v, PROTEUS_DTYPE_BFLOAT16, 1, H, T, D);
        tensors.o = bhtd(o, PROTEUS_DTYPE_BFLOAT16, 1, H, T, D);
        params.struct_size = kParamsSize;
        params.policy = PROTEUS_POLICY_ALIGNED;
        params.window = T;  // dense
        params.use_default_scale = 1;
    }

    void shortlist_with_dna()
    {
        params.window = 307;
        params.anchor_stride = 256;
        params.anchor_count = 154;
        params.dna_count = 51;
        proteus_tensor& s = tensors.salience;
        s.buffer = salience.handle;
        s.dtype = PROTEUS_DTYPE_FLOAT32;
        s.rank = 2;
        s.shape[0] = 1, s.shape[1] = T, s.shape[2] = 1, s.shape[3] = 1;
        s.strides[0] = T, s.strides[1] = 1;
    }

    void masked() { tensors.active = bhtd(active, PROTEUS_DTYPE_UINT8, 1, H, T, 0); }

    void run(proteus_context context) { require(proteus_flux_attention(context, &tensors, &params, nullptr), "flux_attention"); }
};

struct Timing {
    double per_call_us;
    double return_us;
};

Timing measure(proteus_context context, Problem& problem, Problem& long_call, int calls)
{
    for (int i = 0; i < 20; ++i) problem.run(context);
    require(proteus_context_synchronize(context), "synchronize");
    const Clock::time_point start = Clock::now();
    for (int i = 0; i < calls; ++i) problem.run(context);
    require(proteus_context_synchronize(context), "synchronize");
    const double per_call = microseconds(Clock::now() - start) / calls;

    std::vector<double> returns;
    for (int i = 0; i < 5; ++i) {
        long_call.run(context);
        const Clock::time_point before = Clock::now();
        problem.run(context);
        returns.push_back(microseconds(Clock::now() - before));
        require(proteus_context_synchronize(context), "synchronize");
    }
    std::sort(returns.begin(), returns.end());
    return {per_call, returns[returns.size() / 2]};
}

}  // namespace

int main(int argc, char** argv)
{
    const int calls = argc > 1 ? std::atoi(argv[1]) : 1000;
    const bool long_only = argc > 2 && std::string(argv[2]) == "long";  // only the long dense calls (kernel time)
    int32_t major = 0, minor = 0, patch = 0;
    require(proteus_get_version(&major, &minor, &patch), "get_version");
    proteus_context context = nullptr;
    require(proteus_context_create(PROTEUS_BACKEND_CUDA, 0, &context), "context_create");
    std::mt19937 rng(7);
    Problem long_call(context, 32768, rng);

    std::printf("library %d.%d.%d: bf16 B1 H16 D64, %d calls per case\n", major, minor, patch, calls);
    std::printf("%-34s %14s %20s\n", "case", "us per call", "return behind 7 ms");
    for (const int64_t T : {16, 256, 1024}) {
        if (long_only) break;
        Problem dense(context, T, rng);
        const Timing t = measure(context, dense, long_call, calls);
        std::printf("dense T %-26lld %14.2f %20.1f\n", static_cast<long long>(T), t.per_call_us, t.return_us);
    }
    if (!long_only) {
        Problem dna(context, 4096, rng);
        dna.shortlist_with_dna();
        const Timing t = measure(context, dna, long_call, calls / 4);
        std::printf("%-34s %14.2f %20.1f\n", "DNA W307 A154 K51 T 4096", t.per_call_us, t.return_us);
    }
    if (!long_only) {
        Problem masked(context, 4096, rng);
        masked.masked();
        const Timing t = measure(context, masked, long_call, calls / 4);
        std::printf("%-34s %14.2f %20.1f\n", "masked 20% rows dense T 4096", t.per_call_us, t.return_us);
    }
    // Long dense calls: kernel time dominates, so this compares the kernels of the two builds through one
    // harness (the CLIs of the two versions time the same shapes in the perf step).
    for (const auto& [heads, head_dim] : {std::pair<int64_t, int64_t>{16, 64}, {8, 128}}) {
        Problem dense(context, 16384, rng, heads, head_dim);
        const Timing t = measure(context, dense, long_call, 100);
        std::printf("dense T 16384 H%lld D%-18lld %14.2f %20.1f\n", static_cast<long long>(heads),
                    static_cast<long long>(head_dim), t.per_call_us, t.return_us);
    }
    require(proteus_context_destroy(context), "context_destroy");
    return 0;
}
