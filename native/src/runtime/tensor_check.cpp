#include "runtime/tensor_check.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "runtime/registry.h"

namespace proteus {
namespace {

proteus_status reject(proteus_status status, const std::string& argument, const std::string& detail)
{
    return set_error(status, argument + ": " + detail, argument.c_str());
}

std::string member(const char* name, const char* field) { return std::string(name) + "." + field; }

std::string axis_text(const char* name, const char* field, int axis, int64_t value)
{
    return member(name, field) + "[" + std::to_string(axis) + "] = " + std::to_string(value);
}

/** Null when the value is not a proteus_dtype. */
const char* dtype_name(int32_t dtype)
{
    switch (dtype) {
    case PROTEUS_DTYPE_FLOAT32: return "float32";
    case PROTEUS_DTYPE_FLOAT16: return "float16";
    case PROTEUS_DTYPE_BFLOAT16: return "bfloat16";
    case PROTEUS_DTYPE_UINT8: return "uint8";
    case PROTEUS_DTYPE_INT32: return "int32";
    default: return nullptr;
    }
}

uint64_t element_size(int32_t dtype)
{
    switch (dtype) {
    case PROTEUS_DTYPE_FLOAT32:
    case PROTEUS_DTYPE_INT32: return 4;
    case PROTEUS_DTYPE_FLOAT16:
    case PROTEUS_DTYPE_BFLOAT16: return 2;
    default: return 1;
    }
}

bool allows(DtypeRule rule, int32_t dtype)
{
    switch (rule) {
    case DtypeRule::Storage:
        return dtype == PROTEUS_DTYPE_FLOAT32 || dtype == PROTEUS_DTYPE_FLOAT16 || dtype == PROTEUS_DTYPE_BFLOAT16;
    case DtypeRule::Mask: return dtype == PROTEUS_DTYPE_UINT8;
    case DtypeRule::Float32: return dtype == PROTEUS_DTYPE_FLOAT32;
    case DtypeRule::Index: return dtype == PROTEUS_DTYPE_INT32;
    }
    return false;
}

const char* allowed_text(DtypeRule rule)
{
    switch (rule) {
    case DtypeRule::Storage: return "float32, float16 or bfloat16";
    case DtypeRule::Mask: return "uint8";
    case DtypeRule::Float32: return "float32";
    case DtypeRule::Index: return "int32";
    }
    return "";
}

proteus_status resolve_buffer(const Context& context, const proteus_tensor& tensor, const char* name,
                              CheckedTensor& checked)
{
    checked.buffer = find_buffer(tensor.buffer);
    if (checked.buffer == nullptr) {
        return reject(PROTEUS_STATUS_INVALID_HANDLE, member(name, "buffer"),
                      "not a live buffer (destroyed, or not made by this library)");
    }
    if (checked.buffer->context().get() != &context) {
        return reject(PROTEUS_STATUS_DEVICE_MISMATCH, member(name, "buffer"),
                      "the buffer belongs to another context than the one the call runs on");
    }
    return PROTEUS_STATUS_OK;
}

proteus_status check_dtype(const proteus_tensor& tensor, const char* name, DtypeRule rule)
{
    if (allows(rule, tensor.dtype)) return PROTEUS_STATUS_OK;
    const char* known = dtype_name(tensor.dtype);
    const std::string given = known != nullptr ? std::string(known) + " is not supported here"
                                               : std::to_string(tensor.dtype) + " is not a proteus_dtype";
    return reject(PROTEUS_STATUS_UNSUPPORTED_DTYPE, member(name, "dtype"), given + "; use " + allowed_text(rule));
}

proteus_status check_axes(const proteus_tensor& tensor, const char* name, int rank)
{
    if (tensor.rank != rank) {
        return reject(PROTEUS_STATUS_INVALID_ARGUMENT, member(name, "rank"),
                      "is " + std::to_string(tensor.rank) + "; expected " + std::to_string(rank));
    }
    for (int axis = 0; axis < rank; ++axis) {
        if (tensor.shape[axis] < 1) {
            return reject(PROTEUS_STATUS_INVALID_ARGUMENT, member(name, "shape"),
                          axis_text(name, "shape", axis, tensor.shape[axis]) + " is not a positive extent");
        }
        if (tensor.strides[axis] < 0) {
            return reject(PROTEUS_STATUS_INVALID_ARGUMENT, member(name, "strides"),
                          axis_text(name, "strides", axis, tensor.strides[axis]) + " is negative");
        }
    }
    if (tensor.strides[rank - 1] != 1) {
        return reject(PROTEUS_STATUS_INVALID_ARGUMENT, member(name, "strides"),
                      axis_text(name, "strides", rank - 1, tensor.strides[rank - 1]) +
                          ": the innermost axis must be contiguous (stride 1)");
    }
    return PROTEUS_STATUS_OK;
}

/** Offset of the tensor's last element in elements; false when it overflows. */
bool last_element_offset(const proteus_tensor& tensor, int rank, uint64_t& offset)
{
    offset = 0;
    for (int axis = 0; axis < rank; ++axis) {
        uint64_t step = 0;
        const uint64_t extent = static_cast<uint64_t>(tensor.shape[axis] - 1);
        if (__builtin_mul_overflow(extent, static_cast<uint64_t>(tensor.strides[axis]), &step)) return false;
        if (__builtin_add_overflow(offset, step, &offset)) return false;
    }
    return true;
}

proteus_status check_span(const proteus_tensor& tensor, const char* name, int rank, CheckedTensor& checked)
{
    const uint64_t size = element_size(tensor.dtype);
    if (tensor.offset_bytes % size != 0) {
        return reject(
            PROTEUS_STATUS_INVALID_ARGUMENT, member(name, "offset_bytes"),
            std::to_string(tensor.offset_bytes) + " is not a multiple of the element size " + std::to_string(size));
    }
    uint64_t last = 0;
    uint64_t end = 0;
    const bool fits = last_element_offset(tensor, rank, last) && !__builtin_add_overflow(last, 1, &end) &&
                      !__builtin_mul_overflow(end, size, &end) &&
                      !__builtin_add_overflow(end, tensor.offset_bytes, &end);
    const uint64_t buffer_bytes = checked.buffer->bytes();
    if (!fits || end > buffer_bytes) {
        return reject(PROTEUS_STATUS_INVALID_ARGUMENT, name,
                      "its shape, strides and offset reach " +
                          (fits ? "byte " + std::to_string(end) : std::string("beyond 2^64 bytes")) +
                          " but the buffer holds " + std::to_string(buffer_bytes) + " bytes");
    }
    checked.first_byte = tensor.offset_bytes;
    checked.end_byte = end;
    return PROTEUS_STATUS_OK;
}

void resolve_reference(const proteus_tensor& tensor, int rank, CheckedTensor& checked)
{
    TensorRef& ref = checked.ref;
    ref.data = static_cast<char*>(checked.buffer->data()) + tensor.offset_bytes;
    ref.dtype = static_cast<proteus_dtype>(tensor.dtype);
    ref.rank = rank;
    std::copy(tensor.shape, tensor.shape + rank, ref.shape);
    std::copy(tensor.strides, tensor.strides + rank, ref.strides);
}

}  // namespace

proteus_status check_tensor(const Context& context, const proteus_tensor& tensor, const char* name, int rank,
                            DtypeRule rule, CheckedTensor& checked)
{
    checked.name = name;
    proteus_status status = resolve_buffer(context, tensor, name, checked);
    if (status == PROTEUS_STATUS_OK) status = check_dtype(tensor, name, rule);
    if (status == PROTEUS_STATUS_OK) status = check_axes(tensor, name, rank);
    if (status == PROTEUS_STATUS_OK) status = check_span(tensor, name, rank, checked);
    if (status != PROTEUS_STATUS_OK) return status;
    resolve_reference(tensor, rank, checked);
    return PROTEUS_STATUS_OK;
}

proteus_status check_extent(const CheckedTensor& tensor, const char* name, int axis, int64_t expected, const char* what)
{
    const int64_t extent = tensor.ref.shape[axis];
    if (extent == expected) return PROTEUS_STATUS_OK;
    return reject(PROTEUS_STATUS_INVALID_ARGUMENT, member(name, "shape"),
                  axis_text(name, "shape", axis, extent) + " differs from " + what + " = " + std::to_string(expected));
}

bool spans_overlap(const CheckedTensor& a, const CheckedTensor& b)
{
    return a.present() && b.present() && a.buffer == b.buffer && a.first_byte < b.end_byte && b.first_byte < a.end_byte;
}

namespace {

/**
 * The bytes a tensor's elements cover, as a set: base + Σ index[k]·stride[k] + [0, run) over the
 * axes that move (extent > 1, stride > 0; a broadcast axis adds no element), the contiguous last axis
 * folded into `run`. Axes are sorted by decreasing stride; `span[k]` is the bytes the axes after k
 * and the run cover from a sub-block's start. Offsets are within one buffer (below 2^63 bytes).
 */
struct ByteLayout {
    int64_t base = 0;
    int64_t run = 0;
    int count = 0;
    int64_t stride[PROTEUS_MAX_RANK] = {};
    int64_t extent[PROTEUS_MAX_RANK] = {};
    int64_t span[PROTEUS_MAX_RANK] = {};

    int64_t rows() const
    {
        int64_t product = 1;
        for (int k = 0; k < count; ++k) product *= extent[k];
        return product;
    }

    /** Each sub-block of an axis ends before the next begins: at most one straddles a given byte. */
    bool nested() const
    {
        for (int k = 0; k < count; ++k) {
            if (stride[k] < span[k]) return false;
        }
        return true;
    }

    bool same_shape(const ByteLayout& other) const
    {
        if (run != other.run || count != other.count) return false;
        for (int k = 0; k < count; ++k) {
            if (stride[k] != other.stride[k] || extent[k] != other.extent[k]) return false;
        }
        return true;
    }
};

ByteLayout byte_layout(const CheckedTensor& tensor)
{
    const TensorRef& ref = tensor.ref;
    const int64_t size = static_cast<int64_t>(element_size(ref.dtype));
    ByteLayout layout;
    layout.base = static_cast<int64_t>(tensor.first_byte);
    layout.run = ref.shape[ref.rank - 1] * size;  // the last axis is contiguous (checked)
    for (int axis = 0; axis + 1 < ref.rank; ++axis) {
        if (ref.shape[axis] == 1 || ref.strides[axis] == 0) continue;
        int slot = layout.count++;
        for (; slot > 0 && layout.stride[slot - 1] < ref.strides[axis] * size; --slot) {
            layout.stride[slot] = layout.stride[slot - 1];
            layout.extent[slot] = layout.extent[slot - 1];
        }
        layout.stride[slot] = ref.strides[axis] * size;
        layout.extent[slot] = ref.shape[axis];
    }
    int64_t inner = layout.run;
    for (int k = layout.count - 1; k >= 0; --k) {
        layout.span[k] = inner;
        inner += (layout.extent[k] - 1) * layout.stride[k];
    }
    return layout;
}

int64_t floor_div(int64_t a, int64_t b)  // b > 0
{
    const int64_t q = a / b;
    return q * b > a ? q - 1 : q;
}

int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }  // b > 0

/** Whether any byte of the layout's sub-block at `base`, axes k onwards, lies in [first, end). */
bool covers_any(const ByteLayout& layout, int k, int64_t base, int64_t first, int64_t end)
{
    if (k == layout.count) return base < end && first < base + layout.run;
    const int64_t s = layout.stride[k];
    const int64_t lowest = std::max<int64_t>(0, ceil_div(first - base - layout.span[k] + 1, s));
    const int64_t highest = std::min(layout.extent[k] - 1, floor_div(end - 1 - base, s));
    if (lowest > highest) return false;
    // A sub-block that starts inside the range covers its first byte (element [0, …, 0] of the block).
    if (std::max(lowest, ceil_div(first - base, s)) <= highest) return true;
    // The others start before `first` and reach into the range: one of them when the layout is nested.
    for (int64_t i = lowest; i <= highest; ++i) {
        if (covers_any(layout, k + 1, base + i * s, first, end)) return true;
    }
    return false;
}

/**
 * For one nested layout L: whether L and L shifted by `shift` bytes share a byte, i.e. whether
 * shift = Σ c[k]·stride[k] + e with |c[k]| < extent[k] and |e| < run. Nesting leaves at most two
 * choices of c[k] per axis.
 */
bool shift_meets(const ByteLayout& layout, int k, int64_t shift)
{
    if (k == layout.count) return shift > -layout.run && shift < layout.run;
    const int64_t s = layout.stride[k];
    for (int64_t c = floor_div(shift, s), last = c + 1; c <= last; ++c) {
        const int64_t rest = shift - c * s;
        if (c > -layout.extent[k] && c < layout.extent[k] && rest > -layout.span[k] && rest < layout.span[k] &&
            shift_meets(layout, k + 1, rest)) {
            return true;
        }
    }
    return false;
}

/** Walks the rows of `walked` and asks `other` about each one's bytes. */
bool rows_meet(const ByteLayout& walked, const ByteLayout& other)
{
    int64_t index[PROTEUS_MAX_RANK] = {};
    for (;;) {
        int64_t first = walked.base;
        for (int k = 0; k < walked.count; ++k) first += index[k] * walked.stride[k];
        if (covers_any(other, 0, other.base, first, first + walked.run)) return true;
        int k = walked.count - 1;
        for (; k >= 0 && ++index[k] == walked.extent[k]; --k) index[k] = 0;
        if (k < 0) return false;
    }
}

}  // namespace

bool elements_overlap(const CheckedTensor& a, const CheckedTensor& b)
{
    if (!spans_overlap(a, b)) return false;
    const ByteLayout la = byte_layout(a);
    const ByteLayout lb = byte_layout(b);
    if (la.same_shape(lb) && la.nested()) return shift_meets(la, 0, lb.base - la.base);
    return la.rows() <= lb.rows() ? rows_meet(la, lb) : rows_meet(lb, la);
}

bool elements_alias(const CheckedTensor& tensor)
{
    // Taken by increasing stride, every axis of extent > 1 must step past all that the axes before it span.
    const TensorRef& ref = tensor.ref;
    int order[PROTEUS_MAX_RANK];
    int count = 0;
    for (int axis = 0; axis < ref.rank; ++axis) {
        if (ref.shape[axis] == 1) continue;
        int slot = count++;
        for (; slot > 0 && ref.strides[order[slot - 1]] > ref.strides[axis]; --slot) order[slot] = order[slot - 1];
        order[slot] = axis;
    }
    int64_t span = 1;  // elements covered by the axes taken so far
    for (int k = 0; k < count; ++k) {
        const int axis = order[k];
        if (ref.strides[axis] < span) return true;
        span += ref.strides[axis] * (ref.shape[axis] - 1);
    }
    return false;
}

proteus_status check_required(const Context& context, const proteus_tensor* tensor, const char* name, int rank,
                              DtypeRule rule, CheckedTensor& checked)
{
    if (tensor == nullptr) return reject(PROTEUS_STATUS_INVALID_ARGUMENT, name, "is NULL");
    if (tensor->buffer == nullptr) return reject(PROTEUS_STATUS_INVALID_ARGUMENT, name, "required, but its buffer is NULL");
    return check_tensor(context, *tensor, name, rank, rule, checked);
}

proteus_status check_required(const Context& context, const proteus_tensor& tensor, const char* name, int rank,
                              DtypeRule rule, CheckedTensor& checked)
{
    return check_required(context, &tensor, name, rank, rule, checked);
}

proteus_status check_optional(const Context& context, const proteus_tensor* tensor, const char* name, int rank,
                              DtypeRule rule, CheckedTensor& checked)
{
    if (tensor == nullptr || tensor->buffer == nullptr) return PROTEUS_STATUS_OK;
    return check_tensor(context, *tensor, name, rank, rule, checked);
}

proteus_status check_optional(const Context& context, const proteus_tensor& tensor, const char* name, int rank,
                              DtypeRule rule, CheckedTensor& checked)
{
    return check_optional(context, &tensor, name, rank, rule, checked);
}

proteus_status check_same_dtype(const CheckedTensor& tensor, const CheckedTensor& reference, const char* rule)
{
    if (tensor.ref.dtype == reference.ref.dtype) return PROTEUS_STATUS_OK;
    return reject(PROTEUS_STATUS_INVALID_ARGUMENT, member(tensor.name, "dtype"),
                  std::string("differs from ") + reference.name + ".dtype; " + rule);
}

proteus_status check_same_shape(const CheckedTensor& tensor, const CheckedTensor& reference)
{
    const std::string what = std::string("the same axis of ") + reference.name;
    proteus_status status = PROTEUS_STATUS_OK;
    for (int axis = 0; axis < reference.ref.rank && status == PROTEUS_STATUS_OK; ++axis) {
        status = check_extent(tensor, tensor.name, axis, reference.ref.shape[axis], what.c_str());
    }
    return status;
}

}  // namespace proteus
