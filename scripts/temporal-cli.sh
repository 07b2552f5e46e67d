#!/usr/bin/env bash
# Makes sure bin/temporal (the Temporal CLI, which runs the Temporal dev
# server) exists: copies it from the per-user cache if it is there, else builds
# it with `go install` (about 4 minutes, once) and fills the cache. Idempotent.
#
#   GO   the go command (default: go)
set -euo pipefail

VERSION=v1.5.1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bin/temporal
CACHE=$HOME/.cache/orderflow/temporal-$VERSION
GO=${GO:-go}

say() { echo "temporal-cli: $*"; }
die() { echo "temporal-cli: ERROR: $*" >&2; exit 1; }

[ -x "$BIN" ] && exit 0

mkdir -p "$ROOT/bin"
# One build at a time (say two `make` runs at once).
if command -v flock >/dev/null 2>&1; then
	exec 9>"$ROOT/bin/.temporal.lock"
	flock 9
	[ -x "$BIN" ] && exit 0
fi

if [ -x "$CACHE" ]; then
	say "copying the Temporal CLI $VERSION from $CACHE"
	cp "$CACHE" "$BIN.tmp.$$"
	chmod +x "$BIN.tmp.$$"
	mv -f "$BIN.tmp.$$" "$BIN"
	exit 0
fi

command -v "$GO" >/dev/null 2>&1 || die "the go command ($GO) is not on PATH; install Go first"
say "building the Temporal CLI $VERSION (first time only, about 4 minutes)…"
build=$(mktemp -d "$ROOT/bin/.temporal-build.XXXXXX")
trap 'rm -rf "$build"' EXIT
# Into a scratch folder first, so an interrupted build leaves no half-written
# bin/temporal behind. (pkg@version ignores the repository's go.mod.)
GOBIN="$build" "$GO" install "github.com/temporalio/cli/cmd/temporal@$VERSION" ||
	die "go install github.com/temporalio/cli/cmd/temporal@$VERSION failed"
mv -f "$build/temporal" "$BIN"
say "built $BIN ($("$BIN" --version 2>/dev/null || echo "version unknown"))"

if mkdir -p "$(dirname "$CACHE")" && cp "$BIN" "$CACHE.tmp.$$" && mv -f "$CACHE.tmp.$$" "$CACHE"; then
	say "cached it in $CACHE"
else
	rm -f "$CACHE.tmp.$$"
	say "could not cache it in $CACHE (not fatal)"
fi
