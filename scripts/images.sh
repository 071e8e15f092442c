#!/usr/bin/env bash
# Builds the images the container tests run, on the Docker engine of DOCKER_HOST:
#   1. a stand-in for python:3.11-slim-bookworm (no registry is reachable here): Debian bookworm from
#      debootstrap, with this machine's CPython 3.11 copied into /usr/local and the host's CA bundle;
#   2. images/platform/Dockerfile on that base, unchanged but for its BASE_IMAGE build argument;
#   3. images/notebook/Dockerfile on the platform image, unchanged but for its PLATFORM_IMAGE build argument;
#   4. serving/churn/Dockerfile on the platform image, unchanged.
# The base is built once per key (suite, packages, Python, and build_base's own text, so an edit to
# the other steps keeps it); the engine's layer cache keeps the images' install layers until their
# pins change. Prints each image's size.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir="${MLOPS_BUILD_DIR:-/var/lib/mlops-stack}"
python="${MLOPS_BASE_PYTHON:-python3.11}"
suite=bookworm
# What python:3.11-slim-bookworm holds besides Debian's minimal base: CA certificates and the
# shared libraries CPython's modules link to.
packages=ca-certificates,netbase,tzdata,libssl3,libsqlite3-0,libffi8,libbz2-1.0,liblzma5,zlib1g,libreadline8,libncursesw6,libuuid1,libexpat1,libnsl2,libtirpc3
version="$(cat images/platform/VERSION)"
platform_tag="ghcr.io/mlops-stack/platform:${version}"
notebook_tag="ghcr.io/mlops-stack/notebook:${version}"
churn_tag="mlops-stack.local/churn:test"
# Debian's client: the daemon's built-in BuildKit (COPY --chmod) needs no buildx plugin with it.
docker_cli="$(command -v /usr/bin/docker || command -v docker)"
export DOCKER_BUILDKIT=1

# The base's recipe: its text is part of the base's key below.
build_base() {
  rootfs="$build_dir/rootfs-$key"
  rm -rf "$rootfs"
  mkdir -p "$rootfs"
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" http://deb.debian.org/debian >"$build_dir/debootstrap.log" 2>&1 \
    || { tail -20 "$build_dir/debootstrap.log" >&2; exit 1; }
  # CPython where the official image has it: /usr/local, without the host's site-packages or tests.
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/lib" "$rootfs/usr/local/include"
  cp -a "$prefix/bin/python3.11" "$rootfs/usr/local/bin/"
  cp -a "$prefix"/lib/libpython3* "$rootfs/usr/local/lib/"
  tar -C "$prefix/lib" --exclude='python3.11/site-packages/*' --exclude='python3.11/test' --exclude='__pycache__' \
    -cf - python3.11 | tar -C "$rootfs/usr/local/lib" -xf -
  cp -a "$prefix/include/python3.11" "$rootfs/usr/local/include/"
  ln -sf python3.11 "$rootfs/usr/local/bin/python3"
  ln -sf python3 "$rootfs/usr/local/bin/python"
  # The host's trust store: HTTPS to the package registries may pass through its egress CA
  # (PIP_CERT below: pip trusts its own bundle otherwise).
  cp -a /usr/local/share/ca-certificates/. "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
  chroot "$rootfs" /bin/sh -c 'update-ca-certificates >/dev/null && ldconfig && /usr/local/bin/python3 -m ensurepip --default-pip >/dev/null'
  rm -rf "$rootfs/var/lib/apt/lists/"* "$rootfs/var/cache/apt/"*
  tar -C "$rootfs" -c . | "$docker_cli" import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change "ENV PYTHON_VERSION=${python_version}" \
    --change 'CMD ["python3"]' - "$base_tag" >/dev/null
  rm -rf "$rootfs"
}

prefix="$("$python" -c 'import sys; print(sys.base_prefix)')"
python_version="$("$python" -c 'import platform; print(platform.python_version())')"
key="$(printf '%s\n' "$suite" "$packages" "$python_version" "$(declare -f build_base | sha256sum | cut -c1-16)" | sha256sum | cut -c1-12)"
base_tag="mlops-stack.local/python:${python_version}-slim-${suite}-${key}"

seconds() { date +%s; }
started=$(seconds)

if ! "$docker_cli" image inspect "$base_tag" >/dev/null 2>&1; then
  build_base
fi
echo "image ${base_tag}: built or cached in $(( $(seconds) - started )) s"

step=$(seconds)
"$docker_cli" build --quiet --network host --build-arg "BASE_IMAGE=${base_tag}" \
  -f images/platform/Dockerfile -t "$platform_tag" . >/dev/null
echo "image ${platform_tag}: built in $(( $(seconds) - step )) s"

step=$(seconds)
"$docker_cli" build --quiet --network host --build-arg "PLATFORM_IMAGE=${platform_tag}" \
  -f images/notebook/Dockerfile -t "$notebook_tag" . >/dev/null
echo "image ${notebook_tag}: built in $(( $(seconds) - step )) s"

step=$(seconds)
"$docker_cli" build --quiet --network host --build-arg MODEL_URI=models:/churn/1 -t "$churn_tag" serving/churn >/dev/null
echo "image ${churn_tag}: built in $(( $(seconds) - step )) s"

for tag in "$base_tag" "$platform_tag" "$notebook_tag" "$churn_tag"; do
  size=$("$docker_cli" image inspect -f '{{.Size}}' "$tag")
  echo "image size: ${tag} $(( size / 1000000 )) MB"
done
# The tests find the images by these names.
printf 'MLOPS_PLATFORM_IMAGE=%s\nMLOPS_NOTEBOOK_IMAGE=%s\nMLOPS_CHURN_IMAGE=%s\n' "$platform_tag" "$notebook_tag" "$churn_tag" >"$build_dir/images.env"
