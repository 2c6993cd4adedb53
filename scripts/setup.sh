#!/usr/bin/env bash
# Installs everything waydesk needs on Debian 12, idempotently: Debian packages, npm
# packages, native addons, TypeScript. Quiet and quick when there is nothing to do.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: wlroots 0.15 and friends. Run: the clients the compositor is tested with.
PKGS=(
  build-essential python3 pkg-config
  libwlroots-dev libwayland-dev wayland-protocols libpixman-1-dev libxkbcommon-dev libdrm-dev xkb-data
  libavcodec-dev libavutil-dev libx264-dev libyuv-dev libzstd-dev libopenh264-dev ffmpeg
  foot weston grim wayland-utils wl-clipboard swaybg mpv chromium fonts-dejavu-core openssl
  xwayland xterm wlr-randr
  iproute2 passwd libpam0g-dev console-setup-linux
  libpcsclite-dev pcscd vsmartcard-vpcd seatd libseat-dev
  linux-image-amd64 busybox-static zstd kmod qemu-system-x86 ipxe-qemu ipxe dnsmasq-base
)

# The side-by-side benchmark also runs the peers: VNC on headless sway, and waypipe.
if [ "${1:-}" = "--peers" ]; then
  PKGS+=(sway wayvnc waypipe wtype)
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "waydesk needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))." >&2
  exit 1
fi

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

# vsmartcard-vpcd is here for the tests' own pcscd (their reader.conf names its driver). The
# package also gives the system's pcscd two virtual readers listening on every address: diverted
# away (before it is installed, or now), so nobody on the network puts a card into this machine.
VPCD_CONF=/etc/reader.conf.d/vpcd
if ! dpkg-divert --list "$VPCD_CONF" | grep -q .; then
  $SUDO dpkg-divert --quiet --local --rename --divert /etc/vpcd-reader.conf.disabled-by-waydesk --add "$VPCD_CONF"
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  # Another apt (unattended-upgrades on a new machine) may hold the dpkg lock: wait, then retry.
  apt_retry() {
    for attempt in 1 2 3 4 5 6; do
      if $SUDO env DEBIAN_FRONTEND=noninteractive "$@" -o DPkg::Lock::Timeout=300; then return 0; fi
      echo "setup: '$*' failed (attempt $attempt), retrying in 10 s" >&2
      sleep 10
    done
    return 1
  }
  apt_retry apt-get update -qq
  apt_retry apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The PAM service the server logs users in with (its rules: session-manager/pam/waydesk).
if ! cmp -s session-manager/pam/waydesk /etc/pam.d/waydesk; then
  echo "setup: installing /etc/pam.d/waydesk"
  $SUDO install -m 644 session-manager/pam/waydesk /etc/pam.d/waydesk
fi

# npm ci when the lock changed since the last install; it also builds the native addons.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
