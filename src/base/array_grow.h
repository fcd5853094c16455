/*
 * array_grow.h - room for one more item in a growing array: the doubling that every
 * list of messages, rows or entries needs, written once.
 */
#ifndef LLMCHAT_ARRAY_GROW_H
#define LLMCHAT_ARRAY_GROW_H

#include <stddef.h>

/* items holds count of *capacity items of item_size bytes.  Returns items as they
 * are when one more fits, else moved to twice the capacity (first_capacity the first
 * time) with *capacity updated; NULL when out of memory, items then unchanged and
 * still the caller's. */
void *array_grow(void *items, size_t *capacity, size_t count, size_t item_size, size_t first_capacity);

#endif
