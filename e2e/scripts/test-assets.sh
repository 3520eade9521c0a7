#!/usr/bin/env bash
# test-assets.sh DIR: builds the Linux guest of the real-CH suite (e2e/real_test.go)
# for hosts with bare-metal KVM, cached in DIR (default .cache/test-assets):
#
#   DIR/vmlinuz            the kernel (bzImage) of Debian's linux-image-amd64
#   DIR/initramfs.cpio.gz  busybox-static, with an /init that prints the chtest
#                          guest protocol on ttyS0: CHVMM-GUEST-READY, then a
#                          counter line ("0", "1", …) every second
#
# Then: CHVMM_TEST_KERNEL=DIR/vmlinuz CHVMM_TEST_INITRAMFS=DIR/initramfs.cpio.gz make test-real
# Needs apt-get (Debian/Ubuntu package lists), dpkg-deb, cpio and gzip.
set -euo pipefail

dir="${1:-.cache/test-assets}"
if [ "$(uname -m)" != x86_64 ]; then
	echo "test-assets: only the amd64 Debian kernel is supported (host is $(uname -m))" >&2
	exit 1
fi
for tool in apt-get apt-cache dpkg-deb cpio gzip; do
	command -v "$tool" >/dev/null || { echo "test-assets: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
if [ -s "$dir/vmlinuz" ] && [ -s "$dir/initramfs.cpio.gz" ]; then
	echo "test-assets: cached in $dir"
	exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

# linux-image-amd64 is a metapackage: download the versioned image it names.
kpkg="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
if [ -z "$kpkg" ]; then
	echo "test-assets: apt-cache knows no linux-image-amd64; run apt-get update" >&2
	exit 1
fi
apt-get download "$kpkg" busybox-static
dpkg-deb -x "$kpkg"_*.deb kernel
dpkg-deb -x busybox-static_*.deb busybox

mkdir -p root/bin root/dev root/proc root/sys
cp busybox/bin/busybox root/bin/busybox
for applet in sh sleep mount; do ln -s busybox "root/bin/$applet"; done
cat > root/init <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec >/dev/ttyS0 2>&1
echo CHVMM-GUEST-READY
i=0
while :; do
	echo "$i"
	i=$((i + 1))
	/bin/busybox sleep 1
done
INIT
chmod 0755 root/init
(cd root && find . | cpio -o -H newc --quiet) | gzip -9 > initramfs.cpio.gz

cp kernel/boot/vmlinuz-* "$dir/vmlinuz.tmp"
cp initramfs.cpio.gz "$dir/initramfs.cpio.gz.tmp"
mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
mv "$dir/initramfs.cpio.gz.tmp" "$dir/initramfs.cpio.gz"
echo "test-assets: $dir/vmlinuz ($kpkg) and $dir/initramfs.cpio.gz"
