// Package buildinfo holds the version and commit a binary was built from,
// stamped at build time:
//
//	go build -ldflags "-X github.com/orderflow/orderflow/internal/buildinfo.Version=v1.2.3 \
//	  -X github.com/orderflow/orderflow/internal/buildinfo.Commit=abc1234" ./cmd/orderflow
//
// A binary built without the flags reports "dev" and the VCS revision Go
// recorded, if any.
package buildinfo

import "runtime/debug"

// Version and Commit are set with -ldflags -X at build time.
var (
	Version = "dev"
	Commit  = ""
)

// Get returns the version and the commit, falling back to the revision the
// Go toolchain embeds (vcs.revision) when Commit was not stamped.
func Get() (version, commit string) {
	version, commit = Version, Commit
	if commit == "" {
		commit = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && s.Value != "" {
					commit = s.Value
					if len(commit) > 12 {
						commit = commit[:12]
					}
				}
			}
		}
	}
	return version, commit
}
