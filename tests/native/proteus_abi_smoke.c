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
    s->tensors.struct_size = sizeof s->tensors;
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
    EXPECT_OK(proteus_flux_attention_v2(context, &s.tensors, &params, NULL, NULL));
    EXPECT_OK(proteus_context_synchronize(context));
    static float o[B * H * T * D], lse[B * H * T];
    EXPECT_OK(proteus_buffer_download(s.o, 0, o, sizeof o));
    EXPECT_OK(proteus_buffer_download(s.lse, 0, lse, sizeof lse));
    compare_with_naive(in, o, lse);

    /* The CPU reference, asked for by launch mode (a GPU refuses the mode). */
    proteus_launch_config reference;
    memset(&reference, 0, sizeof reference);
    reference.struct_size = sizeof reference;
    reference.mode = PROTEUS_LAUNCH_REFERENCE;
    proteus_flux_run_info run;
    memset(&run, 0, sizeof run);
    run.struct_size = sizeof run;
    proteus_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    EXPECT_OK(proteus_context_get_info(context, &info));
    if (info.backend == PROTEUS_BACKEND_CPU) {
        memset(o, 0, sizeof o);
        EXPECT_OK(proteus_buffer_upload(s.o, 0, o, sizeof o));
        EXPECT_OK(proteus_flux_attention_v2(context, &s.tensors, &params, &reference, &run));
        CHECK(run.kernel == PROTEUS_KERNEL_CPU_REFERENCE && run.launch.mode == PROTEUS_LAUNCH_REFERENCE);
        EXPECT_OK(proteus_buffer_download(s.o, 0, o, sizeof o));
        EXPECT_OK(proteus_buffer_download(s.lse, 0, lse, sizeof lse));
        compare_with_naive(in, o, lse);
    } else {
        EXPECT_ERROR(proteus_flux_attention_v2(context, &s.tensors, &params, &reference, &run),
                     PROTEUS_STATUS_INVALID_ARGUMENT, "launch.mode");
    }
    test_gather(context, in, &s);
    teardown_flux(&s);
}

/* ---- Host threads ------------------------------------------------------------------------------ */

static void test_threads(proteus_context context, int32_t backend)
{
    int32_t threads = -1;
    EXPECT_OK(proteus_context_get_threads(context, &threads));
    EXPECT_ERROR(proteus_context_get_threads(context, NULL), PROTEUS_STATUS_INVALID_ARGUMENT, "threads");
    EXPECT_ERROR(proteus_context_set_threads(NULL, 2), PROTEUS_STATUS_INVALID_HANDLE, "context");
    if (backend != PROTEUS_BACKEND_CPU) {
        CHECK(threads == 0); /* a GPU backend runs no host worker threads */
        EXPECT_ERROR(proteus_context_set_threads(context, 2), PROTEUS_STATUS_INVALID_ARGUMENT, "threads");
        return;
    }
    CHECK(threads >= 1 && threads <= 4096);
    EXPECT_OK(proteus_context_set_threads(context, 3));
    int32_t now = 0;
    EXPECT_OK(proteus_context_get_threads(context, &now));
    CHECK(now == 3);
    EXPECT_ERROR(proteus_context_set_threads(context, 0), PROTEUS_STATUS_INVALID_ARGUMENT, "threads");
    EXPECT_ERROR(proteus_context_set_threads(context, 4097), PROTEUS_STATUS_INVALID_ARGUMENT, "threads");
    EXPECT_OK(proteus_context_get_threads(context, &now));
    CHECK(now == 3); /* a refused count changes nothing */
    test_flux_attention(context); /* the new pool computes the same */
    EXPECT_OK(proteus_context_set_threads(context, threads));
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
    EXPECT_ERROR(proteus_flux_attention_v2(context, &bad, &params, NULL, NULL), PROTEUS_STATUS_UNSUPPORTED_HEAD_DIM, "q.shape");

    bad = s.tensors;
    bad.k.strides[3] = 2;
    EXPECT_ERROR(proteus_flux_attention_v2(context, &bad, &params, NULL, NULL), PROTEUS_STATUS_INVALID_ARGUMENT, "k.strides");

    bad = s.tensors;
    bad.v.dtype = PROTEUS_DTYPE_UINT8;
    EXPECT_ERROR(proteus_flux_attention_v2(context, &bad, &params, NULL, NULL), PROTEUS_STATUS_UNSUPPORTED_DTYPE, "v.dtype");

    bad = s.tensors;
    bad.o = bad.q; /* writes over its own input */
    EXPECT_ERROR(proteus_flux_attention_v2(context, &bad, &params, NULL, NULL), PROTEUS_STATUS_INVALID_ARGUMENT, "o");

    bad = s.tensors;
    bad.salience.buffer = NULL;
    EXPECT_ERROR(proteus_flux_attention_v2(context, &bad, &params, NULL, NULL), PROTEUS_STATUS_INVALID_ARGUMENT, "salience");

    params.window = 0;
    EXPECT_ERROR(proteus_flux_attention_v2(context, &s.tensors, &params, NULL, NULL), PROTEUS_STATUS_INVALID_ARGUMENT,
                 "params.window");
    params = aligned_params();
    params.struct_size = 8;
    EXPECT_ERROR(proteus_flux_attention_v2(context, &s.tensors, &params, NULL, NULL), PROTEUS_STATUS_INVALID_ARGUMENT,
                 "params.struct_size");
    params = aligned_params();
    EXPECT_ERROR(proteus_flux_attention_v2(context, NULL, &params, NULL, NULL), PROTEUS_STATUS_INVALID_ARGUMENT, "tensors");

    proteus_launch_config launch;
    memset(&launch, 0, sizeof launch);
    launch.struct_size = sizeof launch;
    launch.rows_per_warp = -1;
    EXPECT_ERROR(proteus_flux_attention_v2(context, &s.tensors, &params, &launch, NULL), PROTEUS_STATUS_INVALID_ARGUMENT,
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
    EXPECT_ERROR(proteus_flux_attention_v2(context, &bad, &params, NULL, NULL), PROTEUS_STATUS_INVALID_HANDLE, "lse.buffer");

    proteus_context other = NULL;
    proteus_buffer foreign = NULL;
    EXPECT_OK(proteus_context_create(PROTEUS_BACKEND_CPU, 0, &other));
    EXPECT_OK(proteus_buffer_create(other, sizeof in->q, &foreign));
    bad = s.tensors;
    bad.o.buffer = foreign; /* as large as o, on another context */
    EXPECT_ERROR(proteus_flux_attention_v2(context, &bad, &params, NULL, NULL), PROTEUS_STATUS_DEVICE_MISMATCH, "o.buffer");
    EXPECT_ERROR(proteus_buffer_copy(foreign, 0, s.o, 0, 16), PROTEUS_STATUS_DEVICE_MISMATCH, "source");

    /* Destroying a context frees its buffers: their handles go invalid with it. */
    EXPECT_OK(proteus_context_destroy(other));
    EXPECT_ERROR(proteus_buffer_size(foreign, &size), PROTEUS_STATUS_INVALID_HANDLE, "buffer");
    EXPECT_ERROR(proteus_context_destroy(other), PROTEUS_STATUS_INVALID_HANDLE, "context");
    teardown_flux(&s);
}

/* ---- Versioned structs, build info ------------------------------------------------------------- */

static void test_build_info(void)
{
    proteus_build_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    EXPECT_OK(proteus_get_build_info(&info));
    uint32_t mask = 0;
    EXPECT_OK(proteus_get_compiled_backends(&mask));
    CHECK(info.struct_size == sizeof info && info.version_major == PROTEUS_VERSION_MAJOR &&
          info.version_minor == PROTEUS_VERSION_MINOR && info.version_patch == PROTEUS_VERSION_PATCH);
    CHECK(info.compiled_backends == mask);
    CHECK((info.gpu_backend == PROTEUS_BACKEND_CPU) == (mask == (1u << PROTEUS_BACKEND_CPU)));
    CHECK(strlen(info.kernel_source_hash) == 64 && strspn(info.kernel_source_hash, "0123456789abcdef") == 64);
    CHECK(info.source_revision[0] != '\0' && info.compiler[0] != '\0');
    CHECK((info.gpu_architectures[0] == '\0') == (info.gpu_backend == PROTEUS_BACKEND_CPU));
    info.struct_size = PROTEUS_BUILD_INFO_SIZE_V0_2 - 1;
    EXPECT_ERROR(proteus_get_build_info(&info), PROTEUS_STATUS_INVALID_ARGUMENT, "info.struct_size");
    EXPECT_ERROR(proteus_get_build_info(NULL), PROTEUS_STATUS_INVALID_ARGUMENT, "info");
}

/* A 0.1-sized output struct gets no byte past its size; sizes outside [first, sizeof] are refused by name. */
static void test_versioned_structs(proteus_context context)
{
    struct {
        proteus_memory_stats stats;
        unsigned char guard[16];
    } old;
    memset(&old, 0x5A, sizeof old);
    old.stats.struct_size = PROTEUS_MEMORY_STATS_SIZE_V0_1;
    EXPECT_OK(proteus_context_memory(context, &old.stats));
    CHECK(old.stats.struct_size == PROTEUS_MEMORY_STATS_SIZE_V0_1 && old.stats.total_bytes > 0);
    const unsigned char* tail = (const unsigned char*)&old.stats + PROTEUS_MEMORY_STATS_SIZE_V0_1;
    for (size_t n = 0; n < sizeof old - PROTEUS_MEMORY_STATS_SIZE_V0_1; ++n) CHECK(tail[n] == 0x5A);

    proteus_memory_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = PROTEUS_MEMORY_STATS_SIZE_V0_1 - 8;
    EXPECT_ERROR(proteus_context_memory(context, &stats), PROTEUS_STATUS_INVALID_ARGUMENT, "stats.struct_size");
    stats.struct_size = sizeof stats + 8;
    EXPECT_ERROR(proteus_context_memory(context, &stats), PROTEUS_STATUS_INVALID_ARGUMENT, "stats.struct_size");

    proteus_error_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info + 4;
    EXPECT_STATUS(proteus_last_error_info(&info), PROTEUS_STATUS_INVALID_ARGUMENT);
    expect_last_error(__LINE__, PROTEUS_STATUS_INVALID_ARGUMENT, "info.struct_size");

    /* Input structs: a shorter launch config reads its missing fields as 0; a longer one is refused. */
    const struct Inputs* in = &inputs;
    struct FluxSetup s;
    setup_flux(context, in, &s);
    const proteus_flux_params params = aligned_params();
    proteus_launch_config launch;
    memset(&launch, 0, sizeof launch);
    launch.struct_size = PROTEUS_LAUNCH_CONFIG_SIZE_V0_1;
    EXPECT_OK(proteus_flux_attention_v2(context, &s.tensors, &params, &launch, NULL));
    launch.struct_size = sizeof launch + 4;
    EXPECT_ERROR(proteus_flux_attention_v2(context, &s.tensors, &params, &launch, NULL),
                 PROTEUS_STATUS_INVALID_ARGUMENT, "launch.struct_size");
    proteus_flux_tensors tensors = s.tensors;
    tensors.struct_size = 0; /* the 0.1 layout had none: a 0.1 caller must use proteus_flux_attention */
    EXPECT_ERROR(proteus_flux_attention_v2(context, &tensors, &params, NULL, NULL), PROTEUS_STATUS_INVALID_ARGUMENT,
                 "tensors.struct_size");
    proteus_flux_run_info run;
    memset(&run, 0, sizeof run);
    run.struct_size = PROTEUS_FLUX_RUN_INFO_SIZE_V0_2 - 1;
    EXPECT_ERROR(proteus_flux_attention_v2(context, &s.tensors, &params, NULL, &run), PROTEUS_STATUS_INVALID_ARGUMENT,
                 "run_info.struct_size");
    teardown_flux(&s);
}

/* ---- Query slices, run info, launch candidates ------------------------------------------------- */

/* Rows [p0, p0 + Tq) of q as a view of the full q (stored [B, T, H, D]), and a [B, H, Tq, D] output. */
static void slice_tensors(const struct FluxSetup* s, proteus_buffer o, proteus_buffer lse, int64_t p0, int64_t tq,
                          proteus_flux_tensors* t)
{
    *t = s->tensors;
    t->q.offset_bytes = (uint64_t)p0 * H * D * sizeof(float);
    t->q.shape[2] = tq;
    const int64_t o_shape[4] = {B, H, tq, D}, row_shape[3] = {B, H, tq};
    t->o = contiguous(o, 0, PROTEUS_DTYPE_FLOAT32, 4, o_shape);
    t->lse = contiguous(lse, 0, PROTEUS_DTYPE_FLOAT32, 3, row_shape);
    t->active.buffer = NULL; /* every row */
}

static void test_query_slices(proteus_context context)
{
    const struct Inputs* in = &inputs;
    struct FluxSetup s;
    setup_flux(context, in, &s);
    const proteus_flux_params params = aligned_params();
    proteus_flux_tensors full = s.tensors;
    full.active.buffer = NULL;
    EXPECT_OK(proteus_flux_attention_v2(context, &full, &params, NULL, NULL));
    static float o_full[B * H * T * D], lse_full[B * H * T], o_part[B * H * T * D], lse_part[B * H * T];
    EXPECT_OK(proteus_context_synchronize(context));
    EXPECT_OK(proteus_buffer_download(s.o, 0, o_full, sizeof o_full));
    EXPECT_OK(proteus_buffer_download(s.lse, 0, lse_full, sizeof lse_full));

    proteus_buffer o = NULL, lse = NULL;
    EXPECT_OK(proteus_buffer_create(context, sizeof o_part, &o));
    EXPECT_OK(proteus_buffer_create(context, sizeof lse_part, &lse));
    /* {p0, Tq, explicit}: a chunk, the first row, one decode step (default p0 = T − 1), the last rows by default. */
    const int64_t cases[][3] = {{11, 7, 1}, {0, 1, 1}, {T - 1, 1, 0}, {T - 9, 9, 0}, {0, T, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        const int64_t p0 = cases[c][0], tq = cases[c][1];
        proteus_flux_tensors t;
        slice_tensors(&s, o, lse, p0, tq, &t);
        if (cases[c][2]) {
            t.flags = PROTEUS_FLUX_QUERY_OFFSET;
            t.query_offset = p0;
        }
        proteus_flux_run_info run;
        memset(&run, 0, sizeof run);
        run.struct_size = sizeof run;
        EXPECT_OK(proteus_flux_attention_v2(context, &t, &params, NULL, &run));
        CHECK(run.query_offset == p0 && run.kernel != PROTEUS_KERNEL_NONE);
        EXPECT_OK(proteus_context_synchronize(context));
        EXPECT_OK(proteus_buffer_download(o, 0, o_part, (size_t)(B * H * tq * D) * sizeof(float)));
        EXPECT_OK(proteus_buffer_download(lse, 0, lse_part, (size_t)(B * H * tq) * sizeof(float)));
        int same = 1; /* bit for bit: row r is exactly position p0 + r of the full call */
        for (int b = 0; b < B; ++b) {
            for (int h = 0; h < H; ++h) {
                for (int64_t r = 0; r < tq; ++r) {
                    const size_t full_row = (size_t)((b * H + h) * T + p0 + r), part_row = (size_t)((b * H + h) * tq + r);
                    same &= memcmp(&o_full[full_row * D], &o_part[part_row * D], D * sizeof(float)) == 0;
                    same &= memcmp(&lse_full[full_row], &lse_part[part_row], sizeof(float)) == 0;
                }
            }
        }
        if (!same) fprintf(stderr, "query slice p0 = %lld, Tq = %lld differs from the full call\n", (long long)p0,
                           (long long)tq);
        CHECK(same);
    }

    proteus_flux_tensors t;
    slice_tensors(&s, o, lse, 30, 8, &t);
    t.flags = PROTEUS_FLUX_QUERY_OFFSET;
    t.query_offset = 30; /* 30 + 8 > T */
    EXPECT_ERROR(proteus_flux_attention_v2(context, &t, &params, NULL, NULL), PROTEUS_STATUS_INVALID_ARGUMENT,
                 "tensors.query_offset");
    t.query_offset = -1;
    EXPECT_ERROR(proteus_flux_attention_v2(context, &t, &params, NULL, NULL), PROTEUS_STATUS_INVALID_ARGUMENT,
                 "tensors.query_offset");
    t.flags = 2;
    EXPECT_ERROR(proteus_flux_attention_v2(context, &t, &params, NULL, NULL), PROTEUS_STATUS_INVALID_ARGUMENT,
                 "tensors.flags");
    t.flags = 0;
    const int64_t long_shape[3] = {B, H, 8};
    t.active = contiguous(s.active, 0, PROTEUS_DTYPE_UINT8, 3, long_shape); /* active follows q: [B, H, Tq] */
    EXPECT_OK(proteus_flux_attention_v2(context, &t, &params, NULL, NULL));
    t.active.shape[2] = T;
    EXPECT_ERROR(proteus_flux_attention_v2(context, &t, &params, NULL, NULL), PROTEUS_STATUS_INVALID_ARGUMENT,
                 "active.shape");
    EXPECT_OK(proteus_buffer_destroy(o));
    EXPECT_OK(proteus_buffer_destroy(lse));
    teardown_flux(&s);
}

static void test_launch_candidates(proteus_context context, int32_t backend)
{
    const struct Inputs* in = &inputs;
    struct FluxSetup s;
    setup_flux(context, in, &s);
    const proteus_flux_params params = aligned_params();
    int32_t count = -1;
    EXPECT_OK(proteus_flux_launch_candidates(context, &s.tensors, &params, NULL, sizeof(proteus_launch_config), 0,
                                             &count));
    CHECK(count >= 1);
    /* 0.1-sized entries, packed at the caller's stride, with a guard after the last one. */
    unsigned char packed[4 * PROTEUS_LAUNCH_CONFIG_SIZE_V0_1 + 8];
    memset(packed, 0x5A, sizeof packed);
    int32_t available = 0;
    EXPECT_OK(proteus_flux_launch_candidates(context, &s.tensors, &params, (proteus_launch_config*)packed,
                                             PROTEUS_LAUNCH_CONFIG_SIZE_V0_1, 4, &available));
    CHECK(available == count);
    const int written = available < 4 ? available : 4;
    for (int n = 0; n < written; ++n) {
        proteus_launch_config config;
        memcpy(&config, packed + n * PROTEUS_LAUNCH_CONFIG_SIZE_V0_1, PROTEUS_LAUNCH_CONFIG_SIZE_V0_1);
        CHECK(config.struct_size == PROTEUS_LAUNCH_CONFIG_SIZE_V0_1);
        /* Every candidate runs, and the run reports the launch it was given. */
        proteus_flux_run_info run;
        memset(&run, 0, sizeof run);
        run.struct_size = sizeof run;
        config.struct_size = sizeof config;
        EXPECT_OK(proteus_flux_attention_v2(context, &s.tensors, &params, &config, &run));
        CHECK(backend != PROTEUS_BACKEND_CPU || run.kernel == PROTEUS_KERNEL_CPU_TILE);
    }
    for (size_t n = (size_t)written * PROTEUS_LAUNCH_CONFIG_SIZE_V0_1; n < sizeof packed; ++n) CHECK(packed[n] == 0x5A);
    EXPECT_ERROR(proteus_flux_launch_candidates(context, &s.tensors, &params, (proteus_launch_config*)packed,
                                                PROTEUS_LAUNCH_CONFIG_SIZE_V0_1 - 1, 1, &available),
                 PROTEUS_STATUS_INVALID_ARGUMENT, "config_size");
    EXPECT_ERROR(proteus_flux_launch_candidates(context, &s.tensors, &params, NULL, sizeof(proteus_launch_config), 2,
                                                &available),
                 PROTEUS_STATUS_INVALID_ARGUMENT, "configs");
    EXPECT_OK(proteus_context_synchronize(context));
    teardown_flux(&s);
}

/* Σ|C(i)| against the naive membership test of this file, over several row ranges. */
static void test_shortlist_total(proteus_context context)
{
    const struct Inputs* in = &inputs;
    struct FluxSetup s;
    setup_flux(context, in, &s);
    const proteus_flux_params params = aligned_params();
    const int batch = 1;
    const int64_t ranges[][2] = {{0, T}, {0, 1}, {WINDOW, 10}, {T - 1, 1}, {17, 0}};
    for (size_t c = 0; c < sizeof ranges / sizeof ranges[0]; ++c) {
        int64_t expected = 0;
        for (int64_t i = ranges[c][0]; i < ranges[c][0] + ranges[c][1]; ++i) {
            for (int j = 0; j <= i; ++j) expected += is_candidate(&in->salience[batch * T], (int)i, j);
        }
        int64_t total = -1;
        EXPECT_OK(proteus_shortlist_total(context, &params, T, &s.tensors.salience, batch, ranges[c][0], ranges[c][1],
                                          &total));
        if (total != expected) {
            fprintf(stderr, "shortlist_total rows [%lld, +%lld): %lld, expected %lld\n", (long long)ranges[c][0],
                    (long long)ranges[c][1], (long long)total, (long long)expected);
        }
        CHECK(total == expected);
    }
    int64_t total = 0;
    EXPECT_ERROR(proteus_shortlist_total(context, &params, T, &s.tensors.salience, batch, 30, 8, &total),
                 PROTEUS_STATUS_INVALID_ARGUMENT, "row_count");
    EXPECT_ERROR(proteus_shortlist_total(context, &params, T, NULL, batch, 0, 1, &total),
                 PROTEUS_STATUS_INVALID_ARGUMENT, "salience");
    EXPECT_ERROR(proteus_shortlist_total(context, &params, T, &s.tensors.salience, B, 0, 1, &total),
                 PROTEUS_STATUS_INVALID_ARGUMENT, "batch");
    teardown_flux(&s);
}

/* ---- Element overlap: interleaved layouts --------------------------------------------------------- */

/* q, k, v and o of each token side by side in one [B, T, 4, H, D] buffer: no element shared, so accepted. */
static void test_interleaved(proteus_context context)
{
    enum { IT = 8, IH = 2, ID = 16 };
    static float packed[IT * 4 * IH * ID], separate_o[IH * IT * ID], interleaved_o[IT * 4 * IH * ID];
    fill_random(packed, sizeof packed / sizeof *packed);
    proteus_buffer qkvo = NULL, qkv_o = NULL, out = NULL;
    EXPECT_OK(proteus_buffer_create(context, sizeof packed, &qkvo));
    EXPECT_OK(proteus_buffer_create(context, sizeof packed, &qkv_o));
    EXPECT_OK(proteus_buffer_create(context, sizeof separate_o, &out));
    EXPECT_OK(proteus_buffer_upload(qkvo, 0, packed, sizeof packed));
    EXPECT_OK(proteus_buffer_upload(qkv_o, 0, packed, sizeof packed));

    const int64_t shape[4] = {1, IH, IT, ID}, strides[4] = {IT * 4 * IH * ID, ID, 4 * IH * ID, 1};
    const uint64_t slot = IH * ID * sizeof(float);
    proteus_flux_tensors t;
    memset(&t, 0, sizeof t);
    t.struct_size = sizeof t;
    t.q = tensor(qkvo, 0, PROTEUS_DTYPE_FLOAT32, 4, shape, strides);
    t.k = tensor(qkvo, slot, PROTEUS_DTYPE_FLOAT32, 4, shape, strides);
    t.v = tensor(qkvo, 2 * slot, PROTEUS_DTYPE_FLOAT32, 4, shape, strides);
    t.o = tensor(qkvo, 3 * slot, PROTEUS_DTYPE_FLOAT32, 4, shape, strides);
    proteus_flux_params params = aligned_params();
    params.dna_count = 0;
    EXPECT_OK(proteus_flux_attention_v2(context, &t, &params, NULL, NULL));

    /* The same call with o in a buffer of its own gives the same bits. */
    proteus_flux_tensors apart = t;
    apart.q.buffer = apart.k.buffer = apart.v.buffer = qkv_o;
    apart.o = contiguous(out, 0, PROTEUS_DTYPE_FLOAT32, 4, shape);
    EXPECT_OK(proteus_flux_attention_v2(context, &apart, &params, NULL, NULL));
    EXPECT_OK(proteus_context_synchronize(context));
    EXPECT_OK(proteus_buffer_download(qkvo, 0, interleaved_o, sizeof interleaved_o));
    EXPECT_OK(proteus_buffer_download(out, 0, separate_o, sizeof separate_o));
    int same = 1;
    for (int h = 0; h < IH; ++h) {
        for (int i = 0; i < IT; ++i) {
            same &= memcmp(&interleaved_o[i * 4 * IH * ID + 3 * IH * ID + h * ID], &separate_o[(h * IT + i) * ID],
                           ID * sizeof(float)) == 0;
        }
    }
    CHECK(same);

    /* An lse inside the spare slot of token 0 (H·T floats fit in H·D): a different layout, still apart. */
    const int64_t row_shape[3] = {1, IH, IT};
    t.o = apart.o;
    t.lse = contiguous(qkvo, 3 * slot, PROTEUS_DTYPE_FLOAT32, 3, row_shape);
    EXPECT_OK(proteus_flux_attention_v2(context, &t, &params, NULL, NULL));
    t.lse.offset_bytes = 2 * slot + 4 * sizeof(float); /* now on v's elements of token 0 */
    EXPECT_ERROR(proteus_flux_attention_v2(context, &t, &params, NULL, NULL), PROTEUS_STATUS_INVALID_ARGUMENT, "lse");
    t.lse.buffer = NULL;

    /* Shifted by half a head: o's elements land on v's. */
    t.o = tensor(qkvo, 3 * slot - ID / 2 * sizeof(float), PROTEUS_DTYPE_FLOAT32, 4, shape, strides);
    EXPECT_ERROR(proteus_flux_attention_v2(context, &t, &params, NULL, NULL), PROTEUS_STATUS_INVALID_ARGUMENT, "o");
    /* o on the next token's q. */
    t.o = tensor(qkvo, 4 * slot, PROTEUS_DTYPE_FLOAT32, 4, shape, strides);
    t.o.shape[2] = t.q.shape[2] = t.k.shape[2] = t.v.shape[2] = IT - 1;
    EXPECT_ERROR(proteus_flux_attention_v2(context, &t, &params, NULL, NULL), PROTEUS_STATUS_INVALID_ARGUMENT, "o");

    EXPECT_OK(proteus_buffer_destroy(qkvo));
    EXPECT_OK(proteus_buffer_destroy(qkv_o));
    EXPECT_OK(proteus_buffer_destroy(out));
}

/* ---- Reliability ---------------------------------------------------------------------------------- */

static void test_impossible_sizes(proteus_context context)
{
    proteus_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    EXPECT_OK(proteus_context_get_info(context, &info));
    /* UINT64_MAX once came back as a ~64-byte buffer (the aligned new rounding wrapped around). */
    const uint64_t sizes[] = {UINT64_MAX, UINT64_MAX - 63, UINT64_MAX / 2 + 1, info.total_memory + 1};
    for (size_t n = 0; n < sizeof sizes / sizeof sizes[0]; ++n) {
        proteus_buffer buffer = (proteus_buffer)(uintptr_t)1;
        EXPECT_ERROR(proteus_buffer_create(context, sizes[n], &buffer), PROTEUS_STATUS_OUT_OF_MEMORY, "");
        CHECK(buffer == NULL);
    }
}

/* CPU backend: the buffer's bytes are host memory, so a host range over them would overlap the copy. */
static void test_overlapping_transfers(proteus_context context)
{
    proteus_buffer buffer = NULL;
    EXPECT_OK(proteus_buffer_create(context, 256, &buffer));
    unsigned char* own = NULL;
    EXPECT_OK(proteus_buffer_device_pointer(buffer, (void**)&own));
    EXPECT_ERROR(proteus_buffer_upload(buffer, 0, own + 8, 64), PROTEUS_STATUS_INVALID_ARGUMENT, "source");
    EXPECT_ERROR(proteus_buffer_upload(buffer, 128, own, 64), PROTEUS_STATUS_INVALID_ARGUMENT, "source");
    EXPECT_ERROR(proteus_buffer_download(buffer, 0, own + 32, 64), PROTEUS_STATUS_INVALID_ARGUMENT, "destination");
    unsigned char host[64] = {1};
    EXPECT_OK(proteus_buffer_upload(buffer, 0, host, sizeof host));
    EXPECT_OK(proteus_buffer_destroy(buffer));
}

/* Handles are unguessable: not small, not sequential, and no forged neighbour of a live one is live. */
static void test_forged_handles(proteus_context context)
{
    enum { COUNT = 8 };
    proteus_buffer buffers[COUNT];
    int large = 0;
    for (int n = 0; n < COUNT; ++n) {
        EXPECT_OK(proteus_buffer_create(context, 16, &buffers[n]));
        large += (uintptr_t)buffers[n] > ((uintptr_t)1 << 32);
    }
    CHECK(large > 0);
    int live_forgeries = 0;
    for (int n = 0; n < COUNT; ++n) {
        for (intptr_t delta = -64; delta <= 64; ++delta) {
            if (delta == 0) continue;
            const proteus_buffer forged = (proteus_buffer)((uintptr_t)buffers[n] + (uintptr_t)delta);
            int mine = 0;
            for (int m = 0; m < COUNT; ++m) mine |= forged == buffers[m];
            uint64_t bytes = 0;
            if (!mine && proteus_buffer_size(forged, &bytes) != PROTEUS_STATUS_INVALID_HANDLE) ++live_forgeries;
        }
    }
    CHECK(live_forgeries == 0);
    uint64_t bytes = 0;
    EXPECT_ERROR(proteus_buffer_size((proteus_buffer)(uintptr_t)context, &bytes), PROTEUS_STATUS_INVALID_HANDLE,
                 "buffer");
    for (int n = 0; n < COUNT; ++n) EXPECT_OK(proteus_buffer_destroy(buffers[n]));
}

/* CPU backend: host memory wrapped without a copy, never freed or counted by the library. */
static void test_wrap(void)
{
    proteus_context context = NULL;
    EXPECT_OK(proteus_context_create_on_stream(PROTEUS_BACKEND_CPU, 0, NULL, &context));
    proteus_context refused = NULL;
    EXPECT_ERROR(proteus_context_create_on_stream(PROTEUS_BACKEND_CPU, 0, &refused, &refused),
                 PROTEUS_STATUS_INVALID_ARGUMENT, "stream");

    static float memory[256];
    for (int n = 0; n < 256; ++n) memory[n] = (float)n;
    proteus_buffer wrapped = NULL;
    EXPECT_OK(proteus_buffer_wrap(context, memory, sizeof memory, &wrapped));
    void* pointer = NULL;
    EXPECT_OK(proteus_buffer_device_pointer(wrapped, &pointer));
    CHECK(pointer == (void*)memory);
    proteus_memory_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    EXPECT_OK(proteus_context_memory(context, &stats));
    CHECK(stats.allocated_bytes == 0);
    float back[4] = {0};
    EXPECT_OK(proteus_buffer_download(wrapped, 8 * sizeof(float), back, sizeof back));
    CHECK(back[0] == 8.0f && back[3] == 11.0f);
    EXPECT_ERROR(proteus_buffer_upload(wrapped, 0, &memory[100], 16), PROTEUS_STATUS_INVALID_ARGUMENT, "source");
    const float seven = 7.0f;
    EXPECT_OK(proteus_buffer_fill(wrapped, 0, 4 * sizeof(float), &seven, sizeof seven));
    CHECK(memory[3] == 7.0f && memory[4] == 4.0f);
    proteus_buffer bad = NULL;
    EXPECT_ERROR(proteus_buffer_wrap(context, NULL, 16, &bad), PROTEUS_STATUS_INVALID_ARGUMENT, "pointer");
    EXPECT_ERROR(proteus_buffer_wrap(context, memory, 0, &bad), PROTEUS_STATUS_INVALID_ARGUMENT, "bytes");

    /* Destroying the wrap, and a context with a wrap still on it, leaves the memory alone (valgrind/ASan see it). */
    EXPECT_OK(proteus_buffer_destroy(wrapped));
    EXPECT_OK(proteus_buffer_wrap(context, memory, sizeof memory, &wrapped));
    EXPECT_OK(proteus_context_destroy(context));
    memory[0] = 1.0f;
    CHECK(memory[0] == 1.0f && memory[255] == 255.0f);
    uint64_t bytes = 0;
    EXPECT_ERROR(proteus_buffer_size(wrapped, &bytes), PROTEUS_STATUS_INVALID_HANDLE, "buffer");
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
    test_threads(context, backend);
    test_argument_errors(context);
    test_memory_errors(context);
    test_handle_errors(context);
    test_versioned_structs(context);
    test_query_slices(context);
    test_launch_candidates(context, backend);
    test_shortlist_total(context);
    test_interleaved(context);
    test_impossible_sizes(context);
    test_forged_handles(context);
    if (backend == PROTEUS_BACKEND_CPU) test_overlapping_transfers(context);

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
    test_build_info();
    test_context(PROTEUS_BACKEND_CPU);
    test_wrap();
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
