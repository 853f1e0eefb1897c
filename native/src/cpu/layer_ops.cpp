// The CPU backend's layer operations (cpu/layer_ops.h).
//
// GEMM: linear() with four rows or more calls cblas_sgemm of a system BLAS when one can be opened, else
// the blocked multithreaded GEMM below. The BLAS is never linked (the runtime package must load on
// machines without one): the first GEMM that needs it opens, once per process, the first library of
//   $PROTEUS_CPU_BLAS (a file name or path, tried first when set),
//   libopenblas.so.0, libopenblas.so, libopenblasp.so.0 (Fedora's pthreads build), libmkl_rt.so.2,
//   libflexiblas.so.3, libblis.so.4
// that exports cblas_sgemm. PROTEUS_CPU_BLAS=none keeps the blocked GEMM. The generic sonames
// libblas.so.3 and libcblas.so.3 are not tried: behind them may be the netlib reference BLAS, about
// twenty times slower than the blocked GEMM, and the optimised libraries that distributions put behind
// them are reachable under their own names above (name one in PROTEUS_CPU_BLAS to use it anyway).
// gemm_implementation() says which ran. A build with -DPROTEUS_CPU_BLAS=OFF has the blocked GEMM only.
#include "cpu/layer_ops.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#if defined(PROTEUS_CPU_BLAS_LOADER)
#include <dlfcn.h>

#include <cstdlib>
#endif

#include "core/numeric.h"
#include "cpu/scratch.h"
#include "cpu/target_clones.h"

namespace proteus::cpu {
namespace {

// ---- tensor access ------------------------------------------------------------------------------

size_t element_bytes(proteus_dtype dtype)
{
    switch (dtype) {
    case PROTEUS_DTYPE_FLOAT32: return 4;
    case PROTEUS_DTYPE_UINT8: return 1;
    default: return 2;
    }
}

/** The element offset of item `index` of the first `axes` axes of `t`, counted row-major over their shape. */
int64_t offset_of(const TensorRef& t, int64_t index, int axes)
{
    int64_t offset = 0;
    for (int axis = axes - 1; axis >= 0; --axis) {
        offset += (index % t.shape[axis]) * t.strides[axis];
        index /= t.shape[axis];
    }
    return offset;
}

/**
 * Row `row` of `t` seen as [rows, last axis] (the leading axes flattened): a [B, T, C] activation or
 * its [B·T, C] view give the same rows. The last axis is contiguous.
 */
void* row_address(const TensorRef& t, int64_t row)
{
    return static_cast<char*>(t.data) + offset_of(t, row, t.rank - 1) * static_cast<int64_t>(element_bytes(t.dtype));
}

/** Element `index` of `t` counted row-major over all its axes (float32 tensors: [B, T], [G], …). */
float& float_at(const TensorRef& t, int64_t index) { return static_cast<float*>(t.data)[offset_of(t, index, t.rank)]; }

void load_row(proteus_dtype dtype, const void* row, int64_t count, float* out)
{
    switch (dtype) {
    case PROTEUS_DTYPE_FLOAT16: {
        const uint16_t* in = static_cast<const uint16_t*>(row);
        for (int64_t c = 0; c < count; ++c) out[c] = half_to_float(in[c]);
        break;
    }
    case PROTEUS_DTYPE_BFLOAT16: {
        const uint16_t* in = static_cast<const uint16_t*>(row);
        for (int64_t c = 0; c < count; ++c) out[c] = bfloat16_to_float(in[c]);
        break;
    }
    default: std::memcpy(out, row, static_cast<size_t>(count) * sizeof(float));
    }
}

/** Rounds to the storage dtype (nearest even). `row` may be where `in` was loaded from. */
void store_row(proteus_dtype dtype, void* row, const float* in, int64_t count)
{
    switch (dtype) {
    case PROTEUS_DTYPE_FLOAT16: {
        uint16_t* out = static_cast<uint16_t*>(row);
        for (int64_t c = 0; c < count; ++c) out[c] = float_to_half(in[c]);
        break;
    }
    case PROTEUS_DTYPE_BFLOAT16: {
        uint16_t* out = static_cast<uint16_t*>(row);
        for (int64_t c = 0; c < count; ++c) out[c] = float_to_bfloat16(in[c]);
        break;
    }
    default: std::memmove(row, in, static_cast<size_t>(count) * sizeof(float));
    }
}

/** A 1-D tensor (bias, norm weight, usage, …) of any storage dtype as float32 values; `fill` when absent. */
std::vector<float> load_vector(const TensorRef& t, int64_t count, float fill)
{
    std::vector<float> values(static_cast<size_t>(count), fill);
    if (!t.present()) return values;
    const int64_t stride = t.strides[t.rank - 1];
    const char* base = static_cast<const char*>(t.data);
    const int64_t bytes = static_cast<int64_t>(element_bytes(t.dtype));
    for (int64_t i = 0; i < count; ++i) load_row(t.dtype, base + i * stride * bytes, 1, &values[static_cast<size_t>(i)]);
    return values;
}

/**
 * body(worker, first, last) over [0, count) in contiguous chunks of at least `grain` items (several per
 * worker, to even them out). A chunk's results never depend on how the range was cut.
 */
template <typename Body>
void parallel_for(WorkerPool& pool, int64_t count, int64_t grain, const Body& body)
{
    if (count <= 0) return;
    const int64_t chunks = std::clamp<int64_t>(count / std::max<int64_t>(grain, 1), 1, 8 * int64_t{pool.threads()});
    const int64_t size = (count + chunks - 1) / chunks;
    pool.run((count + size - 1) / size, [&](int worker, int64_t task) {
        body(worker, task * size, std::min(count, (task + 1) * size));
    });
}

/** Σ a[c]·b[c] in float32 with eight running sums (vectorisable), combined in a fixed order. */
float dot(const float* a, const float* b, int64_t count)
{
    constexpr int lanes = 8;
    float partial[lanes] = {};
    int64_t c = 0;
    for (; c + lanes <= count; c += lanes) {
        for (int lane = 0; lane < lanes; ++lane) partial[lane] += a[c + lane] * b[c + lane];
    }
    for (int lane = 0; c < count; ++c, ++lane) partial[lane] += a[c] * b[c];
    return ((partial[0] + partial[1]) + (partial[2] + partial[3])) + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
}

float sum(const float* a, int64_t count)
{
    constexpr int lanes = 8;
    float partial[lanes] = {};
    int64_t c = 0;
    for (; c + lanes <= count; c += lanes) {
        for (int lane = 0; lane < lanes; ++lane) partial[lane] += a[c + lane];
    }
    for (int lane = 0; c < count; ++c, ++lane) partial[lane] += a[c];
    return ((partial[0] + partial[1]) + (partial[2] + partial[3])) + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
}

/** v ← softmax(v) in float32 (shifted by the maximum). */
void softmax(float* v, int64_t count)
{
    const float top = *std::max_element(v, v + count);
    float total = 0.0f;
    for (int64_t i = 0; i < count; ++i) {
        v[i] = std::exp(v[i] - top);
        total += v[i];
    }
    for (int64_t i = 0; i < count; ++i) v[i] /= total;
}

// ---- GEMM ---------------------------------------------------------------------------------------

/** The blocked GEMM's tiles: one place. */
struct GemmShape {
    static constexpr int64_t tile_rows = 64;  // rows of C per task
    static constexpr int64_t tile_cols = 64;  // columns of C per task
    static constexpr int64_t depth = 256;     // K per pass: the task's B panel (depth × tile_cols) stays in L2
    static constexpr int64_t micro_rows = 4;  // C rows × columns a micro-kernel keeps in registers
    static constexpr int64_t micro_cols = 16;
};

/**
 * acc [micro_rows, micro_cols] (row stride tile_cols) += a rows [·, k0 … k0 + depth) · panel, with the
 * panel [depth, tile_cols] holding Bᵀ. Every element adds its products in increasing k.
 */
PROTEUS_CPU_CLONES void gemm_micro(const float* const* a, const float* panel, int64_t depth, float* acc)
{
    constexpr int64_t R = GemmShape::micro_rows, N = GemmShape::micro_cols;
    float c[R][N];
    for (int64_t r = 0; r < R; ++r) {
        for (int64_t j = 0; j < N; ++j) c[r][j] = acc[r * GemmShape::tile_cols + j];
    }
    for (int64_t kk = 0; kk < depth; ++kk) {
        const float* b = panel + kk * GemmShape::tile_cols;
        for (int64_t r = 0; r < R; ++r) {
            const float x = a[r][kk];
            for (int64_t j = 0; j < N; ++j) c[r][j] += x * b[j];
        }
    }
    for (int64_t r = 0; r < R; ++r) {
        for (int64_t j = 0; j < N; ++j) acc[r * GemmShape::tile_cols + j] = c[r][j];
    }
}

/** One tile of C = A·Bᵀ + beta·C (rows [i0, i1), columns [j0, j1)); `panel` and `acc` are the worker's scratch. */
void gemm_tile(int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t k, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc, float* panel, float* acc)
{
    constexpr int64_t cols = GemmShape::tile_cols;
    std::fill(acc, acc + GemmShape::tile_rows * cols, 0.0f);
    for (int64_t k0 = 0; k0 < k; k0 += GemmShape::depth) {
        const int64_t depth = std::min(GemmShape::depth, k - k0);
        // Bᵀ of the tile's columns; columns past j1 are zeros whose sums are never stored.
        for (int64_t j = 0; j < cols; ++j) {
            const float* row = j0 + j < j1 ? b + (j0 + j) * ldb + k0 : nullptr;
            for (int64_t kk = 0; kk < depth; ++kk) panel[kk * cols + j] = row != nullptr ? row[kk] : 0.0f;
        }
        for (int64_t i = i0; i < i1; i += GemmShape::micro_rows) {
            const float* rows[GemmShape::micro_rows];
            // Rows past i1 repeat the last one; their sums are never stored.
            for (int64_t r = 0; r < GemmShape::micro_rows; ++r) rows[r] = a + std::min(i + r, i1 - 1) * lda + k0;
            for (int64_t j = 0; j < j1 - j0; j += GemmShape::micro_cols) {
                gemm_micro(rows, panel + j, depth, acc + (i - i0) * cols + j);
            }
        }
    }
    for (int64_t i = i0; i < i1; ++i) {
        float* out = c + i * ldc;
        const float* sums = acc + (i - i0) * cols;
        for (int64_t j = j0; j < j1; ++j) out[j] = beta != 0.0f ? sums[j - j0] + beta * out[j] : sums[j - j0];
    }
}

/**
 * C = A·Bᵀ + beta·C for a few rows of A (a decode step): one pass over B, each product the dot of two
 * contiguous rows. Faster here than the BLAS, whose GEMM packs all of B for a single row.
 */
void gemm_few_rows(WorkerPool& pool, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                   int64_t ldb, float beta, float* c, int64_t ldc)
{
    parallel_for(pool, n, 16, [&](int, int64_t first, int64_t last) {
        for (int64_t j = first; j < last; ++j) {
            for (int64_t i = 0; i < m; ++i) {
                float& out = c[i * ldc + j];
                const float product = dot(a + i * lda, b + j * ldb, k);
                out = beta != 0.0f ? product + beta * out : product;
            }
        }
    });
}

/** The blocked multithreaded GEMM: what linear() runs without a system BLAS. */
proteus_status gemm_blocked(WorkerPool& pool, Allocator& workspace, int64_t m, int64_t n, int64_t k, const float* a,
                            int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc)
{
    const int64_t per_worker = GemmShape::depth * GemmShape::tile_cols + GemmShape::tile_rows * GemmShape::tile_cols;
    ScratchBlock scratch(workspace);
    const proteus_status status = scratch.allocate(static_cast<uint64_t>(pool.threads() * per_worker));
    if (status != PROTEUS_STATUS_OK) return status;
    const int64_t row_tiles = (m + GemmShape::tile_rows - 1) / GemmShape::tile_rows;
    const int64_t col_tiles = (n + GemmShape::tile_cols - 1) / GemmShape::tile_cols;
    pool.run(row_tiles * col_tiles, [&](int worker, int64_t task) {
        float* panel = scratch.data() + worker * per_worker;
        const int64_t i0 = task / col_tiles * GemmShape::tile_rows, j0 = task % col_tiles * GemmShape::tile_cols;
        gemm_tile(i0, std::min(m, i0 + GemmShape::tile_rows), j0, std::min(n, j0 + GemmShape::tile_cols), k, a, lda, b,
                  ldb, beta, c, ldc, panel, panel + GemmShape::depth * GemmShape::tile_cols);
    });
    return PROTEUS_STATUS_OK;
}

// ---- the system BLAS, opened at run time ----------------------------------------------------------

/**
 * cblas_sgemm as every CBLAS declares it (the LP64 interface: int sizes), with the values of its enums,
 * so that no cblas.h is needed to build.
 */
using CblasSgemm = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float* a,
                            int lda, const float* b, int ldb, float beta, float* c, int ldc);
constexpr int kCblasRowMajor = 101;
constexpr int kCblasNoTrans = 111;
constexpr int kCblasTrans = 112;

/** The loaded cblas_sgemm (null: the blocked GEMM) and what gemm_implementation() reports. */
struct SystemBlas {
    CblasSgemm sgemm = nullptr;
    std::string description;
};

#if defined(PROTEUS_CPU_BLAS_LOADER)
/** cblas_sgemm of the library `name`, or null with `error` saying why. */
CblasSgemm open_sgemm(const std::string& name, std::string& error)
{
    void* library = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
        const char* reason = dlerror();
        error = reason != nullptr ? reason : name + ": cannot be opened";
        return nullptr;
    }
    const auto sgemm = reinterpret_cast<CblasSgemm>(dlsym(library, "cblas_sgemm"));
    if (sgemm == nullptr) {
        dlclose(library);
        error = name + ": no cblas_sgemm";
    }
    return sgemm;  // the library stays loaded for the life of the process
}

SystemBlas open_system_blas()
{
    const char* requested = std::getenv("PROTEUS_CPU_BLAS");
    std::string note;  // why the library PROTEUS_CPU_BLAS names is not the one used
    if (requested != nullptr && *requested != '\0') {
        if (std::strcmp(requested, "none") == 0) return {nullptr, "blocked C++ GEMM (PROTEUS_CPU_BLAS=none)"};
        std::string error;
        if (const CblasSgemm sgemm = open_sgemm(requested, error)) return {sgemm, std::string("cblas_sgemm from ") + requested};
        note = "PROTEUS_CPU_BLAS: " + error;
    }
    // Optimised CBLAS libraries only, in this order; the top of this file says why no generic soname.
    for (const char* name : {"libopenblas.so.0", "libopenblas.so", "libopenblasp.so.0", "libmkl_rt.so.2",
                             "libflexiblas.so.3", "libblis.so.4"}) {
        std::string error;
        if (const CblasSgemm sgemm = open_sgemm(name, error)) {
            return {sgemm, std::string("cblas_sgemm from ") + name + (note.empty() ? "" : " (" + note + ")")};
        }
    }
    return {nullptr, "blocked C++ GEMM (no CBLAS library found" + (note.empty() ? "" : "; " + note) + ")"};
}
#else
SystemBlas open_system_blas() { return {nullptr, "blocked C++ GEMM (built with PROTEUS_CPU_BLAS=OFF)"}; }
#endif

/** Opened on first use, once per process (thread-safe). */
const SystemBlas& system_blas()
{
    static const SystemBlas blas = open_system_blas();
    return blas;
}

/**
 * C [M, N] (row stride ldc) = A [M, K]·B [N, K]ᵀ + beta·C, float32; beta 0 does not read C. Leading
 * dimensions are at least the row lengths. Fewer rows than a micro-kernel's go row by row, the rest to
 * the system BLAS when one is loaded, else to the blocked GEMM.
 */
proteus_status gemm_nt(WorkerPool& pool, Allocator& workspace, int64_t m, int64_t n, int64_t k, const float* a,
                       int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc)
{
    if (m < GemmShape::micro_rows) {
        gemm_few_rows(pool, m, n, k, a, lda, b, ldb, beta, c, ldc);
        return PROTEUS_STATUS_OK;
    }
    // CBLAS counts in int; a larger problem (beyond any real layer) takes the blocked GEMM.
    const CblasSgemm sgemm = system_blas().sgemm;
    if (sgemm != nullptr && std::max({m, n, k, lda, ldb, ldc}) <= INT_MAX) {
        sgemm(kCblasRowMajor, kCblasNoTrans, kCblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
              1.0f, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
        return PROTEUS_STATUS_OK;
    }
    return gemm_blocked(pool, workspace, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

/** The row stride for a GEMM: any stride serves a single row, where BLAS still wants at least max(1, columns). */
int64_t leading_dimension(const TensorRef& t, int64_t rows, int64_t columns)
{
    const int64_t stride = t.strides[0];
    return rows == 1 ? std::max({stride, columns, int64_t{1}}) : stride;
}

/** `rows` rows of `t` (any dtype) widened into a contiguous float32 panel [rows, columns]. */
void widen(WorkerPool& pool, const TensorRef& t, int64_t rows, int64_t columns, float* panel)
{
    parallel_for(pool, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(columns, 1)), [&](int, int64_t first, int64_t last) {
        for (int64_t r = first; r < last; ++r) load_row(t.dtype, row_address(t, r), columns, panel + r * columns);
    });
}

}  // namespace

const char* gemm_implementation() { return system_blas().description.c_str(); }

proteus_status linear(const LinearProblem& p, WorkerPool& pool, Allocator& workspace)
{
    const int64_t m = p.m, n = p.n, k = p.k;
    const std::vector<float> bias = load_vector(p.bias, n, 0.0f);
    const float beta = p.accumulate ? p.beta : 0.0f;
    const int64_t lda = leading_dimension(p.x, m, k), ldb = leading_dimension(p.weight, n, k),
                  ldc = leading_dimension(p.y, m, n);
    // float32 [rows, columns] matrices go to the GEMM in place; anything else through float32 panels.
    const bool matrices = p.x.rank == 2 && p.weight.rank == 2 && p.y.rank == 2;
    const bool direct = p.x.dtype == PROTEUS_DTYPE_FLOAT32 && matrices && lda >= std::max<int64_t>(k, 1) &&
                        ldb >= std::max<int64_t>(k, 1) && ldc >= std::max<int64_t>(n, 1);
    if (direct) {
        float* y = static_cast<float*>(p.y.data);
        const proteus_status status = gemm_nt(pool, workspace, m, n, k, static_cast<const float*>(p.x.data), lda,
                                              static_cast<const float*>(p.weight.data), ldb, beta, y, ldc);
        if (status != PROTEUS_STATUS_OK) return status;
        if (p.bias.present()) {
            parallel_for(pool, m, std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)), [&](int, int64_t first, int64_t last) {
                for (int64_t i = first; i < last; ++i) {
                    for (int64_t j = 0; j < n; ++j) y[i * ldc + j] += bias[static_cast<size_t>(j)];
                }
            });
        }
        return PROTEUS_STATUS_OK;
    }

    // float16 / bfloat16 (or a layout a GEMM cannot take): float32 panels of x, weight and the products.
    ScratchBlock scratch(workspace);
    const proteus_status status = scratch.allocate(static_cast<uint64_t>(m * k + n * k + m * n));
    if (status != PROTEUS_STATUS_OK) return status;
    float* x = scratch.data();
    float* w = x + m * k;
    float* products = w + n * k;
    widen(pool, p.x, m, k, x);
    widen(pool, p.weight, n, k, w);
    const proteus_status gemm =
        gemm_nt(pool, workspace, m, n, k, x, std::max<int64_t>(k, 1), w, std::max<int64_t>(k, 1), 0.0f, products, n);
    if (gemm != PROTEUS_STATUS_OK) return gemm;
    parallel_for(pool, m, std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)), [&](int, int64_t first, int64_t last) {
        std::vector<float> previous(static_cast<size_t>(beta != 0.0f ? n : 0));
        for (int64_t i = first; i < last; ++i) {
            float* row = products + i * n;
            void* out = row_address(p.y, i);
            if (beta != 0.0f) load_row(p.y.dtype, out, n, previous.data());
            for (int64_t j = 0; j < n; ++j) {
                row[j] += bias[static_cast<size_t>(j)];
                if (beta != 0.0f) row[j] += beta * previous[static_cast<size_t>(j)];
            }
            store_row(p.y.dtype, out, row, n);
        }
    });
    return PROTEUS_STATUS_OK;
}

proteus_status convert(const ConvertProblem& p, WorkerPool& pool)
{
    const int rank = std::max(p.x.rank, 1);
    const int64_t columns = p.x.shape[rank - 1];
    int64_t rows = 1;
    for (int axis = 0; axis < rank - 1; ++axis) rows *= p.x.shape[axis];
    parallel_for(pool, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(columns, 1)), [&](int, int64_t first, int64_t last) {
        std::vector<float> values(static_cast<size_t>(columns));
        for (int64_t r = first; r < last; ++r) {
            load_row(p.x.dtype, row_address(p.x, r), columns, values.data());
            store_row(p.y.dtype, row_address(p.y, r), values.data(), columns);
        }
    });
    return PROTEUS_STATUS_OK;
}

proteus_status norm(const NormProblem& p, WorkerPool& pool)
{
    const int64_t columns = p.columns;
    const std::vector<float> weight = load_vector(p.weight, columns, 1.0f);
    const std::vector<float> bias = load_vector(p.bias, columns, 0.0f);
    const bool layer = p.kind == PROTEUS_NORM_LAYER;
    const float count = static_cast<float>(columns);
    parallel_for(pool, p.rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(columns, 1)), [&](int, int64_t first, int64_t last) {
        std::vector<float> values(static_cast<size_t>(columns));
        float* x = values.data();
        for (int64_t r = first; r < last; ++r) {
            load_row(p.x.dtype, row_address(p.x, r), columns, x);
            if (layer) {
                const float mean = sum(x, columns) / count;
                for (int64_t c = 0; c < columns; ++c) x[c] -= mean;
                const float inverse = 1.0f / std::sqrt(dot(x, x, columns) / count + p.eps);
                for (int64_t c = 0; c < columns; ++c) x[c] = x[c] * inverse * weight[static_cast<size_t>(c)] + bias[static_cast<size_t>(c)];
            } else {
                const float inverse = 1.0f / std::sqrt(dot(x, x, columns) / count + p.eps);
                for (int64_t c = 0; c < columns; ++c) x[c] = x[c] * inverse * weight[static_cast<size_t>(c)];
            }
            store_row(p.y.dtype, row_address(p.y, r), x, columns);
        }
    });
    return PROTEUS_STATUS_OK;
}

proteus_status gelu(const GeluProblem& p, WorkerPool& pool)
{
    const int64_t columns = p.columns;
    const float inverse_sqrt2 = 0.70710678118654752f;
    parallel_for(pool, p.rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(columns, 1)), [&](int, int64_t first, int64_t last) {
        std::vector<float> values(static_cast<size_t>(columns));
        float* x = values.data();
        for (int64_t r = first; r < last; ++r) {
            load_row(p.x.dtype, row_address(p.x, r), columns, x);
            for (int64_t c = 0; c < columns; ++c) x[c] = 0.5f * x[c] * (1.0f + std::erf(x[c] * inverse_sqrt2));
            store_row(p.y.dtype, row_address(p.y, r), x, columns);
        }
    });
    return PROTEUS_STATUS_OK;
}

proteus_status rope(const RopeProblem& p, WorkerPool& pool)
{
    const int64_t d = p.head_dim, pairs = d / 2;
    // inv_freq_m = base^(−2m/D) and the angles in double: the angle grows to ~10^6 rad at long positions,
    // where a float32 product is off by up to half its ulp (0.03 rad); as the GPU backend and the oracle.
    std::vector<double> inverse_frequency(static_cast<size_t>(pairs));
    for (int64_t m = 0; m < pairs; ++m) {
        inverse_frequency[static_cast<size_t>(m)] =
            std::pow(static_cast<double>(p.base), -2.0 * static_cast<double>(m) / static_cast<double>(d));
    }
    const bool interleaved = p.convention == PROTEUS_ROPE_INTERLEAVED;
    // Tasks are chunks of positions: each position's cosines and sines are computed once for every (b, h).
    parallel_for(pool, p.seq_len, 1, [&](int, int64_t first, int64_t last) {
        std::vector<double> table(static_cast<size_t>(2 * pairs));
        double* cosine = table.data();
        double* sine = cosine + pairs;
        std::vector<float> values(static_cast<size_t>(d));
        float* x = values.data();
        for (int64_t t = first; t < last; ++t) {
            const double position = static_cast<double>(p.position_offset + t);
            for (int64_t m = 0; m < pairs; ++m) {
                const double angle = position * inverse_frequency[static_cast<size_t>(m)];
                cosine[m] = std::cos(angle);
                sine[m] = std::sin(angle);
            }
            for (int64_t b = 0; b < p.batch; ++b) {
                for (int64_t h = 0; h < p.heads; ++h) {
                    char* row = static_cast<char*>(p.x.data) +
                                (b * p.x.strides[0] + h * p.x.strides[1] + t * p.x.strides[2]) *
                                    static_cast<int64_t>(element_bytes(p.x.dtype));
                    load_row(p.x.dtype, row, d, x);
                    for (int64_t m = 0; m < pairs; ++m) {
                        const int64_t i0 = interleaved ? 2 * m : m, i1 = interleaved ? 2 * m + 1 : m + pairs;
                        const double x0 = x[i0], x1 = x[i1];
                        x[i0] = static_cast<float>(x0 * cosine[m] - x1 * sine[m]);
                        x[i1] = static_cast<float>(x0 * sine[m] + x1 * cosine[m]);
                    }
                    store_row(p.x.dtype, row, x, d);
                }
            }
        }
    });
    return PROTEUS_STATUS_OK;
}

proteus_status router(const RouterProblem& p, WorkerPool& pool, Allocator& workspace)
{
    const int64_t tokens = p.batch * p.seq_len, c_count = p.channels, g_count = p.gates, h_count = p.heads;
    // Per call, not per token: the prototypes' inverse norms, the usage boost, the confidence.
    std::vector<float> inverse_norm(static_cast<size_t>(g_count)), boost(static_cast<size_t>(g_count)),
        confidence(static_cast<size_t>(g_count));
    if (p.dna) {
        for (int64_t g = 0; g < g_count; ++g) {
            const float* prototype = static_cast<const float*>(row_address(p.prototypes, g));
            inverse_norm[static_cast<size_t>(g)] = 1.0f / std::max(std::sqrt(dot(prototype, prototype, c_count)), 1e-6f);
        }
        confidence = load_vector(p.confidence, g_count, 0.0f);
        const std::vector<float> usage = load_vector(p.usage, g_count, 0.0f);
        for (int64_t g = 0; g < g_count; ++g) boost[static_cast<size_t>(g)] = -(usage[static_cast<size_t>(g)] + 1e-6f);
        softmax(boost.data(), g_count);
    }
    // A worker's scratch: the token [C], the router's probabilities [G], σ then pd [G].
    const int64_t per_worker = c_count + 2 * g_count;
    ScratchBlock scratch(workspace);
    const proteus_status status = scratch.allocate(static_cast<uint64_t>(pool.threads() * per_worker));
    if (status != PROTEUS_STATUS_OK) return status;

    parallel_for(pool, tokens, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, c_count * g_count)), [&](int worker, int64_t first, int64_t last) {
        float* x = scratch.data() + worker * per_worker;
        float* probs = x + c_count;
        float* dna = probs + g_count;
        for (int64_t token = first; token < last; ++token) {
            load_row(p.x.dtype, row_address(p.x, token), c_count, x);
            for (int64_t g = 0; g < g_count; ++g) probs[g] = dot(x, static_cast<const float*>(row_address(p.weight, g)), c_count);
            softmax(probs, g_count);  // p_router
            float importance = *std::max_element(probs, probs + g_count);
            if (p.dna) {
                const float inverse_x = 1.0f / std::max(std::sqrt(dot(x, x, c_count)), 1e-6f);
                for (int64_t g = 0; g < g_count; ++g) {
                    dna[g] = dot(x, static_cast<const float*>(row_address(p.prototypes, g)), c_count) * inverse_x *
                             inverse_norm[static_cast<size_t>(g)];  // σ_g
                }
                const float salience = *std::max_element(dna, dna + g_count);
                for (int64_t g = 0; g < g_count; ++g) dna[g] /= p.tau;
                softmax(dna, g_count);
                for (int64_t g = 0; g < g_count; ++g) dna[g] *= confidence[static_cast<size_t>(g)] + 1e-6f;
                const float dna_total = std::max(sum(dna, g_count), 1e-6f);
                const float beta = std::clamp((salience - p.theta) / std::max(1e-6f, 1.0f - p.theta), 0.0f, 1.0f);
                const float w = p.blend * beta;
                for (int64_t g = 0; g < g_count; ++g) probs[g] = (1.0f - w) * probs[g] + w * (dna[g] / dna_total);
                if (p.usage_boost > 0.0f) {
                    for (int64_t g = 0; g < g_count; ++g) probs[g] += boost[static_cast<size_t>(g)] * (1.0f - beta) * p.usage_boost;
                }
                for (int64_t g = 0; g < g_count; ++g) probs[g] = std::max(probs[g], 0.0f);
                const float total = std::max(sum(probs, g_count), 1e-6f);
                for (int64_t g = 0; g < g_count; ++g) probs[g] /= total;
                importance = *std::max_element(probs, probs + g_count) * (1.0f - beta) + salience * beta;
                if (p.salience.present()) float_at(p.salience, token) = salience;
            }
            std::memcpy(row_address(p.probs, token), probs, static_cast<size_t>(g_count) * sizeof(float));
            if (p.head_probs.present()) {
                float* heads = static_cast<float*>(row_address(p.head_probs, token));
                std::fill(heads, heads + h_count, 0.0f);
                for (int64_t g = 0; g < g_count; ++g) heads[g * h_count / g_count] += probs[g];
            }
            if (p.importance.present()) float_at(p.importance, token) = importance;
        }
    });
    return PROTEUS_STATUS_OK;
}

proteus_status select_rows(const SelectProblem& p, WorkerPool& pool, Allocator& workspace)
{
    const int64_t t_count = p.seq_len, h_count = p.heads;
    // kept[b, t]: 1 for the kept tokens (one task per batch row), then the heads (tasks over tokens).
    ScratchBlock scratch(workspace);
    const proteus_status status = scratch.allocate(static_cast<uint64_t>((p.batch * t_count + 3) / 4));
    if (status != PROTEUS_STATUS_OK) return status;
    uint8_t* kept = reinterpret_cast<uint8_t*>(scratch.data());

    pool.run(p.batch, [&](int, int64_t b) {
        uint8_t* row = kept + b * t_count;
        const int64_t guard = std::min(p.guard, t_count), keep = std::clamp(p.keep, guard, t_count);
        std::fill(row, row + t_count, uint8_t{0});
        std::fill(row, row + guard, uint8_t{1});
        // The keep − guard most important of the other tokens; ties to the smaller t.
        std::vector<int64_t> order(static_cast<size_t>(t_count - guard));
        std::iota(order.begin(), order.end(), guard);
        std::vector<float> importance(static_cast<size_t>(t_count));
        for (int64_t t = 0; t < t_count; ++t) importance[static_cast<size_t>(t)] = float_at(p.importance, b * t_count + t);
        const auto before = [&](int64_t a, int64_t c) {
            const float ia = importance[static_cast<size_t>(a)], ic = importance[static_cast<size_t>(c)];
            return ia > ic || (ia == ic && a < c);
        };
        const auto cut = order.begin() + (keep - guard);
        std::nth_element(order.begin(), cut, order.end(), before);
        for (auto t = order.begin(); t != cut; ++t) row[*t] = 1;
    });

    const int64_t k = std::clamp<int64_t>(p.heads_per_token, 0, h_count);
    const int64_t tokens = p.batch * t_count;
    parallel_for(pool, tokens, 256, [&](int, int64_t first, int64_t last) {
        std::vector<int64_t> order(static_cast<size_t>(h_count));
        for (int64_t token = first; token < last; ++token) {
            const int64_t b = token / t_count, t = token % t_count;
            const float* probs = static_cast<const float*>(row_address(p.head_probs, token));
            std::iota(order.begin(), order.end(), 0);
            if (kept[token]) {
                std::partial_sort(order.begin(), order.begin() + k, order.end(), [probs](int64_t a, int64_t c) {
                    return probs[a] > probs[c] || (probs[a] == probs[c] && a < c);
                });
            }
            const int64_t chosen = kept[token] ? k : 0;
            uint8_t* active = static_cast<uint8_t*>(p.active.data);
            for (int64_t h = 0; h < h_count; ++h) active[offset_of(p.active, (b * h_count + h) * t_count + t, p.active.rank)] = 0;
            for (int64_t i = 0; i < chosen; ++i) {
                active[offset_of(p.active, (b * h_count + order[static_cast<size_t>(i)]) * t_count + t, p.active.rank)] = 1;
            }
        }
    });
    return PROTEUS_STATUS_OK;
}

proteus_status dna_update(const DnaUpdateProblem& p, WorkerPool& pool, Allocator& workspace)
{
    const int64_t rows = p.batch * p.seq_len, c_count = p.channels, g_count = p.gates;
    // Σ_rows Q[r, g]·X[r] for every (g, c) as [G, C], and n_g; rows are summed in order, in blocks whose
    // partial sums are added in order (accuracy over many rows), the same for any thread count.
    constexpr int64_t block_rows = 256;
    constexpr int64_t chunk_columns = 64;
    const int64_t chunks = (c_count + chunk_columns - 1) / chunk_columns;
    // Scratch: sums [G, C]; per worker a block's partials [G, chunk] and the x chunk [chunk].
    const int64_t per_worker = g_count * chunk_columns + chunk_columns;
    ScratchBlock scratch(workspace);
    const proteus_status status = scratch.allocate(static_cast<uint64_t>(g_count * c_count + pool.threads() * per_worker));
    if (status != PROTEUS_STATUS_OK) return status;
    float* sums = scratch.data();

    pool.run(chunks, [&](int worker, int64_t chunk) {
        const int64_t c0 = chunk * chunk_columns, width = std::min(chunk_columns, c_count - c0);
        float* partial = sums + g_count * c_count + worker * per_worker;
        float* x = partial + g_count * chunk_columns;
        for (int64_t g = 0; g < g_count; ++g) std::fill(sums + g * c_count + c0, sums + g * c_count + c0 + width, 0.0f);
        const size_t x_bytes = element_bytes(p.x.dtype);
        for (int64_t r0 = 0; r0 < rows; r0 += block_rows) {
            std::fill(partial, partial + g_count * chunk_columns, 0.0f);
            for (int64_t r = r0; r < std::min(rows, r0 + block_rows); ++r) {
                load_row(p.x.dtype, static_cast<char*>(row_address(p.x, r)) + c0 * static_cast<int64_t>(x_bytes), width, x);
                const float* q = static_cast<const float*>(row_address(p.probs, r));
                for (int64_t g = 0; g < g_count; ++g) {
                    float* acc = partial + g * chunk_columns;
                    for (int64_t c = 0; c < width; ++c) acc[c] += q[g] * x[c];
                }
            }
            for (int64_t g = 0; g < g_count; ++g) {
                for (int64_t c = 0; c < width; ++c) sums[g * c_count + c0 + c] += partial[g * chunk_columns + c];
            }
        }
    });

    const float d = p.decay;
    for (int64_t g = 0; g < g_count; ++g) {
        float mass = 0.0f, block = 0.0f;
        for (int64_t r = 0; r < rows; ++r) {
            block += static_cast<const float*>(row_address(p.probs, r))[g];
            if ((r + 1) % block_rows == 0 || r + 1 == rows) {
                mass += block;
                block = 0.0f;
            }
        }
        float& usage = float_at(p.usage, g);
        float& confidence = float_at(p.confidence, g);
        if (mass > 1e-6f) {
            float* prototype = static_cast<float*>(row_address(p.prototypes, g));
            const float* total = sums + g * c_count;
            for (int64_t c = 0; c < c_count; ++c) prototype[c] = d * prototype[c] + (1.0f - d) * (total[c] / mass);
            usage = d * usage + (1.0f - d) * mass;
            confidence = d * confidence + (1.0f - d);
        } else {
            usage = d * usage;
            confidence = d * confidence;
        }
    }
    return PROTEUS_STATUS_OK;
}

}  // namespace proteus::cpu
