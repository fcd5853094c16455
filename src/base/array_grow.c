/*
 * array_grow.c - doubling a growing array (array_grow.h).
 */
#include "array_grow.h"

#include <stdint.h>
#include <stdlib.h>

void *array_grow(void *items, size_t *capacity, size_t count, size_t item_size, size_t first_capacity)
{
	if (count < *capacity)
		return items;
	size_t cap = *capacity ? 2 * *capacity : first_capacity;
	if (cap < *capacity || cap > SIZE_MAX / item_size)
		return NULL;
	void *grown = realloc(items, cap * item_size);
	if (grown)
		*capacity = cap;
	return grown;
}
