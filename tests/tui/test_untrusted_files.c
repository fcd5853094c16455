/*
 * test_untrusted_files.c - themes and conversation files (which only the TUI opens,
 * so tests/cli/untrusted_files.sh cannot reach them) that are not what they should be:
 * a FIFO is refused at once by name, a symlink to /dev/zero is not read without
 * bound, a directory says so, and a file that exists but cannot be read is not
 * "not found".  An alarm turns a hang into a failure.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "history.h"
#include "scratch.h"
#include "tap.h"
#include "text_escape.h"
#include "theme.h"

/* Loads the theme NAME from the scratch config folder; the error goes to err. */
static int load_theme(const char *name, char *err, size_t err_size)
{
	struct theme theme;
	return theme_load(name, &theme, err, err_size);
}

static bool load_history(const char *path, char *err, size_t err_size)
{
	struct conversation c;
	if (history_load(path, &c, err, err_size) != 0)
		return false;
	conversation_free(&c);
	return true;
}

/* What a user who is not root gets for a file of mode 000: a forked child that
 * drops to another uid when this runs as root (root reads anything). */
static bool unreadable_theme_says_permission(void)
{
	char err[512];
	if (geteuid() != 0)
		return load_theme("secret", err, sizeof err) != 0 && strstr(err, "secret.theme: Permission denied");
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(54321) != 0 || setuid(54321) != 0)
			_exit(2);
		_exit(load_theme("secret", err, sizeof err) != 0 && strstr(err, "secret.theme: Permission denied") ? 0 : 1);
	}
	int status;
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void escapes(void)
{
	char out[64];
	size_t n = text_escape("a\033[2Jb\x07", 7, out, sizeof out);
	tap_ok(n == 7 && !strcmp(out, "a\\x1b[2Jb\\x07"), "ESC and BEL are shown as \\xNN (%s)", out);
	n = text_escape("caf\xc3\xa9 \xff \xc2\x9b \x7f", 12, out, sizeof out);
	tap_ok(n == 12 && !strcmp(out, "caf\xc3\xa9 \\xff \\xc2\\x9b \\x7f"),
	       "UTF-8 stays, a byte that is not UTF-8, C1 CSI and DEL are escaped (%s)", out);
	n = text_escape("ab\033", 3, out, 6);
	tap_ok(n == 2 && !strcmp(out, "ab"), "an escape that does not fit is left out whole");
}

int main(void)
{
	char dir[1024], themes_dir[2048], path[4096], err[512];
	alarm(60);   /* a FIFO waited on would hang here: end as a failure instead */
	escapes();
	if (scratch_create(dir, sizeof dir) != 0 || chmod(dir, 0755) != 0)
		return 1;
	setenv("XDG_CONFIG_HOME", dir, 1);
	snprintf(themes_dir, sizeof themes_dir, "%s/llmchat/themes", dir);
	snprintf(path, sizeof path, "%s/llmchat", dir);
	mkdir(path, 0755);
	mkdir(themes_dir, 0755);

	/* themes */
	snprintf(path, sizeof path, "%s/fifo.theme", themes_dir);
	tap_ok(mkfifo(path, 0644) == 0, "a FIFO named fifo.theme");
	tap_ok(load_theme("fifo", err, sizeof err) != 0 && strstr(err, "fifo.theme: is a FIFO"),
	       "a theme that is a FIFO is refused at once (%s)", err);
	snprintf(path, sizeof path, "%s/zero.theme", themes_dir);
	tap_ok(symlink("/dev/zero", path) == 0 && load_theme("zero", err, sizeof err) != 0 &&
	       strstr(err, "zero.theme: is a character device"), "a theme -> /dev/zero is refused (%s)", err);
	snprintf(path, sizeof path, "%s/dir.theme", themes_dir);
	tap_ok(mkdir(path, 0755) == 0 && load_theme("dir", err, sizeof err) != 0 && strstr(err, "dir.theme: is a directory"),
	       "a theme that is a directory says so (%s)", err);
	snprintf(path, sizeof path, "%s/loop.theme", themes_dir);
	tap_ok(symlink("loop.theme", path) == 0 && load_theme("loop", err, sizeof err) != 0 &&
	       strstr(err, "loop.theme: Too many levels of symbolic links"), "a theme that is a symlink loop says so (%s)", err);
	snprintf(path, sizeof path, "%s/secret.theme", themes_dir);
	scratch_write(themes_dir, "secret.theme", "user = red\n", 11);
	tap_ok(chmod(path, 0) == 0 && unreadable_theme_says_permission(), "an unreadable theme says permission denied");
	tap_ok(load_theme("nowhere", err, sizeof err) != 0 && strstr(err, "theme 'nowhere' not found"),
	       "a theme that is nowhere is not found (%s)", err);
	char long_name[4500];
	memset(long_name, 'a', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	tap_ok(load_theme(long_name, err, sizeof err) != 0 && strstr(err, "theme name too long for a path (4499 bytes)"),
	       "a theme name too long for a path is refused, not cut short (%.60s...)", err);

	/* conversation files (/load, --resume) */
	snprintf(path, sizeof path, "%s/conversation.fifo", dir);
	tap_ok(mkfifo(path, 0644) == 0 && !load_history(path, err, sizeof err) && strstr(err, "conversation.fifo: is a FIFO"),
	       "a conversation file that is a FIFO is refused at once (%s)", err);
	tap_ok(!load_history("/dev/zero", err, sizeof err) && strstr(err, "/dev/zero: is a character device"),
	       "/dev/zero as a conversation file is refused (%s)", err);
	tap_ok(!load_history(dir, err, sizeof err) && strstr(err, ": is a directory"),
	       "a directory as a conversation file says so (%s)", err);

	scratch_remove(dir);
	return tap_done();
}
