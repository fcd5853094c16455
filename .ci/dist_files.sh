#!/bin/sh
# .ci/dist_files.sh TARBALL - every file git tracks is in the release tarball, but for the
# few that only make sense in a git checkout (listed here, with why).
#   .gitignore  git's own
#   .ci/*       this CI, which runs in a clone
set -u
tarball=$1
top=$(cd "$(dirname "$0")/.." && pwd)
prefix=$(tar tzf "$tarball" | head -n 1 | cut -d/ -f1)
tar tzf "$tarball" | sed "s|^$prefix/||" | sort >"$tarball.files"
missing=$(cd "$top" && git ls-files | grep -v -e '^\.gitignore$' -e '^\.ci/' | sort | comm -23 - "$tarball.files")
rm -f "$tarball.files"
if [ -n "$missing" ]; then
	echo ".ci/dist_files.sh: tracked files missing from $tarball (add them to EXTRA_DIST in Makefile.am):"
	printf '  %s\n' $missing
	exit 1
fi
echo ".ci/dist_files.sh: $tarball holds every tracked file"
