// Checks of the CPU backend's layer operations (SPEC §4–§7) through the backend interface, compiled with
// the CPU sources: each op against a literal double-precision reference on random nonzero inputs
// stored in float32, float16 and bfloat16 (relative L2 error within SPEC §9's tolerance for the storage
// dtype; selections and conversions exact), at awkward sizes and padded strides, and the router and
// the DNA update giving the same bits on every run and for every thread count.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend.h"
#include "backend_check.h"
#include "core/error.h"
#include "core/numeric.h"
#include "cpu/layer_ops.h"

namespace {

using proteus::Backend;
using proteus::TensorRef;

const char* dtype_name(proteus_dtype dtype)
{
    switch (dtype) {
    case PROTEUS_DTYPE_FLOAT32: return "float32";
    case PROTEUS_DTYPE_FLOAT16: return "float16";
    case PROTEUS_DTYPE_BFLOAT16: return "bfloat16";
    default: return "uint8";
    }
}

/** SPEC §9's relative L2 tolerance for results stored in `dtype`. */
double tolerance(proteus_dtype dtype)
{
    switch (dtype) {
    case PROTEUS_DTYPE_FLOAT16: return 2e-3;
    case PROTEUS_DTYPE_BFLOAT16: return 1e-2;
    default: return 1e-5;
    }
}

constexpr proteus_dtype storage_dtypes[] = {PROTEUS_DTYPE_FLOAT32, PROTEUS_DTYPE_FLOAT16, PROTEUS_DTYPE_BFLOAT16};

/**
 * A host tensor of any dtype with row-major strides, the rows (the next-to-last axis) padded by `padding`
 * elements so that no stride equals the shape's. Values are read and written as double, counted
 * row-major over the shape.
 */
class HostTensor {
public:
    HostTensor(proteus_dtype dtype, std::vector<int64_t> shape, int64_t padding = 0)
        : dtype_(dtype), shape_(std::move(shape)), strides_(shape_.size(), 1)
    {
        // Walks outward from the last axis: each stride covers the next axis's extent (rows padded).
        int64_t extent = 1;
        for (size_t axis = shape_.size(); axis-- > 0;) {
            strides_[axis] = extent;
            extent *= shape_[axis];
            if (axis + 1 == shape_.size()) extent += padding;
        }
        const int64_t elements = shape_.empty() ? 1 : strides_[0] * shape_[0];
        bytes_.assign(static_cast<size_t>(elements) * element_bytes(), 0);
    }

    /** Any strides (in elements) over a buffer of `elements`. */
    HostTensor(proteus_dtype dtype, std::vector<int64_t> shape, std::vector<int64_t> strides, int64_t elements)
        : dtype_(dtype), shape_(std::move(shape)), strides_(std::move(strides)),
          bytes_(static_cast<size_t>(elements) * element_bytes(), 0)
    {
    }

    int64_t count() const
    {
        return std::accumulate(shape_.begin(), shape_.end(), int64_t{1}, std::multiplies<int64_t>());
    }

    size_t element_bytes() const { return dtype_ == PROTEUS_DTYPE_FLOAT32 ? 4 : dtype_ == PROTEUS_DTYPE_UINT8 ? 1 : 2; }

    int64_t offset(int64_t index) const
    {
        int64_t offset = 0;
        for (int axis = static_cast<int>(shape_.size()) - 1; axis >= 0; --axis) {
            offset += (index % shape_[axis]) * strides_[axis];
            index /= shape_[axis];
        }
        return offset;
    }

    double get(int64_t index) const
    {
        const unsigned char* p = bytes_.data() + offset(index) * element_bytes();
        uint16_t half = 0;
        float single = 0;
        switch (dtype_) {
        case PROTEUS_DTYPE_FLOAT32: std::memcpy(&single, p, 4); return single;
        case PROTEUS_DTYPE_UINT8: return *p;
        case PROTEUS_DTYPE_FLOAT16: std::memcpy(&half, p, 2); return proteus::half_to_float(half);
        default: std::memcpy(&half, p, 2); return proteus::bfloat16_to_float(half);
        }
    }

    /** Stores `value` rounded to the dtype; get() then returns the stored value. */
    void set(int64_t index, double value)
    {
        unsigned char* p = bytes_.data() + offset(index) * element_bytes();
        const float single = static_cast<float>(value);
        uint16_t half = 0;
        switch (dtype_) {
        case PROTEUS_DTYPE_FLOAT32: std::memcpy(p, &single, 4); return;
        case PROTEUS_DTYPE_UINT8: *p = static_cast<unsigned char>(value); return;
        case PROTEUS_DTYPE_FLOAT16: half = proteus::float_to_half(single); break;
        default: half = proteus::float_to_bfloat16(single); break;
        }
        std::memcpy(p, &half, 2);
    }

    std::vector<double> values() const
    {
        std::vector<double> out(static_cast<size_t>(count()));
        for (int64_t i = 0; i < count(); ++i) out[static_cast<size_t>(i)] = get(i);
        return out;
    }

    /** Every byte of the buffer, padding included, set to `byte` (0xff: NaN in every float dtype). */
    void poison(unsigned char byte = 0xff) { std::fill(bytes_.begin(), bytes_.end(), byte); }

    TensorRef ref()
    {
        TensorRef t;
        t.data = bytes_.data();
        t.dtype = dtype_;
        t.rank = static_cast<int>(shape_.size());
        for (size_t axis = 0; axis < shape_.size(); ++axis) {
            t.shape[axis] = shape_[axis];
            t.strides[axis] = strides_[axis];
        }
        return t;
    }

    const std::vector<unsigned char>& bytes() const { return bytes_; }
    /** Puts back bytes taken from bytes() earlier. */
    void restore(const std::vector<unsigned char>& bytes) { bytes_ = bytes; }
    proteus_dtype dtype() const { return dtype_; }

private:
    proteus_dtype dtype_;
    std::vector<int64_t> shape_;
    std::vector<int64_t> strides_;
    std::vector<unsigned char> bytes_;
};

std::mt19937_64 rng(20261201);

/** Uniform in ±[0.05, 1) · scale: never zero. */
double nonzero(double scale = 1.0)
{
    std::uniform_real_distribution<double> magnitude(0.05, 1.0);
    return (rng() & 1 ? 1.0 : -1.0) * magnitude(rng) * scale;
}

void fill_random(HostTensor& t, double scale = 1.0)
{
    for (int64_t i = 0; i < t.count(); ++i) t.set(i, nonzero(scale));
}

/** ‖out − ref‖ / ‖ref‖; infinite when out holds a NaN or an infinity. */
double relative_error(const std::vector<double>& out, const std::vector<double>& ref)
{
    double difference = 0, norm = 0;
    for (size_t i = 0; i < out.size(); ++i) {
        if (!std::isfinite(out[i])) return std::numeric_limits<double>::infinity();
        difference += (out[i] - ref[i]) * (out[i] - ref[i]);
        norm += ref[i] * ref[i];
    }
    return std::sqrt(difference) / std::max(std::sqrt(norm), 1e-300);
}

void expect_close(const std::vector<double>& out, const std::vector<double>& ref, double limit, const std::string& what)
{
    const double error = relative_error(out, ref);
    CHECK(error <= limit, "%s: relative L2 error %.3g > %.3g", what.c_str(), error, limit);
}

void expect_ok(proteus_status status, const std::string& what)
{
    CHECK(status == PROTEUS_STATUS_OK, "%s: status %d (%s)", what.c_str(), status, proteus::last_error_message());
}

// ---- linear -------------------------------------------------------------------------------------

void check_linear(Backend& backend)
{
    BackendWorkspace workspace(backend);
    struct Shape {
        int64_t m, n, k;
    };
    const Shape shapes[] = {{1, 7, 5}, {3, 1, 1}, {4, 33, 17}, {37, 65, 130}, {70, 129, 300}, {1, 200, 257}};
    for (const proteus_dtype dtype : storage_dtypes) {
        for (const Shape& s : shapes) {
            for (int bias_kind = 0; bias_kind < 3; ++bias_kind) {  // none, float32, y's dtype
                for (const bool accumulate : {false, true}) {
                    const int64_t padding = (s.m + s.n) % 3;
                    HostTensor x(dtype, {s.m, s.k}, padding), w(dtype, {s.n, s.k}, 2 * padding), y(dtype, {s.m, s.n}, padding + 1);
                    HostTensor bias(bias_kind == 1 ? PROTEUS_DTYPE_FLOAT32 : dtype, {s.n});
                    fill_random(x);
                    fill_random(w);
                    fill_random(bias);
                    const float beta = 0.75f;
                    if (accumulate) {
                        fill_random(y);
                    } else {
                        y.poison();  // never read: NaN everywhere
                    }
                    const std::vector<double> xv = x.values(), wv = w.values(), bv = bias.values(), y0 = y.values();
                    std::vector<double> ref(static_cast<size_t>(s.m * s.n));
                    for (int64_t i = 0; i < s.m; ++i) {
                        for (int64_t j = 0; j < s.n; ++j) {
                            double total = 0;
                            for (int64_t c = 0; c < s.k; ++c) total += xv[i * s.k + c] * wv[j * s.k + c];
                            if (bias_kind != 0) total += bv[j];
                            if (accumulate) total += beta * y0[i * s.n + j];
                            ref[i * s.n + j] = total;
                        }
                    }
                    proteus::LinearProblem problem;
                    problem.x = x.ref();
                    problem.weight = w.ref();
                    if (bias_kind != 0) problem.bias = bias.ref();
                    problem.y = y.ref();
                    problem.m = s.m;
                    problem.n = s.n;
                    problem.k = s.k;
                    problem.accumulate = accumulate;
                    problem.beta = beta;
                    const std::string what = std::string("linear ") + dtype_name(dtype) + " " + std::to_string(s.m) + "x" +
                                             std::to_string(s.n) + "x" + std::to_string(s.k) + " bias " +
                                             std::to_string(bias_kind) + (accumulate ? " accumulate" : "");
                    expect_ok(backend.linear(problem, workspace), what);
                    expect_close(y.values(), ref, tolerance(dtype), what);
                }
            }
        }
    }
}

/** [B, T, ·] activations as rank-3 tensors (the rows of x and y are the B·T tokens). */
void check_linear_tokens(Backend& backend)
{
    BackendWorkspace workspace(backend);
    const int64_t B = 2, T = 5, K = 12, N = 9;
    for (const proteus_dtype dtype : storage_dtypes) {
        HostTensor x(dtype, {B, T, K}, 3), w(dtype, {N, K}), y(dtype, {B, T, N}, 1);
        fill_random(x);
        fill_random(w);
        y.poison();
        std::vector<double> ref(static_cast<size_t>(B * T * N));
        for (int64_t r = 0; r < B * T; ++r) {
            for (int64_t j = 0; j < N; ++j) {
                for (int64_t c = 0; c < K; ++c) ref[r * N + j] += x.get(r * K + c) * w.get(j * K + c);
            }
        }
        proteus::LinearProblem problem;
        problem.x = x.ref();
        problem.weight = w.ref();
        problem.y = y.ref();
        problem.m = B * T;
        problem.n = N;
        problem.k = K;
        const std::string what = std::string("linear rank 3 ") + dtype_name(dtype);
        expect_ok(backend.linear(problem, workspace), what);
        expect_close(y.values(), ref, tolerance(dtype), what);
    }
}

// ---- convert ------------------------------------------------------------------------------------

uint32_t rounded_bits(proteus_dtype dtype, float value)
{
    switch (dtype) {
    case PROTEUS_DTYPE_FLOAT16: return proteus::float_to_half(value);
    case PROTEUS_DTYPE_BFLOAT16: return proteus::float_to_bfloat16(value);
    default: return proteus::float_to_bits(value);
    }
}

uint32_t stored_bits(const HostTensor& t, int64_t index)
{
    uint32_t bits = 0;
    std::memcpy(&bits, t.bytes().data() + t.offset(index) * t.element_bytes(), t.element_bytes());
    return bits;
}

void check_convert(Backend& backend)
{
    for (const proteus_dtype from : storage_dtypes) {
        for (const proteus_dtype to : storage_dtypes) {
            HostTensor x(from, {3, 5, 9}, 2), y(to, {3, 5, 9}, 1);
            fill_random(x, 100.0);
            y.poison();
            proteus::ConvertProblem problem;
            problem.x = x.ref();
            problem.y = y.ref();
            const std::string what = std::string("convert ") + dtype_name(from) + " -> " + dtype_name(to);
            expect_ok(backend.convert(problem), what);
            int64_t wrong = 0;
            for (int64_t i = 0; i < x.count(); ++i) {
                if (stored_bits(y, i) != rounded_bits(to, static_cast<float>(x.get(i)))) ++wrong;
            }
            CHECK(wrong == 0, "%s: %lld of %lld elements not rounded to nearest even", what.c_str(),
                  static_cast<long long>(wrong), static_cast<long long>(x.count()));
        }
    }
}

// ---- norm and GELU ------------------------------------------------------------------------------

void check_norm(Backend& backend)
{
    const int64_t shapes[][2] = {{1, 1}, {5, 33}, {17, 256}, {3, 1000}};
    for (const proteus_dtype dtype : storage_dtypes) {
        for (const auto& shape : shapes) {
            const int64_t rows = shape[0], columns = shape[1];
            for (const proteus_norm_kind kind : {PROTEUS_NORM_LAYER, PROTEUS_NORM_RMS}) {
                for (int affine = 0; affine < 2; ++affine) {
                    for (const bool in_place : {false, true}) {
                        HostTensor x(dtype, {rows, columns}, 3), y(dtype, {rows, columns}, 1);
                        HostTensor weight(PROTEUS_DTYPE_FLOAT32, {columns}), bias(PROTEUS_DTYPE_FLOAT32, {columns});
                        fill_random(x, 3.0);
                        for (int64_t i = 0; i < x.count(); ++i) x.set(i, x.get(i) + 0.5);  // a mean away from zero
                        fill_random(weight);
                        fill_random(bias);
                        const float eps = 1e-5f;
                        const std::vector<double> xv = x.values();
                        std::vector<double> ref(xv.size());
                        for (int64_t r = 0; r < rows; ++r) {
                            const double* row = xv.data() + r * columns;
                            double mean = 0, square = 0;
                            for (int64_t c = 0; c < columns; ++c) mean += row[c] / columns;
                            for (int64_t c = 0; c < columns; ++c) {
                                const double centred = kind == PROTEUS_NORM_LAYER ? row[c] - mean : row[c];
                                square += centred * centred / columns;
                            }
                            for (int64_t c = 0; c < columns; ++c) {
                                const double centred = kind == PROTEUS_NORM_LAYER ? row[c] - mean : row[c];
                                double value = centred / std::sqrt(square + eps);
                                if (affine) value = value * weight.get(c) + (kind == PROTEUS_NORM_LAYER ? bias.get(c) : 0.0);
                                ref[r * columns + c] = value;
                            }
                        }
                        proteus::NormProblem problem;
                        problem.x = x.ref();
                        problem.y = in_place ? x.ref() : y.ref();
                        if (affine) {
                            problem.weight = weight.ref();
                            if (kind == PROTEUS_NORM_LAYER) problem.bias = bias.ref();
                        }
                        problem.rows = rows;
                        problem.columns = columns;
                        problem.kind = kind;
                        problem.eps = eps;
                        const std::string what = std::string("norm ") + (kind == PROTEUS_NORM_LAYER ? "layer " : "rms ") +
                                                 dtype_name(dtype) + " " + std::to_string(rows) + "x" +
                                                 std::to_string(columns) + (affine ? " affine" : "") +
                                                 (in_place ? " in place" : "");
                        expect_ok(backend.norm(problem), what);
                        // C = 1 LayerNorm is exactly the bias (or 0), whose norm may be tiny: compare absolutely.
                        if (kind == PROTEUS_NORM_LAYER && columns == 1) {
                            const std::vector<double> out = (in_place ? x : y).values();
                            double worst = 0;
                            for (size_t i = 0; i < out.size(); ++i) worst = std::max(worst, std::fabs(out[i] - ref[i]));
                            CHECK(worst <= tolerance(dtype), "%s: error %.3g", what.c_str(), worst);
                        } else {
                            expect_close((in_place ? x : y).values(), ref, tolerance(dtype), what);
                        }
                    }
                }
            }
        }
    }
}

void check_gelu(Backend& backend)
{
    for (const proteus_dtype dtype : storage_dtypes) {
        for (const bool in_place : {false, true}) {
            HostTensor x(dtype, {7, 45}, 5), y(dtype, {7, 45});
            fill_random(x, 4.0);
            const std::vector<double> xv = x.values();
            std::vector<double> ref(xv.size());
            for (size_t i = 0; i < xv.size(); ++i) ref[i] = 0.5 * xv[i] * (1.0 + std::erf(xv[i] / std::sqrt(2.0)));
            proteus::GeluProblem problem;
            problem.x = x.ref();
            problem.y = in_place ? x.ref() : y.ref();
            problem.rows = 7;
            problem.columns = 45;
            const std::string what = std::string("gelu ") + dtype_name(dtype) + (in_place ? " in place" : "");
            expect_ok(backend.gelu(problem), what);
            expect_close((in_place ? x : y).values(), ref, tolerance(dtype), what);
        }
    }
}

// ---- RoPE ---------------------------------------------------------------------------------------

void check_rope(Backend& backend)
{
    const int64_t B = 2, H = 3, T = 7;
    for (const proteus_dtype dtype : storage_dtypes) {
        for (const int64_t D : {16, 64}) {
            for (const proteus_rope_convention convention : {PROTEUS_ROPE_INTERLEAVED, PROTEUS_ROPE_HALF_SPLIT}) {
                // At 10^6 a float32 angle (ulp 0.0625) is off by up to 0.03 rad, far outside the tolerance.
                for (const int64_t offset : {int64_t{0}, int64_t{1000}, int64_t{1000000}}) {
                    // Token-major [B, T, H, D] storage seen as [B, H, T, D], rows padded.
                    const int64_t row = D + 4;
                    HostTensor x(dtype, {B, H, T, D}, {T * H * row, row, H * row, 1}, B * T * H * row);
                    fill_random(x);
                    const std::vector<double> xv = x.values();
                    std::vector<double> ref(xv.size());
                    const double base = 10000.0;
                    for (int64_t bh = 0; bh < B * H; ++bh) {
                        for (int64_t t = 0; t < T; ++t) {
                            const double* in = xv.data() + (bh * T + t) * D;
                            double* out = ref.data() + (bh * T + t) * D;
                            for (int64_t m = 0; m < D / 2; ++m) {
                                const double angle = static_cast<double>(offset + t) * std::pow(base, -2.0 * m / D);
                                const int64_t i0 = convention == PROTEUS_ROPE_INTERLEAVED ? 2 * m : m;
                                const int64_t i1 = convention == PROTEUS_ROPE_INTERLEAVED ? 2 * m + 1 : m + D / 2;
                                out[i0] = in[i0] * std::cos(angle) - in[i1] * std::sin(angle);
                                out[i1] = in[i0] * std::sin(angle) + in[i1] * std::cos(angle);
                            }
                        }
                    }
                    proteus::RopeProblem problem;
                    problem.x = x.ref();
                    problem.batch = B;
                    problem.heads = H;
                    problem.seq_len = T;
                    problem.head_dim = D;
                    problem.convention = convention;
                    problem.position_offset = offset;
                    problem.base = 10000.0f;
                    const std::string what = std::string("rope ") + dtype_name(dtype) + " D " + std::to_string(D) +
                                             (convention == PROTEUS_ROPE_INTERLEAVED ? " interleaved" : " half-split") +
                                             " offset " + std::to_string(offset);
                    expect_ok(backend.rope(problem), what);
                    expect_close(x.values(), ref, tolerance(dtype), what);
                }
            }
        }
    }
}

// ---- router -------------------------------------------------------------------------------------

struct RouterCase {
    int64_t batch, seq_len, channels, gates, heads;
    bool dna;
    float usage_boost;
};

struct RouterTensors {
    HostTensor x, weight, prototypes, usage, confidence, probs, head_probs, salience, importance;

    RouterTensors(const RouterCase& c, proteus_dtype dtype)
        : x(dtype, {c.batch, c.seq_len, c.channels}, 3), weight(PROTEUS_DTYPE_FLOAT32, {c.gates, c.channels}, 1),
          prototypes(PROTEUS_DTYPE_FLOAT32, {c.gates, c.channels}, 2), usage(PROTEUS_DTYPE_FLOAT32, {c.gates}),
          confidence(PROTEUS_DTYPE_FLOAT32, {c.gates}), probs(PROTEUS_DTYPE_FLOAT32, {c.batch, c.seq_len, c.gates}, 1),
          head_probs(PROTEUS_DTYPE_FLOAT32, {c.batch, c.seq_len, c.heads}), salience(PROTEUS_DTYPE_FLOAT32, {c.batch, c.seq_len}, 2),
          importance(PROTEUS_DTYPE_FLOAT32, {c.batch, c.seq_len}, 1)
    {
        fill_random(weight, 0.5);
        fill_random(prototypes);
        for (int64_t g = 0; g < c.gates; ++g) {
            usage.set(g, std::fabs(nonzero(3.0)));
            confidence.set(g, std::fabs(nonzero()));
        }
        // Every third token near a prototype (salience near 1, β = 1), the others random (β in [0, 1)).
        for (int64_t token = 0; token < c.batch * c.seq_len; ++token) {
            const int64_t g = token % c.gates;
            for (int64_t ch = 0; ch < c.channels; ++ch) {
                const double value = token % 3 == 0 ? 2.0 * prototypes.get(g * c.channels + ch) + nonzero(0.1) : nonzero();
                x.set(token * c.channels + ch, value);
            }
        }
        for (HostTensor* out : {&probs, &head_probs, &salience, &importance}) out->poison();
    }

    proteus::RouterProblem problem(const RouterCase& c)
    {
        proteus::RouterProblem p;
        p.x = x.ref();
        p.weight = weight.ref();
        if (c.dna) {
            p.prototypes = prototypes.ref();
            p.usage = usage.ref();
            p.confidence = confidence.ref();
            p.salience = salience.ref();
        }
        p.probs = probs.ref();
        p.head_probs = head_probs.ref();
        p.importance = importance.ref();
        p.batch = c.batch;
        p.seq_len = c.seq_len;
        p.channels = c.channels;
        p.gates = c.gates;
        p.heads = c.heads;
        p.dna = c.dna;
        p.usage_boost = c.usage_boost;
        return p;
    }
};

/** SPEC §5 and §6 literally, in double. */
void router_reference(const RouterCase& c, const RouterTensors& in, std::vector<double>& probs, std::vector<double>& heads,
                      std::vector<double>& salience, std::vector<double>& importance)
{
    const double tau = 0.2, theta = 0.25, blend = 0.6;
    const int64_t tokens = c.batch * c.seq_len, C = c.channels, G = c.gates;
    probs.assign(static_cast<size_t>(tokens * G), 0);
    heads.assign(static_cast<size_t>(tokens * c.heads), 0);
    salience.assign(static_cast<size_t>(tokens), 0);
    importance.assign(static_cast<size_t>(tokens), 0);
    const auto softmax = [](std::vector<double>& v) {
        const double top = *std::max_element(v.begin(), v.end());
        double total = 0;
        for (double& e : v) total += (e = std::exp(e - top));
        for (double& e : v) e /= total;
    };
    for (int64_t token = 0; token < tokens; ++token) {
        std::vector<double> x(static_cast<size_t>(C)), p(static_cast<size_t>(G));
        for (int64_t ch = 0; ch < C; ++ch) x[ch] = in.x.get(token * C + ch);
        for (int64_t g = 0; g < G; ++g) {
            for (int64_t ch = 0; ch < C; ++ch) p[g] += x[ch] * in.weight.get(g * C + ch);
        }
        softmax(p);
        double token_importance = *std::max_element(p.begin(), p.end());
        if (c.dna) {
            double x_norm = 0;
            for (double e : x) x_norm += e * e;
            x_norm = std::max(std::sqrt(x_norm), 1e-6);
            std::vector<double> sigma(static_cast<size_t>(G)), usage_soft(static_cast<size_t>(G));
            for (int64_t g = 0; g < G; ++g) {
                double dot = 0, norm = 0;
                for (int64_t ch = 0; ch < C; ++ch) {
                    const double prototype = in.prototypes.get(g * C + ch);
                    dot += x[ch] * prototype;
                    norm += prototype * prototype;
                }
                sigma[g] = dot / x_norm / std::max(std::sqrt(norm), 1e-6);
                usage_soft[g] = -(in.usage.get(g) + 1e-6);
            }
            softmax(usage_soft);
            const double s = *std::max_element(sigma.begin(), sigma.end());
            std::vector<double> pd(sigma);
            for (double& e : pd) e /= tau;
            softmax(pd);
            double pd_total = 0;
            for (int64_t g = 0; g < G; ++g) pd_total += (pd[g] *= in.confidence.get(g) + 1e-6);
            for (double& e : pd) e /= std::max(pd_total, 1e-6);
            const double beta = std::clamp((s - theta) / std::max(1e-6, 1 - theta), 0.0, 1.0);
            const double w = blend * beta;
            for (int64_t g = 0; g < G; ++g) p[g] = (1 - w) * p[g] + w * pd[g];
            if (c.usage_boost > 0) {
                for (int64_t g = 0; g < G; ++g) p[g] += usage_soft[g] * (1 - beta) * c.usage_boost;
            }
            double total = 0;
            for (double& e : p) total += (e = std::max(e, 0.0));
            for (double& e : p) e /= std::max(total, 1e-6);
            token_importance = *std::max_element(p.begin(), p.end()) * (1 - beta) + s * beta;
            salience[token] = s;
        }
        for (int64_t g = 0; g < G; ++g) {
            probs[token * G + g] = p[g];
            heads[token * c.heads + g * c.heads / G] += p[g];
        }
        importance[token] = token_importance;
    }
}

void check_router(Backend& backend)
{
    BackendWorkspace workspace(backend);
    const RouterCase cases[] = {
        {2, 7, 37, 8, 4, false, 0.0f}, {2, 7, 37, 8, 4, true, 0.0f}, {1, 9, 64, 6, 4, true, 0.3f},
        {3, 5, 129, 16, 16, true, 0.0f}, {1, 1, 5, 2, 1, true, 1.0f},
    };
    for (const proteus_dtype dtype : storage_dtypes) {
        for (const RouterCase& c : cases) {
            RouterTensors tensors(c, dtype);
            const std::string what = std::string("router ") + dtype_name(dtype) + " B" + std::to_string(c.batch) + " T" +
                                     std::to_string(c.seq_len) + " C" + std::to_string(c.channels) + " G" +
                                     std::to_string(c.gates) + " H" + std::to_string(c.heads) +
                                     (c.dna ? " dna" : "") + (c.usage_boost > 0 ? " boost" : "");
            expect_ok(backend.router(tensors.problem(c), workspace), what);
            std::vector<double> probs, heads, salience, importance;
            router_reference(c, tensors, probs, heads, salience, importance);
            // float32 throughout; σ/τ scales σ's rounding by 5 before the exponential.
            expect_close(tensors.probs.values(), probs, 2e-5, what + " probs");
            expect_close(tensors.head_probs.values(), heads, 2e-5, what + " head_probs");
            expect_close(tensors.importance.values(), importance, 2e-5, what + " importance");
            if (c.dna) expect_close(tensors.salience.values(), salience, 1e-5, what + " salience");

            // Same bits on every run, and for every thread count.
            const std::vector<unsigned char> first[] = {tensors.probs.bytes(), tensors.head_probs.bytes(),
                                                        tensors.salience.bytes(), tensors.importance.bytes()};
            const int32_t threads = backend.threads();
            for (int run = 0; run < 5; ++run) {
                backend.set_threads(1 + run % 3);
                for (HostTensor* out : {&tensors.probs, &tensors.head_probs, &tensors.salience, &tensors.importance}) out->poison();
                expect_ok(backend.router(tensors.problem(c), workspace), what);
                const std::vector<unsigned char>* again[] = {&tensors.probs.bytes(), &tensors.head_probs.bytes(),
                                                             &tensors.salience.bytes(), &tensors.importance.bytes()};
                for (int i = 0; i < 4; ++i) CHECK(*again[i] == first[i], "%s: run %d, output %d differs", what.c_str(), run, i);
            }
            backend.set_threads(threads);
        }
    }
}

// ---- select_rows --------------------------------------------------------------------------------

void check_select_rows(Backend& backend)
{
    BackendWorkspace workspace(backend);
    const int64_t B = 3, T = 11, H = 5;
    struct Case {
        int64_t keep, guard;
        int32_t heads_per_token;
    };
    const Case cases[] = {{11, 1, 5}, {1, 1, 1}, {4, 1, 2}, {4, 3, 3}, {7, 2, 1}, {3, 3, 4}, {6, 1, 5}};
    for (const Case& c : cases) {
        // Few distinct values: many ties in both the importance and the head probabilities.
        HostTensor head_probs(PROTEUS_DTYPE_FLOAT32, {B, T, H}, 1), importance(PROTEUS_DTYPE_FLOAT32, {B, T}, 2);
        HostTensor active(PROTEUS_DTYPE_UINT8, {B, H, T}, 3);
        for (int64_t i = 0; i < head_probs.count(); ++i) head_probs.set(i, 0.25 * static_cast<double>(1 + rng() % 3));
        for (int64_t i = 0; i < importance.count(); ++i) importance.set(i, 0.125 * static_cast<double>(1 + rng() % 3));
        active.poison(7);
        proteus::SelectProblem problem;
        problem.head_probs = head_probs.ref();
        problem.importance = importance.ref();
        problem.active = active.ref();
        problem.batch = B;
        problem.seq_len = T;
        problem.heads = H;
        problem.keep = c.keep;
        problem.guard = c.guard;
        problem.heads_per_token = c.heads_per_token;
        const std::string what = "select_rows keep " + std::to_string(c.keep) + " guard " + std::to_string(c.guard) +
                                 " k " + std::to_string(c.heads_per_token);
        expect_ok(backend.select_rows(problem, workspace), what);

        int64_t wrong = 0;
        for (int64_t b = 0; b < B; ++b) {
            // The first guard tokens, then the others by importance (descending), ties to the smaller t.
            std::vector<int64_t> order(static_cast<size_t>(T - c.guard));
            std::iota(order.begin(), order.end(), c.guard);
            std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
                return importance.get(b * T + x) > importance.get(b * T + y);
            });
            std::vector<bool> kept(static_cast<size_t>(T), false);
            for (int64_t t = 0; t < c.guard; ++t) kept[t] = true;
            for (int64_t i = 0; i < c.keep - c.guard; ++i) kept[order[i]] = true;
            for (int64_t t = 0; t < T; ++t) {
                std::vector<int64_t> heads(static_cast<size_t>(H));
                std::iota(heads.begin(), heads.end(), 0);
                std::stable_sort(heads.begin(), heads.end(), [&](int64_t x, int64_t y) {
                    return head_probs.get((b * T + t) * H + x) > head_probs.get((b * T + t) * H + y);
                });
                std::vector<bool> chosen(static_cast<size_t>(H), false);
                for (int64_t i = 0; i < c.heads_per_token; ++i) chosen[heads[i]] = kept[t];
                for (int64_t h = 0; h < H; ++h) {
                    if (active.get((b * H + h) * T + t) != (chosen[h] ? 1.0 : 0.0)) ++wrong;
                }
            }
        }
        CHECK(wrong == 0, "%s: %lld of %lld mask entries wrong", what.c_str(), static_cast<long long>(wrong),
              static_cast<long long>(B * H * T));
    }
}

// ---- DNA update ---------------------------------------------------------------------------------

void check_dna_update(Backend& backend)
{
    BackendWorkspace workspace(backend);
    struct Case {
        int64_t batch, seq_len, channels, gates;
    };
    const Case cases[] = {{2, 5, 70, 6}, {1, 1, 3, 2}, {3, 301, 130, 4}};
    for (const proteus_dtype dtype : storage_dtypes) {
        for (const Case& c : cases) {
            const int64_t rows = c.batch * c.seq_len, C = c.channels, G = c.gates;
            HostTensor x(dtype, {c.batch, c.seq_len, C}, 1), probs(PROTEUS_DTYPE_FLOAT32, {c.batch, c.seq_len, G}, 2);
            HostTensor prototypes(PROTEUS_DTYPE_FLOAT32, {G, C}, 3), usage(PROTEUS_DTYPE_FLOAT32, {G}),
                confidence(PROTEUS_DTYPE_FLOAT32, {G});
            fill_random(x);
            fill_random(prototypes, 0.05);
            // Gate 1 gets no probability mass (not updated); the others a random softmax.
            for (int64_t r = 0; r < rows; ++r) {
                std::vector<double> p(static_cast<size_t>(G));
                double total = 0;
                for (int64_t g = 0; g < G; ++g) total += (p[g] = g == 1 ? 0.0 : std::exp(2 * nonzero()));
                for (int64_t g = 0; g < G; ++g) probs.set(r * G + g, p[g] / total);
            }
            for (int64_t g = 0; g < G; ++g) {
                usage.set(g, std::fabs(nonzero(5.0)));
                confidence.set(g, std::fabs(nonzero()));
            }
            const float decay = 0.97f;
            const std::vector<double> p0 = prototypes.values(), u0 = usage.values(), c0 = confidence.values();
            std::vector<double> p_ref(p0), u_ref(u0), c_ref(c0);
            for (int64_t g = 0; g < G; ++g) {
                double mass = 0;
                std::vector<double> weighted(static_cast<size_t>(C), 0.0);
                for (int64_t r = 0; r < rows; ++r) {
                    const double q = probs.get(r * G + g);
                    mass += q;
                    for (int64_t ch = 0; ch < C; ++ch) weighted[ch] += q * x.get(r * C + ch);
                }
                if (mass > 1e-6) {
                    for (int64_t ch = 0; ch < C; ++ch) {
                        p_ref[g * C + ch] = decay * p0[g * C + ch] + (1 - static_cast<double>(decay)) * weighted[ch] / mass;
                    }
                    u_ref[g] = decay * u0[g] + (1 - static_cast<double>(decay)) * mass;
                    c_ref[g] = decay * c0[g] + (1 - static_cast<double>(decay));
                } else {
                    u_ref[g] = decay * u0[g];
                    c_ref[g] = decay * c0[g];
                }
            }
            const auto problem = [&] {
                proteus::DnaUpdateProblem p;
                p.x = x.ref();
                p.probs = probs.ref();
                p.prototypes = prototypes.ref();
                p.usage = usage.ref();
                p.confidence = confidence.ref();
                p.batch = c.batch;
                p.seq_len = c.seq_len;
                p.channels = C;
                p.gates = G;
                p.decay = decay;
                return p;
            };
            const std::string what = std::string("dna_update ") + dtype_name(dtype) + " rows " + std::to_string(rows) +
                                     " C" + std::to_string(C) + " G" + std::to_string(G);
            const std::vector<unsigned char> start[] = {prototypes.bytes(), usage.bytes(), confidence.bytes()};
            expect_ok(backend.dna_update(problem(), workspace), what);
            expect_close(prototypes.values(), p_ref, 1e-5, what + " prototypes");
            expect_close(usage.values(), u_ref, 1e-5, what + " usage");
            expect_close(confidence.values(), c_ref, 1e-5, what + " confidence");
            for (int64_t ch = 0; ch < C; ++ch) {
                CHECK(prototypes.get(1 * C + ch) == p0[1 * C + ch], "%s: gate 1 had no mass but its prototype moved", what.c_str());
            }

            // Same bits on every run (from the same state), and for every thread count.
            const std::vector<unsigned char> first[] = {prototypes.bytes(), usage.bytes(), confidence.bytes()};
            HostTensor* state[] = {&prototypes, &usage, &confidence};
            const int32_t threads = backend.threads();
            for (int run = 0; run < 5; ++run) {
                backend.set_threads(1 + run % 3);
                for (int i = 0; i < 3; ++i) state[i]->restore(start[i]);
                expect_ok(backend.dna_update(problem(), workspace), what);
                for (int i = 0; i < 3; ++i) CHECK(state[i]->bytes() == first[i], "%s: run %d, state %d differs", what.c_str(), run, i);
            }
            backend.set_threads(threads);
        }
    }
}

}  // namespace

int main()
{
    std::unique_ptr<Backend> backend;
    if (proteus::create_cpu_backend(0, nullptr, true, backend) != PROTEUS_STATUS_OK) {
        std::fprintf(stderr, "create_cpu_backend: %s\n", proteus::last_error_message());
        return 1;
    }
    const std::string gemm = proteus::cpu::gemm_implementation();
    std::printf("layer_ops_check: GEMM %s, %d threads\n", gemm.c_str(), backend->threads());
    const char* requested = std::getenv("PROTEUS_CPU_BLAS");
    if (requested != nullptr && std::strcmp(requested, "none") == 0) {
        CHECK(gemm.rfind("blocked C++ GEMM", 0) == 0, "PROTEUS_CPU_BLAS=none runs %s", gemm.c_str());
    }
    check_linear(*backend);
    check_linear_tokens(*backend);
    check_convert(*backend);
    check_norm(*backend);
    check_gelu(*backend);
    check_rope(*backend);
    check_router(*backend);
    check_select_rows(*backend);
    check_dna_update(*backend);
    backend.reset();
    if (failures != 0) {
        std::fprintf(stderr, "layer_ops_check: %d of %d checks failed\n", failures, checks);
        return 1;
    }
    std::printf("layer_ops_check: all %d checks passed\n", checks);
    return 0;
}
