/*
 * file_read.h - reading files that come from outside (a downloaded model folder, the
 * user's settings): never blocking on a FIFO, never growing without bound, and an
 * error that names the real cause.
 *
 * Every file llmchat reads whole goes through here.  The rule: the path is opened with
 * O_NONBLOCK (so that opening a FIFO returns at once), checked with fstat to be a regular
 * file, and read up to a limit the caller states.  A directory, a FIFO, a device or a
 * socket is refused by name; a permission error says "Permission denied" (strerror).
 */
#ifndef LLMCHAT_FILE_READ_H
#define LLMCHAT_FILE_READ_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Limits for files read whole.  A tokenizer.json is ~9 MB, a chat template a few KB,
 * a shard index ~30 KB; these leave room for any real file. */
#define FILE_LIMIT_SMALL ((size_t)16 << 20)  /* config files, templates, presets, themes */
#define FILE_LIMIT_LARGE ((size_t)256 << 20) /* tokenizer files, history */

/* Opens path for reading, O_CLOEXEC, blocking I/O after the open.  Returns the
 * descriptor, or -1 with "PATH: REASON" in err when it cannot be opened or is not a
 * regular file ("is a directory", "is a FIFO, not a regular file", ...).  When size is
 * not NULL it receives the file's size (from the same fstat).  When missing is not NULL
 * it is set to whether the file does not exist (ENOENT or a dangling symlink), which
 * optional files treat as absence. */
int file_open_regular(const char *path, size_t *size, bool *missing, char *err, size_t err_size);

/* Reads the whole regular file at path into *data (malloc'd, NUL-terminated; *len
 * excludes the NUL).  Refuses a file larger than limit bytes.  Returns 0, or -1 with
 * "PATH: REASON" in err; *missing as for file_open_regular. */
int file_read_all(const char *path, size_t limit, char **data, size_t *len, bool *missing,
		  char *err, size_t err_size);

/* What a file type is called in messages: "a directory", "a FIFO", ...  */
const char *file_type_name(unsigned mode);

/* Parses a JSON file of a model folder.  Any number JSON allows is accepted: integers
 * past 64 bits (tokenizer_config's model_max_length 1e30) are read as reals
 * (JSON_DECODE_INT_AS_REAL), so use json_get_int64 for integers.  Duplicate keys are
 * refused.  Returns the root, or NULL with "PATH: line L, column C: REASON" in err;
 * *missing as for file_open_regular (NULL allowed). */
json_t *json_read_file(const char *path, size_t limit, bool *missing, char *err, size_t err_size);

/* A JSON integer, or a real that is integral and within [-2^53, 2^53] (how
 * json_read_file returns every number).  Returns false for anything else. */
bool json_get_int64(const json_t *value, long long *out);

/* VALUE as a message shows it, at most out_size - 1 bytes: a number in the shortest
 * form that reads back the same (json_read_file makes 0 a real, which jansson would
 * print as "0.0"), anything else as compact JSON. */
void json_value_text(const json_t *value, char *out, size_t out_size);

/* The integer member KEY of OBJECT, in [min, max].  Returns 1 with *out set, 0 when the
 * member is absent or null, or -1 with "PATH: KEY VALUE is not an integer in [MIN, MAX]"
 * in err. */
int json_member_integer(const json_t *object, const char *path, const char *key, long long min, long long max,
			long long *out, char *err, size_t err_size);

#endif
