/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package version is what both binaries say they are: the release version and the
// commit they were built from.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set by make release (and make build) with
// -ldflags "-X github.com/partnerbilling/partner-account-operator/internal/version.version=0.2.0".
// Left empty, Get falls back to the module version go install recorded, then "dev".
var version string

// commit is set with -X like version. Left empty, Get falls back to the revision
// go build recorded from the checkout, then "unknown".
var commit string

// Info is a build's version and commit.
type Info struct {
	// Version is the release, such as 0.2.0, or "dev" for a build from a checkout.
	Version string
	// Commit is the git revision the binary was built from, with "-dirty" when the
	// checkout had changes.
	Commit string
}

// String is the one-line form both binaries print, e.g. "0.2.0 (commit 1a2b3c4, go1.26.8 linux/amd64)".
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, %s %s/%s)", i.Version, i.Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// Get returns this binary's version and commit.
func Get() Info {
	return resolve(version, commit, readBuildInfo())
}

func readBuildInfo() *debug.BuildInfo {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	return info
}

// resolve prefers what the linker set, then what the Go toolchain recorded.
func resolve(version, commit string, build *debug.BuildInfo) Info {
	info := Info{Version: version, Commit: commit}
	if build != nil {
		if info.Version == "" && build.Main.Version != "" && build.Main.Version != "(devel)" {
			info.Version = build.Main.Version
		}
		if info.Commit == "" {
			info.Commit = vcsRevision(build.Settings)
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}

func vcsRevision(settings []debug.BuildSetting) string {
	var revision string
	var dirty bool
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if revision != "" && dirty {
		revision += "-dirty"
	}
	return revision
}
