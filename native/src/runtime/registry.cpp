#include "runtime/registry.h"

#include <cstdint>
#include <mutex>
#include <random>
#include <unordered_map>

namespace proteus {
namespace {

using HandleId = uintptr_t;
static_assert(sizeof(HandleId) == 8, "handles are 64-bit ids");

/**
 * Handle ids: a keyed permutation of a counter, so every id ever issued is distinct (never reused,
 * a buffer id never a context id) and the sequence cannot be guessed from the ids seen: the keys come
 * from std::random_device. The permutation is a 4-round Feistel network on 32-bit halves; the one
 * counter value that maps to 0 (the null handle) is skipped.
 */
class HandleIds {
public:
    HandleIds()
    {
        std::random_device device;
        for (uint64_t& key : keys_) key = (static_cast<uint64_t>(device()) << 32) ^ device();
    }

    HandleId next()
    {
        for (;;) {
            const uint64_t id = permute(counter_++);
            if (id != 0) return id;
        }
    }

private:
    static uint32_t mix(uint32_t half, uint64_t key)
    {
        uint64_t x = (half ^ key) * 0x9E3779B97F4A7C15ull;  // splitmix64's finaliser
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
        return static_cast<uint32_t>(x ^ (x >> 31));
    }

    uint64_t permute(uint64_t value) const
    {
        uint32_t left = static_cast<uint32_t>(value >> 32);
        uint32_t right = static_cast<uint32_t>(value);
        for (const uint64_t key : keys_) {
            const uint32_t next = left ^ mix(right, key);
            left = right;
            right = next;
        }
        return (static_cast<uint64_t>(left) << 32) | right;
    }

    uint64_t keys_[4] = {};
    uint64_t counter_ = 0;
};

struct Registry {
    std::mutex mutex;
    HandleIds ids;  // one sequence for both kinds
    std::unordered_map<HandleId, std::shared_ptr<Context>> contexts;
    std::unordered_map<HandleId, std::shared_ptr<Buffer>> buffers;
};

Registry& registry()
{
    // Never destroyed: contexts the caller leaks must not be torn down by static destructors after the
    // GPU runtime has already shut itself down at process exit.
    static Registry* const instance = new Registry;
    return *instance;
}

/** Adds under the registry's lock (callers hold it). */
template <typename Object>
HandleId add_locked(Registry& r, std::unordered_map<HandleId, std::shared_ptr<Object>>& table,
                    std::shared_ptr<Object> object)
{
    const HandleId id = r.ids.next();
    table.emplace(id, std::move(object));
    return id;
}

template <typename Object>
std::shared_ptr<Object> find(std::unordered_map<HandleId, std::shared_ptr<Object>>& table, HandleId id)
{
    std::lock_guard<std::mutex> lock(registry().mutex);
    const auto found = table.find(id);
    return found != table.end() ? found->second : nullptr;
}

template <typename Object>
std::shared_ptr<Object> take(std::unordered_map<HandleId, std::shared_ptr<Object>>& table, HandleId id)
{
    const auto found = table.find(id);
    if (found == table.end()) return nullptr;
    std::shared_ptr<Object> object = std::move(found->second);
    table.erase(found);
    return object;
}

template <typename Handle>
HandleId id_of(Handle handle)
{
    return reinterpret_cast<HandleId>(handle);
}

template <typename Handle>
Handle handle_of(HandleId id)
{
    return reinterpret_cast<Handle>(id);
}

}  // namespace

proteus_context register_context(std::shared_ptr<Context> context)
{
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    return handle_of<proteus_context>(add_locked(r, r.contexts, std::move(context)));
}

proteus_buffer register_buffer(proteus_context context, std::shared_ptr<Buffer>& buffer)
{
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    const auto found = r.contexts.find(id_of(context));
    if (found == r.contexts.end() || found->second != buffer->context()) return nullptr;
    return handle_of<proteus_buffer>(add_locked(r, r.buffers, std::move(buffer)));
}

std::shared_ptr<Context> find_context(proteus_context handle) { return find(registry().contexts, id_of(handle)); }

std::shared_ptr<Buffer> find_buffer(proteus_buffer handle) { return find(registry().buffers, id_of(handle)); }

std::shared_ptr<Buffer> unregister_buffer(proteus_buffer handle)
{
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    return take(r.buffers, id_of(handle));
}

RemovedContext unregister_context(proteus_context handle)
{
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    RemovedContext removed;
    removed.context = take(r.contexts, id_of(handle));
    if (removed.context == nullptr) return removed;
    for (auto it = r.buffers.begin(); it != r.buffers.end();) {
        if (it->second->context() == removed.context) {
            removed.buffers.push_back(std::move(it->second));
            it = r.buffers.erase(it);
        } else {
            ++it;
        }
    }
    return removed;
}

}  // namespace proteus
