/*
 * standard_io.c - standard input read whole, standard output checked to its end.
 */
#include "standard_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array_grow.h"

int standard_io_read_input(char **text, size_t *length, char *err, size_t err_size)
{
	size_t capacity = 0, used = 0;
	char *buffer = NULL;
	for (;;) {
		/* room for a read and the closing NUL */
		char *bigger = array_reserve(buffer, &capacity, used + 2, 1, (size_t)1 << 16);
		if (!bigger) {
			free(buffer);
			snprintf(err, err_size, "standard input: out of memory");
			return -1;
		}
		buffer = bigger;
		size_t n = fread(buffer + used, 1, capacity - 1 - used, stdin);
		used += n;
		/* at the end, without another read: a terminal's one Ctrl-D is the end (a
		 * read after it would wait for a second) */
		if (n == 0 || feof(stdin) || ferror(stdin))
			break;
	}
	if (ferror(stdin)) {
		snprintf(err, err_size, "reading standard input: %s", strerror(errno));
		free(buffer);
		return -1;
	}
	buffer[used] = '\0';
	*text = buffer;
	*length = used;
	return 0;
}

int standard_io_check_message(const char *text, size_t length, char *err, size_t err_size)
{
	const char *nul = memchr(text, '\0', length);
	if (!nul)
		return 0;
	snprintf(err, err_size, "standard input: the message holds a NUL byte (at offset %zu)", (size_t)(nul - text));
	return -1;
}

int standard_io_write_failed(int error)
{
	if (error == EPIPE)
		return EXIT_CLOSED_PIPE;
	fprintf(stderr, "llmchat: writing standard output: %s\n", error ? strerror(error) : "write error");
	return EXIT_ERROR;
}

int standard_io_finish(void)
{
	/* A write that failed earlier left its bytes in the buffer: the flush tries
	 * them again and sets errno to the same reason. */
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout))
		return standard_io_write_failed(errno);
	if (fclose(stdout) != 0)
		return standard_io_write_failed(errno);
	return EXIT_OK;
}
