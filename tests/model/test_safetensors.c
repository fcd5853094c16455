/*
 * test_safetensors.c - the safetensors reader accepts the format and nothing else.
 *
 * Each case builds one small file byte by byte (u64 header length + JSON header +
 * data) and checks that safetensors_open_file accepts it with the right fields, or
 * refuses it with a message naming the rule broken.
 */
#include <stdint.h>
#include <string.h>

#include "safetensors.h"
#include "scratch.h"
#include "tap.h"

static char dir[4096];

/* Writes a file whose header is HEADER (length N taken as header_length when not 0,
 * written as 0 when UINT64_MAX)
 * followed by DATA_SIZE bytes 0, 1, 2, ... and opens it. */
static int open_bytes(const char *header, uint64_t header_length, size_t data_size, struct safetensors_set **set,
		      char *err, size_t err_size)
{
	size_t n = strlen(header);
	unsigned char *bytes = malloc(8 + n + data_size + 1);
	uint64_t length = header_length == UINT64_MAX ? 0 : header_length ? header_length : n;
	for (int i = 0; i < 8; i++)
		bytes[i] = (unsigned char)(length >> (8 * i));
	memcpy(bytes + 8, header, n);
	for (size_t i = 0; i < data_size; i++)
		bytes[8 + n + i] = (unsigned char)i;
	scratch_write(dir, "t.safetensors", bytes, 8 + n + data_size);
	free(bytes);
	char path[4200];
	snprintf(path, sizeof path, "%s/t.safetensors", dir);
	err[0] = '\0';
	return safetensors_open_file(path, set, err, err_size);
}

/* The header is refused and the message contains KEYWORD. */
static void refused(const char *rule, const char *header, uint64_t header_length, size_t data_size, const char *keyword)
{
	struct safetensors_set *set = NULL;
	char err[512];
	int rc = open_bytes(header, header_length, data_size, &set, err, sizeof err);
	if (!tap_ok(rc == -1 && set == NULL && strstr(err, keyword) && !strchr(err, '\n'), "refuses %s", rule))
		tap_diag("rc %d, message: %s (want \"%s\")", rc, err, keyword);
	safetensors_close(set);
}

static void test_accepts_valid_file(void)
{
	struct safetensors_set *set = NULL;
	char err[512];
	/* header padded with spaces, __metadata__ present, keys out of offset order,
	 * a scalar, an empty tensor sharing an offset */
	const char *header = "{\"__metadata__\":{\"format\":\"pt\"},"
			     "\"b\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[12,16]},"
			     "\"a\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
			     "\"c\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[16,20]},"
			     "\"e\":{\"dtype\":\"I8\",\"shape\":[0,5],\"data_offsets\":[16,16]}}    ";
	int rc = open_bytes(header, 0, 20, &set, err, sizeof err);
	if (!tap_ok(rc == 0 && set, "opens a valid file with padding, __metadata__, a scalar and an empty tensor")) {
		tap_diag("%s", err);
		return;
	}
	tap_ok(safetensors_count(set) == 4, "counts 4 tensors, not __metadata__");
	const struct tensor *a = safetensors_find(set, "a"), *b = safetensors_find(set, "b");
	const struct tensor *c = safetensors_find(set, "c"), *e = safetensors_find(set, "e");
	tap_ok(a && a->dtype == DTYPE_BF16 && a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 3 &&
	       a->element_count == 6 && a->size_bytes == 12, "a: BF16 [2, 3], 6 elements, 12 bytes");
	tap_ok(a && ((const unsigned char *)a->data)[0] == 0 && b && ((const unsigned char *)b->data)[0] == 12,
	       "data pointers count from the end of the header");
	tap_ok(c && c->ndim == 0 && c->element_count == 1 && c->size_bytes == 4, "c: a scalar has one element");
	tap_ok(e && e->element_count == 0 && e->size_bytes == 0, "e: an empty tensor has no bytes");
	tap_ok(safetensors_find(set, "__metadata__") == NULL && safetensors_find(set, "z") == NULL,
	       "find returns NULL for unknown names");
	tap_ok(safetensors_at(set, 0) && strcmp(safetensors_at(set, 0)->name, "a") == 0 && safetensors_at(set, 4) == NULL,
	       "at walks the tensors by name and stops at the count");
	tap_ok(b && strstr(b->file, "t.safetensors") != NULL, "each tensor knows its file");
	safetensors_close(set);
}

static void test_dtype_names(void)
{
	tap_ok(strcmp(tensor_dtype_name(DTYPE_F8_E4M3), "F8_E4M3") == 0 && tensor_dtype_size(DTYPE_F8_E4M3) == 1,
	       "F8_E4M3 is 1 byte");
	tap_ok(strcmp(tensor_dtype_name(DTYPE_BF16), "BF16") == 0 && tensor_dtype_size(DTYPE_BF16) == 2, "BF16 is 2 bytes");
	tap_ok(tensor_dtype_size(DTYPE_I64) == 8 && tensor_dtype_size(DTYPE_I32) == 4 && tensor_dtype_size(DTYPE_F64) == 8,
	       "I64, I32, F64 sizes");
}

static void test_refusals(void)
{
	const char *one = "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}";
	refused("a header length of 0", one, UINT64_MAX, 4, "header length 0");
	refused("a header length past the end of the file", one, 4096, 4, "past the end");
	refused("an absurd header length", one, 1ull << 40, 4, "not a plausible");
	refused("a header that is not JSON", "{\"a\":", 0, 0, "not valid JSON");
	refused("a header that is a JSON array", "[1, 2]", 0, 0, "not a JSON object");
	refused("a duplicated tensor name", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]},"
		"\"a\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[2,4]}}", 0, 4, "duplicate");
	refused("an unknown dtype, by name", "{\"a\":{\"dtype\":\"F8_E5M2\",\"shape\":[4],\"data_offsets\":[0,4]}}", 0, 4,
		"dtype F8_E5M2 is not supported");
	refused("a missing dtype", "{\"a\":{\"shape\":[4],\"data_offsets\":[0,4]}}", 0, 4, "dtype missing");
	refused("a negative dimension", "{\"a\":{\"dtype\":\"I8\",\"shape\":[-4],\"data_offsets\":[0,4]}}", 0, 4, "shape[0]");
	refused("five dimensions", "{\"a\":{\"dtype\":\"I8\",\"shape\":[1,1,1,1,4],\"data_offsets\":[0,4]}}", 0, 4,
		"dimensions");
	refused("a shape that disagrees with the byte count",
		"{\"a\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,4]}}", 0, 4, "does not equal");
	refused("a shape product that overflows 64 bits",
		"{\"a\":{\"dtype\":\"BF16\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,4]}}", 0, 4,
		"does not equal");
	refused("data past the end of the file (truncated)",
		"{\"a\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]}}", 0, 4, "truncated");
	refused("offsets far outside the file",
		"{\"a\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[9223372036854775800,9223372036854775804]}}", 0, 4,
		"past the end");
	refused("begin after end", "{\"a\":{\"dtype\":\"I8\",\"shape\":[0],\"data_offsets\":[4,0]}}", 0, 4, "data_offsets");
	refused("negative offsets", "{\"a\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[-4,0]}}", 0, 4, "data_offsets");
	refused("overlapping tensors", "{\"a\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]},"
		"\"b\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[2,4]}}", 0, 4, "overlap");
	refused("a tensor nested inside another", "{\"a\":{\"dtype\":\"I8\",\"shape\":[8],\"data_offsets\":[0,8]},"
		"\"b\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[3,4]},"
		"\"c\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[4,6]}}", 0, 8, "overlap");
	refused("an entry that is not an object", "{\"a\":7}", 0, 0, "not a JSON object");
	refused("a string dimension", "{\"a\":{\"dtype\":\"I8\",\"shape\":[\"4\"],\"data_offsets\":[0,4]}}", 0, 4,
		"shape[0]");
}

static void write_text(const char *folder, const char *name, const char *text)
{
	scratch_write(folder, name, text, strlen(text));
}

static void test_missing_files(void)
{
	struct safetensors_set *set = (struct safetensors_set *)1;
	char err[512] = "";
	tap_ok(safetensors_open_file("/nonexistent/x.safetensors", &set, err, sizeof err) == -1 && set == NULL &&
	       strstr(err, "/nonexistent/x.safetensors"), "a missing file is named in the message");
	char empty[4200];
	snprintf(empty, sizeof empty, "%s/empty", dir);
	mkdir(empty, 0755);
	scratch_write(dir, "short.safetensors", "\x08\0\0", 3);
	snprintf(empty, sizeof empty, "%s/short.safetensors", dir);
	tap_ok(safetensors_open_file(empty, &set, err, sizeof err) == -1 && strstr(err, "too short"),
	       "a file shorter than the 8-byte length is refused");
	snprintf(empty, sizeof empty, "%s/empty", dir);
	tap_ok(safetensors_open_dir(empty, &set, err, sizeof err) == -1 && strstr(err, "no model.safetensors"),
	       "a folder without weights says so");
	scratch_write(empty, "pytorch_model.bin", "x", 1);
	tap_ok(safetensors_open_dir(empty, &set, err, sizeof err) == -1 && strstr(err, ".bin"),
	       "a folder with only .bin weights says so");
	write_text(empty, "model.safetensors.index.json", "{\"weight_map\": {}}");
	tap_ok(safetensors_open_dir(empty, &set, err, sizeof err) == -1 && strstr(err, "weight_map"),
	       "an index with an empty weight_map is refused");
	write_text(empty, "model.safetensors.index.json", "{\"weight_map\": {\"a\": \"/etc/passwd\"}}");
	tap_ok(safetensors_open_dir(empty, &set, err, sizeof err) == -1 && strstr(err, "not a file name"),
	       "an index naming an absolute path is refused");
	write_text(empty, "model.safetensors.index.json", "{\"weight_map\": {\"a\": \"..\"}}");
	tap_ok(safetensors_open_dir(empty, &set, err, sizeof err) == -1 && strstr(err, "not a file name"),
	       "an index naming .. is refused");
	write_text(empty, "model.safetensors.index.json", "{\"weight_map\": {\"a\": \"gone.safetensors\"}}");
	tap_ok(safetensors_open_dir(empty, &set, err, sizeof err) == -1 && strstr(err, "gone.safetensors"),
	       "an index naming a missing shard names it");
}

int main(void)
{
	if (scratch_create(dir, sizeof dir) != 0) {
		printf("Bail out! cannot make a scratch folder\n");
		return 1;
	}
	test_accepts_valid_file();
	test_dtype_names();
	test_refusals();
	test_missing_files();
	scratch_remove(dir);
	return tap_done();
}
