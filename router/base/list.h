/*
 * list: intrusive circular doubly linked list (the kernel's and libuv's QUEUE shape).
 * A node is embedded in its owner; container_of() gets the owner back. An unlinked node
 * points at itself, so list_unlink() on it is harmless.
 */
#ifndef HOSTESS_ROUTER_BASE_LIST_H
#define HOSTESS_ROUTER_BASE_LIST_H

#include <stddef.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct list_node {
    struct list_node *next, *prev;
};

static inline void list_init(struct list_node *n)
{
    n->next = n->prev = n;
}

static inline int list_empty(const struct list_node *head)
{
    return head->next == head;
}

static inline int list_linked(const struct list_node *n)
{
    return n->next != n;
}

static inline void list_insert_after(struct list_node *at, struct list_node *n)
{
    n->prev = at;
    n->next = at->next;
    at->next->prev = n;
    at->next = n;
}

/* Appends n at the tail of the list headed by head. */
static inline void list_push_tail(struct list_node *head, struct list_node *n)
{
    list_insert_after(head->prev, n);
}

static inline void list_push_head(struct list_node *head, struct list_node *n)
{
    list_insert_after(head, n);
}

static inline void list_unlink(struct list_node *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}

static inline struct list_node *list_first(const struct list_node *head)
{
    return head->next == head ? NULL : head->next;
}

static inline struct list_node *list_last(const struct list_node *head)
{
    return head->prev == head ? NULL : head->prev;
}

#define list_for_each_safe(it, tmp, head)                                                       \
    for ((it) = (head)->next, (tmp) = (it)->next; (it) != (head); (it) = (tmp), (tmp) = (it)->next)

#endif
