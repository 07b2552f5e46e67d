#!/usr/bin/env bash
# Makes sure the linters `make lint` runs exist in bin/: golangci-lint and
# Temporal's workflowcheck, at pinned versions, built with `go install` from
# the Go module proxy the first time (about 2 minutes) and kept in the
# per-user cache ~/.cache/orderflow/tools-<name>-<version>. Idempotent.
#
#   GO   the go command (default: go)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-go}
TOOLS=(
	"golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint v2.15.0"
	"workflowcheck go.temporal.io/sdk/contrib/tools/workflowcheck v0.6.0"
)

mkdir -p "$ROOT/bin"
for tool in "${TOOLS[@]}"; do
	read -r name pkg version <<<"$tool"
	bin=$ROOT/bin/$name
	stamp=$ROOT/bin/.$name.version
	if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
		continue
	fi
	cache=$HOME/.cache/orderflow/tools-$name-$version
	if [ ! -x "$cache/$name" ]; then
		command -v "$GO" >/dev/null 2>&1 || { echo "lint-tools: ERROR: the go command ($GO) is not on PATH" >&2; exit 1; }
		echo "lint-tools: building $name $version (first time only)…"
		mkdir -p "$cache.tmp.$$"
		GOBIN="$cache.tmp.$$" GOFLAGS=-mod=mod "$GO" install "$pkg@$version"
		rm -rf "$cache"
		mv "$cache.tmp.$$" "$cache"
	fi
	cp "$cache/$name" "$bin.tmp.$$"
	mv -f "$bin.tmp.$$" "$bin"
	echo "$version" >"$stamp"
done
