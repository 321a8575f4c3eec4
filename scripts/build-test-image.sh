#!/usr/bin/env bash
# Build busybox:local (FROM scratch + Debian's static busybox), the image tests and examples use,
# and two for Zun's tempest tests: busybox-term:local, whose PID 1 is a shell that runs the
# command and exits on SIGTERM (busybox's sleep as PID 1 ignores it, so every stop would wait out
# Docker's 10 s timeout), and httpd:local on top of it, a server that runs with no command given
# (where those tests use nginx: port 80, nginx's welcome line). Idempotent: each is built only
# when missing or older than its version here (the label higgins.test-image; an image built on
# top of one is rebuilt with it).
set -euo pipefail
DOCKER=/usr/bin/docker
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
if ! "$DOCKER" image inspect busybox:local >/dev/null 2>&1; then
  echo "==> building image busybox:local from /bin/busybox"
  cp /bin/busybox "$ctx/busybox"
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["sh"]
DOCKERFILE
  DOCKER_BUILDKIT=0 "$DOCKER" build -q -t busybox:local "$ctx"
fi
# current IMAGE VERSION: the image exists with that version label
current() {
  [ "$("$DOCKER" image inspect -f '{{index .Config.Labels "higgins.test-image"}}' "$1" \
    2>/dev/null)" = "$2" ]
}
# 2: a /tmp (Zun's archive tests put files there); 3: a `curl URL` that is busybox's wget (Zun's
# exposed-port test fetches a page with curl)
TERM_VERSION=3
if ! current busybox-term:local "$TERM_VERSION"; then
  echo "==> building image busybox-term:local"
  "$DOCKER" image rm -f httpd:local >/dev/null 2>&1 || true
  mkdir -p "$ctx/term"
  printf '#!/bin/sh\nexec wget -q -O - "$@"\n' >"$ctx/term/curl"
  chmod 755 "$ctx/term/curl"
  cat >"$ctx/term/Dockerfile" <<DOCKERFILE
FROM busybox:local
RUN ["/bin/mkdir", "-m", "1777", "/tmp"]
COPY curl /usr/bin/curl
LABEL higgins.test-image=$TERM_VERSION
ENTRYPOINT ["/bin/sh", "-c", "trap 'exit 143' TERM; \"\$@\" & wait \$!", "--"]
CMD ["sleep", "1000000"]
DOCKERFILE
  DOCKER_BUILDKIT=0 "$DOCKER" build -q -t busybox-term:local "$ctx/term"
fi
# 2: on port 80 with nginx's welcome line (Zun's exposed-port test exposes 80 and looks for it)
HTTPD_VERSION=2
if ! current httpd:local "$HTTPD_VERSION"; then
  echo "==> building image httpd:local"
  mkdir -p "$ctx/httpd"
  echo '<h1>Welcome to nginx!</h1> (busybox httpd standing in for nginx)' >"$ctx/httpd/index.html"
  cat >"$ctx/httpd/Dockerfile" <<DOCKERFILE
FROM busybox-term:local
COPY index.html /www/index.html
LABEL higgins.test-image=$HTTPD_VERSION
CMD ["httpd", "-f", "-p", "80", "-h", "/www"]
DOCKERFILE
  DOCKER_BUILDKIT=0 "$DOCKER" build -q -t httpd:local "$ctx/httpd"
fi
