#!/usr/bin/env bash
# Makes a fresh Debian bookworm machine ready to build, run and test webgpu-cnn:
#   1. npm dependencies (npm ci),
#   2. a WebGPU adapter for dawn.node: if none is found, Mesa's lavapipe from bookworm-backports
#      (bookworm's own Mesa is too old for Dawn),
#   3. Debian's chromium for the headless-browser smoke test (skip with --no-browser),
#   4. with --torch, Debian's python3-torch and python3-torchvision, only needed to regenerate the
#      PyTorch golden fixtures and the ResNet18 export.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=1
want_torch=0
for arg in "$@"; do
  case "$arg" in
    --no-browser) want_browser=0 ;;
    --torch) want_torch=1 ;;
    *) echo "setup.sh: unknown option '$arg' (expected --no-browser or --torch)" >&2; exit 2 ;;
  esac
done

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@"
}

# Node itself is not installed here (bookworm's nodejs is 18, too old for the webgpu package).
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is needed (found: $(node --version 2>/dev/null || echo none)); install it first, e.g. from nodejs.org" >&2
  exit 1
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

if ! node scripts/probe-adapter.mjs >/dev/null 2>&1; then
  echo "setup: no WebGPU adapter found; installing Mesa lavapipe from bookworm-backports"
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" |
      as_root tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
  fi
  apt_install -t bookworm-backports mesa-vulkan-drivers libvulkan1
fi
node scripts/probe-adapter.mjs

if [ "$want_browser" = 1 ] && ! command -v chromium >/dev/null; then apt_install chromium; fi
if [ "$want_torch" = 1 ] && ! /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null; then apt_install python3-torch python3-torchvision; fi
exit 0
