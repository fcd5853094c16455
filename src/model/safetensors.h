/*
 * safetensors.h - read-only, validated access to .safetensors files through mmap.
 *
 * Format rule (huggingface/safetensors): 8-byte little-endian header length N, then
 * N bytes of JSON (may end in spaces) mapping tensor names to {dtype, shape,
 * data_offsets:[begin,end]} plus an optional "__metadata__"; offsets count from the
 * end of the header.  Every rule is checked on open: header inside the file, JSON
 * valid, known dtype, shape product x dtype size == end - begin, offsets inside the
 * file, no two tensors overlapping.  Nothing in a file is trusted.
 *
 * A safetensors_set is a whole model: one file, or the shards listed by
 * model.safetensors.index.json (weight_map), each validated.
 */
#ifndef LLMCHAT_SAFETENSORS_H
#define LLMCHAT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

enum tensor_dtype {
	DTYPE_BF16, DTYPE_F16, DTYPE_F32, DTYPE_F8_E4M3, DTYPE_I8, DTYPE_I32, DTYPE_U8, DTYPE_F64, DTYPE_I64,
};

#define TENSOR_MAX_DIMS 4

struct tensor {
	const char *name;
	enum tensor_dtype dtype;
	int ndim;
	int64_t shape[TENSOR_MAX_DIMS];
	int64_t element_count;
	const void *data;      /* inside the mapping; aligned only as the file aligns it */
	size_t size_bytes;
	const char *file;      /* shard path, for messages */
};

struct safetensors_set;

/* Opens DIR/model.safetensors, or the shards named by DIR/model.safetensors.index.json. */
int safetensors_open_dir(const char *dir, struct safetensors_set **out, char *err, size_t err_size);

/* Opens one file (tests and tools). */
int safetensors_open_file(const char *path, struct safetensors_set **out, char *err, size_t err_size);

void safetensors_close(struct safetensors_set *set);

/* The tensor with this name, or NULL. */
const struct tensor *safetensors_find(const struct safetensors_set *set, const char *name);

size_t safetensors_count(const struct safetensors_set *set);
const struct tensor *safetensors_at(const struct safetensors_set *set, size_t index);

/* "BF16", "F8_E4M3", ... as the format spells them. */
const char *tensor_dtype_name(enum tensor_dtype dtype);
size_t tensor_dtype_size(enum tensor_dtype dtype);

#endif
