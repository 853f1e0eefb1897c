// Checks of one tensor descriptor against its buffer (SPEC §1), and of the bytes tensors share.
#pragma once

#include <cstdint>
#include <memory>

#include "backend.h"
#include "runtime/context.h"

namespace proteus {

/** The dtypes a tensor may have in its role. */
enum class DtypeRule {
    Storage,  // q, k, v, o: float32, float16 or bfloat16
    Mask,     // active: uint8
    Float32,  // salience, lse
    Index,    // explicit candidate lists and their lengths: int32
};

/** A tensor that passed its own checks: its buffer held alive, its address resolved, the bytes it spans. */
struct CheckedTensor {
    const char* name = "";           // the argument name: "q", "lse", …
    std::shared_ptr<Buffer> buffer;  // null when absent
    TensorRef ref;
    uint64_t first_byte = 0;  // the span [first_byte, end_byte) within the buffer
    uint64_t end_byte = 0;

    bool present() const { return buffer != nullptr; }
};

/**
 * Checks a present tensor (`name` is "q", "lse", …): a live buffer of `context`, a dtype its role
 * allows, the rank, extents ≥ 1, strides ≥ 0 with the innermost 1, an offset that is a multiple of
 * the element size, and every addressed element inside the buffer.
 */
proteus_status check_tensor(const Context& context, const proteus_tensor& tensor, const char* name, int rank,
                            DtypeRule rule, CheckedTensor& checked);

/** INVALID_ARGUMENT naming `name`.shape unless axis `axis` has extent `expected` (`what`: "T of q"). */
proteus_status check_extent(const CheckedTensor& tensor, const char* name, int axis, int64_t expected,
                            const char* what);

/** A tensor an operation needs: INVALID_ARGUMENT naming `name` when the descriptor or its buffer is NULL, else check_tensor. */
proteus_status check_required(const Context& context, const proteus_tensor* tensor, const char* name, int rank,
                              DtypeRule rule, CheckedTensor& checked);
proteus_status check_required(const Context& context, const proteus_tensor& tensor, const char* name, int rank,
                              DtypeRule rule, CheckedTensor& checked);

/** An optional tensor: a NULL descriptor or buffer is absent (`checked` stays absent), else check_tensor. */
proteus_status check_optional(const Context& context, const proteus_tensor* tensor, const char* name, int rank,
                              DtypeRule rule, CheckedTensor& checked);
proteus_status check_optional(const Context& context, const proteus_tensor& tensor, const char* name, int rank,
                              DtypeRule rule, CheckedTensor& checked);

/** INVALID_ARGUMENT naming "<tensor>.dtype" unless it has the dtype of `reference` (`rule` says which share one). */
proteus_status check_same_dtype(const CheckedTensor& tensor, const CheckedTensor& reference, const char* rule);

/** Every axis of `tensor` has the extent of that axis of `reference` (same rank). */
proteus_status check_same_shape(const CheckedTensor& tensor, const CheckedTensor& reference);

/** Whether two tensors' spans share bytes of one buffer. */
bool spans_overlap(const CheckedTensor& a, const CheckedTensor& b);

/**
 * Whether an element of one tensor shares a byte with an element of the other: exact, so tensors
 * that interleave in one buffer without sharing elements ([B, T, 4, H, D] holding q, k, v and o of
 * each token) do not overlap. O(1) when the spans are apart or the two layouts are one layout
 * shifted; otherwise O(rows · rank) over the tensor with fewer rows (a row: the contiguous last axis).
 */
bool elements_overlap(const CheckedTensor& a, const CheckedTensor& b);

/** Whether two elements of the tensor have one address (an output would be written twice). */
bool elements_alias(const CheckedTensor& tensor);

}  // namespace proteus
