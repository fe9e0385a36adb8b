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

package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name            string
		version, commit string
		build           *debug.BuildInfo
		want            Info
	}{
		{name: "linker flags win", version: "0.2.0", commit: "abc1234",
			build: &debug.BuildInfo{Main: debug.Module{Version: "v9.9.9"}, Settings: vcs("ffffffffffffffffff", "true")},
			want:  Info{Version: "0.2.0", Commit: "abc1234"}},
		{name: "go install records the module version", build: &debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}},
			want: Info{Version: "v0.2.0", Commit: "unknown"}},
		{name: "a checkout build: dev and the revision, dirty", build: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: vcs("0123456789abcdef0123", "true")},
			want: Info{Version: "dev", Commit: "0123456789ab-dirty"}},
		{name: "a clean checkout", build: &debug.BuildInfo{Settings: vcs("0123456", "false")},
			want: Info{Version: "dev", Commit: "0123456"}},
		{name: "no build info", want: Info{Version: "dev", Commit: "unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolve(tt.version, tt.commit, tt.build); got != tt.want {
				t.Errorf("resolve() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	s := Info{Version: "0.2.0", Commit: "abc1234"}.String()
	if !strings.HasPrefix(s, "0.2.0 (commit abc1234, go") {
		t.Errorf("String() = %q", s)
	}
}
