/*
 * Proteus.Native — the C ABI.
 *
 * This header is the one source of truth for every binding: bindings/generator reads it through
 * clang's JSON AST and writes the C# interop layer. Keep it flat: opaque handles, plain structs of
 * fixed-width fields with explicit padding, enums, and a proteus_status from every function.
 * No C++ type and no exception crosses it.
 *
 * Errors: every function returns PROTEUS_STATUS_OK or an error status; the message of the last error
 * (and, for out-of-memory, the bytes asked and free) is kept per thread and read with
 * proteus_last_error_message / proteus_last_error_info. A successful call does not clear it.
 *
 * Semantics of every computation: ../shared/SPEC.md (§1 tensors, §2 flux attention, §3 candidates).
 */
#ifndef PROTEUS_PROTEUS_H
#define PROTEUS_PROTEUS_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(PROTEUS_BUILDING_LIBRARY)
#    define PROTEUS_API __declspec(dllexport)
#  else
#    define PROTEUS_API __declspec(dllimport)
#  endif
#else
#  define PROTEUS_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define PROTEUS_VERSION_MAJOR 0
#define PROTEUS_VERSION_MINOR 1
#define PROTEUS_VERSION_PATCH 0

/** Largest tensor rank a descriptor holds. */
#define PROTEUS_MAX_RANK 4
/** Capacity, with the terminating NUL, of proteus_device_info.name. */
#define PROTEUS_DEVICE_NAME_CAPACITY 256
/** Capacity, with the terminating NUL, of proteus_device_info.architecture. */
#define PROTEUS_ARCHITECTURE_CAPACITY 64
/** Capacity, with the terminating NUL, of proteus_error_info.argument. */
#define PROTEUS_ARGUMENT_CAPACITY 64

/* ---------------------------------------------------------------------------------------------- */
/* Enumerations                                                                                   */
/* ---------------------------------------------------------------------------------------------- */

/** Result of every call. */
typedef enum proteus_status {
    PROTEUS_STATUS_OK = 0,
    /** An argument is wrong (shape, stride, range, null pointer, aliasing); the message names it. */
    PROTEUS_STATUS_INVALID_ARGUMENT = 1,
    /** The dtype is not supported for this operation. */
    PROTEUS_STATUS_UNSUPPORTED_DTYPE = 2,
    /** The head dim D is not one of the supported values (16, 32, 64, 128). */
    PROTEUS_STATUS_UNSUPPORTED_HEAD_DIM = 3,
    /** An allocation failed; proteus_error_info says the bytes asked and free. */
    PROTEUS_STATUS_OUT_OF_MEMORY = 4,
    /** The device or its runtime reported an error. */
    PROTEUS_STATUS_DEVICE_ERROR = 5,
    /** A handle is null, already destroyed, or not a handle of this library. */
    PROTEUS_STATUS_INVALID_HANDLE = 6,
    /** A buffer belongs to another context (device) than the one the call runs on. */
    PROTEUS_STATUS_DEVICE_MISMATCH = 7,
    /** The backend is not compiled in, or has no device with that ordinal. */
    PROTEUS_STATUS_BACKEND_UNAVAILABLE = 8,
    /** A bug in the library: please report it with the message. */
    PROTEUS_STATUS_INTERNAL_ERROR = 9
} proteus_status;

/** Compute backends. */
typedef enum proteus_backend {
    PROTEUS_BACKEND_CPU = 0,
    PROTEUS_BACKEND_CUDA = 1,
    PROTEUS_BACKEND_HIP = 2
} proteus_backend;

/** Element types of tensors. */
typedef enum proteus_dtype {
    PROTEUS_DTYPE_FLOAT32 = 0,
    PROTEUS_DTYPE_FLOAT16 = 1,
    PROTEUS_DTYPE_BFLOAT16 = 2,
    PROTEUS_DTYPE_UINT8 = 3
} proteus_dtype;

/** How the candidate set C(i) of a row is built (SPEC §3). */
typedef enum proteus_candidate_policy {
    /** Window, the A largest multiples of S before the window, top-K salience before the window. */
    PROTEUS_POLICY_ALIGNED = 0,
    /** Window, anchors max(0, i − s·S) for s = 1..A, top-K salience before the window. */
    PROTEUS_POLICY_RELATIVE = 1,
    /** The original Python Proteus candidate list, truncated to the seed_cap smallest indices. */
    PROTEUS_POLICY_SEED = 2
} proteus_candidate_policy;

/** How the GPU kernel walks the rows. The CPU backend accepts and ignores it. */
typedef enum proteus_launch_mode {
    /** Chosen by the library from the active-row density. */
    PROTEUS_LAUNCH_AUTO = 0,
    /** One program per (batch, head, query tile). */
    PROTEUS_LAUNCH_TILE = 1,
    /** Active rows compacted, one program per group of rows. */
    PROTEUS_LAUNCH_ROW = 2
} proteus_launch_mode;

/* ---------------------------------------------------------------------------------------------- */
/* Handles                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

/** A device opened on one backend, with its stream. Destroying it frees its buffers. */
typedef struct proteus_context_s* proteus_context;
/** Device memory owned by one context. */
typedef struct proteus_buffer_s* proteus_buffer;

/* ---------------------------------------------------------------------------------------------- */
/* Structs                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

/** Details of the last error on the calling thread. */
typedef struct proteus_error_info {
    /** Set by the caller to sizeof(proteus_error_info). */
    uint32_t struct_size;
    /** A proteus_status. */
    int32_t status;
    /** For PROTEUS_STATUS_OUT_OF_MEMORY: the bytes the failed allocation asked for, else 0. */
    uint64_t requested_bytes;
    /** For PROTEUS_STATUS_OUT_OF_MEMORY: the bytes free when it failed, else 0. */
    uint64_t free_bytes;
    /** The offending argument ("q.strides", "params.window", …), or empty. NUL-terminated. */
    char argument[PROTEUS_ARGUMENT_CAPACITY];
} proteus_error_info;

/** One device of one backend. */
typedef struct proteus_device_info {
    /** Set by the caller to sizeof(proteus_device_info). */
    uint32_t struct_size;
    /** A proteus_backend. */
    int32_t backend;
    /** Ordinal of the device within its backend. */
    int32_t ordinal;
    /** Streaming multiprocessors / compute units (CPU: hardware threads). */
    int32_t multiprocessor_count;
    /** Threads per warp or wavefront (CPU: 1). */
    int32_t warp_size;
    int32_t reserved0;
    /** Device memory in bytes (CPU: physical memory). */
    uint64_t total_memory;
    /** Device name, NUL-terminated. */
    char name[PROTEUS_DEVICE_NAME_CAPACITY];
    /** Architecture ("sm_90", "gfx90a", "x86_64"), NUL-terminated. */
    char architecture[PROTEUS_ARCHITECTURE_CAPACITY];
} proteus_device_info;

/** Memory figures of a context's device and of the library's own allocations on it. */
typedef struct proteus_memory_stats {
    /** Set by the caller to sizeof(proteus_memory_stats). */
    uint32_t struct_size;
    int32_t reserved0;
    /** Bytes free on the device (within the context's limit when one is set). */
    uint64_t free_bytes;
    /** Bytes on the device (the context's limit when one is set). */
    uint64_t total_bytes;
    /** Bytes the library holds now on this context: buffers and workspaces. */
    uint64_t allocated_bytes;
    /** Most bytes the library held at once on this context since creation or the last reset. */
    uint64_t peak_allocated_bytes;
    /** The context's allocation limit, 0 when none. */
    uint64_t limit_bytes;
} proteus_memory_stats;

/**
 * A strided view of a buffer (SPEC §1). The innermost axis must be contiguous (stride 1).
 * A tensor whose buffer is NULL is absent (for optional inputs and outputs).
 */
typedef struct proteus_tensor {
    /** The buffer holding the elements; NULL for an absent tensor. */
    proteus_buffer buffer;
    /** Byte offset of element [0, …, 0] within the buffer; a multiple of the element size. */
    uint64_t offset_bytes;
    /** A proteus_dtype. */
    int32_t dtype;
    /** Number of axes in use, 1..PROTEUS_MAX_RANK. */
    int32_t rank;
    /** Extent of each axis; unused axes 1. */
    int64_t shape[PROTEUS_MAX_RANK];
    /** Stride of each axis in elements (not bytes), ≥ 0; unused axes 0. */
    int64_t strides[PROTEUS_MAX_RANK];
} proteus_tensor;

/**
 * The tensors of one flux attention call.
 *   q [B, H, T, D], k and v [B, Hkv, T, D], o like q: required, one dtype (float32, float16, bfloat16).
 *   active [B, H, T] uint8 (nonzero = compute the row): optional, absent = every row active.
 *   salience [B, T] float32: required when the DNA count is > 0, else ignored. Dna(i) takes the K
 *     highest values, ties to the larger position; NaN ranks as -inf.
 *   lse [B, H, T] float32: optional output.
 */
typedef struct proteus_flux_tensors {
    proteus_tensor q;
    proteus_tensor k;
    proteus_tensor v;
    proteus_tensor o;
    proteus_tensor active;
    proteus_tensor salience;
    proteus_tensor lse;
} proteus_flux_tensors;

/**
 * Budgets and policy of one flux attention call (SPEC §3). The library never replaces a configured
 * value with a default: an out-of-range value is PROTEUS_STATUS_INVALID_ARGUMENT.
 */
typedef struct proteus_flux_params {
    /** Set by the caller to sizeof(proteus_flux_params). */
    uint32_t struct_size;
    /** A proteus_candidate_policy. */
    int32_t policy;
    /** Local window W ≥ 1; W ≥ T means dense causal attention. */
    int64_t window;
    /** Anchor stride S: > 0 when anchor_count > 0 (Seed: ≥ 0, 0 disables anchors). */
    int64_t anchor_stride;
    /** Anchor count A ≥ 0 (Seed: cap_anc). */
    int64_t anchor_count;
    /** DNA count K ≥ 0 (Seed: cap_dna); > 0 needs the salience tensor. */
    int64_t dna_count;
    /** Seed only: the cap L ≥ 1 on |C(i)|; ignored by the other policies. */
    int64_t seed_cap;
    /** Seed only: cap_loc ≥ 1, the local slots (n = min(W, L, cap_loc)); ignored otherwise. */
    int64_t seed_local_cap;
    /** Softmax scale, finite and > 0; read only when use_default_scale is 0. */
    float scale;
    /** Nonzero: use 1/sqrt(D) and ignore scale. */
    int32_t use_default_scale;
} proteus_flux_params;

/**
 * Launch configuration of the GPU kernel (the autotuner searches these). 0 in a field means the
 * library's heuristic. Pass NULL to proteus_flux_attention for all-heuristic.
 */
typedef struct proteus_launch_config {
    /** Set by the caller to sizeof(proteus_launch_config). */
    uint32_t struct_size;
    /** A proteus_launch_mode. */
    int32_t mode;
    /** Query rows per tile, 0 = heuristic. */
    int32_t block_q;
    /** Keys per tile, 0 = heuristic. */
    int32_t block_k;
    /** Warps per program, 0 = heuristic. */
    int32_t warps;
    /** Software pipeline depth, 0 = heuristic. */
    int32_t stages;
} proteus_launch_config;

/* ---------------------------------------------------------------------------------------------- */
/* Library and errors                                                                             */
/* ---------------------------------------------------------------------------------------------- */

/** The library's version; any pointer may be NULL. */
PROTEUS_API proteus_status proteus_get_version(int32_t* major, int32_t* minor, int32_t* patch);

/** Bit (1 << backend) set for every backend compiled into this build. */
PROTEUS_API proteus_status proteus_get_compiled_backends(uint32_t* mask);

/** The message of the last error on this thread ("" when none); valid until this thread's next call. */
PROTEUS_API const char* proteus_last_error_message(void);

/** The details of the last error on this thread. */
PROTEUS_API proteus_status proteus_last_error_info(proteus_error_info* info);

/* ---------------------------------------------------------------------------------------------- */
/* Devices and contexts                                                                           */
/* ---------------------------------------------------------------------------------------------- */

/** Number of usable devices of a backend: 0 when it is not compiled in or has no device. */
PROTEUS_API proteus_status proteus_device_count(int32_t backend, int32_t* count);

/** Describes device `ordinal` of `backend`. */
PROTEUS_API proteus_status proteus_device_get_info(int32_t backend, int32_t ordinal, proteus_device_info* info);

/** Opens device `ordinal` of `backend` with a stream of its own. */
PROTEUS_API proteus_status proteus_context_create(int32_t backend, int32_t ordinal, proteus_context* context);

/** Waits for the context's work, frees its buffers (their handles become invalid) and the context. */
PROTEUS_API proteus_status proteus_context_destroy(proteus_context context);

/** Describes the context's device. */
PROTEUS_API proteus_status proteus_context_get_info(proteus_context context, proteus_device_info* info);

/** Blocks until all work queued on the context's stream is done. */
PROTEUS_API proteus_status proteus_context_synchronize(proteus_context context);

/** Free and total device memory and the library's current and peak allocations. */
PROTEUS_API proteus_status proteus_context_memory(proteus_context context, proteus_memory_stats* stats);

/** Sets the peak-allocation counter to the current allocation. */
PROTEUS_API proteus_status proteus_context_reset_peak(proteus_context context);

/**
 * Caps what the library may hold on this context (buffers and workspaces); 0 removes the cap.
 * An allocation past the cap fails with PROTEUS_STATUS_OUT_OF_MEMORY as if the device were full.
 */
PROTEUS_API proteus_status proteus_context_set_memory_limit(proteus_context context, uint64_t limit_bytes);

/* ---------------------------------------------------------------------------------------------- */
/* Buffers                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

/** Allocates `bytes` (> 0) of device memory on the context. The contents are undefined. */
PROTEUS_API proteus_status proteus_buffer_create(proteus_context context, uint64_t bytes, proteus_buffer* buffer);

/** Frees a buffer. Destroying an already destroyed buffer is PROTEUS_STATUS_INVALID_HANDLE, never a crash. */
PROTEUS_API proteus_status proteus_buffer_destroy(proteus_buffer buffer);

/** Size of a buffer in bytes. */
PROTEUS_API proteus_status proteus_buffer_size(proteus_buffer buffer, uint64_t* bytes);

/** The device address of a buffer, for engines that launch their own work on it. */
PROTEUS_API proteus_status proteus_buffer_device_pointer(proteus_buffer buffer, void** pointer);

/** Copies `bytes` from host memory into the buffer at `offset`; returns when the copy is done. */
PROTEUS_API proteus_status proteus_buffer_upload(proteus_buffer buffer, uint64_t offset, const void* source, uint64_t bytes);

/** Copies `bytes` from the buffer at `offset` into host memory; returns when the copy is done. */
PROTEUS_API proteus_status proteus_buffer_download(proteus_buffer buffer, uint64_t offset, void* destination, uint64_t bytes);

/** Copies between two buffers of one context (overlapping ranges are an error). */
PROTEUS_API proteus_status proteus_buffer_copy(proteus_buffer destination, uint64_t destination_offset,
                                               proteus_buffer source, uint64_t source_offset, uint64_t bytes);

/**
 * Repeats a pattern of 1, 2, 4 or 8 bytes over `bytes` bytes of the buffer from `offset`
 * (`bytes` a multiple of the pattern size). Poisons outputs with NaN in tests.
 */
PROTEUS_API proteus_status proteus_buffer_fill(proteus_buffer buffer, uint64_t offset, uint64_t bytes,
                                               const void* pattern, uint32_t pattern_bytes);

/* ---------------------------------------------------------------------------------------------- */
/* Flux attention                                                                                 */
/* ---------------------------------------------------------------------------------------------- */

/**
 * SPEC §2: for every active row, softmax attention over the candidate set C(i) of the policy.
 * Inactive rows write o = 0 and lse = -inf. Every argument is validated before any work starts.
 * `launch` may be NULL (heuristic). Queued on the context's stream; synchronize before reading host-side.
 */
PROTEUS_API proteus_status proteus_flux_attention(proteus_context context, const proteus_flux_tensors* tensors,
                                                  const proteus_flux_params* params,
                                                  const proteus_launch_config* launch);

/** An upper bound on |C(i)| over all rows of a sequence of length seq_len under `params`. */
PROTEUS_API proteus_status proteus_shortlist_bound(const proteus_flux_params* params, int64_t seq_len,
                                                   int64_t* bound);

/**
 * Writes C(i) of the rows `rows[0..row_count)` of batch row `batch`, for inspection and tests:
 * row r's candidates, sorted ascending, at indices[r·capacity …], and their number at lengths[r].
 * `salience` ([B, T] float32 on the context) is required when the DNA count is > 0, else may be NULL
 * or absent; T is seq_len. capacity must be ≥ proteus_shortlist_bound.
 */
PROTEUS_API proteus_status proteus_shortlist_gather(proteus_context context, const proteus_flux_params* params,
                                                    int64_t seq_len, const proteus_tensor* salience,
                                                    int64_t batch, const int64_t* rows, int64_t row_count,
                                                    int64_t capacity, int64_t* indices, int64_t* lengths);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PROTEUS_PROTEUS_H */
