#!/bin/sh
# tests/build/readme_commands.sh [README] - prints the commands of README.md's set-up section, one
# a line, in order: its indented lines, from "## Set-up" to the next heading.  .ci/run runs
# exactly these, so CI and the README cannot drift apart; tests/build/release.sh checks them.
readme=${1:-$(dirname "$0")/../../README.md}
awk '/^## /{on = /^## Set-up/; next} on && /^    [^ ]/{sub(/^    /, ""); print}' "$readme"
