#include "runtime/layer_validation.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <string>

#include "core/error.h"
#include "runtime/tensor_check.h"
#include "runtime/versioned.h"

namespace proteus {
namespace {

proteus_status reject(const std::string& argument, const std::string& detail,
                      proteus_status status = PROTEUS_STATUS_INVALID_ARGUMENT)
{
    return set_error(status, argument + ": " + detail, argument.c_str());
}

std::string number(int64_t value) { return std::to_string(value); }

std::string real(double value)
{
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);
    return text;
}

std::string member(const char* name, const char* field) { return std::string(name) + "." + field; }


/** Axis `axis` of a present tensor has `expected` elements (`what`: "C of x"); an absent one passes. */
proteus_status check_extent_if_present(const CheckedTensor& tensor, int axis, int64_t expected, const char* what)
{
    return tensor.present() ? check_extent(tensor, tensor.name, axis, expected, what) : PROTEUS_STATUS_OK;
}

/** Whether two tensors are one set of elements: one buffer, offset, dtype, shape and strides. */
bool same_elements(const CheckedTensor& a, const CheckedTensor& b)
{
    if (a.buffer != b.buffer || a.first_byte != b.first_byte || a.ref.dtype != b.ref.dtype ||
        a.ref.rank != b.ref.rank) {
        return false;
    }
    for (int axis = 0; axis < a.ref.rank; ++axis) {
        if (a.ref.shape[axis] != b.ref.shape[axis] || a.ref.strides[axis] != b.ref.strides[axis]) return false;
    }
    return true;
}

/**
 * An output (present): no two of its elements one address, and no element shared with any other
 * present tensor of the call. Elements are compared, not byte spans, so tensors may interleave in one
 * buffer.
 */
proteus_status check_output_apart(const CheckedTensor& output, std::initializer_list<const CheckedTensor*> others)
{
    if (!output.present()) return PROTEUS_STATUS_OK;
    if (elements_alias(output)) {
        return reject(member(output.name, "strides"),
                      "two of its elements share an address, so one would be written twice");
    }
    for (const CheckedTensor* other : others) {
        if (other != &output && elements_overlap(output, *other)) {
            return reject(output.name, std::string("shares elements with ") + other->name + " in the same buffer");
        }
    }
    return PROTEUS_STATUS_OK;
}

/** The output of an element-wise operation: exactly its input (in place), or apart from it and the others. */
proteus_status check_in_place_or_apart(const CheckedTensor& output, const CheckedTensor& input,
                                       std::initializer_list<const CheckedTensor*> others)
{
    if (!same_elements(output, input) && elements_overlap(output, input)) {
        return reject(output.name, std::string("shares some elements with ") + input.name + " (in place, " +
                                       output.name + " must be " + input.name + " exactly)");
    }
    return check_output_apart(output, others);
}

void hold(BufferLease& lease, std::initializer_list<const CheckedTensor*> tensors)
{
    for (const CheckedTensor* tensor : tensors) {
        if (tensor->present()) lease.push_back(tensor->buffer);
    }
}

// ---- Parameters --------------------------------------------------------------------------------------

/** Finite and > 0. */
proteus_status check_positive(float value, const char* argument)
{
    if (std::isfinite(value) && value > 0.0f) return PROTEUS_STATUS_OK;
    return reject(argument, real(value) + " is not finite and > 0");
}

/** In [low, high), or [low, high] when `closed`. NaN is outside every range. */
proteus_status check_range(double value, double low, double high, bool closed, const char* argument)
{
    if (value >= low && (closed ? value <= high : value < high)) return PROTEUS_STATUS_OK;
    return reject(argument, real(value) + " is outside [" + real(low) + ", " + real(high) + (closed ? "]" : ")"));
}

double round_half_even(double value)
{
    const double floor = std::floor(value);
    const double fraction = value - floor;
    if (fraction != 0.5) return fraction < 0.5 ? floor : floor + 1.0;
    return std::fmod(floor, 2.0) == 0.0 ? floor : floor + 1.0;
}

// ---- Router --------------------------------------------------------------------------------------------

proteus_status check_router_params(const proteus_router_params& params)
{
    if (params.heads < 1) return reject("params.heads", number(params.heads) + " is below 1");
    if (params.dna != 0 && params.dna != 1) return reject("params.dna", number(params.dna) + " is not 0 or 1");
    if (params.dna == 0) return PROTEUS_STATUS_OK;  // τ, θ, blend and the usage boost are the DNA blend's alone
    proteus_status status = check_positive(params.tau, "params.tau");
    if (status == PROTEUS_STATUS_OK) status = check_range(params.theta, 0.0, 1.0, false, "params.theta");
    if (status == PROTEUS_STATUS_OK) status = check_range(params.blend, 0.0, 1.0, true, "params.blend");
    if (status == PROTEUS_STATUS_OK && !(std::isfinite(params.usage_boost) && params.usage_boost >= 0.0f)) {
        status = reject("params.usage_boost", real(params.usage_boost) + " is not finite and >= 0");
    }
    return status;
}

struct RouterTensors {
    CheckedTensor x, weight, prototypes, usage, confidence, probs, head_probs, salience, importance;
};

/** x [B, T, C] and weight [G, C], then H ≤ G. */
proteus_status check_router_inputs(const Context& context, const proteus_router_tensors& given, int32_t heads,
                                   RouterTensors& t)
{
    proteus_status status = check_required(context, given.x, "tensors.x", 3, DtypeRule::Storage, t.x);
    if (status == PROTEUS_STATUS_OK) {
        status = check_required(context, given.weight, "tensors.weight", 2, DtypeRule::Float32, t.weight);
    }
    if (status == PROTEUS_STATUS_OK) {
        status = check_extent(t.weight, t.weight.name, 1, t.x.ref.shape[2], "C of tensors.x");
    }
    if (status != PROTEUS_STATUS_OK) return status;
    const int64_t gates = t.weight.ref.shape[0];
    if (heads > gates) {
        return reject("params.heads", number(heads) + " heads, more than the G = " + number(gates) +
                                          " gates of tensors.weight");
    }
    return PROTEUS_STATUS_OK;
}

/** A DNA state tensor, required with DNA: float32 with the G gates on axis 0. */
proteus_status check_gate_state(const Context& context, const proteus_tensor& tensor, const char* name, int rank,
                                int64_t gates, CheckedTensor& checked)
{
    if (tensor.buffer == nullptr) return reject(name, "required when params.dna is 1, but its buffer is NULL");
    const proteus_status status = check_tensor(context, tensor, name, rank, DtypeRule::Float32, checked);
    return status == PROTEUS_STATUS_OK ? check_extent(checked, name, 0, gates, "G of tensors.weight") : status;
}

/** With DNA: prototypes [G, C], usage and confidence [G]. */
proteus_status check_router_dna(const Context& context, const proteus_router_tensors& given, RouterTensors& t)
{
    const int64_t gates = t.weight.ref.shape[0];
    proteus_status status = check_gate_state(context, given.prototypes, "tensors.prototypes", 2, gates, t.prototypes);
    if (status == PROTEUS_STATUS_OK) {
        status = check_extent(t.prototypes, t.prototypes.name, 1, t.x.ref.shape[2], "C of tensors.x");
    }
    if (status == PROTEUS_STATUS_OK) {
        status = check_gate_state(context, given.usage, "tensors.usage", 1, gates, t.usage);
    }
    if (status == PROTEUS_STATUS_OK) {
        status = check_gate_state(context, given.confidence, "tensors.confidence", 1, gates, t.confidence);
    }
    return status;
}

/** Axes 0 and 1 of a present router output are B and T of x. */
proteus_status check_token_axes(const CheckedTensor& output, const CheckedTensor& x)
{
    proteus_status status = check_extent_if_present(output, 0, x.ref.shape[0], "B of tensors.x");
    if (status == PROTEUS_STATUS_OK) status = check_extent_if_present(output, 1, x.ref.shape[1], "T of tensors.x");
    return status;
}

/** probs [B, T, G] (required), head_probs [B, T, H], salience (DNA only) and importance [B, T]. */
proteus_status check_router_outputs(const Context& context, const proteus_router_tensors& given,
                                    const proteus_router_params& params, RouterTensors& t)
{
    proteus_status status = check_required(context, given.probs, "tensors.probs", 3, DtypeRule::Float32, t.probs);
    if (status == PROTEUS_STATUS_OK) status = check_token_axes(t.probs, t.x);
    if (status == PROTEUS_STATUS_OK) {
        status = check_extent(t.probs, t.probs.name, 2, t.weight.ref.shape[0], "G of tensors.weight");
    }
    if (status == PROTEUS_STATUS_OK) {
        status = check_optional(context, given.head_probs, "tensors.head_probs", 3, DtypeRule::Float32, t.head_probs);
    }
    if (status == PROTEUS_STATUS_OK) status = check_token_axes(t.head_probs, t.x);
    if (status == PROTEUS_STATUS_OK) status = check_extent_if_present(t.head_probs, 2, params.heads, "params.heads");
    if (status == PROTEUS_STATUS_OK) {
        status = check_optional(context, given.salience, "tensors.salience", 2, DtypeRule::Float32, t.salience);
    }
    if (status == PROTEUS_STATUS_OK && t.salience.present() && params.dna == 0) {
        return reject("tensors.salience", "is written only by the DNA blend (params.dna = 1); leave it absent");
    }
    if (status == PROTEUS_STATUS_OK) status = check_token_axes(t.salience, t.x);
    if (status == PROTEUS_STATUS_OK) {
        status = check_optional(context, given.importance, "tensors.importance", 2, DtypeRule::Float32, t.importance);
    }
    if (status == PROTEUS_STATUS_OK) status = check_token_axes(t.importance, t.x);
    return status;
}

}  // namespace

// ---- Entry points --------------------------------------------------------------------------------------

proteus_status check_linear_call(const Context& context, const proteus_tensor* x, const proteus_tensor* weight,
                                 const proteus_tensor* bias, const proteus_tensor* y,
                                 const proteus_linear_params* params, LinearProblem& problem, BufferLease& lease)
{
    proteus_linear_params read;
    proteus_status status = read_struct(params, PROTEUS_LINEAR_PARAMS_SIZE_V0_2, "params", read);
    if (status != PROTEUS_STATUS_OK) return status;
    const uint32_t unknown = static_cast<uint32_t>(read.flags) & ~static_cast<uint32_t>(PROTEUS_LINEAR_ACCUMULATE);
    if (unknown != 0) {
        return reject("params.flags", "has bits " + std::to_string(unknown) + " that are not proteus_linear_flags");
    }
    const bool accumulate = (read.flags & PROTEUS_LINEAR_ACCUMULATE) != 0;
    if (accumulate && !std::isfinite(read.beta)) return reject("params.beta", real(read.beta) + " is not finite");

    CheckedTensor cx, cw, cb, cy;
    const char* shared = "x, weight and y share one dtype";
    status = check_required(context, x, "x", 2, DtypeRule::Storage, cx);
    if (status == PROTEUS_STATUS_OK) status = check_required(context, weight, "weight", 2, DtypeRule::Storage, cw);
    if (status == PROTEUS_STATUS_OK) status = check_optional(context, bias, "bias", 1, DtypeRule::Storage, cb);
    if (status == PROTEUS_STATUS_OK) status = check_required(context, y, "y", 2, DtypeRule::Storage, cy);
    if (status == PROTEUS_STATUS_OK) status = check_same_dtype(cw, cx, shared);
    if (status == PROTEUS_STATUS_OK) status = check_same_dtype(cy, cx, shared);
    const bool bias_dtype = !cb.present() || cb.ref.dtype == PROTEUS_DTYPE_FLOAT32 || cb.ref.dtype == cy.ref.dtype;
    if (status == PROTEUS_STATUS_OK && !bias_dtype) {
        return reject("bias.dtype", "is neither float32 nor y's dtype", PROTEUS_STATUS_UNSUPPORTED_DTYPE);
    }
    if (status == PROTEUS_STATUS_OK) status = check_extent(cw, "weight", 1, cx.ref.shape[1], "K of x");
    if (status == PROTEUS_STATUS_OK) status = check_extent(cy, "y", 0, cx.ref.shape[0], "M of x");
    if (status == PROTEUS_STATUS_OK) status = check_extent(cy, "y", 1, cw.ref.shape[0], "N of weight");
    if (status == PROTEUS_STATUS_OK) status = check_extent_if_present(cb, 0, cw.ref.shape[0], "N of weight");
    if (status == PROTEUS_STATUS_OK) status = check_output_apart(cy, {&cx, &cw, &cb});
    if (status != PROTEUS_STATUS_OK) return status;

    problem.x = cx.ref;
    problem.weight = cw.ref;
    problem.bias = cb.ref;
    problem.y = cy.ref;
    problem.m = cx.ref.shape[0];
    problem.n = cw.ref.shape[0];
    problem.k = cx.ref.shape[1];
    problem.accumulate = accumulate;
    problem.beta = accumulate ? read.beta : 0.0f;
    hold(lease, {&cx, &cw, &cb, &cy});
    return PROTEUS_STATUS_OK;
}

proteus_status check_convert_call(const Context& context, const proteus_tensor* x, const proteus_tensor* y,
                                  ConvertProblem& problem, BufferLease& lease)
{
    // Any rank: x's own, once it is known to be one a descriptor holds.
    const bool given = x != nullptr && x->buffer != nullptr;
    if (given && (x->rank < 1 || x->rank > PROTEUS_MAX_RANK)) {
        return reject("x.rank", "is " + number(x->rank) + "; expected 1 to " + number(PROTEUS_MAX_RANK));
    }
    CheckedTensor cx, cy;
    proteus_status status = check_required(context, x, "x", given ? x->rank : 1, DtypeRule::Storage, cx);
    if (status == PROTEUS_STATUS_OK) status = check_required(context, y, "y", cx.ref.rank, DtypeRule::Storage, cy);
    if (status == PROTEUS_STATUS_OK) status = check_same_shape(cy, cx);
    if (status == PROTEUS_STATUS_OK) status = check_in_place_or_apart(cy, cx, {});
    if (status != PROTEUS_STATUS_OK) return status;
    problem.x = cx.ref;
    problem.y = cy.ref;
    hold(lease, {&cx, &cy});
    return PROTEUS_STATUS_OK;
}

proteus_status check_norm_call(const Context& context, const proteus_tensor* x, const proteus_tensor* weight,
                               const proteus_tensor* bias, const proteus_tensor* y, const proteus_norm_params* params,
                               NormProblem& problem, BufferLease& lease)
{
    proteus_norm_params read;
    proteus_status status = read_struct(params, PROTEUS_NORM_PARAMS_SIZE_V0_2, "params", read);
    if (status != PROTEUS_STATUS_OK) return status;
    if (read.kind != PROTEUS_NORM_LAYER && read.kind != PROTEUS_NORM_RMS) {
        return reject("params.kind", number(read.kind) + " is not a proteus_norm_kind");
    }
    status = check_positive(read.eps, "params.eps");

    CheckedTensor cx, cw, cb, cy;
    if (status == PROTEUS_STATUS_OK) status = check_required(context, x, "x", 2, DtypeRule::Storage, cx);
    if (status == PROTEUS_STATUS_OK) status = check_optional(context, weight, "weight", 1, DtypeRule::Float32, cw);
    if (status == PROTEUS_STATUS_OK) status = check_optional(context, bias, "bias", 1, DtypeRule::Float32, cb);
    if (status == PROTEUS_STATUS_OK) status = check_required(context, y, "y", 2, DtypeRule::Storage, cy);
    if (status == PROTEUS_STATUS_OK) status = check_same_dtype(cy, cx, "x and y share one dtype");
    if (status == PROTEUS_STATUS_OK) status = check_same_shape(cy, cx);
    if (status == PROTEUS_STATUS_OK) status = check_extent_if_present(cw, 0, cx.ref.shape[1], "C of x");
    if (status == PROTEUS_STATUS_OK) status = check_extent_if_present(cb, 0, cx.ref.shape[1], "C of x");
    if (status == PROTEUS_STATUS_OK && cb.present() && read.kind == PROTEUS_NORM_RMS) {
        return reject("bias", "RMSNorm (params.kind 1) takes no bias; leave it absent");
    }
    if (status == PROTEUS_STATUS_OK) status = check_in_place_or_apart(cy, cx, {&cw, &cb});
    if (status != PROTEUS_STATUS_OK) return status;

    problem.x = cx.ref;
    problem.weight = cw.ref;
    problem.bias = cb.ref;
    problem.y = cy.ref;
    problem.rows = cx.ref.shape[0];
    problem.columns = cx.ref.shape[1];
    problem.kind = static_cast<proteus_norm_kind>(read.kind);
    problem.eps = read.eps;
    hold(lease, {&cx, &cw, &cb, &cy});
    return PROTEUS_STATUS_OK;
}

proteus_status check_gelu_call(const Context& context, const proteus_tensor* x, const proteus_tensor* y,
                               GeluProblem& problem, BufferLease& lease)
{
    CheckedTensor cx, cy;
    proteus_status status = check_required(context, x, "x", 2, DtypeRule::Storage, cx);
    if (status == PROTEUS_STATUS_OK) status = check_required(context, y, "y", 2, DtypeRule::Storage, cy);
    if (status == PROTEUS_STATUS_OK) status = check_same_dtype(cy, cx, "x and y share one dtype");
    if (status == PROTEUS_STATUS_OK) status = check_same_shape(cy, cx);
    if (status == PROTEUS_STATUS_OK) status = check_in_place_or_apart(cy, cx, {});
    if (status != PROTEUS_STATUS_OK) return status;
    problem.x = cx.ref;
    problem.y = cy.ref;
    problem.rows = cx.ref.shape[0];
    problem.columns = cx.ref.shape[1];
    hold(lease, {&cx, &cy});
    return PROTEUS_STATUS_OK;
}

proteus_status check_rope_call(const Context& context, const proteus_tensor* x, const proteus_rope_params* params,
                               RopeProblem& problem, BufferLease& lease)
{
    proteus_rope_params read;
    proteus_status status = read_struct(params, PROTEUS_ROPE_PARAMS_SIZE_V0_2, "params", read);
    if (status != PROTEUS_STATUS_OK) return status;
    if (read.convention != PROTEUS_ROPE_INTERLEAVED && read.convention != PROTEUS_ROPE_HALF_SPLIT) {
        return reject("params.convention", number(read.convention) + " is not a proteus_rope_convention");
    }
    if (read.position_offset < 0) {
        return reject("params.position_offset", number(read.position_offset) + " is negative");
    }
    if (!(std::isfinite(read.base) && read.base > 1.0f)) {
        return reject("params.base", real(read.base) + " is not finite and > 1");
    }

    CheckedTensor cx;
    status = check_required(context, x, "x", 4, DtypeRule::Storage, cx);
    if (status != PROTEUS_STATUS_OK) return status;
    const int64_t* shape = cx.ref.shape;
    if (shape[3] % 2 != 0) return reject("x.shape", "head dim D = " + number(shape[3]) + " is odd; RoPE rotates pairs");
    if (read.position_offset > INT64_MAX - shape[2]) {
        return reject("params.position_offset", number(read.position_offset) + " + T = " + number(shape[2]) +
                                                    " overflows int64");
    }
    status = check_output_apart(cx, {});
    if (status != PROTEUS_STATUS_OK) return status;

    problem.x = cx.ref;
    problem.batch = shape[0];
    problem.heads = shape[1];
    problem.seq_len = shape[2];
    problem.head_dim = shape[3];
    problem.convention = static_cast<proteus_rope_convention>(read.convention);
    problem.position_offset = read.position_offset;
    problem.base = read.base;
    hold(lease, {&cx});
    return PROTEUS_STATUS_OK;
}

proteus_status check_router_call(const Context& context, const proteus_router_tensors* tensors,
                                 const proteus_router_params* params, RouterProblem& problem, BufferLease& lease)
{
    proteus_router_tensors given;
    proteus_router_params read;
    proteus_status status = read_struct(tensors, PROTEUS_ROUTER_TENSORS_SIZE_V0_2, "tensors", given);
    if (status == PROTEUS_STATUS_OK) status = read_struct(params, PROTEUS_ROUTER_PARAMS_SIZE_V0_2, "params", read);
    if (status == PROTEUS_STATUS_OK) status = check_router_params(read);

    RouterTensors t;
    if (status == PROTEUS_STATUS_OK) status = check_router_inputs(context, given, read.heads, t);
    if (status == PROTEUS_STATUS_OK && read.dna == 1) status = check_router_dna(context, given, t);
    if (status == PROTEUS_STATUS_OK) status = check_router_outputs(context, given, read, t);
    const std::initializer_list<const CheckedTensor*> all = {
        &t.x, &t.weight, &t.prototypes, &t.usage, &t.confidence, &t.probs, &t.head_probs, &t.salience, &t.importance};
    for (const CheckedTensor* output : {&t.probs, &t.head_probs, &t.salience, &t.importance}) {
        if (status == PROTEUS_STATUS_OK) status = check_output_apart(*output, all);
    }
    if (status != PROTEUS_STATUS_OK) return status;

    problem.x = t.x.ref;
    problem.weight = t.weight.ref;
    problem.prototypes = t.prototypes.ref;
    problem.usage = t.usage.ref;
    problem.confidence = t.confidence.ref;
    problem.probs = t.probs.ref;
    problem.head_probs = t.head_probs.ref;
    problem.salience = t.salience.ref;
    problem.importance = t.importance.ref;
    problem.batch = t.x.ref.shape[0];
    problem.seq_len = t.x.ref.shape[1];
    problem.channels = t.x.ref.shape[2];
    problem.gates = t.weight.ref.shape[0];
    problem.heads = read.heads;
    problem.dna = read.dna == 1;
    problem.tau = read.tau;
    problem.theta = read.theta;
    problem.blend = read.blend;
    problem.usage_boost = read.usage_boost;
    hold(lease, all);
    return PROTEUS_STATUS_OK;
}

proteus_status check_select_call(const Context& context, const proteus_tensor* head_probs,
                                 const proteus_tensor* importance, const proteus_tensor* active,
                                 const proteus_select_params* params, SelectProblem& problem, BufferLease& lease)
{
    proteus_select_params read;
    proteus_status status = read_struct(params, PROTEUS_SELECT_PARAMS_SIZE_V0_2, "params", read);
    if (status != PROTEUS_STATUS_OK) return status;
    if (read.heads_per_token < 1) {
        return reject("params.heads_per_token", number(read.heads_per_token) + " is below 1");
    }
    if (!(read.keep_ratio > 0.0 && read.keep_ratio <= 1.0)) {
        return reject("params.keep_ratio", real(read.keep_ratio) + " is outside (0, 1]");
    }
    if (read.guard < 1) return reject("params.guard", number(read.guard) + " is below 1");

    CheckedTensor ch, ci, ca;
    status = check_required(context, head_probs, "head_probs", 3, DtypeRule::Float32, ch);
    if (status == PROTEUS_STATUS_OK) {
        status = check_required(context, importance, "importance", 2, DtypeRule::Float32, ci);
    }
    if (status == PROTEUS_STATUS_OK) status = check_required(context, active, "active", 3, DtypeRule::Mask, ca);
    if (status != PROTEUS_STATUS_OK) return status;
    const int64_t batch = ch.ref.shape[0];
    const int64_t seq_len = ch.ref.shape[1];
    const int64_t heads = ch.ref.shape[2];
    status = check_extent(ci, "importance", 0, batch, "B of head_probs");
    if (status == PROTEUS_STATUS_OK) status = check_extent(ci, "importance", 1, seq_len, "T of head_probs");
    if (status == PROTEUS_STATUS_OK) status = check_extent(ca, "active", 0, batch, "B of head_probs");
    if (status == PROTEUS_STATUS_OK) status = check_extent(ca, "active", 1, heads, "H of head_probs");
    if (status == PROTEUS_STATUS_OK) status = check_extent(ca, "active", 2, seq_len, "T of head_probs");
    if (status == PROTEUS_STATUS_OK && read.heads_per_token > heads) {
        return reject("params.heads_per_token", number(read.heads_per_token) + " is more than the H = " +
                                                    number(heads) + " heads of head_probs");
    }
    if (status == PROTEUS_STATUS_OK) status = check_output_apart(ca, {&ch, &ci});
    if (status != PROTEUS_STATUS_OK) return status;

    problem.head_probs = ch.ref;
    problem.importance = ci.ref;
    problem.active = ca.ref;
    problem.batch = batch;
    problem.seq_len = seq_len;
    problem.heads = heads;
    problem.guard = read.guard < seq_len ? read.guard : seq_len;
    problem.keep = resolve_keep(read.keep_ratio, read.guard, seq_len);
    problem.heads_per_token = read.heads_per_token;
    hold(lease, {&ch, &ci, &ca});
    return PROTEUS_STATUS_OK;
}

proteus_status check_dna_update_call(const Context& context, const proteus_tensor* x, const proteus_tensor* probs,
                                     const proteus_tensor* prototypes, const proteus_tensor* usage,
                                     const proteus_tensor* confidence, const proteus_dna_update_params* params,
                                     DnaUpdateProblem& problem, BufferLease& lease)
{
    proteus_dna_update_params read;
    proteus_status status = read_struct(params, PROTEUS_DNA_UPDATE_PARAMS_SIZE_V0_2, "params", read);
    if (status == PROTEUS_STATUS_OK) status = check_range(read.decay, 0.0, 1.0, false, "params.decay");

    CheckedTensor cx, cp, cprot, cu, cc;
    if (status == PROTEUS_STATUS_OK) status = check_required(context, x, "x", 3, DtypeRule::Storage, cx);
    if (status == PROTEUS_STATUS_OK) status = check_required(context, probs, "probs", 3, DtypeRule::Float32, cp);
    if (status == PROTEUS_STATUS_OK) status = check_extent(cp, "probs", 0, cx.ref.shape[0], "B of x");
    if (status == PROTEUS_STATUS_OK) status = check_extent(cp, "probs", 1, cx.ref.shape[1], "T of x");
    if (status != PROTEUS_STATUS_OK) return status;
    const int64_t gates = cp.ref.shape[2];
    status = check_required(context, prototypes, "prototypes", 2, DtypeRule::Float32, cprot);
    if (status == PROTEUS_STATUS_OK) status = check_extent(cprot, "prototypes", 0, gates, "G of probs");
    if (status == PROTEUS_STATUS_OK) status = check_extent(cprot, "prototypes", 1, cx.ref.shape[2], "C of x");
    if (status == PROTEUS_STATUS_OK) status = check_required(context, usage, "usage", 1, DtypeRule::Float32, cu);
    if (status == PROTEUS_STATUS_OK) status = check_extent(cu, "usage", 0, gates, "G of probs");
    if (status == PROTEUS_STATUS_OK) {
        status = check_required(context, confidence, "confidence", 1, DtypeRule::Float32, cc);
    }
    if (status == PROTEUS_STATUS_OK) status = check_extent(cc, "confidence", 0, gates, "G of probs");
    const std::initializer_list<const CheckedTensor*> all = {&cx, &cp, &cprot, &cu, &cc};
    for (const CheckedTensor* state : {&cprot, &cu, &cc}) {
        if (status == PROTEUS_STATUS_OK) status = check_output_apart(*state, all);
    }
    if (status != PROTEUS_STATUS_OK) return status;

    problem.x = cx.ref;
    problem.probs = cp.ref;
    problem.prototypes = cprot.ref;
    problem.usage = cu.ref;
    problem.confidence = cc.ref;
    problem.batch = cx.ref.shape[0];
    problem.seq_len = cx.ref.shape[1];
    problem.channels = cx.ref.shape[2];
    problem.gates = gates;
    problem.decay = read.decay;
    hold(lease, all);
    return PROTEUS_STATUS_OK;
}

int64_t resolve_keep(double keep_ratio, int64_t guard, int64_t seq_len)
{
    if (keep_ratio >= 0.999) return seq_len;
    // keep_ratio < 1, so the product is below T and converts to int64 exactly once rounded.
    const int64_t rounded = static_cast<int64_t>(round_half_even(keep_ratio * static_cast<double>(seq_len)));
    const int64_t floor = guard < seq_len ? guard : seq_len;
    const int64_t keep = rounded > floor ? rounded : floor;
    return keep < 1 ? 1 : (keep > seq_len ? seq_len : keep);
}

}  // namespace proteus
