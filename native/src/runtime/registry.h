// The live handles. A handle is an id (never an address, never reused, not guessable from the ids
// seen), so a destroyed, foreign, forged or garbage handle is looked up, not dereferenced, and reads
// as PROTEUS_STATUS_INVALID_HANDLE.
// Lookups hand out shared ownership: an object stays alive until the calls using it return, even
// when another thread destroys its handle meanwhile.
#pragma once

#include <memory>
#include <vector>

#include "proteus/proteus.h"
#include "runtime/context.h"

namespace proteus {

/** What destroying a context takes out of the registry, released by the caller outside the lock. */
struct RemovedContext {
    std::shared_ptr<Context> context;
    std::vector<std::shared_ptr<Buffer>> buffers;
};

proteus_context register_context(std::shared_ptr<Context> context);

/**
 * Registers a buffer of the context `context` (the handle it was created through) unless that context
 * has been destroyed meanwhile: then returns null and leaves `buffer` with the caller, whose release
 * frees it. Checked and added under one lock with unregister_context, so a destroyed context never
 * leaves a live buffer behind.
 */
proteus_buffer register_buffer(proteus_context context, std::shared_ptr<Buffer>& buffer);

/** The live object of a handle, or null. */
std::shared_ptr<Context> find_context(proteus_context handle);
std::shared_ptr<Buffer> find_buffer(proteus_buffer handle);

/** Takes a buffer out of the registry; null when the handle is not live. */
std::shared_ptr<Buffer> unregister_buffer(proteus_buffer handle);

/** Takes a context and every buffer it owns out of the registry; context null when the handle is not live. */
RemovedContext unregister_context(proteus_context handle);

}  // namespace proteus
