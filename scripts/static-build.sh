# Sourced by the scripts that build the shipped, statically linked binaries (build-deb.sh, bench.sh,
# kioskd-order.sh): `static_build CONFIG [swift build arguments...]`.
# Every function in its own section (Swift and C alike), so the linker script
# packaging/kioskd-text.ld (Package.swift) can put the code kioskd runs to its home screen and while
# idle together: left to the defaults, many functions share one .text section per source file, which
# the linker cannot split.
static_build() {
  local config="$1"
  shift
  swift build -c "$config" --static-swift-stdlib \
    -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections "$@"
}
