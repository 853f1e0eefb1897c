// Checks the layer operations (issue 9: proteus_linear, convert, norm, gelu, rope, router, select_rows,
// dna_update) on the device machine: each runs through the C ABI on the GPU backend and on the CPU
// backend with the same random inputs, and the outputs are compared by relative L2 error within SPEC §9
// (float32 1e-5, float16 2e-3, bfloat16 1e-2 of the storage dtype; convert bit for bit; select_rows'
// mask exactly). router and dna_update must also give the same bits on 5 GPU runs of the same inputs; the
// router is checked on both its paths (the BLAS, and direct on a context created with PROTEUS_GPU_ROUTER=direct).
// Build (from the repository root, after building build-cuda):
//   g++ -O2 -std=c++17 -Inative/include -Inative/src tests/gpu/layer_ops_check.cpp -Lbuild-cuda/lib -lproteus
//       -Wl,-rpath,$PWD/build-cuda/lib -o build-cuda/layer_ops_check
// Run:  build-cuda/layer_ops_check [cuda|hip] [SEED] [small|full] [SUITES]   exit 0 when every check passes
//       (SUITES: comma-separated names of the suites to run, e.g. select,dna_update; all by default)
//       (small: the sanitizers' run, without the 70000-token router shape, each router shape once (no
//       determinism repeats), and with the long select row at
//       40003 tokens, still past one block's candidates; under racecheck the full run takes minutes)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/numeric.h"
#include "proteus/proteus.h"

namespace {

int failures = 0;
int checks = 0;
bool small_run = false;  // the third argument "small"

void require(proteus_status status, const char* what)
{
    if (status == PROTEUS_STATUS_OK) return;
    std::fprintf(stderr, "%s failed: status %d: %s\n", what, status, proteus_last_error_message());
    std::exit(2);
}

const char* dtype_name(proteus_dtype dtype)
{
    switch (dtype) {
    case PROTEUS_DTYPE_FLOAT16: return "f16";
    case PROTEUS_DTYPE_BFLOAT16: return "bf16";
    case PROTEUS_DTYPE_UINT8: return "u8";
    default: return "f32";
    }
}

double tolerance(proteus_dtype dtype)
{
    switch (dtype) {
    case PROTEUS_DTYPE_FLOAT16: return 2e-3;
    case PROTEUS_DTYPE_BFLOAT16: return 1e-2;
    default: return 1e-5;
    }
}

uint64_t element_bytes(proteus_dtype dtype) { return dtype == PROTEUS_DTYPE_FLOAT32 ? 4 : dtype == PROTEUS_DTYPE_UINT8 ? 1 : 2; }

/** A host tensor: contiguous elements of `dtype`, shape up to rank 4. */
struct Host {
    proteus_dtype dtype = PROTEUS_DTYPE_FLOAT32;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;

    Host() = default;
    Host(proteus_dtype d, std::vector<int64_t> s) : dtype(d), shape(std::move(s)) { bytes.resize(count() * element_bytes(dtype)); }

    uint64_t count() const
    {
        uint64_t n = 1;
        for (int64_t e : shape) n *= static_cast<uint64_t>(e);
        return n;
    }

    void set(uint64_t i, float value)
    {
        if (dtype == PROTEUS_DTYPE_FLOAT32) {
            std::memcpy(bytes.data() + 4 * i, &value, 4);
        } else {
            const uint16_t raw = dtype == PROTEUS_DTYPE_FLOAT16 ? proteus::float_to_half(value) : proteus::float_to_bfloat16(value);
            std::memcpy(bytes.data() + 2 * i, &raw, 2);
        }
    }

    float get(uint64_t i) const
    {
        if (dtype == PROTEUS_DTYPE_FLOAT32) {
            float value;
            std::memcpy(&value, bytes.data() + 4 * i, 4);
            return value;
        }
        if (dtype == PROTEUS_DTYPE_UINT8) return bytes[i];
        uint16_t raw;
        std::memcpy(&raw, bytes.data() + 2 * i, 2);
        return dtype == PROTEUS_DTYPE_FLOAT16 ? proteus::half_to_float(raw) : proteus::bfloat16_to_float(raw);
    }

    std::vector<float> floats() const
    {
        std::vector<float> out(count());
        for (uint64_t i = 0; i < out.size(); ++i) out[i] = get(i);
        return out;
    }
};

Host random_host(std::mt19937_64& rng, proteus_dtype dtype, std::vector<int64_t> shape, float low = -1.0f, float high = 1.0f)
{
    Host h(dtype, std::move(shape));
    std::uniform_real_distribution<float> u(low, high);
    for (uint64_t i = 0; i < h.count(); ++i) h.set(i, u(rng));
    return h;
}

/** One device copy of a Host on a context, viewed as a contiguous tensor. */
struct Device {
    proteus_buffer buffer = nullptr;
    proteus_tensor tensor{};

    Device(proteus_context context, const Host& host)
    {
        require(proteus_buffer_create(context, std::max<uint64_t>(host.bytes.size(), 1), &buffer), "buffer_create");
        if (!host.bytes.empty()) require(proteus_buffer_upload(buffer, 0, host.bytes.data(), host.bytes.size()), "upload");
        tensor.buffer = buffer;
        tensor.dtype = host.dtype;
        tensor.rank = static_cast<int32_t>(host.shape.size());
        int64_t stride = 1;
        for (int a = PROTEUS_MAX_RANK - 1; a >= 0; --a) {
            tensor.shape[a] = a < tensor.rank ? host.shape[a] : 1;
            tensor.strides[a] = 0;
        }
        for (int a = tensor.rank - 1; a >= 0; --a) {
            tensor.strides[a] = stride;
            stride *= host.shape[a];
        }
    }
    ~Device() { proteus_buffer_destroy(buffer); }
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    Host read(const Host& like) const
    {
        Host out = like;
        if (!out.bytes.empty()) require(proteus_buffer_download(buffer, 0, out.bytes.data(), out.bytes.size()), "download");
        return out;
    }
};

/** Relative L2 error of `out` against `ref`; NaN or Inf in `out` where `ref` is finite is an error of +inf. */
double relative_error(const Host& out, const Host& ref)
{
    double difference = 0.0, norm = 0.0;
    for (uint64_t i = 0; i < ref.count(); ++i) {
        const double o = out.get(i), r = ref.get(i);
        if (!std::isfinite(o) && std::isfinite(r)) return INFINITY;
        difference += (o - r) * (o - r);
        norm += r * r;
    }
    return norm == 0.0 ? std::sqrt(difference) : std::sqrt(difference / norm);
}

void report(const std::string& name, bool ok, const std::string& detail)
{
    ++checks;
    if (!ok) ++failures;
    std::printf("%-4s %s  %s\n", ok ? "ok" : "FAIL", name.c_str(), detail.c_str());
}

void compare(const std::string& name, const Host& gpu, const Host& cpu, double limit)
{
    const double error = relative_error(gpu, cpu);
    char detail[96];
    std::snprintf(detail, sizeof detail, "rel L2 %.3g (limit %.1g)", error, limit);
    report(name, error <= limit, detail);
}

void compare_bits(const std::string& name, const Host& a, const Host& b)
{
    uint64_t differing = 0;
    const uint64_t size = element_bytes(a.dtype);
    for (uint64_t i = 0; i < a.count(); ++i) differing += std::memcmp(a.bytes.data() + i * size, b.bytes.data() + i * size, size) != 0;
    report(name, differing == 0, std::to_string(differing) + " of " + std::to_string(a.count()) + " elements differ");
}

struct Contexts {
    proteus_context gpu = nullptr, cpu = nullptr;
    proteus_context gpu_direct = nullptr;  // created with PROTEUS_GPU_ROUTER=direct: the router's direct path
};

// ---- linear ---------------------------------------------------------------------------------------

void check_linear(const Contexts& c, std::mt19937_64& rng)
{
    const int64_t M = 37, N = 70, K = 96;
    for (proteus_dtype dtype : {PROTEUS_DTYPE_FLOAT32, PROTEUS_DTYPE_FLOAT16, PROTEUS_DTYPE_BFLOAT16}) {
        for (int bias_kind = 0; bias_kind < 3; ++bias_kind) {  // none, float32, y's dtype
            for (int accumulate = 0; accumulate < 2; ++accumulate) {
                const Host x = random_host(rng, dtype, {M, K});
                const Host w = random_host(rng, dtype, {N, K}, -0.2f, 0.2f);
                const Host bias = random_host(rng, bias_kind == 1 ? PROTEUS_DTYPE_FLOAT32 : dtype, {N});
                const Host y0 = random_host(rng, dtype, {M, N});
                proteus_linear_params params{};
                params.struct_size = sizeof params;
                params.flags = accumulate ? PROTEUS_LINEAR_ACCUMULATE : 0;
                params.beta = 0.5f;
                Host out[2];
                for (int side = 0; side < 2; ++side) {
                    const proteus_context context = side == 0 ? c.gpu : c.cpu;
                    Device dx(context, x), dw(context, w), db(context, bias), dy(context, y0);
                    const proteus_status status =
                        proteus_linear(context, &dx.tensor, &dw.tensor, bias_kind ? &db.tensor : nullptr, &dy.tensor, &params);
                    if (status == PROTEUS_STATUS_BACKEND_UNAVAILABLE && side == 0) {
                        report("linear", false, std::string("the GPU BLAS is unavailable: ") + proteus_last_error_message());
                        return;
                    }
                    require(status, "proteus_linear");
                    out[side] = dy.read(y0);
                }
                compare(std::string("linear ") + dtype_name(dtype) + " bias " + std::to_string(bias_kind) + " accumulate " +
                            std::to_string(accumulate),
                        out[0], out[1], tolerance(dtype));
            }
        }
    }
}

// ---- convert, norm, gelu, rope --------------------------------------------------------------------

void check_convert(const Contexts& c, std::mt19937_64& rng)
{
    const proteus_dtype dtypes[] = {PROTEUS_DTYPE_FLOAT32, PROTEUS_DTYPE_FLOAT16, PROTEUS_DTYPE_BFLOAT16};
    for (proteus_dtype from : dtypes) {
        for (proteus_dtype to : dtypes) {
            const Host x = random_host(rng, from, {3, 5, 7, 33}, -70000.0f, 70000.0f);  // float16 overflows too
            const Host y0(to, {3, 5, 7, 33});
            Host out[2];
            for (int side = 0; side < 2; ++side) {
                const proteus_context context = side == 0 ? c.gpu : c.cpu;
                Device dx(context, x), dy(context, y0);
                require(proteus_convert(context, &dx.tensor, &dy.tensor), "proteus_convert");
                out[side] = dy.read(y0);
            }
            compare_bits(std::string("convert ") + dtype_name(from) + " -> " + dtype_name(to), out[0], out[1]);
        }
    }
}

void check_norm(const Contexts& c, std::mt19937_64& rng)
{
    const int64_t rows = 33, columns = 300;
    for (proteus_dtype dtype : {PROTEUS_DTYPE_FLOAT32, PROTEUS_DTYPE_FLOAT16, PROTEUS_DTYPE_BFLOAT16}) {
        for (int kind : {PROTEUS_NORM_LAYER, PROTEUS_NORM_RMS}) {
            for (int affine = 0; affine < 2; ++affine) {
                const Host x = random_host(rng, dtype, {rows, columns}, -2.0f, 3.0f);
                const Host weight = random_host(rng, PROTEUS_DTYPE_FLOAT32, {columns}, 0.5f, 1.5f);
                const Host bias = random_host(rng, PROTEUS_DTYPE_FLOAT32, {columns});
                proteus_norm_params params{};
                params.struct_size = sizeof params;
                params.kind = kind;
                params.eps = 1e-5f;
                Host out[2];
                for (int side = 0; side < 2; ++side) {
                    const proteus_context context = side == 0 ? c.gpu : c.cpu;
                    Device dx(context, x), dw(context, weight), db(context, bias), dy(context, x);
                    const bool with_bias = affine && kind == PROTEUS_NORM_LAYER;
                    require(proteus_norm(context, &dx.tensor, affine ? &dw.tensor : nullptr, with_bias ? &db.tensor : nullptr,
                                         &dy.tensor, &params),
                            "proteus_norm");
                    out[side] = dy.read(x);
                }
                compare(std::string("norm ") + (kind == PROTEUS_NORM_RMS ? "rms " : "layer ") + dtype_name(dtype) +
                            (affine ? " affine" : ""),
                        out[0], out[1], tolerance(dtype));
            }
        }
    }
}

void check_gelu(const Contexts& c, std::mt19937_64& rng)
{
    for (proteus_dtype dtype : {PROTEUS_DTYPE_FLOAT32, PROTEUS_DTYPE_FLOAT16, PROTEUS_DTYPE_BFLOAT16}) {
        const Host x = random_host(rng, dtype, {29, 257}, -6.0f, 6.0f);
        Host out[2];
        for (int side = 0; side < 2; ++side) {
            const proteus_context context = side == 0 ? c.gpu : c.cpu;
            Device dx(context, x), dy(context, x);
            require(proteus_gelu(context, &dx.tensor, &dy.tensor), "proteus_gelu");
            out[side] = dy.read(x);
        }
        compare(std::string("gelu ") + dtype_name(dtype), out[0], out[1], tolerance(dtype));
    }
}

/** RoPE at base 10000 (the original's) with the given convention and position offset. */
proteus_rope_params rope_params(int convention, int64_t offset)
{
    proteus_rope_params params{};
    params.struct_size = sizeof params;
    params.convention = convention;
    params.position_offset = offset;
    params.base = 10000.0f;
    return params;
}

void check_rope(const Contexts& c, std::mt19937_64& rng)
{
    for (proteus_dtype dtype : {PROTEUS_DTYPE_FLOAT32, PROTEUS_DTYPE_FLOAT16, PROTEUS_DTYPE_BFLOAT16}) {
        for (int convention : {PROTEUS_ROPE_INTERLEAVED, PROTEUS_ROPE_HALF_SPLIT}) {
            for (int64_t offset : {int64_t{0}, int64_t{1000000}}) {
                const Host x = random_host(rng, dtype, {2, 3, 40, 64});
                const proteus_rope_params params = rope_params(convention, offset);
                Host out[2];
                for (int side = 0; side < 2; ++side) {
                    const proteus_context context = side == 0 ? c.gpu : c.cpu;
                    Device dx(context, x);
                    require(proteus_rope(context, &dx.tensor, &params), "proteus_rope");
                    out[side] = dx.read(x);
                }
                compare(std::string("rope ") + dtype_name(dtype) + (convention ? " half-split" : " interleaved") +
                            " offset " + std::to_string(offset),
                        out[0], out[1], tolerance(dtype));
            }
        }
    }
}

/**
 * RoPE on views into a fused qkv buffer [B, T, (H + 2·Hkv)·D]: q and k as one [B, H + Hkv, T, D] view,
 * head stride D inside the token stride (H + 2·Hkv)·D, as the layer calls it. The same values start at
 * element shift 0 (aligned: the vector path where D is a multiple of 8), 1 (misaligned: element by
 * element) and 4 (8 bytes: 16-bit half-split vector, interleaved element by element; float32 vector).
 * Each against the CPU within §9; v and the other elements untouched; and the rotated view the same
 * bits at every shift (the vector and element paths agree exactly). D 2 and 6 leave partial items, D
 * 1100 (550 pairs) has no room for a tile's table of angles.
 */
void check_rope_views(const Contexts& c, std::mt19937_64& rng)
{
    struct Case {
        int64_t B, T, H, Hkv, D;
    };
    const Case cases[] = {{2, 37, 4, 2, 16}, {1, 70, 3, 3, 32}, {2, 9, 2, 1, 64},  {1, 5, 2, 2, 128},
                          {1, 11, 3, 1, 6},  {2, 3, 1, 1, 2},   {1, 3, 2, 0, 1100}, {1, 300, 32, 32, 16}};
    for (proteus_dtype dtype : {PROTEUS_DTYPE_FLOAT32, PROTEUS_DTYPE_FLOAT16, PROTEUS_DTYPE_BFLOAT16}) {
        for (int convention : {PROTEUS_ROPE_INTERLEAVED, PROTEUS_ROPE_HALF_SPLIT}) {
            for (const Case& s : cases) {
                for (int64_t offset : {int64_t{0}, int64_t{999937}}) {
                    const int64_t heads = s.H + s.Hkv, W = (s.H + 2 * s.Hkv) * s.D;
                    const Host values = random_host(rng, dtype, {s.B * s.T * W});
                    const auto view_index = [&](int64_t shift, int64_t b, int64_t h, int64_t t, int64_t d) {
                        return static_cast<uint64_t>(shift + b * s.T * W + t * W + h * s.D + d);
                    };
                    const std::string name = std::string("rope view ") + dtype_name(dtype) +
                                             (convention ? " half-split" : " interleaved") + " B " + std::to_string(s.B) +
                                             " T " + std::to_string(s.T) + " H " + std::to_string(s.H) + "+" +
                                             std::to_string(s.Hkv) + " D " + std::to_string(s.D) + " offset " +
                                             std::to_string(offset);
                    Host first_view;  // the GPU's rotated view at shift 0
                    for (int64_t shift : {int64_t{0}, int64_t{1}, int64_t{4}}) {
                        Host buffer(dtype, {s.B * s.T * W + shift});
                        for (uint64_t i = 0; i < buffer.count(); ++i) buffer.set(i, i < static_cast<uint64_t>(shift) ? 0.5f : values.get(i - shift));
                        const proteus_rope_params params = rope_params(convention, offset);
                        Host out[2];
                        for (int side = 0; side < 2; ++side) {
                            const proteus_context context = side == 0 ? c.gpu : c.cpu;
                            Device dx(context, buffer);
                            proteus_tensor view = dx.tensor;
                            view.offset_bytes = static_cast<uint64_t>(shift) * element_bytes(dtype);
                            view.rank = 4;
                            const int64_t shape[4] = {s.B, heads, s.T, s.D}, strides[4] = {s.T * W, s.D, W, 1};
                            for (int a = 0; a < 4; ++a) {
                                view.shape[a] = shape[a];
                                view.strides[a] = strides[a];
                            }
                            require(proteus_rope(context, &view, &params), "proteus_rope");
                            out[side] = dx.read(buffer);
                        }
                        Host gpu_view(dtype, {s.B, heads, s.T, s.D}), cpu_view = gpu_view;
                        std::vector<uint8_t> in_view(buffer.count(), 0);
                        uint64_t n = 0;
                        for (int64_t b = 0; b < s.B; ++b) {
                            for (int64_t h = 0; h < heads; ++h) {
                                for (int64_t t = 0; t < s.T; ++t) {
                                    for (int64_t d = 0; d < s.D; ++d, ++n) {
                                        const uint64_t i = view_index(shift, b, h, t, d);
                                        std::memcpy(gpu_view.bytes.data() + n * element_bytes(dtype),
                                                    out[0].bytes.data() + i * element_bytes(dtype), element_bytes(dtype));
                                        std::memcpy(cpu_view.bytes.data() + n * element_bytes(dtype),
                                                    out[1].bytes.data() + i * element_bytes(dtype), element_bytes(dtype));
                                        in_view[i] = 1;
                                    }
                                }
                            }
                        }
                        const std::string shifted = name + " shift " + std::to_string(shift);
                        compare(shifted, gpu_view, cpu_view, tolerance(dtype));
                        uint64_t touched = 0;
                        const uint64_t size = element_bytes(dtype);
                        for (uint64_t i = 0; i < buffer.count(); ++i) {
                            touched += !in_view[i] && std::memcmp(out[0].bytes.data() + i * size, buffer.bytes.data() + i * size, size) != 0;
                        }
                        report(shifted + " outside the view", touched == 0, std::to_string(touched) + " elements changed");
                        if (shift == 0) {
                            first_view = gpu_view;
                        } else {
                            compare_bits(shifted + " same bits as shift 0", gpu_view, first_view);
                        }
                    }
                }
            }
        }
    }
}

// ---- router, select_rows, dna_update --------------------------------------------------------------

struct RouterOut {
    Host probs, head_probs, salience, importance;
};

/** x [B, T + pad, C] in storage, the router reading its first T tokens per batch row (pad 0: all of them). */
RouterOut run_router(proteus_context context, const Host& x, int64_t pad, const Host& weight, const Host& prototypes,
                     const Host& usage, const Host& confidence, int64_t heads, bool dna, float usage_boost)
{
    const int64_t B = x.shape[0], T = x.shape[1] - pad, G = weight.shape[0];
    RouterOut out{Host(PROTEUS_DTYPE_FLOAT32, {B, T, G}), Host(PROTEUS_DTYPE_FLOAT32, {B, T, heads}),
                  Host(PROTEUS_DTYPE_FLOAT32, {B, T}), Host(PROTEUS_DTYPE_FLOAT32, {B, T})};
    Device dx(context, x), dw(context, weight), dp(context, prototypes), du(context, usage), dc(context, confidence);
    Device probs(context, out.probs), head_probs(context, out.head_probs), salience(context, out.salience),
        importance(context, out.importance);
    proteus_router_tensors t{};
    t.struct_size = sizeof t;
    t.x = dx.tensor;
    t.x.shape[1] = T;  // the batch stride keeps the padding: rows not evenly spaced across batch rows
    t.weight = dw.tensor;
    if (dna) {
        t.prototypes = dp.tensor;
        t.usage = du.tensor;
        t.confidence = dc.tensor;
        t.salience = salience.tensor;
    }
    t.probs = probs.tensor;
    t.head_probs = head_probs.tensor;
    t.importance = importance.tensor;
    proteus_router_params params{};
    params.struct_size = sizeof params;
    params.heads = static_cast<int32_t>(heads);
    params.dna = dna ? 1 : 0;
    params.tau = 0.2f;
    params.theta = 0.25f;
    params.blend = 0.6f;
    params.usage_boost = usage_boost;
    require(proteus_router(context, &t, &params), "proteus_router");
    out.probs = probs.read(out.probs);
    out.head_probs = head_probs.read(out.head_probs);
    out.salience = salience.read(out.salience);
    out.importance = importance.read(out.importance);
    return out;
}

/**
 * Both GPU paths (c.gpu through the BLAS, c.gpu_direct with PROTEUS_GPU_ROUTER=direct) against the CPU,
 * and 5 runs bit-identical. Shapes: G below 32; G = 40 (not a multiple of 32) with padded batch rows (one
 * GEMM per batch row); 70000 tokens, several GEMM chunks in every dtype; G 64 of H 32 and G 128 of H 64
 * (each lane of the finishing kernel holds whole heads; the others fetch a head's gates by shuffles);
 * G 9 over H 7 with an odd C (x read element by element; heads of one or two gates, SPEC §6 G ≥ H); G 300 (past 32·8 gates:
 * the shared-memory finishing kernel); G 6 of H 3 (one gate a lane, heads by shuffles) and G 200 of H 10
 * (32 lanes a token, heads by shuffles), so that every lane width of the finishing kernel runs.
 */
void check_router(const Contexts& c, std::mt19937_64& rng)
{
    struct Shape {
        int64_t B, T, C, G, H, pad;
    };
    const Shape shapes[] = {{2, 50, 200, 24, 8, 0}, {3, 37, 96, 40, 5, 2},  {1, 70000, 8, 64, 16, 0},
                            {2, 64, 64, 64, 32, 0}, {2, 40, 40, 128, 64, 1}, {1, 20, 37, 9, 7, 0},
                            {1, 33, 48, 300, 7, 0}, {2, 30, 32, 6, 3, 0},    {1, 45, 64, 200, 10, 0}};
    for (const bool blas : {true, false}) {
        const proteus_context gpu_context = blas ? c.gpu : c.gpu_direct;
        for (const Shape& s : shapes) {
            if (small_run && s.T > 4096) continue;
            for (proteus_dtype dtype : {PROTEUS_DTYPE_FLOAT32, PROTEUS_DTYPE_FLOAT16, PROTEUS_DTYPE_BFLOAT16}) {
                for (int mode = 0; mode < 3; ++mode) {  // no DNA, DNA, DNA with a usage boost
                    const bool dna = mode > 0;
                    const float boost = mode == 2 ? 0.5f : 0.0f;
                    const Host x = random_host(rng, dtype, {s.B, s.T + s.pad, s.C});
                    const Host weight = random_host(rng, PROTEUS_DTYPE_FLOAT32, {s.G, s.C}, -0.3f, 0.3f);
                    // Prototypes near some tokens, so that salience crosses θ and the blend is exercised.
                    Host prototypes = random_host(rng, PROTEUS_DTYPE_FLOAT32, {s.G, s.C}, -0.05f, 0.05f);
                    for (int64_t g = 0; g < s.G; g += 2) {
                        for (int64_t k = 0; k < s.C; ++k) {
                            prototypes.set(g * s.C + k, prototypes.get(g * s.C + k) + x.get((g % s.T) * s.C + k));
                        }
                    }
                    const Host usage = random_host(rng, PROTEUS_DTYPE_FLOAT32, {s.G}, 0.0f, 3.0f);
                    const Host confidence = random_host(rng, PROTEUS_DTYPE_FLOAT32, {s.G}, 0.0f, 1.0f);
                    const auto run = [&](proteus_context context) {
                        return run_router(context, x, s.pad, weight, prototypes, usage, confidence, s.H, dna, boost);
                    };
                    const RouterOut gpu = run(gpu_context);
                    const RouterOut cpu = run(c.cpu);
                    const std::string name = std::string("router ") + (blas ? "blas " : "direct ") + dtype_name(dtype) +
                                             (dna ? " dna" : "") + (boost > 0 ? " boost" : "") + " B " +
                                             std::to_string(s.B) + " T " + std::to_string(s.T) + " G " +
                                             std::to_string(s.G) + (s.pad > 0 ? " padded" : "");
                    const double limit = 1e-5;  // float32 outputs from the same stored inputs
                    compare(name + " probs", gpu.probs, cpu.probs, limit);
                    compare(name + " head_probs", gpu.head_probs, cpu.head_probs, limit);
                    compare(name + " importance", gpu.importance, cpu.importance, limit);
                    if (dna) compare(name + " salience", gpu.salience, cpu.salience, limit);
                    bool same = true;
                    // The sanitizers' run (small) checks each shape once: determinism is the full run's.
                    for (int again_run = 0; again_run < (small_run ? 0 : 4); ++again_run) {
                        const RouterOut again = run(gpu_context);
                        same = same && again.probs.bytes == gpu.probs.bytes &&
                               again.head_probs.bytes == gpu.head_probs.bytes &&
                               again.importance.bytes == gpu.importance.bytes && again.salience.bytes == gpu.salience.bytes;
                    }
                    report(name + " deterministic (5 runs)", same, same ? "identical bits" : "bits differ between runs");
                }
            }
        }
    }
}

void check_select(const Contexts& c, std::mt19937_64& rng)
{
    struct Case {
        int64_t B, T, H;
        int32_t k;
        double ratio;
        int64_t guard;
        int levels;  // importance quantised to this many levels (ties), 0: continuous
    };
    const Case cases[] = {{2, 300, 8, 3, 0.4, 4, 16}, {1, 17, 4, 1, 0.5, 1, 0},   {3, 1000, 16, 16, 0.2, 8, 0},
                          {2, 513, 8, 2, 1.0, 1, 4},  {1, 64, 8, 2, 0.05, 10, 3}, {2, 200003, 8, 2, 0.3, 16, 64}};
    for (Case s : cases) {
        if (small_run && s.T > 40003) s.T = 40003;
        Host head_probs = random_host(rng, PROTEUS_DTYPE_FLOAT32, {s.B, s.T, s.H}, 0.0f, 1.0f);
        for (uint64_t i = 0; i < head_probs.count(); i += 7) head_probs.set(i, head_probs.get(i - i % s.H));  // head ties
        Host importance = random_host(rng, PROTEUS_DTYPE_FLOAT32, {s.B, s.T}, 0.0f, 1.0f);
        if (s.levels > 0) {
            for (uint64_t i = 0; i < importance.count(); ++i) importance.set(i, std::floor(importance.get(i) * s.levels) / s.levels);
        }
        const Host active0(PROTEUS_DTYPE_UINT8, {s.B, s.H, s.T});
        proteus_select_params params{};
        params.struct_size = sizeof params;
        params.heads_per_token = s.k;
        params.keep_ratio = s.ratio;
        params.guard = s.guard;
        Host out[2];
        for (int side = 0; side < 2; ++side) {
            const proteus_context context = side == 0 ? c.gpu : c.cpu;
            Device dh(context, head_probs), di(context, importance), da(context, active0);
            require(proteus_select_rows(context, &dh.tensor, &di.tensor, &da.tensor, &params), "proteus_select_rows");
            out[side] = da.read(active0);
        }
        compare_bits("select_rows B " + std::to_string(s.B) + " T " + std::to_string(s.T) + " H " + std::to_string(s.H) +
                         " k " + std::to_string(s.k) + " ratio " + std::to_string(s.ratio) + " guard " + std::to_string(s.guard),
                     out[0], out[1]);
    }
}

struct DnaState {
    Host prototypes, usage, confidence;
};

DnaState run_dna_update(proteus_context context, const Host& x, const Host& probs, const DnaState& start)
{
    Device dx(context, x), dq(context, probs), dp(context, start.prototypes), du(context, start.usage),
        dc(context, start.confidence);
    proteus_dna_update_params params{};
    params.struct_size = sizeof params;
    params.decay = 0.97f;
    require(proteus_dna_update(context, &dx.tensor, &dq.tensor, &dp.tensor, &du.tensor, &dc.tensor, &params),
            "proteus_dna_update");
    return {dp.read(start.prototypes), du.read(start.usage), dc.read(start.confidence)};
}

void check_dna_update(const Contexts& c, std::mt19937_64& rng)
{
    const int64_t B = 2, C = 130, G = 12;
    for (int64_t T : {int64_t{700}, int64_t{5}}) {
        for (proteus_dtype dtype : {PROTEUS_DTYPE_FLOAT32, PROTEUS_DTYPE_FLOAT16, PROTEUS_DTYPE_BFLOAT16}) {
            const Host x = random_host(rng, dtype, {B, T, C});
            Host probs = random_host(rng, PROTEUS_DTYPE_FLOAT32, {B, T, G}, 0.0f, 1.0f);
            for (int64_t r = 0; r < B * T; ++r) {
                float sum = 0.0f;
                probs.set(r * G + 3, 0.0f);  // gate 3 gets no mass: not updated, only decayed
                for (int64_t g = 0; g < G; ++g) sum += probs.get(r * G + g);
                for (int64_t g = 0; g < G; ++g) probs.set(r * G + g, probs.get(r * G + g) / sum);
            }
            const DnaState start{random_host(rng, PROTEUS_DTYPE_FLOAT32, {G, C}, -0.05f, 0.05f),
                                 random_host(rng, PROTEUS_DTYPE_FLOAT32, {G}, 0.0f, 5.0f),
                                 random_host(rng, PROTEUS_DTYPE_FLOAT32, {G}, 0.0f, 1.0f)};
            const DnaState gpu = run_dna_update(c.gpu, x, probs, start);
            const DnaState cpu = run_dna_update(c.cpu, x, probs, start);
            const std::string name = std::string("dna_update ") + dtype_name(dtype) + " T " + std::to_string(T);
            compare(name + " prototypes", gpu.prototypes, cpu.prototypes, 1e-5);
            compare(name + " usage", gpu.usage, cpu.usage, 1e-5);
            compare(name + " confidence", gpu.confidence, cpu.confidence, 1e-5);
            bool same = true;
            for (int run = 0; run < 4; ++run) {
                const DnaState again = run_dna_update(c.gpu, x, probs, start);
                same = same && again.prototypes.bytes == gpu.prototypes.bytes && again.usage.bytes == gpu.usage.bytes &&
                       again.confidence.bytes == gpu.confidence.bytes;
            }
            report(name + " deterministic (5 runs)", same, same ? "identical bits" : "bits differ between runs");
        }
    }
}

}  // namespace

int main(int argc, char** argv)
{
    const std::string backend = argc > 1 ? argv[1] : "cuda";
    const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
    small_run = argc > 3 && std::string(argv[3]) == "small";
    Contexts c;
    require(proteus_context_create(PROTEUS_BACKEND_CPU, 0, &c.cpu), "context_create(cpu)");
    const proteus_backend gpu_backend = backend == "hip" ? PROTEUS_BACKEND_HIP : PROTEUS_BACKEND_CUDA;
    require(proteus_context_create(gpu_backend, 0, &c.gpu), "context_create(gpu)");
    // A context reads PROTEUS_GPU_ROUTER when it is created.
    const char* router_path = std::getenv("PROTEUS_GPU_ROUTER");
    const std::string restore = router_path != nullptr ? router_path : "";
    setenv("PROTEUS_GPU_ROUTER", "direct", 1);
    require(proteus_context_create(gpu_backend, 0, &c.gpu_direct), "context_create(gpu, direct router)");
    if (router_path != nullptr) {
        setenv("PROTEUS_GPU_ROUTER", restore.c_str(), 1);
    } else {
        unsetenv("PROTEUS_GPU_ROUTER");
    }
    std::mt19937_64 rng(seed);
    using Suite = std::function<void(const Contexts&, std::mt19937_64&)>;
    const std::pair<const char*, Suite> suites[] = {
        {"linear", check_linear}, {"convert", check_convert}, {"norm", check_norm},       {"gelu", check_gelu},
        {"rope", check_rope},     {"rope_views", check_rope_views}, {"router", check_router}, {"select", check_select},
        {"dna_update", check_dna_update}};
    // argv[4]: the suites to run, comma separated (the sanitizers split the run; every suite by default).
    const std::string wanted = argc > 4 ? "," + std::string(argv[4]) + "," : "";
    for (const auto& [name, suite] : suites) {
        if (wanted.empty() || wanted.find("," + std::string(name) + ",") != std::string::npos) suite(c, rng);
    }
    require(proteus_context_destroy(c.gpu_direct), "context_destroy(gpu, direct router)");
    require(proteus_context_destroy(c.gpu), "context_destroy(gpu)");
    require(proteus_context_destroy(c.cpu), "context_destroy(cpu)");
    std::printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
