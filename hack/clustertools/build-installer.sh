#!/usr/bin/env bash
# Runs make build-installer with image IMG and copies dist/install.yaml to OUT. make
# build-installer edits config/manager/kustomization.yaml and writes dist/install.yaml;
# both are put back as they were, even on failure, so that git status stays as it was.
#
#	hack/clustertools/build-installer.sh IMG OUT
set -euo pipefail
img=$1 out=$2
cd "$(dirname "$0")/../.."

saved=$(mktemp -d)
kustomization=config/manager/kustomization.yaml
cp -p "$kustomization" "$saved/kustomization.yaml"
[ -e dist/install.yaml ] && cp -p dist/install.yaml "$saved/install.yaml"
restore() {
	cp -p "$saved/kustomization.yaml" "$kustomization"
	if [ -e "$saved/install.yaml" ]; then
		cp -p "$saved/install.yaml" dist/install.yaml
	else
		rm -f dist/install.yaml
		rmdir dist 2>/dev/null || true
	fi
	rm -rf "$saved"
}
trap restore EXIT

make --no-print-directory build-installer IMG="$img"
mkdir -p "$(dirname "$out")"
cp dist/install.yaml "$out"
