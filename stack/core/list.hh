// Intrusive doubly linked list (the kernel's list_head) and a helper to get
// from a member back to its container. Used for timers, accept queues, hash
// chains: linking never allocates.
#pragma once
#include <cstddef>

namespace dshim {

struct list_head {
    list_head* next = this;
    list_head* prev = this;

    list_head() = default;
    list_head(const list_head&) = delete;
    list_head& operator=(const list_head&) = delete;

    bool empty() const { return next == this; }
    // Linked into some list (a node that was never added or was removed with
    // del() points at itself).
    bool linked() const { return next != this; }
    void add_tail(list_head* n) {  // n goes before this (this is the list head)
        n->prev = prev;
        n->next = this;
        prev->next = n;
        prev = n;
    }
    void add_front(list_head* n) {
        n->next = next;
        n->prev = this;
        next->prev = n;
        next = n;
    }
    void del() {
        prev->next = next;
        next->prev = prev;
        next = prev = this;
    }
};

template <class T, class M>
inline T* container_of(M* ptr, M T::*member) {
    // Offset of member within T, computed without a real object.
    const auto off = reinterpret_cast<std::size_t>(&(static_cast<T*>(nullptr)->*member));
    return reinterpret_cast<T*>(reinterpret_cast<char*>(ptr) - off);
}

}  // namespace dshim
