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
 * Versioned structs: every struct the caller passes or receives starts with `struct_size`, which the
 * caller sets to sizeof the struct in the header it was built with. Structs only grow at the end. The
 * library accepts any size from the struct's first published size (PROTEUS_*_SIZE_V* below) up to
 * its own: an input struct's missing tail reads as zero (every field's default), an output struct is
 * written only up to the caller's size. A size below the first published one or above the library's
 * own is PROTEUS_STATUS_INVALID_ARGUMENT naming "<argument>.struct_size". proteus_tensor is the one
 * exception: a fixed descriptor embedded in versioned structs, never passed alone by a new entry point.
 *
 * Streams: work is queued on the context's stream (its own, or the caller's with
 * proteus_context_create_on_stream). No flux call synchronises with the host, reads back from the
 * device or calls a synchronous allocator: workspace comes from a stream-ordered pool per context
 * (cudaMallocAsync / hipMallocAsync, or the library's own pool where the runtime lacks one; an arena
 * on the CPU backend), so every flux call can be captured in a CUDA graph. The calls that do wait are
 * named in their comments: buffer upload/download (they hand host memory back), gather (it writes host
 * arrays), context synchronize and destroy, and buffer destroy of a library-owned buffer (its memory is
 * freed once the stream is done with it).
 *
 * Semantics of every computation: docs/flux-attention.md (§1 tensors and query slices, §2 flux
 * attention, §3 candidates, §8 launch configurations). "SPEC §n" below is section n there, which keeps
 * the section numbers of the project's specification (the source of truth where the two differ).
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
#define PROTEUS_VERSION_MINOR 2
#define PROTEUS_VERSION_PATCH 0

/** Largest tensor rank a descriptor holds. */
#define PROTEUS_MAX_RANK 4
/** Capacity, with the terminating NUL, of proteus_device_info.name. */
#define PROTEUS_DEVICE_NAME_CAPACITY 256
/** Capacity, with the terminating NUL, of proteus_device_info.architecture. */
#define PROTEUS_ARCHITECTURE_CAPACITY 64
/** Capacity, with the terminating NUL, of proteus_error_info.argument. */
#define PROTEUS_ARGUMENT_CAPACITY 64
/** Capacity, with the terminating NUL, of the text fields of proteus_build_info. */
#define PROTEUS_BUILD_TEXT_CAPACITY 128

/* First published sizes of the versioned structs (the smallest struct_size the library accepts). */
#define PROTEUS_ERROR_INFO_SIZE_V0_1 88
#define PROTEUS_DEVICE_INFO_SIZE_V0_1 352
#define PROTEUS_MEMORY_STATS_SIZE_V0_1 48
#define PROTEUS_FLUX_PARAMS_SIZE_V0_1 64
#define PROTEUS_LAUNCH_CONFIG_SIZE_V0_1 24
#define PROTEUS_FLUX_TENSORS_SIZE_V0_2 632
#define PROTEUS_FLUX_RUN_INFO_SIZE_V0_2 48
#define PROTEUS_BUILD_INFO_SIZE_V0_2 544
#define PROTEUS_LINEAR_PARAMS_SIZE_V0_2 16
#define PROTEUS_NORM_PARAMS_SIZE_V0_2 16
#define PROTEUS_ROPE_PARAMS_SIZE_V0_2 24
#define PROTEUS_ROUTER_PARAMS_SIZE_V0_2 32
#define PROTEUS_ROUTER_TENSORS_SIZE_V0_2 800
#define PROTEUS_SELECT_PARAMS_SIZE_V0_2 24
#define PROTEUS_DNA_UPDATE_PARAMS_SIZE_V0_2 8
#define PROTEUS_FLUX_TIMING_SIZE_V0_2 16
#define PROTEUS_EXPLICIT_CANDIDATES_REPORT_SIZE_V0_3 88

/* ---------------------------------------------------------------------------------------------- */
/* Enumerations                                                                                   */
/* ---------------------------------------------------------------------------------------------- */

/** Result of every call. */
typedef enum proteus_status {
    /** The call succeeded. */
    PROTEUS_STATUS_OK = 0,
    /** An argument is wrong (shape, stride, range, null pointer, aliasing); the message names it. */
    PROTEUS_STATUS_INVALID_ARGUMENT = 1,
    /** The dtype is not supported for this operation. */
    PROTEUS_STATUS_UNSUPPORTED_DTYPE = 2,
    /** The head dim D is not one of the supported values (8, 16, 32, 64, 80, 96, 128, 256). */
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
    /** The CPU reference backend, always compiled in. */
    PROTEUS_BACKEND_CPU = 0,
    /** NVIDIA GPUs through CUDA. */
    PROTEUS_BACKEND_CUDA = 1,
    /** AMD GPUs through HIP. */
    PROTEUS_BACKEND_HIP = 2
} proteus_backend;

/** Element types of tensors. */
typedef enum proteus_dtype {
    /** IEEE 754 binary32. */
    PROTEUS_DTYPE_FLOAT32 = 0,
    /** IEEE 754 binary16. */
    PROTEUS_DTYPE_FLOAT16 = 1,
    /** bfloat16: the upper 16 bits of a binary32. */
    PROTEUS_DTYPE_BFLOAT16 = 2,
    /** Unsigned bytes, for masks such as the active rows. */
    PROTEUS_DTYPE_UINT8 = 3,
    /** Signed 32-bit integers, for key positions (explicit candidate lists). */
    PROTEUS_DTYPE_INT32 = 4
} proteus_dtype;

/** How the candidate set C(i) of a row is built (SPEC §3). */
typedef enum proteus_candidate_policy {
    /** Window, the A largest multiples of S before the window, top-K salience before the window. */
    PROTEUS_POLICY_ALIGNED = 0,
    /** Window, anchors max(0, i − s·S) for s = 1..A, top-K salience before the window. */
    PROTEUS_POLICY_RELATIVE = 1,
    /** The original Python Proteus candidate list, truncated to the seed_cap smallest indices. */
    PROTEUS_POLICY_SEED = 2,
    /**
     * The caller's lists (proteus_flux_tensors.candidates, docs/explicit-candidates.md): every listed
     * index j in [0, i] counts once per occurrence (a duplicate weighs twice), others are skipped; the
     * window, anchor, DNA and seed fields of proteus_flux_params are ignored.
     */
    PROTEUS_POLICY_EXPLICIT = 3
} proteus_candidate_policy;

/**
 * How the kernel walks the rows. On a GPU: AUTO, TILE, ROW or TILE_WGMMA. On the CPU: AUTO (the tile kernel, or
 * the reference for the Seed policy) or REFERENCE; any other mode is PROTEUS_STATUS_INVALID_ARGUMENT
 * naming launch.mode.
 */
typedef enum proteus_launch_mode {
    /** Chosen by the library: the row mode for sparse masks (decided on the device), else the tile kernel. */
    PROTEUS_LAUNCH_AUTO = 0,
    /** One program per (batch, head, query tile): the tensor-core tile kernel. */
    PROTEUS_LAUNCH_TILE = 1,
    /** Active rows compacted, one group of lanes per row: the row mode. */
    PROTEUS_LAUNCH_ROW = 2,
    /** The CPU backend's literal reference kernel (SPEC §2 row by row), for checks; CPU only. */
    PROTEUS_LAUNCH_REFERENCE = 3,
    /**
     * Since 0.3: the Hopper tile kernel (PROTEUS_KERNEL_GPU_TILE_WGMMA: a CUDA build with it, an sm_90
     * device). INVALID_ARGUMENT naming launch.mode, with the reason, where it cannot run the problem;
     * it has no launch fields. proteus_flux_launch_candidates offers it where it can (not when the
     * environment variable PROTEUS_GPU_TILE_KERNEL=mma was set as the context was created).
     */
    PROTEUS_LAUNCH_TILE_WGMMA = 4
} proteus_launch_mode;

/** The kernel a flux call ran (proteus_flux_run_info.kernel). */
typedef enum proteus_flux_kernel {
    /** Nothing ran (no rows). */
    PROTEUS_KERNEL_NONE = 0,
    /** The CPU backend's reference (SPEC §2 literally, multithreaded). */
    PROTEUS_KERNEL_CPU_REFERENCE = 1,
    /** The GPU tensor-core tile kernel (launch fields block_q, block_k, rows_per_warp, stages). */
    PROTEUS_KERNEL_GPU_TILE = 2,
    /** The GPU row mode: active rows compacted on the device, one group of lanes per row. */
    PROTEUS_KERNEL_GPU_ROW_MODE = 3,
    /** The GPU general row kernel: one block per row (Relative and Seed with DNA, float32, large K, …). */
    PROTEUS_KERNEL_GPU_ROW = 4,
    /**
     * AUTO with a mask where both the tile kernel and the row mode take the problem: the device counts
     * the active rows and runs the row mode below 25 % density, else the tile kernel (its resolved
     * launch is in proteus_flux_run_info.launch). Decided on the device so that no call waits for it.
     */
    PROTEUS_KERNEL_GPU_TILE_OR_ROW_MODE = 5,
    /**
     * The CPU tile kernel (AUTO on the CPU for the Aligned and Relative policies): a tile of query rows
     * against their merged candidate keys, vectorised, within the tolerances of the reference.
     */
    PROTEUS_KERNEL_CPU_TILE = 6,
    /**
     * The GPU explicit-list kernel (PROTEUS_POLICY_EXPLICIT): one block per listed row and the query
     * heads that share its list, K/V rows of a tile of listed indices gathered into shared memory,
     * online softmax.
     */
    PROTEUS_KERNEL_GPU_EXPLICIT = 7,
    /**
     * Since 0.3: the Hopper tile kernel (builds with a CUDA 12+ compiler, sm_90 devices): warpgroup
     * matrix instructions fed by the tensor copy engine, a producer warpgroup and two or three consumer
     * warpgroups. It takes the Aligned policy (window band, dense causal included; aligned anchors; DNA
     * keys, K <= 256), bfloat16 and float16, D 8 to 128 and the active mask. AUTO runs it wherever it takes
     * the problem, no tile launch field is given and no mask leaves the choice to the row mode (DNA keys
     * included since 0.3's third Hopper version); launch mode TILE_WGMMA forces it. PROTEUS_GPU_TILE_KERNEL=mma in the environment as the context is
     * created keeps AUTO on the mma.sync tile kernel (for comparisons).
     */
    PROTEUS_KERNEL_GPU_TILE_WGMMA = 8
} proteus_flux_kernel;

/** Bits of proteus_flux_tensors.flags. */
typedef enum proteus_flux_tensor_flags {
    /** query_offset holds p0; without it p0 = T − Tq (the queries are the last Tq positions). */
    PROTEUS_FLUX_QUERY_OFFSET = 1,
    /**
     * Since 0.3, a hint that needs the active tensor: the caller expects fewer than a quarter of its
     * rows to be set (the attention layer knows its keep ratio and heads per token). The output is the
     * same with or without it; a GPU backend's AUTO then runs the row mode alone, instead of counting the
     * active rows on the device and queuing the tile kernel behind a gate. Not with ACTIVE_DENSE.
     */
    PROTEUS_FLUX_ACTIVE_SPARSE = 2,
    /**
     * Since 0.3, the opposite hint: a quarter of the active rows or more are set; a GPU backend's AUTO
     * runs the tile kernel alone (it skips inactive rows itself). Not with ACTIVE_SPARSE.
     */
    PROTEUS_FLUX_ACTIVE_DENSE = 4
} proteus_flux_tensor_flags;

/** Severity of a message to the log callback (proteus_set_log_callback). */
typedef enum proteus_log_level {
    /** Detail for diagnosing the library. */
    PROTEUS_LOG_DEBUG = 0,
    /** A fact worth knowing once (a library loaded, a path chosen). */
    PROTEUS_LOG_INFO = 1,
    /** Something degraded but the call goes on (a library missing, a slower path taken). */
    PROTEUS_LOG_WARNING = 2,
    /** Something failed. */
    PROTEUS_LOG_ERROR = 3,
    /** Above every level: as min_level, nothing is reported. */
    PROTEUS_LOG_NONE = 4
} proteus_log_level;

/** Bits of proteus_flux_timing.flags. */
typedef enum proteus_flux_timing_flags {
    /**
     * Before each timed run, write a scratch buffer larger than the device's last-level cache (GPU: twice
     * its L2, from the device attributes), stream-ordered and outside the timed interval, so that the
     * inputs are not timed warm in the cache (a small problem would otherwise be flattered).
     */
    PROTEUS_FLUX_TIMING_FLUSH_CACHE = 1
} proteus_flux_timing_flags;

/* ---------------------------------------------------------------------------------------------- */
/* Handles                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

/** A device opened on one backend, with its stream. Destroying it frees its buffers. */
typedef struct proteus_context_s* proteus_context;
/**
 * Device memory on one context: owned by the library (proteus_buffer_create) or wrapped around the
 * caller's memory (proteus_buffer_wrap). Handles are unguessable: a forged or stale handle is
 * PROTEUS_STATUS_INVALID_HANDLE, never another object.
 */
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
    /** Since 0.2: bytes the context's workspace pool keeps reserved for later calls (not in allocated_bytes). */
    uint64_t workspace_reserved_bytes;
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
 * The tensors of one flux attention call (SPEC §1), with the query slice.
 *   q [B, H, Tq, D], k and v [B, Hkv, T, D], o like q: required, one dtype (float32, float16, bfloat16).
 *     Row r of q is query position i = p0 + r, with 0 ≤ p0 and p0 + Tq ≤ T; its output is exactly what
 *     position i has in a full-length call. Tq = T is self-attention; Tq = 1, p0 = T − 1 one decode step.
 *   active [B, H, Tq] uint8 (nonzero = compute the row): optional, absent = every row active.
 *   salience [B, T] float32: required when the DNA count is > 0, else ignored. Dna(i) takes the K
 *     highest values, ties to the larger position; NaN ranks as -inf.
 *   lse [B, H, Tq] float32: optional output.
 * Outputs may share a buffer with inputs as long as no element of an output is an element of another
 * tensor (interleaved per-token layouts are fine).
 */
typedef struct proteus_flux_tensors {
    /** Set by the caller to sizeof(proteus_flux_tensors). */
    uint32_t struct_size;
    /** Bits of proteus_flux_tensor_flags. */
    uint32_t flags;
    /** p0, read when flags has PROTEUS_FLUX_QUERY_OFFSET. */
    int64_t query_offset;
    proteus_tensor q;
    proteus_tensor k;
    proteus_tensor v;
    proteus_tensor o;
    proteus_tensor active;
    proteus_tensor salience;
    proteus_tensor lse;
    /**
     * Since 0.3 (struct_size 808; 632 stays accepted and reads these as absent). PROTEUS_POLICY_EXPLICIT
     * only (required there, ignored by the other policies): int32 key positions [B, Tq, L] shared by
     * every head, or [B, H, Tq, L] one list per head; slot s of row r lists a key of position
     * i = p0 + r. L ≥ 1; the slot axis contiguous.
     */
    proteus_tensor candidates;
    /**
     * Since 0.3, optional: the number of slots in use of each list, int32 [B, Tq] for shared lists or
     * [B, H, Tq] per head (absent: every row uses all L slots). A length outside [0, L] is an error:
     * the CPU backend rejects it before any work (INVALID_ARGUMENT naming candidate_lengths); a GPU
     * backend, which never reads device memory on the call path, clamps it to [0, L], and
     * proteus_validate_explicit_candidates reports it.
     */
    proteus_tensor candidate_lengths;
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
    /** Seed only: cap_loc ≥ 0, the local slots (n = min(W, L, cap_loc); 0: no local piece, C(i) keeps {i}); ignored otherwise. */
    int64_t seed_local_cap;
    /** Softmax scale, finite and > 0; read only when use_default_scale is 0. */
    float scale;
    /** Nonzero: use 1/sqrt(D) and ignore scale. */
    int32_t use_default_scale;
} proteus_flux_params;

/**
 * Launch configuration of the GPU kernels (proteus_flux_launch_candidates lists the ones offered for
 * a problem; the autotuner searches exactly those). 0 in a field means the library's heuristic; a
 * field the chosen kernel cannot honour is PROTEUS_STATUS_INVALID_ARGUMENT naming it, never ignored.
 * Pass NULL for all-heuristic.
 */
typedef struct proteus_launch_config {
    /** Set by the caller to sizeof(proteus_launch_config). */
    uint32_t struct_size;
    /** A proteus_launch_mode. */
    int32_t mode;
    /** Tile kernel: query rows per program (64 or 128), 0 = heuristic. */
    int32_t block_q;
    /** Tile kernel: keys per tile (32, 64 or 128), 0 = heuristic. */
    int32_t block_k;
    /**
     * Tile kernel: query rows per warp, 16 or 32 (one or two m16 MMA tiles sharing each K/V fragment);
     * a program runs block_q / rows_per_warp warps. 0 = heuristic. (Named `warps` in 0.1.)
     */
    int32_t rows_per_warp;
    /** Tile kernel: copy pipeline depth (1–3), 0 = heuristic. */
    int32_t stages;
} proteus_launch_config;

/** What a flux call ran: proteus_flux_attention_v2's optional output. */
typedef struct proteus_flux_run_info {
    /** Set by the caller to sizeof(proteus_flux_run_info). */
    uint32_t struct_size;
    /** A proteus_flux_kernel. */
    int32_t kernel;
    /** The launch actually run, every field resolved (0 in fields the kernel does not have). */
    proteus_launch_config launch;
    /** The query offset p0 the call used. */
    int64_t query_offset;
    /** Bytes of stream-ordered workspace the call took (released on the stream when it is done). */
    uint64_t workspace_bytes;
} proteus_flux_run_info;

/** How proteus_flux_time runs and times a call. */
typedef struct proteus_flux_timing {
    /** Set by the caller to sizeof(proteus_flux_timing). */
    uint32_t struct_size;
    /** Untimed runs before the timed ones, 0 to 1000. */
    int32_t warmup;
    /** Timed runs, 1 to 10000: proteus_flux_time writes one time per run. */
    int32_t repeats;
    /** Bits of proteus_flux_timing_flags. */
    uint32_t flags;
} proteus_flux_timing;

/**
 * What proteus_validate_explicit_candidates found in explicit candidate lists. A "first" position is
 * the first offence in (b, h, row, slot) order; every field of one is −1 when there is none, and its
 * head is −1 for lists shared by the heads.
 */
typedef struct proteus_explicit_candidates_report {
    /** Set by the caller to sizeof(proteus_explicit_candidates_report). */
    uint32_t struct_size;
    int32_t reserved0;
    /** Listed indices in use (Σ of the lengths, each clamped to [0, L]). */
    int64_t listed;
    /** Listed indices outside [0, i] (i = p0 + row): skipped by flux attention. */
    int64_t out_of_range;
    /** The first out-of-range index: batch, head, row of the query slice, slot. */
    int64_t first_batch;
    int64_t first_head;
    int64_t first_row;
    int64_t first_slot;
    /** Lengths outside [0, L] (0 without candidate_lengths). */
    int64_t bad_lengths;
    /** The first bad length: batch, head, row. */
    int64_t first_bad_length_batch;
    int64_t first_bad_length_head;
    int64_t first_bad_length_row;
} proteus_explicit_candidates_report;

/** The library build: what proteus_get_build_info reports (autotune caches key on it). */
typedef struct proteus_build_info {
    /** Set by the caller to sizeof(proteus_build_info). */
    uint32_t struct_size;
    int32_t version_major;
    int32_t version_minor;
    int32_t version_patch;
    /** Bit (1 << backend) for every backend compiled in. */
    uint32_t compiled_backends;
    /** The GPU backend compiled in (a proteus_backend; PROTEUS_BACKEND_CPU when none). */
    int32_t gpu_backend;
    /** The GPU runtime the library was built with (CUDA: 1000·major + 10·minor; HIP: its version number), 0 without one. */
    int32_t gpu_runtime_version;
    /** The driver's version as the runtime reports it, 0 when no driver is loaded. */
    int32_t gpu_driver_version;
    /** The source revision built ("git describe" of the tree, "+dirty" when modified; "unknown" outside git). */
    char source_revision[PROTEUS_BUILD_TEXT_CAPACITY];
    /** SHA-256 (hex) of every kernel and backend source compiled in: changes whenever a kernel can. */
    char kernel_source_hash[PROTEUS_BUILD_TEXT_CAPACITY];
    /** GPU architectures compiled for ("80;90", "gfx90a;gfx1030"), empty without a GPU backend. */
    char gpu_architectures[PROTEUS_BUILD_TEXT_CAPACITY];
    /** The compiler and build type ("g++ 12.2.0, nvcc 11.8, Release"). */
    char compiler[PROTEUS_BUILD_TEXT_CAPACITY];
} proteus_build_info;

/**
 * The 0.1 layout of proteus_flux_tensors (no struct_size, no query slice), taken by the 0.1 entry
 * point proteus_flux_attention. New code uses proteus_flux_tensors and proteus_flux_attention_v2.
 */
typedef struct proteus_flux_tensors_v0_1 {
    proteus_tensor q;
    proteus_tensor k;
    proteus_tensor v;
    proteus_tensor o;
    proteus_tensor active;
    proteus_tensor salience;
    proteus_tensor lse;
} proteus_flux_tensors_v0_1;

/* ---------------------------------------------------------------------------------------------- */
/* Library and errors                                                                             */
/* ---------------------------------------------------------------------------------------------- */

/** The library's version; any pointer may be NULL. */
PROTEUS_API proteus_status proteus_get_version(int32_t* major, int32_t* minor, int32_t* patch);

/** Bit (1 << backend) set for every backend compiled into this build. */
PROTEUS_API proteus_status proteus_get_compiled_backends(uint32_t* mask);

/** Version, source revision, kernel source hash, backends, architectures, GPU runtime and driver versions. */
PROTEUS_API proteus_status proteus_get_build_info(proteus_build_info* info);

/** The message of the last error on this thread ("" when none); valid until this thread's next call. */
PROTEUS_API const char* proteus_last_error_message(void);

/** The details of the last error on this thread. */
PROTEUS_API proteus_status proteus_last_error_info(proteus_error_info* info);

/**
 * Receives a message of the library: `level` a proteus_log_level, `message` NUL-terminated and valid
 * only during the call, `user_data` as given to proteus_set_log_callback. Called on the thread the
 * message arises on, possibly several at once; it must not call proteus_set_log_callback.
 */
typedef void (*proteus_log_callback)(int32_t level, const char* message, void* user_data);

/**
 * Sets the process-wide log callback: messages of `min_level` (a proteus_log_level) and above go to
 * `callback` with `user_data`. NULL (the default) reports nothing. Thread-safe: once it returns, the
 * previous callback is running on no thread and is never called again. Reported so far: the GPU BLAS
 * library loaded or not (INFO, WARNING), the router taking its direct path because the BLAS is
 * unavailable (WARNING), and each context opened, with its device (DEBUG).
 */
PROTEUS_API proteus_status proteus_set_log_callback(proteus_log_callback callback, void* user_data, int32_t min_level);

/* ---------------------------------------------------------------------------------------------- */
/* Devices and contexts                                                                           */
/* ---------------------------------------------------------------------------------------------- */

/** Number of usable devices of a backend: 0 when it is not compiled in or has no device. */
PROTEUS_API proteus_status proteus_device_count(int32_t backend, int32_t* count);

/** Describes device `ordinal` of `backend`. */
PROTEUS_API proteus_status proteus_device_get_info(int32_t backend, int32_t ordinal, proteus_device_info* info);

/** Opens device `ordinal` of `backend` with a stream of its own. */
PROTEUS_API proteus_status proteus_context_create(int32_t backend, int32_t ordinal, proteus_context* context);

/**
 * Opens device `ordinal` of `backend` on the caller's stream (a cudaStream_t or hipStream_t of that
 * device; NULL is the legacy default stream). All of the context's work is queued there, so it orders
 * with the caller's own work and can be captured into the caller's graph. The caller keeps owning the
 * stream: destroying the context waits for it but never destroys it. The CPU backend has no streams:
 * `stream` must be NULL there.
 */
PROTEUS_API proteus_status proteus_context_create_on_stream(int32_t backend, int32_t ordinal, void* stream,
                                                            proteus_context* context);

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

/**
 * Allocates `bytes` (> 0) of device memory on the context. The contents are undefined. A size whose
 * allocation arithmetic would overflow, or more than the device has, is PROTEUS_STATUS_OUT_OF_MEMORY.
 */
PROTEUS_API proteus_status proteus_buffer_create(proteus_context context, uint64_t bytes, proteus_buffer* buffer);

/**
 * Makes a buffer over `bytes` of memory the caller owns at `pointer` (device memory of the context's
 * device on CUDA/HIP, host memory on the CPU backend): PyTorch, TorchSharp, ONNX Runtime or an
 * engine's allocator hand their tensors in without a copy. The library never frees it: destroying the
 * wrap or the context leaves the memory intact, and the caller keeps it alive while any queued work
 * uses it. Wrapped bytes are not counted in the context's allocations or limit.
 */
PROTEUS_API proteus_status proteus_buffer_wrap(proteus_context context, void* pointer, uint64_t bytes,
                                               proteus_buffer* buffer);

/** Frees a buffer. Destroying an already destroyed buffer is PROTEUS_STATUS_INVALID_HANDLE, never a crash. */
PROTEUS_API proteus_status proteus_buffer_destroy(proteus_buffer buffer);

/** Size of a buffer in bytes. */
PROTEUS_API proteus_status proteus_buffer_size(proteus_buffer buffer, uint64_t* bytes);

/** The device address of a buffer, for engines that launch their own work on it. */
PROTEUS_API proteus_status proteus_buffer_device_pointer(proteus_buffer buffer, void** pointer);

/**
 * Copies `bytes` from host memory into the buffer at `offset`; returns when the copy is done (it waits
 * for the context's stream). A host range that overlaps the buffer's own bytes (CPU backend, or a
 * wrapped host buffer) is PROTEUS_STATUS_INVALID_ARGUMENT naming `source`.
 */
PROTEUS_API proteus_status proteus_buffer_upload(proteus_buffer buffer, uint64_t offset, const void* source, uint64_t bytes);

/**
 * Copies `bytes` from the buffer at `offset` into host memory; returns when the copy is done (it waits
 * for the context's stream). An overlapping host range is rejected as for upload, naming `destination`.
 */
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
 * SPEC §2: for every active row of the query slice, softmax attention over the candidate set C(i) of
 * the policy. Inactive rows write o = 0 and lse = -inf. Every argument is validated before any work
 * starts. `launch` may be NULL (heuristic); `run_info` may be NULL, else it receives the kernel and
 * the resolved launch that ran. Queued on the context's stream without waiting for it (capturable in
 * a CUDA graph); synchronize before reading results on the host.
 */
PROTEUS_API proteus_status proteus_flux_attention_v2(proteus_context context, const proteus_flux_tensors* tensors,
                                                     const proteus_flux_params* params,
                                                     const proteus_launch_config* launch,
                                                     proteus_flux_run_info* run_info);

/** The 0.1 entry point: proteus_flux_attention_v2 over the 0.1 tensor layout (p0 = 0, Tq = T), no run info. */
PROTEUS_API proteus_status proteus_flux_attention(proteus_context context, const proteus_flux_tensors_v0_1* tensors,
                                                  const proteus_flux_params* params,
                                                  const proteus_launch_config* launch);

/**
 * The launch configurations the library offers for this call on this context (what an autotuner
 * searches), the heuristic's choice first. Writes min(capacity, available) entries into `configs`,
 * each `config_size` bytes apart (the caller's sizeof(proteus_launch_config)), and the number
 * available into `count`. `configs` may be NULL when capacity is 0. Nothing runs; tensors are validated
 * as for proteus_flux_attention_v2 (their contents are not read).
 */
PROTEUS_API proteus_status proteus_flux_launch_candidates(proteus_context context, const proteus_flux_tensors* tensors,
                                                          const proteus_flux_params* params,
                                                          proteus_launch_config* configs, uint32_t config_size,
                                                          int32_t capacity, int32_t* count);

/**
 * Times proteus_flux_attention_v2 on this context: validated exactly as it (nothing runs when an argument
 * is wrong; `timing` and `milliseconds` are checked too), then `timing->warmup` untimed runs and
 * `timing->repeats` timed runs, all queued on the context's stream. Each timed run is measured on the
 * device: between two events recorded on the stream around it on a GPU (cudaEvent / hipEvent), by a
 * steady clock on the CPU backend (whose calls complete before returning). With
 * PROTEUS_FLUX_TIMING_FLUSH_CACHE a scratch write larger than the cache precedes each timed run, outside
 * its interval. Writes run r's time in milliseconds to milliseconds[r] (`repeats` floats) and, when
 * `run_info` is not NULL, what ran (every run runs the same plan). The outputs hold the last run's result.
 * This is the one flux entry point that waits: it synchronises the context's stream before returning (so
 * it cannot be captured in a graph).
 */
PROTEUS_API proteus_status proteus_flux_time(proteus_context context, const proteus_flux_tensors* tensors,
                                             const proteus_flux_params* params, const proteus_launch_config* launch,
                                             const proteus_flux_timing* timing, float* milliseconds,
                                             proteus_flux_run_info* run_info);

/**
 * Debug check of explicit candidate lists (PROTEUS_POLICY_EXPLICIT): counts the listed indices outside
 * [0, i] (which flux attention skips) and the lengths outside [0, L], with the first of each, into
 * `report`. `tensors` as for proteus_flux_attention_v2 with the lists present (q, k, v and o are
 * checked for their shapes and the query slice; nothing is computed). Copies the lists to the host and
 * waits for the context's stream: for tests and debugging, not for the hot path.
 */
PROTEUS_API proteus_status proteus_validate_explicit_candidates(proteus_context context,
                                                                const proteus_flux_tensors* tensors,
                                                                proteus_explicit_candidates_report* report);

/**
 * An upper bound on |C(i)| over all rows of a sequence of length seq_len under `params`. The explicit
 * policy has no bound of its own (the lists are the caller's): PROTEUS_STATUS_INVALID_ARGUMENT naming
 * params.policy, as for proteus_shortlist_total and proteus_shortlist_gather.
 */
PROTEUS_API proteus_status proteus_shortlist_bound(const proteus_flux_params* params, int64_t seq_len,
                                                   int64_t* bound);

/**
 * Σ |C(i)| over the rows [first_row, first_row + row_count) of batch row `batch` (exact, SPEC §3; the
 * useful work of a flux call is 4·D·H·Σ|C(i)| FLOPs). `salience` as for proteus_shortlist_gather.
 * Reads the salience row back to the host (it waits for the context's stream); the work is
 * O(row_count · (1 + log K)) beyond the O(K) start, never the whole prefix.
 */
PROTEUS_API proteus_status proteus_shortlist_total(proteus_context context, const proteus_flux_params* params,
                                                   int64_t seq_len, const proteus_tensor* salience, int64_t batch,
                                                   int64_t first_row, int64_t row_count, int64_t* total);

/**
 * Writes C(i) of the rows `rows[0..row_count)` of batch row `batch`, for inspection and tests:
 * row r's candidates, sorted ascending, at indices[r·capacity …], and their number at lengths[r].
 * `salience` ([B, T] float32 on the context) is required when the DNA count is > 0, else may be NULL
 * or absent; T is seq_len. capacity must be ≥ proteus_shortlist_bound. The context's backend builds
 * them (the GPU on the GPU); the call waits for the stream, since it writes host arrays. The work is
 * bounded by the rows asked for (plus the DNA prefix scan when K > 0).
 */
PROTEUS_API proteus_status proteus_shortlist_gather(proteus_context context, const proteus_flux_params* params,
                                                    int64_t seq_len, const proteus_tensor* salience,
                                                    int64_t batch, const int64_t* rows, int64_t row_count,
                                                    int64_t capacity, int64_t* indices, int64_t* lengths);

/* ---------------------------------------------------------------------------------------------- */
/* Layer operations (SPEC §4–§7): the pieces of the drop-in attention layer and block              */
/* ---------------------------------------------------------------------------------------------- */
/*
 * Each is validated like proteus_flux_attention_v2 (typed errors naming the argument before any work),
 * queued on the context's stream without waiting, and capturable in a CUDA graph. Row-major 2-D
 * tensors are [rows, columns] with the column axis contiguous; "rows" may be any strides (a [B, T, C]
 * activation is viewed as [B·T, C] by the caller when its token rows are evenly spaced).
 */

/** Bits of proteus_linear_params.flags. */
typedef enum proteus_linear_flags {
    /** y ← x·Wᵀ + bias + beta·y (accumulate into y, e.g. a residual already in y); without it beta is ignored. */
    PROTEUS_LINEAR_ACCUMULATE = 1
} proteus_linear_flags;

/** Options of proteus_linear. */
typedef struct proteus_linear_params {
    /** Set by the caller to sizeof(proteus_linear_params). */
    uint32_t struct_size;
    /** proteus_linear_flags. */
    int32_t flags;
    /** With PROTEUS_LINEAR_ACCUMULATE: the factor of y's previous contents (1 for a residual). */
    float beta;
    int32_t reserved0;
} proteus_linear_params;

/**
 * y [M, N] = x [M, K] · weight [N, K]ᵀ (+ bias [N]) (+ beta·y): the GEMM of every projection, through
 * cuBLAS / hipBLAS on the GPU (loaded when first used) and the system BLAS on the CPU. x, weight and y
 * share one dtype: float32, or float16 / bfloat16 with float32 accumulation; bias is float32 or y's
 * dtype. A GPU build whose BLAS library is missing reports PROTEUS_STATUS_BACKEND_UNAVAILABLE naming it.
 */
PROTEUS_API proteus_status proteus_linear(proteus_context context, const proteus_tensor* x, const proteus_tensor* weight,
                                          const proteus_tensor* bias, const proteus_tensor* y,
                                          const proteus_linear_params* params);

/**
 * Element-wise dtype conversion: y = x rounded to y's dtype (nearest even). Same shape (rank 1 to 4), any
 * strides; y may be x (in place).
 */
PROTEUS_API proteus_status proteus_convert(proteus_context context, const proteus_tensor* x, const proteus_tensor* y);

/** The normalisation of proteus_norm_params.kind. */
typedef enum proteus_norm_kind {
    /** (x − mean)/sqrt(var + eps)·weight (+ bias): LayerNorm, the block's default. */
    PROTEUS_NORM_LAYER = 0,
    /** x/sqrt(mean(x²) + eps)·weight: RMSNorm. */
    PROTEUS_NORM_RMS = 1
} proteus_norm_kind;

/** Options of proteus_norm. */
typedef struct proteus_norm_params {
    /** Set by the caller to sizeof(proteus_norm_params). */
    uint32_t struct_size;
    /** A proteus_norm_kind. */
    int32_t kind;
    /** > 0 (the block's default 1e-5). */
    float eps;
    int32_t reserved0;
} proteus_norm_params;

/**
 * y [M, C] = norm(x [M, C]) per row, statistics in float32. weight [C] and bias [C] are float32 (both
 * optional: absent weight is 1, absent bias 0; RMSNorm takes no bias). x and y share a dtype; y may be x.
 */
PROTEUS_API proteus_status proteus_norm(proteus_context context, const proteus_tensor* x, const proteus_tensor* weight,
                                        const proteus_tensor* bias, const proteus_tensor* y,
                                        const proteus_norm_params* params);

/** y = GELU(x) = x·(1 + erf(x/√2))/2 element-wise, in float32; x, y [M, N] share a dtype; y may be x. */
PROTEUS_API proteus_status proteus_gelu(proteus_context context, const proteus_tensor* x, const proteus_tensor* y);

/** The pairing of proteus_rope_params.convention. */
typedef enum proteus_rope_convention {
    /** Pairs (2m, 2m + 1) (the original Proteus). */
    PROTEUS_ROPE_INTERLEAVED = 0,
    /** Pairs (m, m + D/2) (Llama). */
    PROTEUS_ROPE_HALF_SPLIT = 1
} proteus_rope_convention;

/** Options of proteus_rope. */
typedef struct proteus_rope_params {
    /** Set by the caller to sizeof(proteus_rope_params). */
    uint32_t struct_size;
    /** A proteus_rope_convention. */
    int32_t convention;
    /** The position of token 0 (decode: the tokens already in the cache). ≥ 0. */
    int64_t position_offset;
    /** θ base > 1 (10000). */
    float base;
    int32_t reserved0;
} proteus_rope_params;

/**
 * RoPE in place on x [B, H, T, D] (any strides, D contiguous and even): pair m of token t rotated by
 * angle (position_offset + t)·base^(−2m/D), in float32.
 */
PROTEUS_API proteus_status proteus_rope(proteus_context context, const proteus_tensor* x,
                                        const proteus_rope_params* params);

/** Options of proteus_router (SPEC §5, §6). */
typedef struct proteus_router_params {
    /** Set by the caller to sizeof(proteus_router_params). */
    uint32_t struct_size;
    /** H: 1 ≤ H ≤ G; gate g belongs to head floor(g·H/G). */
    int32_t heads;
    /** 1: the DNA blend of §6 (prototypes, usage, confidence and salience required); 0: p = p_router. */
    int32_t dna;
    /** τ > 0 (0.2). */
    float tau;
    /** θ in [0, 1) (0.25). */
    float theta;
    /** blend in [0, 1] (0.6). */
    float blend;
    /** usage_boost ≥ 0 (0). */
    float usage_boost;
    int32_t reserved0;
} proteus_router_params;

/** The tensors of proteus_router: inputs first, then outputs (absent outputs are not written). */
typedef struct proteus_router_tensors {
    /** Set by the caller to sizeof(proteus_router_tensors). */
    uint32_t struct_size;
    int32_t reserved0;
    /** The router's input [B, T, C] (any storage dtype; the block's normalised input). */
    proteus_tensor x;
    /** W_r [G, C] float32. */
    proteus_tensor weight;
    /** DNA: prototypes P [G, C], usage [G], confidence [G], float32. */
    proteus_tensor prototypes;
    proteus_tensor usage;
    proteus_tensor confidence;
    /** Out: the final gate probabilities p [B, T, G] float32 (the DNA update's Q). Required. */
    proteus_tensor probs;
    /** Out: head_probs [B, T, H] float32. */
    proteus_tensor head_probs;
    /** Out (DNA): salience [B, T] float32, max_g σ_g. */
    proteus_tensor salience;
    /** Out: token importance [B, T] float32 (§4). */
    proteus_tensor importance;
} proteus_router_tensors;

/**
 * Router + DNA blend (SPEC §5, §6) over every token; deterministic (same bits on every run). On the GPU
 * the dot products go through cuBLAS / hipBLAS where it loads (as proteus_linear): the first such call on
 * a context creates the library's handle, which allocates, so it is refused (INVALID_ARGUMENT) while the
 * stream is capturing a graph; make one call before capturing.
 */
PROTEUS_API proteus_status proteus_router(proteus_context context, const proteus_router_tensors* tensors,
                                          const proteus_router_params* params);

/** Options of proteus_select_rows (SPEC §4, §5). */
typedef struct proteus_select_params {
    /** Set by the caller to sizeof(proteus_select_params). */
    uint32_t struct_size;
    /** k: heads kept per token, 1..H. */
    int32_t heads_per_token;
    /** The token keep ratio in (0, 1]; ≥ 0.999 keeps every token. */
    double keep_ratio;
    /** guard ≥ 1: at least this many tokens kept per batch row, and always its first guard positions. */
    int64_t guard;
} proteus_select_params;

/**
 * The active mask of a flux call, on the device: per batch row the round(keep_ratio·T) most important
 * tokens (importance [B, T] float32; ties to the smaller t; at least guard, always the first guard),
 * and per kept token its k most probable heads (head_probs [B, T, H] float32; ties to the smaller h).
 * Writes active [B, H, T] uint8 (1 active, 0 not).
 */
PROTEUS_API proteus_status proteus_select_rows(proteus_context context, const proteus_tensor* head_probs,
                                               const proteus_tensor* importance, const proteus_tensor* active,
                                               const proteus_select_params* params);

/** Options of proteus_dna_update (SPEC §6). */
typedef struct proteus_dna_update_params {
    /** Set by the caller to sizeof(proteus_dna_update_params). */
    uint32_t struct_size;
    /** decay d in [0, 1) (0.97). */
    float decay;
} proteus_dna_update_params;

/**
 * The DNA EMA update (SPEC §6) of prototypes [G, C], usage [G] and confidence [G] (float32, in place)
 * from x [B, T, C] and the final gate probabilities probs [B, T, G]. Deterministic: a fixed reduction
 * order, no floating-point atomics. Runs only when called (never as a side effect of inference).
 */
PROTEUS_API proteus_status proteus_dna_update(proteus_context context, const proteus_tensor* x,
                                              const proteus_tensor* probs, const proteus_tensor* prototypes,
                                              const proteus_tensor* usage, const proteus_tensor* confidence,
                                              const proteus_dna_update_params* params);

/* ---------------------------------------------------------------------------------------------- */
/* Host threads                                                                                   */
/* ---------------------------------------------------------------------------------------------- */

/**
 * Sets the number of worker threads the context's CPU kernels run on (1 to 4096; the calling thread
 * counts as one). The threads are started here, once, and reused by every call; a call already running
 * finishes on the old ones. A new CPU context starts with PROTEUS_NUM_THREADS when that is set (a whole
 * number 1..4096), else the hardware threads. Calls on one CPU context run one at a time. GPU backends
 * run no host worker threads: PROTEUS_STATUS_INVALID_ARGUMENT naming "threads".
 */
PROTEUS_API proteus_status proteus_context_set_threads(proteus_context context, int32_t threads);

/** The worker threads of the context's CPU kernels into `threads`; 0 on a GPU backend (it runs none). */
PROTEUS_API proteus_status proteus_context_get_threads(proteus_context context, int32_t* threads);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PROTEUS_PROTEUS_H */
