#!/usr/bin/env bash
# Set up a Debian 12 machine for tpmcard: apt packages, the .venv virtualenv (package installed
# editable, with its test extras), and the applets built by gradle.
# A second run only checks and is fast; it changes nothing that is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  openjdk-17-jdk-headless gradle              # applets, jCardSim, GlobalPlatformPro
  swtpm swtpm-tools tpm2-tools libtss2-dev    # the embedded TPM, the independent checker, tpm2-pytss
  gnutls-bin                                  # certtool: swtpm_localca issues the embedded TPM's EK certificate
  pcscd vsmartcard-vpcd libpcsclite-dev swig  # PC/SC and the virtual reader; pyscard builds with swig
  opensc                                      # opensc-tool: an independent PC/SC client in the tests
  qemu-utils                                  # qemu-img: the portable environment's qcow2 test
  python3 python3-venv python3-dev pkg-config build-essential git
)

say() { printf "\033[1m[setup]\033[0m %s\n" "$*"; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  say "installing apt packages: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# vsmartcard's vpcd listens on 35963/35964 without SO_REUSEADDR: if the kernel hands either port
# to some outgoing connection, pcscd cannot start its virtual readers for a minute afterwards.
# Keep both out of the ephemeral range (needs root; harmless to repeat).
reserved=$(cat /proc/sys/net/ipv4/ip_local_reserved_ports 2>/dev/null || true)
case ",$reserved," in
  *,35963-35964,*) ;;
  *)
    want=${reserved:+$reserved,}35963-35964
    if [ "$(id -u)" -eq 0 ]; then
      sysctl -q -w net.ipv4.ip_local_reserved_ports="$want" || say "could not reserve ports 35963-35964"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      sudo sysctl -q -w net.ipv4.ip_local_reserved_ports="$want" || true
    fi
    ;;
esac

# The virtualenv uses Debian's python3 (3.11 on Debian 12), not whatever python3 is first on PATH.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.tpmcard-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing the tpmcard package and its test extras into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  echo "$want" > "$stamp"
fi

say "building the applets (gradle assemble)"
gradle -q --console=plain assemble 2>&1 | grep -v -E '^(openjdk version|OpenJDK)' || true
test -s applets/build/sim-classpath.txt || { echo "setup: gradle did not produce applets/build/sim-classpath.txt" >&2; exit 1; }
say "ready: .venv/bin/tpmcard"
