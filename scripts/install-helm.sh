#!/usr/bin/env bash
# helm (built from source by the Go toolchain) and kubernetes-validate, both pinned, in
# /var/lib/higgins-helm/bin: what tests/unit/test_helm_chart.py lints, renders and validates
# charts/higgins with. Idempotent: helm is built only when that exact version is not there,
# the venv is reinstalled only when its lock changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=${HIGGINS_HELM_PREFIX:-/var/lib/higgins-helm}
HELM_VERSION=v3.21.4
# Kubernetes 1.36: the client-go of that release (its go.mod: k8s.io/client-go v0.36.2), the
# default --kube-version of `helm lint`/`template`, as helm's own Makefile stamps it.
K8S_MINOR=36

"$here/pinned-venv.sh" "$prefix" "$here/kubernetes-validate/requirements.lock"

go=$(command -v go || echo /usr/local/go/bin/go)
built=$("$go" version -m "$prefix/bin/helm" 2>/dev/null || true)  # the module it was built from
if grep -Eq "^[[:space:]]+mod[[:space:]]+helm\.sh/helm/v3[[:space:]]+$HELM_VERSION[[:space:]]" \
     <<<"$built"; then
  exit 0
fi
[ -x "$go" ] || { echo "install-helm.sh: building helm needs the Go toolchain (go)" >&2; exit 1; }
echo "==> building helm $HELM_VERSION into $prefix/bin (go install; a few minutes on 2 cores)"
ldflags="-w -s -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for package in pkg/chartutil pkg/lint/rules; do
  ldflags+=" -X helm.sh/helm/v3/$package.k8sVersionMajor=1"
  ldflags+=" -X helm.sh/helm/v3/$package.k8sVersionMinor=$K8S_MINOR"
done
CGO_ENABLED=0 GOBIN=$prefix/bin nice "$go" install -trimpath -ldflags "$ldflags" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
"$prefix/bin/helm" version --short
