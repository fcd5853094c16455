/*
 * test_array_grow.c - array_reserve and array_grow (src/base/array_grow.h): the
 * doubling, the first capacity, the items kept, and the overflow refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "array_grow.h"
#include "tap.h"

static void check_reserve(void)
{
	size_t capacity = 0;
	int *items = array_reserve(NULL, &capacity, 5, sizeof *items, 4);
	tap_ok(items && capacity == 8, "5 items from nothing: the first capacity 4 doubled once (%zu)", capacity);
	for (int i = 0; items && i < 8; i++)
		items[i] = i * 3;
	int *same = array_reserve(items, &capacity, 8, sizeof *items, 4);
	tap_ok(same == items && capacity == 8, "8 items fit in 8: the array unchanged");
	int *more = array_reserve(items, &capacity, 33, sizeof *items, 4);
	tap_ok(more && capacity == 64, "33 items: doubled until they fit (%zu)", capacity);
	int kept = 1;
	for (int i = 0; more && i < 8; i++)
		kept &= more[i] == i * 3;
	tap_ok(more && kept, "the items already there are kept");
	items = more ? more : items;
	size_t before = capacity;
	int *huge = array_reserve(items, &capacity, SIZE_MAX / 2, sizeof *items, 4);
	tap_ok(!huge && capacity == before, "a size past SIZE_MAX bytes refused, the capacity unchanged");
	size_t zero = 0;
	char *first = array_reserve(NULL, &zero, 1, 1, 0);
	tap_ok(first && zero == 1, "first capacity 0: the smallest that holds the items (%zu)", zero);
	free(first);
	free(items);
}

static void check_grow(void)
{
	size_t capacity = 0, count = 0;
	long *items = NULL;
	int grew = 0, ok = 1;
	for (long i = 0; i < 1000; i++) {
		size_t before = capacity;
		long *g = array_grow(items, &capacity, count, sizeof *items, 16);
		if (!g) {
			ok = 0;
			break;
		}
		grew += capacity != before;
		items = g;
		items[count++] = i;
	}
	for (size_t i = 0; ok && i < count; i++)
		ok &= items[i] == (long)i;
	tap_ok(ok && count == 1000 && capacity == 1024, "1000 appends: every item in place, capacity 1024 (%zu)", capacity);
	tap_ok(grew == 7, "... reached by 7 moves (16, 32, .., 1024): %d", grew);
	size_t full = SIZE_MAX;
	tap_ok(array_grow(items, &full, SIZE_MAX, sizeof *items, 16) == NULL, "one past SIZE_MAX items refused");
	free(items);
}

int main(void)
{
	check_reserve();
	check_grow();
	return tap_done();
}
