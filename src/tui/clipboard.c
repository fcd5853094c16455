/*
 * clipboard.c - the clipboard through a helper program or OSC 52; see
 * clipboard.h.
 *
 * The helper's standard input is one end of a socket pair rather than a pipe:
 * send() with MSG_NOSIGNAL gets EPIPE instead of a SIGPIPE that would end the
 * program when a helper exits without reading.
 */
#include "clipboard.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

extern char **environ;

/* Whether an executable file called name is in one of PATH's folders. */
static bool in_path(const char *name)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/bin:/bin";
	for (const char *p = path;; p++) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		char file[4096];
		struct stat st;
		/* an empty entry is the current folder */
		int len = snprintf(file, sizeof file, "%.*s/%s", (int)(n ? n : 1), n ? p : ".", name);
		if (len > 0 && (size_t)len < sizeof file && stat(file, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(file, X_OK) == 0)
			return true;
		if (!colon)
			return false;
		p = colon;
	}
}

static bool env_set(const char *name)
{
	const char *v = getenv(name);
	return v && *v;
}

struct clipboard_way clipboard_choose(void)
{
	if (env_set("WAYLAND_DISPLAY") && in_path("wl-copy"))
		return (struct clipboard_way){"wl-copy", {"wl-copy", NULL}};
	if (env_set("DISPLAY") && in_path("xclip"))
		return (struct clipboard_way){"xclip", {"xclip", "-selection", "clipboard", NULL}};
	if (env_set("DISPLAY") && in_path("xsel"))
		return (struct clipboard_way){"xsel", {"xsel", "--clipboard", "--input", NULL}};
	if (in_path("pbcopy"))
		return (struct clipboard_way){"pbcopy", {"pbcopy", NULL}};
	return (struct clipboard_way){"OSC 52", {NULL}};
}

/* ---- OSC 52 ----------------------------------------------------------------- */

static const char base64_digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const char *data, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1), *p = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)data[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)data[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)data[i + 2];
		*p++ = base64_digits[(v >> 18) & 63];
		*p++ = base64_digits[(v >> 12) & 63];
		*p++ = i + 1 < n ? base64_digits[(v >> 6) & 63] : '=';
		*p++ = i + 2 < n ? base64_digits[v & 63] : '=';
	}
	*p = '\0';
	return out;
}

/* The terminal puts the text on the clipboard (straight to the tty, not through
 * ncurses). */
static int copy_osc52(const char *text, size_t length, char *err, size_t err_size)
{
	char *encoded = base64(text, length);
	int fd = open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	int rc = 0;
	if (!encoded || fd < 0) {
		snprintf(err, err_size, encoded ? "cannot open /dev/tty: %s" : "out of memory", strerror(errno));
		rc = -1;
	} else {
		size_t n = strlen(encoded);
		bool ok = write(fd, "\033]52;c;", 7) == 7 && write(fd, encoded, n) == (ssize_t)n && write(fd, "\a", 1) == 1;
		if (!ok) {
			snprintf(err, err_size, "cannot write to the terminal");
			rc = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	free(encoded);
	return rc;
}

/* ---- a helper program ----------------------------------------------------------- */

/* Starts the helper with its stdin on child_end, its output on /dev/null, the
 * signals at their defaults, in a session (so also a process group) of its own. */
static int spawn_helper(const struct clipboard_way *way, int child_end, pid_t *pid)
{
	posix_spawn_file_actions_t actions;
	posix_spawnattr_t attr;
	sigset_t all, none;
	short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
#ifdef POSIX_SPAWN_SETSID
	flags |= POSIX_SPAWN_SETSID;
#else
	flags |= POSIX_SPAWN_SETPGROUP;   /* pgroup 0: its own */
#endif
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, child_end, STDIN_FILENO);
	posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, flags);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setsigmask(&attr, &none);
	int rc = posix_spawnp(pid, way->argv[0], &actions, &attr, (char *const *)way->argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	posix_spawnattr_destroy(&attr);
	return rc;
}

static int remaining_ms(double deadline)
{
	double left = deadline - clock_monotonic_seconds();
	return left > 0 ? (int)(left * 1000) + 1 : 0;
}

/* Sends text to the helper until it is all sent, the helper stops reading
 * (EPIPE), or the deadline.  Returns 0, or an errno value (ETIMEDOUT). */
static int send_text(int fd, const char *text, size_t length, double deadline)
{
	size_t done = 0;
	while (done < length) {
		ssize_t n = send(fd, text + done, length - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return errno;
		struct pollfd p = {fd, POLLOUT, 0};
		int ms = remaining_ms(deadline);
		if (ms == 0 || (poll(&p, 1, ms) == 0 && remaining_ms(deadline) == 0))
			return ETIMEDOUT;
	}
	return 0;
}

/* Waits for the helper until the deadline; returns true with its status, or
 * false (still running). */
static bool wait_until(pid_t pid, double deadline, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return true;
		if (remaining_ms(deadline) == 0)
			return false;
		nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
	}
}

static int copy_helper(const struct clipboard_way *way, const char *text, size_t length, char *err, size_t err_size)
{
	int fds[2], status = 0;
	pid_t pid;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
		snprintf(err, err_size, "cannot run %s: %s", way->name, strerror(errno));
		return -1;
	}
	int rc = spawn_helper(way, fds[1], &pid);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		snprintf(err, err_size, "cannot run %s: %s", way->name, strerror(rc));
		return -1;
	}
	double deadline = clock_monotonic_seconds() + CLIPBOARD_TIMEOUT_MS / 1000.0;
	int send_error = send_text(fds[0], text, length, deadline);
	close(fds[0]);   /* the end of its input */
	if (send_error == ETIMEDOUT || !wait_until(pid, deadline, &status)) {
		kill(-pid, SIGKILL);   /* its process group: what it started too */
		waitpid(pid, &status, 0);
		snprintf(err, err_size, "%s did not finish within %d s, and was stopped", way->name,
			 CLIPBOARD_TIMEOUT_MS / 1000);
		return -1;
	}
	if (WIFSIGNALED(status)) {
		snprintf(err, err_size, "%s was killed by signal %d (%s)", way->name, WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, err_size, "%s failed (exit status %d)", way->name, WEXITSTATUS(status));
		return -1;
	}
	if (send_error) {
		snprintf(err, err_size, "%s did not take the whole text: %s", way->name, strerror(send_error));
		return -1;
	}
	return 0;
}

int clipboard_copy(const struct clipboard_way *way, const char *text, size_t length, char *err, size_t err_size)
{
	if (!way->argv[0])
		return copy_osc52(text, length, err, err_size);
	return copy_helper(way, text, length, err, err_size);
}
