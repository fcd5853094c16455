/*
 * safetensors.c - mmap and validate .safetensors files, alone or as the shards of an index.
 *
 * Layout (huggingface/safetensors): u64 little-endian N, N bytes of JSON, then the data
 * buffer.  Each JSON entry is {"dtype", "shape", "data_offsets": [begin, end]} with offsets
 * relative to the data buffer.  Every rule is checked here, before anyone reads a byte of
 * tensor data, so that a truncated or hostile file gives a one-line error instead of a
 * SIGBUS or an out-of-bounds read later:
 *   - 0 < N <= SAFETENSORS_MAX_HEADER and 8 + N <= file size;
 *   - the header is one JSON object, names unique (JSON_REJECT_DUPLICATES);
 *   - dtype is one we know, shape has at most TENSOR_MAX_DIMS non-negative dims, and
 *     product(shape) x dtype size == end - begin, computed without overflow;
 *   - begin <= end <= data buffer size, and no two tensors share a byte.
 * A set of shards also needs every tensor name unique across shards and every entry of
 * the index's weight_map present in the shard it names.
 */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "array_grow.h"
#include "file_read.h"

/* The reference implementation refuses headers over 100 MB; a 70B shard's is ~100 KB. */
#define SAFETENSORS_MAX_HEADER (100u * 1000 * 1000)

struct mapped_file {
	char *path;
	const unsigned char *map;
	size_t size;
};

struct safetensors_set {
	struct mapped_file *files;
	size_t file_count;
	struct tensor *tensors;   /* sorted by name once everything is loaded */
	size_t tensor_count;
	size_t tensor_capacity;
};

static const struct {
	const char *name;
	enum tensor_dtype dtype;
	size_t size;
} dtype_table[] = {
	{"BF16", DTYPE_BF16, 2}, {"F16", DTYPE_F16, 2}, {"F32", DTYPE_F32, 4},
	{"F8_E4M3", DTYPE_F8_E4M3, 1}, {"I8", DTYPE_I8, 1}, {"I32", DTYPE_I32, 4},
	{"U8", DTYPE_U8, 1}, {"F64", DTYPE_F64, 8}, {"I64", DTYPE_I64, 8},
};

const char *tensor_dtype_name(enum tensor_dtype dtype)
{
	for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++)
		if (dtype_table[i].dtype == dtype)
			return dtype_table[i].name;
	return "?";
}

size_t tensor_dtype_size(enum tensor_dtype dtype)
{
	for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++)
		if (dtype_table[i].dtype == dtype)
			return dtype_table[i].size;
	return 0;
}

static bool dtype_from_name(const char *name, enum tensor_dtype *out)
{
	for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++)
		if (strcmp(dtype_table[i].name, name) == 0) {
			*out = dtype_table[i].dtype;
			return true;
		}
	return false;
}

void safetensors_close(struct safetensors_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->tensor_count; i++)
		free((char *)set->tensors[i].name);
	free(set->tensors);
	for (size_t i = 0; i < set->file_count; i++) {
		if (set->files[i].map)
			munmap((void *)set->files[i].map, set->files[i].size);
		free(set->files[i].path);
	}
	free(set->files);
	free(set);
}

/* Maps PATH read-only into a new entry of set->files. */
static int map_file(struct safetensors_set *set, const char *path, struct mapped_file **out,
		    char *err, size_t err_size)
{
	struct mapped_file *grown = realloc(set->files, (set->file_count + 1) * sizeof *grown);
	if (!grown) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	set->files = grown;
	struct mapped_file *file = &set->files[set->file_count];
	memset(file, 0, sizeof *file);
	file->path = strdup(path);
	if (!file->path) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	set->file_count++;

	/* file_open_regular: a FIFO named model.safetensors must not block the open, and
	 * only a regular file can be mapped (a device would map without bound) */
	size_t size;
	int fd = file_open_regular(path, &size, NULL, err, err_size);
	if (fd < 0)
		return -1;
	if (size < 8) {
		snprintf(err, err_size, "%s: file is %zu bytes, too short for a safetensors header", path, size);
		close(fd);
		return -1;
	}
	void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(err, err_size, "%s: mmap: %s", path, strerror(errno));
		return -1;
	}
	file->map = map;
	file->size = size;
	*out = file;
	return 0;
}

/* A JSON integer in [0, INT64_MAX]. */
static bool json_nonnegative(const json_t *value, int64_t *out)
{
	if (!json_is_integer(value) || json_integer_value(value) < 0)
		return false;
	*out = (int64_t)json_integer_value(value);
	return true;
}

/* Reads one header entry into *t (name not yet set); data_size is the data buffer's size. */
static int parse_entry(const char *path, const char *name, json_t *entry, const unsigned char *data,
		       uint64_t data_size, struct tensor *t, uint64_t *begin_out, char *err, size_t err_size)
{
	if (!json_is_object(entry)) {
		snprintf(err, err_size, "%s: tensor %s: entry is not a JSON object", path, name);
		return -1;
	}
	json_t *dtype = json_object_get(entry, "dtype");
	json_t *shape = json_object_get(entry, "shape");
	json_t *offsets = json_object_get(entry, "data_offsets");
	if (!json_is_string(dtype)) {
		snprintf(err, err_size, "%s: tensor %s: dtype missing or not a string", path, name);
		return -1;
	}
	if (!dtype_from_name(json_string_value(dtype), &t->dtype)) {
		snprintf(err, err_size, "%s: tensor %s: dtype %.32s is not supported", path, name,
			 json_string_value(dtype));
		return -1;
	}
	if (!json_is_array(shape) || json_array_size(shape) > TENSOR_MAX_DIMS) {
		snprintf(err, err_size, "%s: tensor %s: shape missing, not an array or over %d dimensions",
			 path, name, TENSOR_MAX_DIMS);
		return -1;
	}
	t->ndim = (int)json_array_size(shape);
	/* Any real tensor's product is bounded by the data size, so each step is checked
	 * against that bound: no overflow even for hostile dims. */
	uint64_t count = 1;
	bool too_big = false, empty = false;
	for (int d = 0; d < t->ndim; d++) {
		int64_t dim;
		if (!json_nonnegative(json_array_get(shape, (size_t)d), &dim)) {
			snprintf(err, err_size, "%s: tensor %s: shape[%d] is not a non-negative integer", path, name, d);
			return -1;
		}
		t->shape[d] = dim;
		if (dim == 0)
			empty = true;
		else if (too_big || (uint64_t)dim > data_size / count)
			too_big = true;
		else
			count *= (uint64_t)dim;
	}
	if (empty) {
		count = 0;
		too_big = false;
	}
	for (int d = t->ndim; d < TENSOR_MAX_DIMS; d++)
		t->shape[d] = 0;
	int64_t begin, end;
	if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
	    !json_nonnegative(json_array_get(offsets, 0), &begin) ||
	    !json_nonnegative(json_array_get(offsets, 1), &end) || begin > end) {
		snprintf(err, err_size, "%s: tensor %s: data_offsets is not [begin, end] with 0 <= begin <= end",
			 path, name);
		return -1;
	}
	if ((uint64_t)end > data_size) {
		snprintf(err, err_size, "%s: tensor %s: data ends at byte %lld past the end of the file's %llu data bytes (truncated?)",
			 path, name, (long long)end, (unsigned long long)data_size);
		return -1;
	}
	size_t element_size = tensor_dtype_size(t->dtype);
	if (count != 0 && (too_big || count > data_size / element_size ||
			   count * element_size != (uint64_t)(end - begin))) {
		snprintf(err, err_size, "%s: tensor %s: shape x %s size does not equal its %lld data bytes",
			 path, name, tensor_dtype_name(t->dtype), (long long)(end - begin));
		return -1;
	}
	if (count == 0 && end != begin) {
		snprintf(err, err_size, "%s: tensor %s: empty shape but %lld data bytes", path, name,
			 (long long)(end - begin));
		return -1;
	}
	t->element_count = (int64_t)count;
	t->size_bytes = (size_t)(end - begin);
	t->data = data + begin;
	*begin_out = (uint64_t)begin;
	return 0;
}

struct extent {
	uint64_t begin, end;
	const char *name;
};

static int extent_compare(const void *a, const void *b)
{
	const struct extent *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

/* Sorts the file's tensors by offset and refuses any two that share a byte. */
static int check_overlaps(const char *path, struct tensor *tensors, size_t count, const uint64_t *begins,
			  char *err, size_t err_size)
{
	if (count < 2)
		return 0;
	struct extent *extents = malloc(count * sizeof *extents);
	if (!extents) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < count; i++)
		extents[i] = (struct extent){begins[i], begins[i] + tensors[i].size_bytes, tensors[i].name};
	qsort(extents, count, sizeof *extents, extent_compare);
	int rc = 0;
	const struct extent *reach = &extents[0];   /* the extent reaching furthest so far */
	for (size_t i = 1; i < count && rc == 0; i++) {
		if (extents[i].begin < reach->end && extents[i].end > extents[i].begin) {
			snprintf(err, err_size, "%s: tensors %s and %s overlap in the file", path,
				 reach->name, extents[i].name);
			rc = -1;
		}
		if (extents[i].end > reach->end)
			reach = &extents[i];
	}
	free(extents);
	return rc;
}

static int grow_tensors(struct safetensors_set *set, size_t more, char *err, size_t err_size)
{
	struct tensor *grown = array_reserve(set->tensors, &set->tensor_capacity, set->tensor_count + more, sizeof *grown, 64);
	if (!grown) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	set->tensors = grown;
	return 0;
}

/* Maps one file, validates its header and appends its tensors to the set. */
static int load_file(struct safetensors_set *set, const char *path, char *err, size_t err_size)
{
	struct mapped_file *file;
	if (map_file(set, path, &file, err, err_size) != 0)
		return -1;
	const unsigned char *p = file->map;
	uint64_t header_size = 0;
	for (int i = 7; i >= 0; i--)
		header_size = header_size << 8 | p[i];
	if (header_size == 0 || header_size > SAFETENSORS_MAX_HEADER) {
		snprintf(err, err_size, "%s: header length %llu is not a plausible safetensors header", path,
			 (unsigned long long)header_size);
		return -1;
	}
	if (header_size > file->size - 8) {
		snprintf(err, err_size, "%s: header length %llu runs past the end of the %zu-byte file (truncated?)",
			 path, (unsigned long long)header_size, file->size);
		return -1;
	}
	json_error_t jerr;
	json_t *header = json_loadb((const char *)p + 8, (size_t)header_size, JSON_REJECT_DUPLICATES, &jerr);
	if (!header) {
		snprintf(err, err_size, "%s: header is not valid JSON: %s (byte %d)", path, jerr.text, jerr.position);
		return -1;
	}
	if (!json_is_object(header)) {
		snprintf(err, err_size, "%s: header is not a JSON object", path);
		json_decref(header);
		return -1;
	}
	const unsigned char *data = p + 8 + header_size;
	uint64_t data_size = file->size - 8 - header_size;
	size_t first = set->tensor_count;
	size_t n = json_object_size(header);
	uint64_t *begins = malloc((n ? n : 1) * sizeof *begins);
	int rc = begins && grow_tensors(set, n, err, err_size) == 0 ? 0 : -1;
	if (!begins)
		snprintf(err, err_size, "out of memory");
	const char *name;
	json_t *entry;
	size_t k = 0;
	json_object_foreach(header, name, entry) {
		if (rc != 0)
			break;
		if (strcmp(name, "__metadata__") == 0)
			continue;
		struct tensor *t = &set->tensors[set->tensor_count];
		memset(t, 0, sizeof *t);
		if (parse_entry(path, name, entry, data, data_size, t, &begins[k], err, err_size) != 0) {
			rc = -1;
			break;
		}
		t->name = strdup(name);
		if (!t->name) {
			snprintf(err, err_size, "out of memory");
			rc = -1;
			break;
		}
		t->file = file->path;
		set->tensor_count++;
		k++;
	}
	if (rc == 0)
		rc = check_overlaps(path, &set->tensors[first], k, begins, err, err_size);
	free(begins);
	json_decref(header);
	return rc;
}

static int tensor_name_compare(const void *a, const void *b)
{
	return strcmp(((const struct tensor *)a)->name, ((const struct tensor *)b)->name);
}

/* Sorts by name for safetensors_find and refuses a name given twice (across shards). */
static int finish_set(struct safetensors_set *set, char *err, size_t err_size)
{
	if (set->tensor_count)
		qsort(set->tensors, set->tensor_count, sizeof *set->tensors, tensor_name_compare);
	for (size_t i = 1; i < set->tensor_count; i++)
		if (strcmp(set->tensors[i - 1].name, set->tensors[i].name) == 0) {
			snprintf(err, err_size, "tensor %s is in both %s and %s", set->tensors[i].name,
				 set->tensors[i - 1].file, set->tensors[i].file);
			return -1;
		}
	return 0;
}

/* Names and values quoted from a file may hold control characters: the message stays one
 * printable line whatever the file says. */
static void message_one_line(char *err)
{
	for (unsigned char *p = (unsigned char *)err; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static struct safetensors_set *set_new(char *err, size_t err_size)
{
	struct safetensors_set *set = calloc(1, sizeof *set);
	if (!set)
		snprintf(err, err_size, "out of memory");
	return set;
}

int safetensors_open_file(const char *path, struct safetensors_set **out, char *err, size_t err_size)
{
	*out = NULL;
	struct safetensors_set *set = set_new(err, err_size);
	if (!set)
		return -1;
	if (load_file(set, path, err, err_size) != 0 || finish_set(set, err, err_size) != 0) {
		message_one_line(err);
		safetensors_close(set);
		return -1;
	}
	*out = set;
	return 0;
}

/* A shard name from the index: a plain file name inside the folder, nothing more. */
static bool shard_name_ok(const char *name)
{
	return name[0] && !strchr(name, '/') && !strchr(name, '\\') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0 && strlen(name) < 1024;
}

static int open_index(struct safetensors_set *set, const char *dir, const char *index_path,
		      char *err, size_t err_size)
{
	/* metadata.total_size and whatever else a writer adds may be any number JSON
	 * allows; json_read_file also refuses a FIFO or device at once */
	json_t *index = json_read_file(index_path, FILE_LIMIT_SMALL, NULL, err, err_size);
	if (!index)
		return -1;
	json_t *weight_map = json_object_get(index, "weight_map");
	int rc = 0;
	if (!json_is_object(weight_map) || json_object_size(weight_map) == 0) {
		snprintf(err, err_size, "%s: weight_map missing, empty or not an object", index_path);
		rc = -1;
	}
	/* Open each shard once, in order of first mention. */
	json_t *opened = json_object();
	const char *name;
	json_t *shard;
	if (!opened && rc == 0) {
		snprintf(err, err_size, "out of memory");
		rc = -1;
	}
	json_object_foreach(weight_map, name, shard) {
		if (rc != 0)
			break;
		const char *shard_name = json_string_value(shard);
		if (!shard_name || !shard_name_ok(shard_name)) {
			snprintf(err, err_size, "%s: weight_map[%s] is not a file name inside the folder", index_path, name);
			rc = -1;
			break;
		}
		if (json_object_get(opened, shard_name))
			continue;
		char path[4096];
		if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, shard_name) >= sizeof path) {
			snprintf(err, err_size, "%s: path too long", dir);
			rc = -1;
			break;
		}
		rc = load_file(set, path, err, err_size);
		if (rc == 0)
			json_object_set_new(opened, shard_name, json_true());
	}
	if (rc == 0)
		rc = finish_set(set, err, err_size);
	/* Every tensor the index promises must be in the shard it names. */
	json_object_foreach(weight_map, name, shard) {
		if (rc != 0)
			break;
		const struct tensor *t = safetensors_find(set, name);
		const char *file = t ? strrchr(t->file, '/') : NULL;
		if (!t || strcmp(file ? file + 1 : t->file, json_string_value(shard)) != 0) {
			snprintf(err, err_size, "%s: tensor %s is not in shard %s", index_path, name,
				 json_string_value(shard));
			rc = -1;
		}
	}
	json_decref(opened);
	json_decref(index);
	return rc;
}

int safetensors_open_dir(const char *dir, struct safetensors_set **out, char *err, size_t err_size)
{
	*out = NULL;
	char single[4096], index[4096], bin[4096];
	if ((size_t)snprintf(single, sizeof single, "%s/model.safetensors", dir) >= sizeof single ||
	    (size_t)snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir) >= sizeof index) {
		snprintf(err, err_size, "%s: path too long", dir);
		return -1;
	}
	struct safetensors_set *set = set_new(err, err_size);
	if (!set)
		return -1;
	int rc;
	/* transformers' order: the single file first, then the index. */
	if (access(single, F_OK) == 0) {
		rc = load_file(set, single, err, err_size);
		if (rc == 0)
			rc = finish_set(set, err, err_size);
	} else if (access(index, F_OK) == 0) {
		rc = open_index(set, dir, index, err, err_size);
	} else {
		snprintf(bin, sizeof bin, "%s/pytorch_model.bin", dir);
		if (access(bin, F_OK) == 0)
			snprintf(err, err_size, "%s: only PyTorch .bin weights; llmchat reads model.safetensors", dir);
		else
			snprintf(err, err_size, "%s: no model.safetensors or model.safetensors.index.json", dir);
		rc = -1;
	}
	if (rc != 0) {
		message_one_line(err);
		safetensors_close(set);
		return -1;
	}
	*out = set;
	return 0;
}

const struct tensor *safetensors_find(const struct safetensors_set *set, const char *name)
{
	struct tensor key = {.name = name};
	if (!set->tensor_count)
		return NULL;
	return bsearch(&key, set->tensors, set->tensor_count, sizeof key, tensor_name_compare);
}

size_t safetensors_count(const struct safetensors_set *set)
{
	return set->tensor_count;
}

const struct tensor *safetensors_at(const struct safetensors_set *set, size_t index)
{
	return index < set->tensor_count ? &set->tensors[index] : NULL;
}
