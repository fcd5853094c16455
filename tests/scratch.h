/*
 * scratch.h - a scratch folder for the loader tests: created under $TMPDIR, filled with
 * small files, removed with everything in it at the end.
 */
#ifndef LLMCHAT_TESTS_SCRATCH_H
#define LLMCHAT_TESTS_SCRATCH_H

#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Makes a fresh folder; its path goes into out (PATH_MAX-sized).  Returns 0 or -1. */
static inline int scratch_create(char *out, size_t out_size)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(out, out_size, "%s/llmchat-loader.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	/* 0755: a check run as another user (scratch_run_unprivileged) must reach the files */
	return mkdtemp(out) && chmod(out, 0755) == 0 ? 0 : -1;
}

/* Runs check(arg, err, err_size) as a user that file permissions apply to: here when
 * not root, else in a forked child that drops to uid and gid 65534 (root reads
 * anything, so a permission check run as root could not fail).  The child's message
 * comes back through a pipe.  Returns check's result (0 or -1), or -2 with a message
 * when the child could not become that user (the caller skips the check). */
static inline int scratch_run_unprivileged(int (*check)(void *arg, char *err, size_t err_size), void *arg,
					   char *err, size_t err_size)
{
	if (geteuid() != 0)
		return check(arg, err, err_size);
	int fds[2];
	if (pipe(fds) != 0) {
		snprintf(err, err_size, "pipe failed");
		return -1;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(3);
		int rc = check(arg, err, err_size);
		ssize_t ignored = write(fds[1], err, strnlen(err, err_size));
		(void)ignored;
		_exit(rc == 0 ? 0 : 1);
	}
	close(fds[1]);
	ssize_t n = pid > 0 ? read(fds[0], err, err_size - 1) : -1;
	err[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	int status = 0;
	if (pid <= 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) == 3) {
		snprintf(err, err_size, "root could not run the check as uid 65534");
		return -2;
	}
	return WEXITSTATUS(status) == 0 ? 0 : -1;
}

static inline int scratch_unlink(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static inline void scratch_remove(const char *dir)
{
	nftw(dir, scratch_unlink, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes SIZE bytes to DIR/NAME, making DIR first.  Returns 0 or -1. */
static inline int scratch_write(const char *dir, const char *name, const void *data, size_t size)
{
	char path[4096];
	mkdir(dir, 0755);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t written = fwrite(data, 1, size, f);
	return fclose(f) == 0 && written == size ? 0 : -1;
}

#endif
