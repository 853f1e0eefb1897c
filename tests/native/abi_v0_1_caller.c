/*
 * A caller built against the 0.1 ABI, run against the current library. The struct layouts below are
 * FROZEN copies of native/include/proteus/proteus.h at 0.1 (commit c338bb2), renamed with a _v0_1
 * suffix, and the 0.1 prototypes are declared here: this file must never include the current header,
 * and must never change when it does. It runs one flux call through the 0.1 entry point
 * proteus_flux_attention with 0.1-sized params, launch, device info, memory stats and error info,
 * and checks the result against dense causal attention computed here.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- 0.1 declarations (frozen) ------------------------------------------------------------------ */

typedef int32_t proteus_status_v0_1; /* enum proteus_status: OK 0, INVALID_ARGUMENT 1, …, INVALID_HANDLE 6 */
enum { STATUS_OK = 0, STATUS_INVALID_ARGUMENT = 1, STATUS_INVALID_HANDLE = 6 };
enum { BACKEND_CPU = 0, DTYPE_FLOAT32 = 0, POLICY_ALIGNED = 0, LAUNCH_AUTO = 0 };
#define MAX_RANK_V0_1 4
#define DEVICE_NAME_CAPACITY_V0_1 256
#define ARCHITECTURE_CAPACITY_V0_1 64
#define ARGUMENT_CAPACITY_V0_1 64

typedef struct proteus_context_s* proteus_context_v0_1;
typedef struct proteus_buffer_s* proteus_buffer_v0_1;

typedef struct proteus_error_info_v0_1 {
    uint32_t struct_size;
    int32_t status;
    uint64_t requested_bytes;
    uint64_t free_bytes;
    char argument[ARGUMENT_CAPACITY_V0_1];
} proteus_error_info_v0_1;

typedef struct proteus_device_info_v0_1 {
    uint32_t struct_size;
    int32_t backend;
    int32_t ordinal;
    int32_t multiprocessor_count;
    int32_t warp_size;
    int32_t reserved0;
    uint64_t total_memory;
    char name[DEVICE_NAME_CAPACITY_V0_1];
    char architecture[ARCHITECTURE_CAPACITY_V0_1];
} proteus_device_info_v0_1;

typedef struct proteus_memory_stats_v0_1 {
    uint32_t struct_size;
    int32_t reserved0;
    uint64_t free_bytes;
    uint64_t total_bytes;
    uint64_t allocated_bytes;
    uint64_t peak_allocated_bytes;
    uint64_t limit_bytes;
} proteus_memory_stats_v0_1;

typedef struct proteus_tensor_v0_1 {
    proteus_buffer_v0_1 buffer;
    uint64_t offset_bytes;
    int32_t dtype;
    int32_t rank;
    int64_t shape[MAX_RANK_V0_1];
    int64_t strides[MAX_RANK_V0_1];
} proteus_tensor_v0_1;

typedef struct proteus_flux_tensors_v0_1 {
    proteus_tensor_v0_1 q;
    proteus_tensor_v0_1 k;
    proteus_tensor_v0_1 v;
    proteus_tensor_v0_1 o;
    proteus_tensor_v0_1 active;
    proteus_tensor_v0_1 salience;
    proteus_tensor_v0_1 lse;
} proteus_flux_tensors_v0_1;

typedef struct proteus_flux_params_v0_1 {
    uint32_t struct_size;
    int32_t policy;
    int64_t window;
    int64_t anchor_stride;
    int64_t anchor_count;
    int64_t dna_count;
    int64_t seed_cap;
    int64_t seed_local_cap;
    float scale;
    int32_t use_default_scale;
} proteus_flux_params_v0_1;

typedef struct proteus_launch_config_v0_1 {
    uint32_t struct_size;
    int32_t mode;
    int32_t block_q;
    int32_t block_k;
    int32_t warps;
    int32_t stages;
} proteus_launch_config_v0_1;

/* The 0.1 sizes, as a 0.1 caller's compiler saw them (x86-64 / AArch64 LP64). */
_Static_assert(sizeof(proteus_error_info_v0_1) == 88, "0.1 layout");
_Static_assert(sizeof(proteus_device_info_v0_1) == 352, "0.1 layout");
_Static_assert(sizeof(proteus_memory_stats_v0_1) == 48, "0.1 layout");
_Static_assert(sizeof(proteus_tensor_v0_1) == 88, "0.1 layout");
_Static_assert(sizeof(proteus_flux_tensors_v0_1) == 616, "0.1 layout");
_Static_assert(sizeof(proteus_flux_params_v0_1) == 64, "0.1 layout");
_Static_assert(sizeof(proteus_launch_config_v0_1) == 24, "0.1 layout");

proteus_status_v0_1 proteus_get_version(int32_t* major, int32_t* minor, int32_t* patch);
const char* proteus_last_error_message(void);
proteus_status_v0_1 proteus_last_error_info(proteus_error_info_v0_1* info);
proteus_status_v0_1 proteus_device_get_info(int32_t backend, int32_t ordinal, proteus_device_info_v0_1* info);
proteus_status_v0_1 proteus_context_create(int32_t backend, int32_t ordinal, proteus_context_v0_1* context);
proteus_status_v0_1 proteus_context_destroy(proteus_context_v0_1 context);
proteus_status_v0_1 proteus_context_get_info(proteus_context_v0_1 context, proteus_device_info_v0_1* info);
proteus_status_v0_1 proteus_context_synchronize(proteus_context_v0_1 context);
proteus_status_v0_1 proteus_context_memory(proteus_context_v0_1 context, proteus_memory_stats_v0_1* stats);
proteus_status_v0_1 proteus_buffer_create(proteus_context_v0_1 context, uint64_t bytes, proteus_buffer_v0_1* buffer);
proteus_status_v0_1 proteus_buffer_destroy(proteus_buffer_v0_1 buffer);
proteus_status_v0_1 proteus_buffer_upload(proteus_buffer_v0_1 buffer, uint64_t offset, const void* source,
                                          uint64_t bytes);
proteus_status_v0_1 proteus_buffer_download(proteus_buffer_v0_1 buffer, uint64_t offset, void* destination,
                                            uint64_t bytes);
proteus_status_v0_1 proteus_flux_attention(proteus_context_v0_1 context, const proteus_flux_tensors_v0_1* tensors,
                                           const proteus_flux_params_v0_1* params,
                                           const proteus_launch_config_v0_1* launch);

/* ---- The test ------------------------------------------------------------------------------------ */

static int failures = 0;

#define CHECK(condition)                                                                                         \
    do {                                                                                                         \
        if (!(condition)) {                                                                                      \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, #condition,        \
                    proteus_last_error_message());                                                               \
            ++failures;                                                                                          \
        }                                                                                                        \
    } while (0)

enum { B = 1, H = 2, T = 9, D = 16 };

static float q[B * H * T * D], k[B * H * T * D], v[B * H * T * D], o[B * H * T * D];

static proteus_tensor_v0_1 contiguous(proteus_buffer_v0_1 buffer, uint64_t offset_bytes)
{
    proteus_tensor_v0_1 t;
    memset(&t, 0, sizeof t);
    t.buffer = buffer;
    t.offset_bytes = offset_bytes;
    t.dtype = DTYPE_FLOAT32;
    t.rank = 4;
    const int64_t shape[4] = {B, H, T, D}, strides[4] = {H * T * D, T * D, D, 1};
    for (int axis = 0; axis < 4; ++axis) {
        t.shape[axis] = shape[axis];
        t.strides[axis] = strides[axis];
    }
    return t;
}

/* Dense causal attention of row (h, i), in double. */
static void reference_row(int h, int i, double* out)
{
    double scores[T], max_score = -INFINITY, sum = 0.0;
    for (int j = 0; j <= i; ++j) {
        double dot = 0.0;
        for (int d = 0; d < D; ++d) dot += (double)q[(h * T + i) * D + d] * k[(h * T + j) * D + d];
        scores[j] = dot / sqrt((double)D);
        if (scores[j] > max_score) max_score = scores[j];
    }
    for (int d = 0; d < D; ++d) out[d] = 0.0;
    for (int j = 0; j <= i; ++j) {
        const double weight = exp(scores[j] - max_score);
        sum += weight;
        for (int d = 0; d < D; ++d) out[d] += weight * v[(h * T + j) * D + d];
    }
    for (int d = 0; d < D; ++d) out[d] /= sum;
}

int main(void)
{
    uint32_t state = 7u;
    for (int n = 0; n < B * H * T * D; ++n) {
        state = state * 1664525u + 1013904223u;
        q[n] = (float)(state >> 8) / 8388608.0f - 1.0f;
        state = state * 1664525u + 1013904223u;
        k[n] = (float)(state >> 8) / 8388608.0f - 1.0f;
        state = state * 1664525u + 1013904223u;
        v[n] = (float)(state >> 8) / 8388608.0f - 1.0f;
    }

    int32_t major = -1, minor = -1, patch = -1;
    CHECK(proteus_get_version(&major, &minor, &patch) == STATUS_OK && major == 0 && minor >= 1);

    /* Output structs of the 0.1 size: the library must write no byte past them. */
    struct {
        proteus_device_info_v0_1 info;
        unsigned char guard[64];
    } device;
    memset(&device, 0xA5, sizeof device);
    device.info.struct_size = sizeof device.info;
    CHECK(proteus_device_get_info(BACKEND_CPU, 0, &device.info) == STATUS_OK);
    CHECK(device.info.struct_size == sizeof device.info && device.info.backend == BACKEND_CPU);
    for (size_t n = 0; n < sizeof device.guard; ++n) CHECK(device.guard[n] == 0xA5);

    proteus_context_v0_1 context = NULL;
    CHECK(proteus_context_create(BACKEND_CPU, 0, &context) == STATUS_OK);
    proteus_buffer_v0_1 buffer = NULL;
    const uint64_t bytes = sizeof q;
    CHECK(proteus_buffer_create(context, 4 * bytes, &buffer) == STATUS_OK);
    CHECK(proteus_buffer_upload(buffer, 0, q, bytes) == STATUS_OK);
    CHECK(proteus_buffer_upload(buffer, bytes, k, bytes) == STATUS_OK);
    CHECK(proteus_buffer_upload(buffer, 2 * bytes, v, bytes) == STATUS_OK);

    proteus_flux_tensors_v0_1 tensors;
    memset(&tensors, 0, sizeof tensors);
    tensors.q = contiguous(buffer, 0);
    tensors.k = contiguous(buffer, bytes);
    tensors.v = contiguous(buffer, 2 * bytes);
    tensors.o = contiguous(buffer, 3 * bytes);
    proteus_flux_params_v0_1 params;
    memset(&params, 0, sizeof params);
    params.struct_size = sizeof params;
    params.policy = POLICY_ALIGNED;
    params.window = T; /* dense causal */
    params.use_default_scale = 1;
    proteus_launch_config_v0_1 launch;
    memset(&launch, 0, sizeof launch);
    launch.struct_size = sizeof launch;
    launch.mode = LAUNCH_AUTO;
    CHECK(proteus_flux_attention(context, &tensors, &params, &launch) == STATUS_OK);
    CHECK(proteus_flux_attention(context, &tensors, &params, NULL) == STATUS_OK);
    CHECK(proteus_context_synchronize(context) == STATUS_OK);
    CHECK(proteus_buffer_download(buffer, 3 * bytes, o, bytes) == STATUS_OK);
    double worst = 0.0;
    for (int h = 0; h < H; ++h) {
        for (int i = 0; i < T; ++i) {
            double expected[D];
            reference_row(h, i, expected);
            for (int d = 0; d < D; ++d) worst = fmax(worst, fabs(o[(h * T + i) * D + d] - expected[d]));
        }
    }
    if (worst > 1e-5) fprintf(stderr, "0.1 flux call differs from dense causal attention by %g\n", worst);
    CHECK(worst <= 1e-5);

    struct {
        proteus_memory_stats_v0_1 stats;
        unsigned char guard[64];
    } memory;
    memset(&memory, 0xA5, sizeof memory);
    memory.stats.struct_size = sizeof memory.stats;
    CHECK(proteus_context_memory(context, &memory.stats) == STATUS_OK);
    CHECK(memory.stats.allocated_bytes == 4 * bytes && memory.stats.limit_bytes == 0);
    for (size_t n = 0; n < sizeof memory.guard; ++n) CHECK(memory.guard[n] == 0xA5);

    /* A 0.1 error: the window out of range, reported through a 0.1-sized error info. */
    params.window = 0;
    CHECK(proteus_flux_attention(context, &tensors, &params, NULL) == STATUS_INVALID_ARGUMENT);
    struct {
        proteus_error_info_v0_1 info;
        unsigned char guard[64];
    } error;
    memset(&error, 0xA5, sizeof error);
    error.info.struct_size = sizeof error.info;
    CHECK(proteus_last_error_info(&error.info) == STATUS_OK);
    CHECK(error.info.status == STATUS_INVALID_ARGUMENT && strcmp(error.info.argument, "params.window") == 0);
    for (size_t n = 0; n < sizeof error.guard; ++n) CHECK(error.guard[n] == 0xA5);

    CHECK(proteus_buffer_destroy(buffer) == STATUS_OK);
    CHECK(proteus_context_destroy(context) == STATUS_OK);
    CHECK(proteus_context_destroy(context) == STATUS_INVALID_HANDLE);

    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("0.1 caller passed against library %d.%d.%d\n", major, minor, patch);
    return 0;
}
