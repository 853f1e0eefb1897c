// Times the CPU backend's flux kernels through the backend interface (no managed layer): the median
// of a few calls after one warm-up, per T, for the tile kernel (AUTO) and optionally the reference.
//   cpu_flux_timing [--threads N] [--dtype f32|f16|bf16] [--window W --stride S --anchors A]
//                   [--reference] [--repeat R] T…
// Defaults: B 1, H 8, D 64, dense causal (W = T), 2 threads, float32, 5 calls. Besides wall time it
// prints the process CPU time of a call (all threads): on a shared, loaded machine, CPU ms / threads is
// what the wall time would be with the cores to itself. Not a test: a command whose figures notes quote.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend.h"
#include "backend_check.h"
#include "core/error.h"
#include "core/numeric.h"

namespace {

proteus::TensorRef tensor(void* data, proteus_dtype dtype, int64_t b, int64_t h, int64_t t, int64_t d)
{
    proteus::TensorRef ref;
    ref.data = data;
    ref.dtype = dtype;
    ref.rank = 4;
    const int64_t shape[] = {b, h, t, d}, strides[] = {h * t * d, t * d, d, 1};
    for (int a = 0; a < 4; ++a) ref.shape[a] = shape[a], ref.strides[a] = strides[a];
    return ref;
}

void fail(const char* what)
{
    std::fprintf(stderr, "%s: %s\n", what, proteus::last_error_message());
    std::exit(1);
}

}  // namespace

int main(int argc, char** argv)
{
    int threads = 2, repeat = 5;
    int64_t window = 0, stride = 0, anchors = 0;
    bool reference = false;
    proteus_dtype dtype = PROTEUS_DTYPE_FLOAT32;
    std::vector<int64_t> lengths;
    for (int a = 1; a < argc; ++a) {
        const std::string arg = argv[a];
        const auto next = [&] { return a + 1 < argc ? argv[++a] : (fail("missing value"), ""); };
        if (arg == "--threads") threads = std::atoi(next());
        else if (arg == "--repeat") repeat = std::atoi(next());
        else if (arg == "--window") window = std::atoll(next());
        else if (arg == "--stride") stride = std::atoll(next());
        else if (arg == "--anchors") anchors = std::atoll(next());
        else if (arg == "--reference") reference = true;
        else if (arg == "--dtype") {
            const std::string name = next();
            dtype = name == "f16" ? PROTEUS_DTYPE_FLOAT16 : name == "bf16" ? PROTEUS_DTYPE_BFLOAT16 : PROTEUS_DTYPE_FLOAT32;
        } else lengths.push_back(std::atoll(arg.c_str()));
    }
    std::unique_ptr<proteus::Backend> backend;
    if (proteus::create_cpu_backend(0, nullptr, true, backend) != PROTEUS_STATUS_OK) fail("create_cpu_backend");
    if (backend->set_threads(threads) != PROTEUS_STATUS_OK) fail("set_threads");
    const int64_t B = 1, H = 8, D = 64;
    const size_t bytes = dtype == PROTEUS_DTYPE_FLOAT32 ? 4 : 2;
    std::printf("B %lld H %lld D %lld dtype %d threads %d W %lld S %lld A %lld\n", (long long)B, (long long)H,
                (long long)D, dtype, threads, (long long)window, (long long)stride, (long long)anchors);
    for (const int64_t T : lengths) {
        std::mt19937 random(1);
        std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
        std::vector<unsigned char> q(B * H * T * D * bytes), k(q.size()), v(q.size()), o(q.size());
        for (std::vector<unsigned char>* data : {&q, &k, &v}) {
            for (size_t e = 0; e < data->size() / bytes; ++e) {
                const float x = uniform(random);
                if (bytes == 4) std::memcpy(data->data() + 4 * e, &x, 4);
                else {
                    const uint16_t h = dtype == PROTEUS_DTYPE_FLOAT16 ? proteus::float_to_half(x) : proteus::float_to_bfloat16(x);
                    std::memcpy(data->data() + 2 * e, &h, 2);
                }
            }
        }
        proteus::FluxProblem p;
        p.q = tensor(q.data(), dtype, B, H, T, D);
        p.k = tensor(k.data(), dtype, B, H, T, D);
        p.v = tensor(v.data(), dtype, B, H, T, D);
        p.o = tensor(o.data(), dtype, B, H, T, D);
        p.batch = B, p.heads = H, p.kv_heads = H, p.head_dim = D, p.seq_len = T, p.query_len = T;
        p.candidates.window = window > 0 ? window : T;
        p.candidates.anchor_stride = stride;
        p.candidates.anchor_count = anchors;
        p.scale = 1.0f / std::sqrt(static_cast<float>(D));
        p.launch.struct_size = sizeof p.launch;
        for (const int32_t mode : {int32_t{PROTEUS_LAUNCH_AUTO}, int32_t{PROTEUS_LAUNCH_REFERENCE}}) {
            if (mode == PROTEUS_LAUNCH_REFERENCE && !reference) continue;
            p.launch.mode = mode;
            proteus::FluxPlan plan;
            if (backend->plan_flux(p, plan) != PROTEUS_STATUS_OK) fail("plan_flux");
            std::vector<double> ms, cpu_ms;
            for (int r = 0; r <= repeat; ++r) {
                BackendWorkspace workspace(*backend);
                const auto start = std::chrono::steady_clock::now();
                const std::clock_t cpu_start = std::clock();
                if (backend->flux_attention(p, plan, workspace) != PROTEUS_STATUS_OK) fail("flux_attention");
                const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
                if (r > 0) {
                    ms.push_back(took.count());
                    cpu_ms.push_back(1000.0 * static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC);
                }
            }
            std::sort(ms.begin(), ms.end());
            std::sort(cpu_ms.begin(), cpu_ms.end());
            std::printf("T %7lld  %-9s  wall median %9.2f ms  min %9.2f ms   cpu median %9.2f ms (/%d = %.2f)\n",
                        (long long)T, mode == PROTEUS_LAUNCH_AUTO ? "tile" : "reference", ms[ms.size() / 2],
                        ms.front(), cpu_ms[cpu_ms.size() / 2], threads, cpu_ms[cpu_ms.size() / 2] / threads);
            std::fflush(stdout);
        }
    }
    return 0;
}
