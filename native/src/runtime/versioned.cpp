#include "runtime/versioned.h"

#include "core/error.h"

namespace proteus {

proteus_status check_struct_size(uint32_t struct_size, size_t first_size, size_t library_size, const char* argument)
{
    if (struct_size >= first_size && struct_size <= library_size) return PROTEUS_STATUS_OK;
    return set_error(PROTEUS_STATUS_INVALID_ARGUMENT,
                     std::string(argument) + ": is " + std::to_string(struct_size) + "; this library accepts " +
                         std::to_string(first_size) + " (its first published size) to " +
                         std::to_string(library_size) + " (set it to sizeof the struct)",
                     argument);
}

proteus_status reject_null_struct(const char* argument)
{
    return set_error(PROTEUS_STATUS_INVALID_ARGUMENT, std::string(argument) + ": is NULL", argument);
}

proteus_status read_versioned(const void* input, size_t first_size, size_t library_size, const char* argument,
                              void* out)
{
    if (input == nullptr) return reject_null_struct(argument);
    const uint32_t size = declared_size(input);
    const proteus_status status =
        check_struct_size(size, first_size, library_size, (std::string(argument) + ".struct_size").c_str());
    if (status == PROTEUS_STATUS_OK) std::memcpy(out, input, size);
    return status;
}

}  // namespace proteus
