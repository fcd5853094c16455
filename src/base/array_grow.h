/*
 * array_grow.h - room in a growing array: the doubling that every list of messages,
 * rows, entries or token ids needs, written once.
 */
#ifndef LLMCHAT_ARRAY_GROW_H
#define LLMCHAT_ARRAY_GROW_H

#include <stddef.h>

/* items holds *capacity items of item_size bytes.  Returns items as they are when
 * needed items fit, else moved to the first doubling of the capacity
 * (first_capacity when it is 0) that holds needed, with *capacity updated; NULL when
 * out of memory or when the size would overflow, items then unchanged and still the
 * caller's. */
void *array_reserve(void *items, size_t *capacity, size_t needed, size_t item_size, size_t first_capacity);

/* array_reserve for one item past count. */
void *array_grow(void *items, size_t *capacity, size_t count, size_t item_size, size_t first_capacity);

#endif
