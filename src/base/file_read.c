/*
 * file_read.c - see file_read.h.
 *
 * Why O_NONBLOCK: open(2) of a FIFO for reading blocks until a writer appears, so a
 * model folder holding a FIFO named config.json would hang llmchat before fstat could
 * look at it.  With O_NONBLOCK the open returns at once; the flag is cleared again once
 * fstat has shown a regular file (regular files ignore it anyway).
 */
#include "file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *file_type_name(unsigned mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a directory";
	case S_IFIFO: return "a FIFO";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFSOCK: return "a socket";
	default: return "not a regular file";
	}
}

int file_open_regular(const char *path, size_t *size, bool *missing, char *err, size_t err_size)
{
	if (missing)
		*missing = false;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (missing && errno == ENOENT)
			*missing = true;
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0) {
		snprintf(err, err_size, "%s: is %s, not a regular file", path, file_type_name(st.st_mode));
		close(fd);
		return -1;
	}
	if (size)
		*size = (size_t)st.st_size;
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		(void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	return fd;
}

int file_read_all(const char *path, size_t limit, char **data, size_t *len, bool *missing,
		  char *err, size_t err_size)
{
	*data = NULL;
	*len = 0;
	size_t size;
	int fd = file_open_regular(path, &size, missing, err, err_size);
	if (fd < 0)
		return -1;
	if (size > limit) {
		snprintf(err, err_size, "%s: %zu bytes, more than the %zu bytes this file may have", path, size, limit);
		close(fd);
		return -1;
	}
	/* The size is a hint: the file may grow or shrink while it is read, and the limit
	 * holds whatever it does. */
	size_t capacity = size + 1, used = 0;
	char *buffer = malloc(capacity + 1);
	if (!buffer) {
		snprintf(err, err_size, "%s: out of memory reading %zu bytes", path, capacity);
		close(fd);
		return -1;
	}
	for (;;) {
		if (used == capacity) {
			if (capacity > limit) {
				snprintf(err, err_size, "%s: more than the %zu bytes this file may have", path, limit);
				goto fail;
			}
			size_t bigger_capacity = capacity * 2 > limit + 1 ? limit + 1 : capacity * 2;
			char *bigger = realloc(buffer, bigger_capacity + 1);
			if (!bigger) {
				snprintf(err, err_size, "%s: out of memory reading it", path);
				goto fail;
			}
			buffer = bigger;
			capacity = bigger_capacity;
		}
		ssize_t n = read(fd, buffer + used, capacity - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, err_size, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	if (used > limit) {
		snprintf(err, err_size, "%s: more than the %zu bytes this file may have", path, limit);
		goto fail;
	}
	close(fd);
	buffer[used] = '\0';
	*data = buffer;
	*len = used;
	return 0;
fail:
	free(buffer);
	close(fd);
	return -1;
}

json_t *json_read_file(const char *path, size_t limit, bool *missing, char *err, size_t err_size)
{
	char *text;
	size_t length;
	if (file_read_all(path, limit, &text, &length, missing, err, err_size) != 0)
		return NULL;
	json_error_t jerr;
	json_t *root = json_loadb(text, length, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
	free(text);
	if (!root)
		snprintf(err, err_size, "%s: line %d, column %d: invalid JSON: %s", path, jerr.line, jerr.column,
			 jerr.text);
	return root;
}

bool json_get_int64(const json_t *value, long long *out)
{
	if (json_is_integer(value)) {
		*out = (long long)json_integer_value(value);
		return true;
	}
	if (!json_is_real(value))
		return false;
	double real = json_real_value(value);
	const double exact_limit = 9007199254740992.0; /* 2^53: every integer up to it is exact */
	if (!(real >= -exact_limit && real <= exact_limit) || real != floor(real))
		return false;
	*out = (long long)real;
	return true;
}

void json_value_text(const json_t *value, char *out, size_t out_size)
{
	if (out_size == 0)
		return;
	if (json_is_number(value)) {
		double number = json_number_value(value);
		for (int digits = 1; digits <= 17; digits++) {
			snprintf(out, out_size, "%.*g", digits, number);
			if (strtod(out, NULL) == number)
				return;
		}
		return;
	}
	char *text = value ? json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	snprintf(out, out_size, "%s", text ? text : "(missing)");
	free(text);
}

int json_member_integer(const json_t *object, const char *path, const char *key, long long min, long long max,
			long long *out, char *err, size_t err_size)
{
	json_t *value = json_object_get(object, key);
	if (!value || json_is_null(value))
		return 0;
	if (!json_get_int64(value, out) || *out < min || *out > max) {
		char shown[48];
		json_value_text(value, shown, sizeof shown);
		snprintf(err, err_size, "%s: %s %s is not an integer in [%lld, %lld]", path, key, shown, min, max);
		return -1;
	}
	return 1;
}
