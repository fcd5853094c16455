/*
 * array_grow.c - doubling a growing array (array_grow.h).
 */
#include "array_grow.h"

#include <stdint.h>
#include <stdlib.h>

void *array_reserve(void *items, size_t *capacity, size_t needed, size_t item_size, size_t first_capacity)
{
	if (needed <= *capacity)
		return items;
	size_t cap = *capacity ? *capacity : first_capacity ? first_capacity : 1;
	while (cap < needed) {
		if (cap > SIZE_MAX / 2)
			return NULL;
		cap *= 2;
	}
	if (cap > SIZE_MAX / item_size)
		return NULL;
	void *grown = realloc(items, cap * item_size);
	if (grown)
		*capacity = cap;
	return grown;
}

void *array_grow(void *items, size_t *capacity, size_t count, size_t item_size, size_t first_capacity)
{
	if (count == SIZE_MAX)
		return NULL;
	return array_reserve(items, capacity, count + 1, item_size, first_capacity);
}
