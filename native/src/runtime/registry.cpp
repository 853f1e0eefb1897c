#include "runtime/registry.h"

#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace proteus {
namespace {

using HandleId = uintptr_t;

struct Registry {
    std::mutex mutex;
    HandleId next_id = 1;  // one sequence for both kinds: a buffer handle is never a live context handle
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

template <typename Object>
HandleId add(std::unordered_map<HandleId, std::shared_ptr<Object>>& table, std::shared_ptr<Object> object)
{
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    const HandleId id = r.next_id++;
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
    return handle_of<proteus_context>(add(registry().contexts, std::move(context)));
}

proteus_buffer register_buffer(std::shared_ptr<Buffer> buffer)
{
    return handle_of<proteus_buffer>(add(registry().buffers, std::move(buffer)));
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
