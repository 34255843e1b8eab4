#!/bin/sh
# Builds vigil's release binaries: static (CGO off), reproducible (-trimpath, the commit's time as
# the build date), stamped with version, commit and date, for linux/amd64 and linux/arm64, with
# their SHA-256 sums. Usage: scripts/release.sh [OUTDIR]   (default dist/)
#
# The version is $VERSION if set, else the newest v* tag reaching HEAD (v0.2.0 gives 0.2.0;
# commits after it give 0.2.0-3-gabc123, as git describe says), else 0.0.0-dev+<commit>. A tree
# with uncommitted changes builds too, and says so: "-dirty" after the version and the commit.
# $PLATFORMS overrides the list, e.g. PLATFORMS=linux/amd64. Without git (a container build),
# $COMMIT and $DATE give the stamp. POSIX sh, so it also runs in minimal build images.
set -eu
cd "$(dirname "$0")/.."
out="${1:-dist}"
platforms="${PLATFORMS:-linux/amd64 linux/arm64}"

commit="${COMMIT:-}"
date="${DATE:-}"
version="${VERSION:-}"
if [ -z "$commit" ]; then
  commit="$(git rev-parse HEAD)"
  dirty=""
  if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    dirty="-dirty"
  fi
  commit="$commit$dirty"
  if [ -z "$version" ]; then
    if tag="$(git describe --tags --match 'v[0-9]*' 2>/dev/null)"; then
      version="${tag#v}$dirty"
    else
      version="0.0.0-dev+$(git rev-parse --short=12 HEAD)$dirty"
    fi
  fi
  # The commit's time, not the clock's: building one commit twice gives the same bytes.
  [ -n "$date" ] || date="$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ HEAD)"
fi
[ -n "$version" ] || version="0.0.0-dev"
[ -n "$date" ] || date="unknown"

pkg=github.com/vigilrec/vigil/internal/buildinfo
ldflags="-s -w -X $pkg.version=$version -X $pkg.commit=$commit -X $pkg.date=$date"

mkdir -p "$out"
names=""
for platform in $platforms; do
  goos="${platform%/*}"
  goarch="${platform#*/}"
  name="vigil-$version-$goos-$goarch"
  CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch" go build -buildvcs=false -trimpath -ldflags "$ldflags" \
    -o "$out/$name" ./cmd/vigil
  names="$names $name"
  echo "built $out/$name"
done
# shellcheck disable=SC2086 # the names have no spaces: they are built above
(cd "$out" && sha256sum $names > SHA256SUMS)
echo "wrote $out/SHA256SUMS (version $version, commit $commit, date $date)"
