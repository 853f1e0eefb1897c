// Checks and times explicit candidate lists (PROTEUS_POLICY_EXPLICIT, docs/explicit-candidates.md) on the
// GPU through the C ABI, on the device machine.
//   check: random cases (float32, float16, bfloat16; shared [B, Tq, L] and per-head [B, H, Tq, L] lists;
//          GQA; query slices; masks; duplicates, out-of-range indices, empty lists, lengths or none, L = 1,
//          T = 1, rows 16-byte aligned or not), GPU vs the CPU backend in one process within SPEC §9, keyless
//          rows exactly o = 0 and lse = −inf, no NaN, the run info naming PROTEUS_KERNEL_GPU_EXPLICIT.
//   time:  the bench shape, T = Tq = 1,048,576, H 16, D 64, bfloat16, L 512 random sorted lists shared by the
//          heads, proteus_flux_time median over N runs (cache flushed), and its gathered bytes per second.
// Without a GPU the "device" is a second CPU context (a smoke run of the harness only).
// Build (repository root, after building build-cuda):
//   g++ -O2 -std=c++17 -Inative/include -Inative/src tests/gpu/explicit_check.cpp -Lbuild-cuda/lib -lproteus
//       -Wl,-rpath,$PWD/build-cuda/lib -o build-cuda/explicit_check
// Run:  build-cuda/explicit_check check [CASES] [SEED] | time [REPEATS]
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/numeric.h"
#include "proteus/proteus.h"
#include "abi_support.h"

namespace {

using namespace proteus::harness;

uint16_t encode(proteus_dtype dtype, float x)
{
    return dtype == PROTEUS_DTYPE_FLOAT16 ? proteus::float_to_half(x) : proteus::float_to_bfloat16(x);
}
float decode(proteus_dtype dtype, uint16_t x)
{
    return dtype == PROTEUS_DTYPE_FLOAT16 ? proteus::half_to_float(x) : proteus::bfloat16_to_float(x);
}

/** Host storage of one storage-typed tensor: float32 or 16-bit words. */
struct Host {
    proteus_dtype dtype;
    std::vector<float> f32;
    std::vector<uint16_t> f16;
    Host(proteus_dtype d, size_t n, std::mt19937_64& random, bool fill) : dtype(d)
    {
        std::uniform_real_distribution<float> u(-2.0f, 2.0f);
        if (dtype == PROTEUS_DTYPE_FLOAT32) f32.resize(n); else f16.resize(n);
        for (size_t e = 0; fill && e < n; ++e) {
            if (dtype == PROTEUS_DTYPE_FLOAT32) f32[e] = u(random); else f16[e] = encode(dtype, u(random));
        }
    }
    const void* data() const { return dtype == PROTEUS_DTYPE_FLOAT32 ? static_cast<const void*>(f32.data()) : f16.data(); }
    void* data() { return dtype == PROTEUS_DTYPE_FLOAT32 ? static_cast<void*>(f32.data()) : f16.data(); }
    size_t size() const { return dtype == PROTEUS_DTYPE_FLOAT32 ? f32.size() : f16.size(); }
    uint64_t bytes() const { return size() * (dtype == PROTEUS_DTYPE_FLOAT32 ? 4 : 2); }
    double at(size_t e) const { return dtype == PROTEUS_DTYPE_FLOAT32 ? f32[e] : decode(dtype, f16[e]); }
};

struct Case {
    proteus_dtype dtype;
    int64_t B, H, Hkv, T, D, p0, Tq, L;
    bool per_head, lengths, masked, misaligned;
};

struct Result {
    std::vector<double> o;
    std::vector<float> lse;
    int32_t kernel = 0;
};

/** Runs one case on `context`; inputs from `seed` so both contexts see the same bits. */
Result run(proteus_context context, const Case& c, uint64_t seed, const std::vector<int32_t>& lists,
           const std::vector<int32_t>& lengths, const std::vector<uint8_t>& active)
{
    std::mt19937_64 random(seed);
    const int64_t pad = c.misaligned ? 1 : 0;  // one element ahead of k and v: rows no longer 16-byte aligned
    Host q(c.dtype, c.B * c.H * c.Tq * c.D, random, true);
    Host k(c.dtype, pad + c.B * c.Hkv * c.T * c.D, random, true);
    Host v(c.dtype, pad + c.B * c.Hkv * c.T * c.D, random, true);
    Host o(c.dtype, q.size(), random, false);
    Buffer qb(context, q.bytes()), kb(context, k.bytes()), vb(context, v.bytes()), ob(context, o.bytes());
    Buffer lb(context, c.B * c.H * c.Tq * 4), listb(context, lists.size() * 4), lenb(context, lengths.size() * 4),
        actb(context, active.size());
    qb.upload(q.data(), q.bytes());
    kb.upload(k.data(), k.bytes());
    vb.upload(v.data(), v.bytes());
    listb.upload(lists.data(), lists.size() * 4);
    if (c.lengths) lenb.upload(lengths.data(), lengths.size() * 4);
    if (c.masked) actb.upload(active.data(), active.size());

    proteus_flux_tensors t{};
    t.struct_size = sizeof t;
    t.flags = PROTEUS_FLUX_QUERY_OFFSET;
    t.query_offset = c.p0;
    t.q = view(qb, c.dtype, {c.B, c.H, c.Tq, c.D});
    t.k = view(kb, c.dtype, {c.B, c.Hkv, c.T, c.D}, pad);
    t.v = view(vb, c.dtype, {c.B, c.Hkv, c.T, c.D}, pad);
    t.o = view(ob, c.dtype, {c.B, c.H, c.Tq, c.D});
    t.lse = view(lb, PROTEUS_DTYPE_FLOAT32, {c.B, c.H, c.Tq});
    if (c.masked) t.active = view(actb, PROTEUS_DTYPE_UINT8, {c.B, c.H, c.Tq});
    t.candidates = c.per_head ? view(listb, PROTEUS_DTYPE_INT32, {c.B, c.H, c.Tq, c.L})
                              : view(listb, PROTEUS_DTYPE_INT32, {c.B, c.Tq, c.L});
    if (c.lengths) {
        t.candidate_lengths = c.per_head ? view(lenb, PROTEUS_DTYPE_INT32, {c.B, c.H, c.Tq})
                                         : view(lenb, PROTEUS_DTYPE_INT32, {c.B, c.Tq});
    }
    proteus_flux_params params{};
    params.struct_size = sizeof params;
    params.policy = PROTEUS_POLICY_EXPLICIT;
    params.use_default_scale = 1;
    proteus_flux_run_info info{};
    info.struct_size = sizeof info;
    require(proteus_flux_attention_v2(context, &t, &params, nullptr, &info), "flux_attention_v2");
    require(proteus_context_synchronize(context), "synchronize");
    ob.download(o.data(), o.bytes());
    Result result;
    result.lse.resize(c.B * c.H * c.Tq);
    lb.download(result.lse.data(), result.lse.size() * 4);
    result.o.resize(o.size());
    for (size_t e = 0; e < o.size(); ++e) result.o[e] = o.at(e);
    result.kernel = info.kernel;
    return result;
}

int64_t draw(std::mt19937_64& random, int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(random); }

int check(proteus_context gpu, proteus_context cpu, int cases, uint64_t seed, bool on_gpu)
{
    std::mt19937_64 random(seed);
    const proteus_dtype dtypes[] = {PROTEUS_DTYPE_FLOAT32, PROTEUS_DTYPE_FLOAT16, PROTEUS_DTYPE_BFLOAT16};
    // Every head dim of the library; the first 8 cases (inside the sanitizers' 12) take each once, float32
    // at D 256 among them (case 3: K and V share one gathered tile there).
    const int64_t dims[] = {8, 16, 32, 64, 80, 96, 128, 256};
    int failures = 0;
    for (int n = 0; n < cases; ++n) {
        Case c{};
        c.dtype = dtypes[n % 3];
        c.Hkv = draw(random, 1, 3);
        c.H = c.Hkv * draw(random, 1, 4);
        c.B = draw(random, 1, 2);
        c.T = n % 17 == 0 ? 1 : draw(random, 1, 700);
        c.D = n < 8 ? dims[(n + 4) % 8] : dims[draw(random, 0, 7)];
        c.Tq = draw(random, 1, std::min<int64_t>(c.T, 90));
        c.p0 = draw(random, 0, c.T - c.Tq);
        c.L = n % 13 == 0 ? 1 : draw(random, 1, 200);
        c.per_head = n % 2 == 1;
        c.lengths = n % 5 != 0;
        c.masked = n % 4 == 3;
        c.misaligned = n % 7 == 5;
        const int64_t rows = c.B * (c.per_head ? c.H : 1) * c.Tq;
        std::vector<int32_t> lists(rows * c.L), lengths(rows);
        for (int64_t row = 0; row < rows; ++row) {
            const int64_t i = c.p0 + row % c.Tq;
            const int64_t n_used = !c.lengths ? c.L : row % 11 == 0 ? 0 : draw(random, 0, c.L);
            lengths[row] = static_cast<int32_t>(n_used);
            for (int64_t s = 0; s < c.L; ++s) {
                const int64_t kind = draw(random, 0, 19);  // 1 in 20 out of range, 1 in 20 a repeat of the slot before
                int64_t j = kind == 0 ? (draw(random, 0, 1) ? -1 - draw(random, 0, 5) : i + 1 + draw(random, 0, 5))
                                      : draw(random, 0, i);
                if (kind == 1 && s > 0) j = lists[row * c.L + s - 1];
                lists[row * c.L + s] = static_cast<int32_t>(j);
            }
        }
        std::vector<uint8_t> active(c.B * c.H * c.Tq);
        for (auto& a : active) a = draw(random, 0, 2) != 0;
        const uint64_t inputs = random();
        const Result got = run(gpu, c, inputs, lists, lengths, active);
        const Result want = run(cpu, c, inputs, lists, lengths, active);
        double difference = 0, norm = 0;
        bool exact_rows = true, finite = true;
        for (size_t e = 0; e < want.o.size(); ++e) {
            difference += (got.o[e] - want.o[e]) * (got.o[e] - want.o[e]);
            norm += want.o[e] * want.o[e];
            finite = finite && std::isfinite(got.o[e]);
        }
        for (size_t row = 0; row < want.lse.size(); ++row) {
            if (std::isinf(want.lse[row])) {
                exact_rows = exact_rows && std::isinf(got.lse[row]) && got.lse[row] < 0;
                for (int64_t d = 0; d < c.D; ++d) exact_rows = exact_rows && got.o[row * c.D + d] == 0.0;
            } else {
                exact_rows = exact_rows && std::fabs(got.lse[row] - want.lse[row]) <= 1e-3f * std::max(1.0f, std::fabs(want.lse[row]));
            }
        }
        const double error = norm > 0 ? std::sqrt(difference / norm) : std::sqrt(difference);
        const double tolerance = c.dtype == PROTEUS_DTYPE_FLOAT32 ? 1e-5 : c.dtype == PROTEUS_DTYPE_FLOAT16 ? 2e-3 : 1e-2;
        const bool kernel_ok = !on_gpu || got.kernel == PROTEUS_KERNEL_GPU_EXPLICIT;
        const bool ok = error <= tolerance && exact_rows && finite && kernel_ok;
        if (!ok) {
            ++failures;
            std::printf("FAIL case %d: dtype %d B%lld H%lld/%lld T%lld D%lld p0=%lld Tq=%lld L%lld %s%s%s%s: rel L2 %.3g (tol %.0e), "
                        "keyless rows %s, finite %d, kernel %d\n",
                        n, c.dtype, (long long)c.B, (long long)c.H, (long long)c.Hkv, (long long)c.T, (long long)c.D,
                        (long long)c.p0, (long long)c.Tq, (long long)c.L, c.per_head ? "per-head" : "shared",
                        c.lengths ? " lengths" : "", c.masked ? " masked" : "", c.misaligned ? " misaligned" : "", error,
                        tolerance, exact_rows ? "ok" : "WRONG", finite, got.kernel);
        }
    }
    std::printf("explicit check: %d cases, %d failed\n", cases, failures);
    return failures == 0 ? 0 : 1;
}

int time_bench(proteus_context gpu, int repeats)
{
    const int64_t T = 1 << 20, H = 16, D = 64, L = 512;
    std::mt19937_64 random(7);
    std::vector<int32_t> lists(T * L, -1), lengths(T);
    std::exponential_distribution<double> gap(1.0);
    std::vector<double> gaps(L + 1);
    int64_t listed = 0;
    for (int64_t i = 0; i < T; ++i) {
        int32_t* list = lists.data() + i * L;
        if (i + 1 <= L) {
            for (int64_t s = 0; s <= i; ++s) list[s] = static_cast<int32_t>(s);
            lengths[i] = static_cast<int32_t>(i + 1);
        } else {
            double total = 0, position = 0;
            for (auto& g : gaps) total += (g = gap(random));
            for (int64_t s = 0; s < L; ++s) {
                position += gaps[s];
                list[s] = static_cast<int32_t>(std::min<double>(i, std::floor(position / total * (i + 1))));
            }
            lengths[i] = L;
        }
        listed += lengths[i];
    }
    const uint64_t storage = static_cast<uint64_t>(H) * T * D * 2;
    Buffer q(gpu, storage), k(gpu, storage), v(gpu, storage), o(gpu, storage), lb(gpu, lists.size() * 4), nb(gpu, lengths.size() * 4);
    std::vector<uint16_t> values(storage / 2);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto& x : values) x = proteus::float_to_bfloat16(u(random));
    q.upload(values.data(), storage);
    k.upload(values.data(), storage);
    v.upload(values.data(), storage);
    lb.upload(lists.data(), lists.size() * 4);
    nb.upload(lengths.data(), lengths.size() * 4);
    proteus_flux_tensors t{};
    t.struct_size = sizeof t;
    t.q = view(q, PROTEUS_DTYPE_BFLOAT16, {1, H, T, D});
    t.k = view(k, PROTEUS_DTYPE_BFLOAT16, {1, H, T, D});
    t.v = view(v, PROTEUS_DTYPE_BFLOAT16, {1, H, T, D});
    t.o = view(o, PROTEUS_DTYPE_BFLOAT16, {1, H, T, D});
    t.candidates = view(lb, PROTEUS_DTYPE_INT32, {1, T, L});
    t.candidate_lengths = view(nb, PROTEUS_DTYPE_INT32, {1, T});
    proteus_flux_params params{};
    params.struct_size = sizeof params;
    params.policy = PROTEUS_POLICY_EXPLICIT;
    params.use_default_scale = 1;
    proteus_flux_run_info info{};
    const double median = median_ms(gpu, t, params, 1, repeats, info);
    const double flops = 4.0 * D * H * static_cast<double>(listed);
    const double gathered = 2.0 * D * 2 * H * static_cast<double>(listed);
    std::printf("explicit time: T %lld H %lld D %lld L %lld bf16 shared sorted lists: kernel %d, median %.2f ms over %d, "
                "%.1f TFLOP/s, %.2f TB/s of gathered K/V rows\n",
                (long long)T, (long long)H, (long long)D, (long long)L, info.kernel, median, repeats, flops / median / 1e9,
                gathered / median / 1e9);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    const std::string mode = argc > 1 ? argv[1] : "check";
    proteus_context cpu = nullptr, gpu = nullptr;
    require(proteus_context_create(PROTEUS_BACKEND_CPU, 0, &cpu), "context_create(cpu)");
    bool on_gpu = false;
    for (int32_t backend : {PROTEUS_BACKEND_CUDA, PROTEUS_BACKEND_HIP}) {
        int32_t count = 0;
        if (!on_gpu && proteus_device_count(backend, &count) == PROTEUS_STATUS_OK && count > 0) {
            require(proteus_context_create(backend, 0, &gpu), "context_create(gpu)");
            on_gpu = true;
        }
    }
    if (!on_gpu) {
        std::printf("no GPU: comparing two CPU contexts (a smoke run of the harness)\n");
        require(proteus_context_create(PROTEUS_BACKEND_CPU, 0, &gpu), "context_create(cpu)");
    }
    int rc = 0;
    if (mode == "check") {
        rc = check(gpu, cpu, argc > 2 ? std::atoi(argv[2]) : 200, argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1, on_gpu);
    } else if (mode == "time") {
        rc = time_bench(gpu, argc > 2 ? std::atoi(argv[2]) : 10);
    } else {
        std::fprintf(stderr, "usage: explicit_check check [CASES] [SEED] | time [REPEATS]\n");
        rc = 2;
    }
    proteus_context_destroy(gpu);
    proteus_context_destroy(cpu);
    return rc;
}
