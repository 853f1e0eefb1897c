/*
 * Smoke test of the C ABI from C11: library queries, a CPU context, buffers, one flux attention call
 * checked against a naive computation written here from SPEC §2–§3, gather, the error paths, cleanup.
 * Exit status 0 when every check holds; each failure prints its line and the library's last error.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proteus/proteus.h"

static int failures = 0;

#define CHECK(condition)                                                                  \
    do {                                                                                  \
        if (!(condition)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
            ++failures;                                                                   \
        }                                                                                 \
    } while (0)

#define EXPECT_STATUS(call, expected)                                                                           \
    do {                                                                                                        \
        const proteus_status status_ = (call);                                                                  \
        if (status_ != (expected)) {                                                                            \
            fprintf(stderr, "%s:%d: %s returned %d, expected %d (last error: %s)\n", __FILE__, __LINE__, #call, \
                    (int)status_, (int)(expected), proteus_last_error_message());                               \
            ++failures;                                                                                         \
        }                                                                                                       \
    } while (0)

#define EXPECT_OK(call) EXPECT_STATUS(call, PROTEUS_STATUS_OK)

/* The last error's status and argument must be these. */
static void expect_last_error(int line, proteus_status status, const char* argument)
{
    proteus_error_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    if (proteus_last_error_info(&info) != PROTEUS_STATUS_OK || info.status != (int32_t)status ||
        strcmp(info.argument, argument) != 0) {
        fprintf(stderr, "line %d: last error is status %d argument '%s', expected %d '%s' (%s)\n", line, info.status,
                info.argument, (int)status, argument, proteus_last_error_message());
        ++failures;
    }
}

#define EXPECT_ERROR(call, status, argument)           \
    do {                                               \
        EXPECT_STATUS(call, status);                   \
        expect_last_error(__LINE__, status, argument); \
    } while (0)

/* ---- Problem set-up ------------------------------------------------------------------------------ */

enum { B = 2, H = 4, HKV = 2, T = 37, D = 32 };
enum { WINDOW = 5, ANCHOR_STRIDE = 4, ANCHOR_COUNT = 2, DNA_COUNT = 3 };

static uint32_t random_state = 12345u;

static float random_uniform(void) /* in [-1, 1) */
{
    random_state = random_state * 1664525u + 1013904223u;
    return (float)(random_state >> 8) / 8388608.0f - 1.0f;
}

static void fill_random(float* values, size_t count)
{
    for (size_t n = 0; n < count; ++n) values[n] = random_uniform();
}

static proteus_tensor tensor(proteus_buffer buffer, uint64_t offset_bytes, proteus_dtype dtype, int rank,
                             const int64_t* shape, const int64_t* strides)
{
    proteus_tensor t;
    memset(&t, 0, sizeof t);
    t.buffer = buffer;
    t.offset_bytes = offset_bytes;
    t.dtype = dtype;
    t.rank = rank;
    for (int axis = 0; axis < PROTEUS_MAX_RANK; ++axis) {
        t.shape[axis] = axis < rank ? shape[axis] : 1;
        t.strides[axis] = axis < rank ? strides[axis] : 0;
    }
    return t;
}

/* Row-major strides of a shape. */
static proteus_tensor contiguous(proteus_buffer buffer, uint64_t offset_bytes, proteus_dtype dtype, int rank,
                                 const int64_t* shape)
{
    int64_t strides[PROTEUS_MAX_RANK];
    int64_t step = 1;
    for (int axis = rank - 1; axis >= 0; --axis) {
        strides[axis] = step;
        step *= shape[axis];
    }
    return tensor(buffer, offset_bytes, dtype, rank, shape, strides);
}

static proteus_flux_params aligned_params(void)
{
    proteus_flux_params params;
    memset(&params, 0, sizeof params);
    params.struct_size = sizeof params;
    params.policy = PROTEUS_POLICY_ALIGNED;
    params.window = WINDOW;
    params.anchor_stride = ANCHOR_STRIDE;
    params.anchor_count = ANCHOR_COUNT;
    params.dna_count = DNA_COUNT;
    params.use_default_scale = 1;
    return params;
}

/* Host copies of the inputs: q stored [B, T, H, D] (a strided view), k and v [B, Hkv, T, D]. */
struct Inputs {
    float q[B * T * H * D];
    float k[B * HKV * T * D];
    float v[B * HKV * T * D];
    float salience[B * T];
    uint8_t active[B * H * T];
};

static float q_at(const struct Inputs* in, int b, int h, int i, int d) { return in->q[((b * T + i) * H + h) * D + d]; }
static float k_at(const struct Inputs* in, int b, int h, int j, int d)
{
    return in->k[((b * HKV + h) * T + j) * D + d];
}
static float v_at(const struct Inputs* in, int b, int h, int j, int d)
{
    return in->v[((b * HKV + h) * T + j) * D + d];
}

static struct Inputs inputs; /* made once in main */

/* ---- The naive reference: C(i) by membership, SPEC §3 Aligned ----------------------------------- */

static int in_dna(const float* salience, int i, int j)
{
    const int limit = i - WINDOW;
    if (j > limit) return 0;
    int better = 0; /* positions ranked above j: higher salience, or equal salience and larger index */
    for (int other = 0; other <= limit; ++other) {
        if (salience[other] > salience[j] || (salience[other] == salience[j] && other > j)) ++better;
    }
    return better < DNA_COUNT;
}

static int in_aligned_anchors(int i, int j)
{
    const int limit = i - WINDOW;
    if (j > limit || j % ANCHOR_STRIDE != 0) return 0;
    const int multiples_above = limit / ANCHOR_STRIDE - j / ANCHOR_STRIDE; /* multiples of S in (j, limit] */
    return multiples_above < ANCHOR_COUNT;
}

static int is_candidate(const float* salience, int i, int j)
{
    return j <= i && (j > i - WINDOW || in_aligned_anchors(i, j) || in_dna(salience, i, j));
}

static void naive_row(const struct Inputs* in, int b, int h, int i, double* out, double* lse)
{
    const int kv = h / (H / HKV);
    const double scale = 1.0 / sqrt((double)D);
    double scores[T];
    double max_score = -INFINITY;
    for (int j = 0; j <= i; ++j) {
        if (!is_candidate(&in->salience[b * T], i, j)) continue;
        double dot = 0.0;
        for (int d = 0; d < D; ++d) dot += (double)q_at(in, b, h, i, d) * k_at(in, b, kv, j, d);
        scores[j] = scale * dot;
        if (scores[j] > max_score) max_score = scores[j];
    }
    double sum = 0.0;
    for (int d = 0; d < D; ++d) out[d] = 0.0;
    for (int j = 0; j <= i; ++j) {
        if (!is_candidate(&in->salience[b * T], i, j)) continue;
        const double weight = exp(scores[j] - max_score);
        sum += weight;
        for (int d = 0; d < D; ++d) out[d] += weight * v_at(in, b, kv, j, d);
    }
    for (int d = 0; d < D; ++d) out[d] /= sum;
    *lse = max_score + log(sum);
}

/* ---- Sections ------------------------------------------------------------------------------------ */

static void test_library(void)
{
    int32_t major = -1, minor = -1, patch = -1;
    EXPECT_OK(proteus_get_version(&major, &minor, &patch));
    CHECK(major == PROTEUS_VERSION_MAJOR && minor == PROTEUS_VERSION_MINOR && patch == PROTEUS_VERSION_PATCH);
    EXPECT_OK(proteus_get_version(NULL, NULL, NULL));

    uint32_t mask = 0;
    EXPECT_OK(proteus_get_compiled_backends(&mask));
    CHECK(mask & (1u << PROTEUS_BACKEND_CPU));

    int32_t count = 0;
    EXPECT_OK(proteus_device_count(PROTEUS_BACKEND_CPU, &count));
    CHECK(count == 1);
    EXPECT_ERROR(proteus_device_count(7, &count), PROTEUS_STATUS_INVALID_ARGUMENT, "backend");

    proteus_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    EXPECT_OK(proteus_device_get_info(PROTEUS_BACKEND_CPU, 0, &info));
    CHECK(info.struct_size == sizeof info && info.backend == PROTEUS_BACKEND_CPU && info.warp_size == 1);
    CHECK(info.name[0] != '\0' && info.architecture[0] != '\0' && info.total_memory > 0);
    EXPECT_ERROR(proteus_device_get_info(PROTEUS_BACKEND_CPU, 1, &info), PROTEUS_STATUS_BACKEND_UNAVAILABLE, "ordinal");
    info.struct_size = 3;
    EXPECT_ERROR(proteus_device_get_info(PROTEUS_BACKEND_CPU, 0, &info), PROTEUS_STATUS_INVALID_ARGUMENT,
                 "info.struct_size");

    if (!(mask & (1u << PROTEUS_BACKEND_HIP))) {
        proteus_context context = NULL;
        EXPECT_ERROR(proteus_context_create(PROTEUS_BACKEND_HIP, 0, &context), PROTEUS_STATUS_BACKEND_UNAVAILABLE,
                     "backend");
        CHECK(context == NULL);
    }
}

static void test_buffers(proteus_context context)
{
    proteus_buffer a = NULL, b = NULL;
    EXPECT_OK(proteus_buffer_create(context, 64, &a));
    EXPECT_OK(proteus_buffer_create(context, 64, &b));
    uint64_t size = 0;
    EXPECT_OK(proteus_buffer_size(a, &size));
    CHECK(size == 64);

    proteus_memory_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    EXPECT_OK(proteus_context_memory(context, &stats));
    CHECK(stats.allocated_bytes == 128 && stats.peak_allocated_bytes >= 128 && stats.limit_bytes == 0);
    CHECK(stats.total_bytes > 0);

    uint8_t source[64], back[64];
    for (int n = 0; n < 64; ++n) source[n] = (uint8_t)(n * 7);
    EXPECT_OK(proteus_buffer_upload(a, 0, source, 64));
    EXPECT_OK(proteus_buffer_copy(b, 16, a, 0, 48));
    EXPECT_OK(proteus_buffer_download(b, 16, back, 48));
    CHECK(memcmp(back, source, 48) == 0);

    const float nan_pattern = NAN;
    EXPECT_OK(proteus_buffer_fill(a, 8, 32, &nan_pattern, sizeof nan_pattern));
    float filled[8];
    EXPECT_OK(proteus_buffer_download(a, 8, filled, sizeof filled));
    for (int n = 0; n < 8; ++n) CHECK(isnan(filled[n]));
    EXPECT_OK(proteus_buffer_download(a, 0, back, 8));
    CHECK(memcmp(back, source, 8) == 0);

    void* pointer = NULL;
    EXPECT_OK(proteus_buffer_device_pointer(a, &pointer));
    CHECK(pointer != NULL);

    EXPECT_ERROR(proteus_buffer_upload(a, 60, source, 8), PROTEUS_STATUS_INVALID_ARGUMENT, "offset");
    EXPECT_ERROR(proteus_buffer_copy(a, 0, a, 8, 16), PROTEUS_STATUS_INVALID_ARGUMENT, "source_offset");
    EXPECT_ERROR(proteus_buffer_fill(a, 0, 6, &nan_pattern, 4), PROTEUS_STATUS_INVALID_ARGUMENT, "bytes");
    proteus_buffer empty = NULL;
    EXPECT_ERROR(proteus_buffer_create(context, 0, &empty), PROTEUS_STATUS_INVALID_ARGUMENT, "bytes");

    EXPECT_OK(proteus_buffer_destroy(a));
    EXPECT_OK(proteus_buffer_destroy(b));
    EXPECT_OK(proteus_context_memory(context, &stats));
    CHECK(stats.allocated_bytes == 0);
    EXPECT_OK(proteus_context_reset_peak(context));
    EXPECT_OK(proteus_context_memory(context, &stats));
    CHECK(stats.peak_allocated_bytes == 0);
}

/* The buffers of one flux attention call and their tensors. */
struct FluxSetup {
    proteus_buffer qkv, o, lse, salience, active;
    proteus_flux_tensors tensors;
};

static void setup_flux(proteus_context context, const struct Inputs* in, struct FluxSetup* s)
{
    const uint64_t q_bytes = sizeof in->q, kv_bytes = sizeof in->k;
    EXPECT_OK(proteus_buffer_create(context, q_bytes + 2 * kv_bytes, &s->qkv));
    EXPECT_OK(proteus_buffer_create(context, q_bytes, &s->o));
    EXPECT_OK(proteus_buffer_create(context, B * H * T * sizeof(float), &s->lse));
    EXPECT_OK(proteus_buffer_create(context, sizeof in->salience, &s->salience));
    EXPECT_OK(proteus_buffer_create(context, sizeof in->active, &s->active));
    EXPECT_OK(proteus_buffer_upload(s->qkv, 0, in->q, q_bytes));
    EXPECT_OK(proteus_buffer_upload(s->qkv, q_bytes, in->k, kv_bytes));
    EXPECT_OK(proteus_buffer_upload(s->qkv, q_bytes + kv_bytes, in->v, kv_bytes));
    EXPECT_OK(proteus_buffer_upload(s->salience, 0, in->salience, sizeof in->salience));
    EXPECT_OK(proteus_buffer_upload(s->active, 0, in->active, sizeof in->active));

    const int64_t q_shape[4] = {B, H, T, D}, q_strides[4] = {T * H * D, D, H * D, 1}; /* stored [B, T, H, D] */
    const int64_t kv_shape[4] = {B, HKV, T, D}, row_shape[3] = {B, H, T}, salience_shape[2] = {B, T};
    memset(&s->tensors, 0, sizeof s->tensors);
    s->tensors.q = tensor(s->qkv, 0, PROTEUS_DTYPE_FLOAT32, 4, q_shape, q_strides);
    s->tensors.k = contiguous(s->qkv, q_bytes, PROTEUS_DTYPE_FLOAT32, 4, kv_shape);
    s->tensors.v = contiguous(s->qkv, q_bytes + kv_bytes, PROTEUS_DTYPE_FLOAT32, 4, kv_shape);
    s->tensors.o = contiguous(s->o, 0, PROTEUS_DTYPE_FLOAT32, 4, q_shape);
    s->tensors.lse = contiguous(s->lse, 0, PROTEUS_DTYPE_FLOAT32, 3, row_shape);
    s->tensors.salience = contiguous(s->salience, 0, PROTEUS_DTYPE_FLOAT32, 2, salience_shape);
    s->tensors.active = contiguous(s->active, 0, PROTEUS_DTYPE_UINT8, 3, row_shape);
}

static void teardown_flux(struct FluxSetup* s)
{
    EXPECT_OK(proteus_buffer_destroy(s->qkv));
    EXPECT_OK(proteus_buffer_destroy(s->o));
    EXPECT_OK(proteus_buffer_destroy(s->lse));
    EXPECT_OK(proteus_buffer_destroy(s->salience));
    EXPECT_OK(proteus_buffer_destroy(s->active));
}

static void make_inputs(struct Inputs* in)
{
    fill_random(in->q, sizeof in->q / sizeof *in->q);
    fill_random(in->k, sizeof in->k / sizeof *in->k);
    fill_random(in->v, sizeof in->v / sizeof *in->v);
    fill_random(in->salience, sizeof in->salience / sizeof *in->salience);
    for (int b = 0; b < B; ++b) { /* a four-way tie at the top: DNA keeps the three larger positions */
        in->salience[b * T + 2] = in->salience[b * T + 10] = in->salience[b * T + 20] = in->salience[b * T + 25] = 1.5f;
    }
    for (int n = 0; n < B * H * T; ++n) in->active[n] = (uint8_t)(n % 7 != 3);
}

static void compare_with_naive(const struct Inputs* in, const float* o, const float* lse)
{
    double worst = 0.0;
    for (int b = 0; b < B; ++b) {
        for (int h = 0; h < H; ++h) {
            for (int i = 0; i < T; ++i) {
                const float* got = &o[((b * H + h) * T + i) * D];
                const float got_lse = lse[(b * H + h) * T + i];
                if (!in->active[(b * H + h) * T + i]) {
                    for (int d = 0; d < D; ++d) CHECK(got[d] == 0.0f);
                    CHECK(isinf(got_lse) && got_lse < 0);
                    continue;
                }
                double expected[D], expected_lse = 0.0;
                naive_row(in, b, h, i, expected, &expected_lse);
                for (int d = 0; d < D; ++d) worst = fmax(worst, fabs(got[d] - expected[d]));
                worst = fmax(worst, fabs(got_lse - expected_lse));
            }
        }
    }
    if (worst > 2e-5) fprintf(stderr, "flux attention differs from the naive reference by %g\n", worst);
    CHECK(worst <= 2e-5);
}

static void test_gather(proteus_context context, const struct Inputs* in, const struct FluxSetup* s)
{
    const proteus_flux_params params = aligned_params();
    int64_t bound = 0;
    EXPECT_OK(proteus_shortlist_bound(&params, T, &bound));
    CHECK(bound == WINDOW + ANCHOR_COUNT + DNA_COUNT);

    int64_t rows[T], lengths[T], indices[T * (WINDOW + ANCHOR_COUNT + DNA_COUNT)];
    for (int r = 0; r < T; ++r) rows[r] = T - 1 - r; /* any order */
    const int batch = 1;
    EXPECT_OK(
        proteus_shortlist_gather(context, &params, T, &s->tensors.salience, batch, rows, T, bound, indices, lengths));
    for (int r = 0; r < T; ++r) {
        const int i = (int)rows[r];
        int expected = 0;
        for (int j = 0; j <= i; ++j) {
            if (!is_candidate(&in->salience[batch * T], i, j)) continue;
            CHECK(expected < lengths[r] && indices[r * bound + expected] == j);
            ++expected;
        }
        CHECK(lengths[r] == expected);
    }
    EXPECT_ERROR(proteus_shortlist_gather(context, &params, T, &s->tensors.salience, batch, rows, T, bound - 1, indices,
                                          lengths),
                 PROTEUS_STATUS_INVALID_ARGUMENT, "capacity");
    rows[3] = T;
    EXPECT_ERROR(
        proteus_shortlist_gather(context, &params, T, &s->tensors.salience, batch, rows, T, bound, indices, lengths),
        PROTEUS_STATUS_INVALID_ARGUMENT, "rows");
}

static void test_flux_attention(proteus_context context)
{
    const struct Inputs* in = &inputs;
    struct FluxSetup s;
    setup_flux(context, in, &s);

    const proteus_flux_params params = aligned_params();
    EXPECT_OK(proteus_flux_attention(context, &s.tensors, &params, NULL));
    EXPECT_OK(proteus_context_synchronize(context));
    static float o[B * H * T * D], lse[B * H * T];
    EXPECT_OK(proteus_buffer_download(s.o, 0, o, sizeof o));
    EXPECT_OK(proteus_buffer_download(s.lse, 0, lse, sizeof lse));
    compare_with_naive(in, o, lse);
    test_gather(context, in, &s);
    teardown_flux(&s);
}

/* ---- Error paths ------------------------------------------------------------------------------- */

static void test_argument_errors(proteus_context context)
{
    const struct Inputs* in = &inputs;
    struct FluxSetup s;
    setup_flux(context, in, &s);
    proteus_flux_params params = aligned_params();

    proteus_flux_tensors bad = s.tensors; /* D = 48 */
    bad.q.shape[3] = bad.k.shape[3] = bad.v.shape[3] = bad.o.shape[3] = 48;
    bad.k.shape[2] = bad.v.shape[2] = bad.q.shape[2] = bad.o.shape[2] = 8;
    EXPECT_ERROR(proteus_flux_attention(context, &bad, &params, NULL), PROTEUS_STATUS_UNSUPPORTED_HEAD_DIM, "q.shape");

    bad = s.tensors;
    bad.k.strides[3] = 2;
    EXPECT_ERROR(proteus_flux_attention(context, &bad, &params, NULL), PROTEUS_STATUS_INVALID_ARGUMENT, "k.strides");

    bad = s.tensors;
    bad.v.dtype = PROTEUS_DTYPE_UINT8;
    EXPECT_ERROR(proteus_flux_attention(context, &bad, &params, NULL), PROTEUS_STATUS_UNSUPPORTED_DTYPE, "v.dtype");

    bad = s.tensors;
    bad.o = bad.q; /* writes over its own input */
    EXPECT_ERROR(proteus_flux_attention(context, &bad, &params, NULL), PROTEUS_STATUS_INVALID_ARGUMENT, "o");

    bad = s.tensors;
    bad.salience.buffer = NULL;
    EXPECT_ERROR(proteus_flux_attention(context, &bad, &params, NULL), PROTEUS_STATUS_INVALID_ARGUMENT, "salience");

    params.window = 0;
    EXPECT_ERROR(proteus_flux_attention(context, &s.tensors, &params, NULL), PROTEUS_STATUS_INVALID_ARGUMENT,
                 "params.window");
    params = aligned_params();
    params.struct_size = 8;
    EXPECT_ERROR(proteus_flux_attention(context, &s.tensors, &params, NULL), PROTEUS_STATUS_INVALID_ARGUMENT,
                 "params.struct_size");
    params = aligned_params();
    EXPECT_ERROR(proteus_flux_attention(context, NULL, &params, NULL), PROTEUS_STATUS_INVALID_ARGUMENT, "tensors");

    proteus_launch_config launch;
    memset(&launch, 0, sizeof launch);
    launch.struct_size = sizeof launch;
    launch.rows_per_warp = -1;
    EXPECT_ERROR(proteus_flux_attention(context, &s.tensors, &params, &launch), PROTEUS_STATUS_INVALID_ARGUMENT,
                 "launch.rows_per_warp");
    teardown_flux(&s);
}

static void test_memory_errors(proteus_context context)
{
    const uint64_t mebibyte = 1u << 20;
    proteus_buffer held = NULL, refused = (proteus_buffer)(uintptr_t)1; /* a failed create must write NULL */
    EXPECT_OK(proteus_buffer_create(context, mebibyte, &held));
    EXPECT_OK(proteus_context_set_memory_limit(context, 2 * mebibyte));
    EXPECT_ERROR(proteus_buffer_create(context, 2 * mebibyte, &refused), PROTEUS_STATUS_OUT_OF_MEMORY, "");
    CHECK(refused == NULL);

    proteus_error_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    EXPECT_OK(proteus_last_error_info(&info));
    CHECK(info.requested_bytes == 2 * mebibyte && info.free_bytes == mebibyte);
    CHECK(strstr(proteus_last_error_message(), "asked for 2097152 bytes (2.0 MiB) with 1048576 bytes (1.0 MiB) free") !=
          NULL);

    proteus_memory_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    EXPECT_OK(proteus_context_memory(context, &stats));
    CHECK(stats.limit_bytes == 2 * mebibyte && stats.total_bytes == 2 * mebibyte && stats.free_bytes <= mebibyte);

    EXPECT_OK(proteus_context_set_memory_limit(context, 0));
    const uint64_t impossible = (uint64_t)1 << 60;
    EXPECT_ERROR(proteus_buffer_create(context, impossible, &refused), PROTEUS_STATUS_OUT_OF_MEMORY, "");
    EXPECT_OK(proteus_last_error_info(&info));
    CHECK(info.requested_bytes == impossible);
    EXPECT_OK(proteus_buffer_destroy(held));
}

static void test_handle_errors(proteus_context context)
{
    const struct Inputs* in = &inputs;
    struct FluxSetup s;
    setup_flux(context, in, &s);
    const proteus_flux_params params = aligned_params();

    proteus_buffer doomed = NULL;
    EXPECT_OK(proteus_buffer_create(context, 16, &doomed));
    EXPECT_OK(proteus_buffer_destroy(doomed));
    EXPECT_ERROR(proteus_buffer_destroy(doomed), PROTEUS_STATUS_INVALID_HANDLE, "buffer");
    uint64_t size = 0;
    EXPECT_ERROR(proteus_buffer_size(doomed, &size), PROTEUS_STATUS_INVALID_HANDLE, "buffer");
    EXPECT_ERROR(proteus_buffer_size((proteus_buffer)(uintptr_t)0xdeadbeef, &size), PROTEUS_STATUS_INVALID_HANDLE,
                 "buffer");
    EXPECT_ERROR(proteus_context_synchronize((proteus_context)(uintptr_t)0xdeadbeef), PROTEUS_STATUS_INVALID_HANDLE,
                 "context");
    EXPECT_ERROR(proteus_buffer_destroy(NULL), PROTEUS_STATUS_INVALID_HANDLE, "buffer");

    proteus_flux_tensors bad = s.tensors;
    bad.lse.buffer = doomed;
    EXPECT_ERROR(proteus_flux_attention(context, &bad, &params, NULL), PROTEUS_STATUS_INVALID_HANDLE, "lse.buffer");

    proteus_context other = NULL;
    proteus_buffer foreign = NULL;
    EXPECT_OK(proteus_context_create(PROTEUS_BACKEND_CPU, 0, &other));
    EXPECT_OK(proteus_buffer_create(other, sizeof in->q, &foreign));
    bad = s.tensors;
    bad.o.buffer = foreign; /* as large as o, on another context */
    EXPECT_ERROR(proteus_flux_attention(context, &bad, &params, NULL), PROTEUS_STATUS_DEVICE_MISMATCH, "o.buffer");
    EXPECT_ERROR(proteus_buffer_copy(foreign, 0, s.o, 0, 16), PROTEUS_STATUS_DEVICE_MISMATCH, "source");

    /* Destroying a context frees its buffers: their handles go invalid with it. */
    EXPECT_OK(proteus_context_destroy(other));
    EXPECT_ERROR(proteus_buffer_size(foreign, &size), PROTEUS_STATUS_INVALID_HANDLE, "buffer");
    EXPECT_ERROR(proteus_context_destroy(other), PROTEUS_STATUS_INVALID_HANDLE, "context");
    teardown_flux(&s);
}

/* Every section on one context of `backend`. */
static void test_context(int32_t backend)
{
    proteus_context context = NULL;
    EXPECT_OK(proteus_context_create(backend, 0, &context));
    proteus_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    EXPECT_OK(proteus_context_get_info(context, &info));
    CHECK(info.backend == backend && info.multiprocessor_count >= 1);

    test_buffers(context);
    test_flux_attention(context);
    test_argument_errors(context);
    test_memory_errors(context);
    test_handle_errors(context);

    proteus_memory_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    EXPECT_OK(proteus_context_memory(context, &stats));
    CHECK(stats.allocated_bytes == 0); /* every buffer and workspace given back */
    EXPECT_OK(proteus_context_destroy(context));
    printf("tested %s device 0: %s\n",
           backend == PROTEUS_BACKEND_CPU    ? "CPU"
           : backend == PROTEUS_BACKEND_CUDA ? "CUDA"
                                             : "HIP",
           info.name);
}

/* Usage: proteus_abi_smoke [--cpu-only]. Without the flag, device 0 of every compiled GPU backend is
 * tested too when one is present (the flag keeps GPU drivers out of valgrind runs). */
int main(int argc, char** argv)
{
    const int cpu_only = argc > 1 && strcmp(argv[1], "--cpu-only") == 0;
    make_inputs(&inputs);
    test_library();
    test_context(PROTEUS_BACKEND_CPU);
    for (int32_t backend = PROTEUS_BACKEND_CUDA; !cpu_only && backend <= PROTEUS_BACKEND_HIP; ++backend) {
        int32_t count = 0;
        EXPECT_OK(proteus_device_count(backend, &count));
        if (count > 0) test_context(backend);
    }

    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("proteus ABI smoke test passed\n");
    return 0;
}
