#!/usr/bin/env bash
# Installs the system tools that the end-to-end tests, the demo and the
# benchmark use, when they are missing: iproute2 (ip), iputils-ping (ping),
# arping, iperf3, tcpdump, nftables (nft), dnsmasq (the DHCP server a plain
# Linux host runs in the TUN tests), b3sum (an independent BLAKE3
# that cross-checks the test vectors), fastd (the VPN daemon that
# `tools/bench --compare fastd` measures beside PeerTap), and chromium (the
# browser tools/overlay/test/ui.e2e.test.ts drives with playwright-core,
# which never downloads a browser of its own). Debian packages,
# installed with apt-get only when we are root and one of them is absent;
# otherwise it says what is missing and the tests that need them skip with
# that reason.
set -euo pipefail

declare -A package_of=(
  [ip]=iproute2
  [ping]=iputils-ping
  [arping]=arping
  [iperf3]=iperf3
  [tcpdump]=tcpdump
  [nft]=nftables
  [b3sum]=b3sum
  [fastd]=fastd
  [chromium]=chromium
  [dnsmasq]=dnsmasq-base
  [g++]=g++
)
missing=()
for tool in "${!package_of[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$tool" >/dev/null 2>&1 || missing+=("${package_of[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-tools: missing ${missing[*]} (not root or no apt-get); end-to-end tests will skip" >&2
  exit 0
fi
echo "system-tools: apt-get install ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
