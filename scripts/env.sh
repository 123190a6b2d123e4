# Sourced by the scripts: where things are.
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
BUILD="${LISTEN_BUILD_DIR:-$ROOT/build}"
[ -x /usr/local/go/bin/go ] && PATH="/usr/local/go/bin:$PATH"
export PATH GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
# hraban/opus links libopusfile unless told not to; the engine parses Ogg
# itself, so nothing needs it (CMake passes the same tag to its builds).
GOFLAGS="${GOFLAGS:+$GOFLAGS }-tags=nolibopusfile"
export GOFLAGS
