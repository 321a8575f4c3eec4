#!/usr/bin/env bash
# Build busybox:local (FROM scratch + Debian's static busybox), the image tests and examples use.
# Idempotent: rebuilt only when missing.
set -euo pipefail
DOCKER=/usr/bin/docker
if "$DOCKER" image inspect busybox:local >/dev/null 2>&1; then
  exit 0
fi
echo "==> building image busybox:local from /bin/busybox"
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp /bin/busybox "$ctx/busybox"
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["sh"]
DOCKERFILE
DOCKER_BUILDKIT=0 "$DOCKER" build -t busybox:local "$ctx"
