/*
 * mode_list.c - --list-presets and --list-themes: what can be chosen, one a line.
 */
#include <errno.h>
#include <stdio.h>

#include "modes.h"
#include "presets.h"
#include "standard_io.h"
#include "theme.h"

/* The first write error of a listing (0: none); glibc drops its buffer on a
 * failed write, so errno is kept where the failure happens. */
struct listing {
	int error;
};

static void listing_check(struct listing *listing, int written)
{
	if (written < 0 && !listing->error)
		listing->error = errno;
}

static void print_preset(void *user_data, const char *name, const char *description)
{
	listing_check(user_data, printf("%-12s %s\n", name, description));
}

static void print_theme(void *user_data, const char *name)
{
	listing_check(user_data, printf("%s\n", name));
}

int mode_list_presets(const struct options *opts)
{
	struct listing listing = {0};
	presets_list(print_preset, &listing);
	return listing.error ? standard_io_write_failed(listing.error) : EXIT_OK;
}

int mode_list_themes(const struct options *opts)
{
	struct listing listing = {0};
	theme_list(print_theme, &listing);
	return listing.error ? standard_io_write_failed(listing.error) : EXIT_OK;
}
