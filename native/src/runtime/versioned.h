// Versioned structs (the header's "Versioned structs" paragraph). Every struct the caller passes or
// receives starts with uint32_t struct_size, the sizeof the struct had in the header the caller was
// built with; structs only grow at the end. The library accepts any size from the struct's first
// published size (PROTEUS_*_SIZE_V*) up to its own sizeof:
//   - an input struct is copied, up to the caller's size, into a zeroed struct of the library's
//     layout, so a field the caller's header did not have reads as 0 (its default);
//   - an output struct is filled in a full struct of the library's layout and copied back only up to
//     the caller's size, so nothing past the caller's struct is ever written.
// A size outside that range is INVALID_ARGUMENT naming "<argument>.struct_size". The copy leaves
// struct_size at the caller's value, which is how the rest of the library could tell, should a field
// ever need to (none does yet: every added field's zero is its old behaviour).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "proteus/proteus.h"

namespace proteus {

/** INVALID_ARGUMENT naming "<argument>.struct_size" unless first_size ≤ struct_size ≤ library_size. */
proteus_status check_struct_size(uint32_t struct_size, size_t first_size, size_t library_size, const char* argument);

/** The struct_size at the start of a caller's struct (read as bytes: the struct may be shorter than ours). */
inline uint32_t declared_size(const void* caller_struct)
{
    uint32_t size = 0;
    std::memcpy(&size, caller_struct, sizeof size);
    return size;
}

/**
 * Reads a versioned input struct into `out` (zeroed, then the caller's struct_size bytes copied).
 * INVALID_ARGUMENT naming `argument` when `input` is null, or "<argument>.struct_size" when its size
 * is out of range.
 */
proteus_status read_versioned(const void* input, size_t first_size, size_t library_size, const char* argument,
                              void* out);

template <typename Struct>
proteus_status read_struct(const Struct* input, size_t first_size, const char* argument, Struct& out)
{
    out = Struct{};
    return read_versioned(input, first_size, sizeof(Struct), argument, &out);
}

/** INVALID_ARGUMENT naming `argument` ("is NULL"). */
proteus_status reject_null_struct(const char* argument);

/** Whether an output struct may be NULL (then nothing is written). */
enum class Presence { Required, Optional };

/**
 * The caller's output struct, checked up front (non-null unless optional, size in range), then
 * written from a full struct of the library's layout:
 *   Output<proteus_device_info> out(info, PROTEUS_DEVICE_INFO_SIZE_V0_1, "info");
 *   if (out.status() == OK) { fill out.value(); out.write(); }
 */
template <typename Struct>
class Output {
public:
    Output(Struct* caller, size_t first_size, const char* argument, Presence presence = Presence::Required)
        : caller_(caller)
    {
        if (caller == nullptr) {
            if (presence == Presence::Required) status_ = reject_null_struct(argument);
            return;
        }
        caller_size_ = declared_size(caller);
        status_ = check_struct_size(caller_size_, first_size, sizeof(Struct), argument_size(argument).c_str());
        value_.struct_size = caller_size_;
    }

    proteus_status status() const { return status_; }
    Struct& value() { return value_; }

    /** Copies the filled struct back, up to the caller's size (struct_size stays the caller's); none when absent. */
    void write()
    {
        if (caller_ == nullptr) return;
        value_.struct_size = caller_size_;
        std::memcpy(static_cast<void*>(caller_), &value_, caller_size_);
    }

private:
    static std::string argument_size(const char* argument) { return std::string(argument) + ".struct_size"; }

    Struct* const caller_;
    uint32_t caller_size_ = 0;
    proteus_status status_ = PROTEUS_STATUS_OK;
    Struct value_{};
};

}  // namespace proteus
