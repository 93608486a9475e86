# banger: build, install and test. `make help` lists the targets.

PREFIX ?= /usr/local
DESTDIR ?=
CARGO ?= cargo
BIN := build/bin
# The agent is linked statically (non-PIE: `file` says "statically linked")
# for the host's own target triple: naming
# --target keeps RUSTFLAGS away from build scripts and proc macros.
HOST_TARGET := $(shell rustc -vV | sed -n 's/^host: //p')

.PHONY: help setup deps build install uninstall test lint clean quickstart \
	rootfs alpine-kernel rootfs-alpine alpine-register void-kernel rootfs-void void-register

help:
	@echo "make setup    install host dependencies (Debian packages, vhost-device-vsock) and build"
	@echo "make build    build ./build/bin/{banger,bangerd,banger-vsock-agent,banger-net-helper} (release) and ./build/man"
	@echo "make install  install into \$$(DESTDIR)\$$(PREFIX) (default /usr/local)"
	@echo "make test     build every binary and run the whole test suite"
	@echo "make lint     cargo fmt --check and clippy -D warnings"
	@echo "make quickstart  deps, build, a Debian kernel and image, then banger vm run -- uname -a"
	@echo ""
	@echo "Manual helpers (write ./build/manual; docs/manual-helpers.md):"
	@echo "make rootfs ARGS='--base-rootfs R --kernel K [--initrd I] [--modules M]'"
	@echo "                 a Debian dev box with Docker: rootfs-docker.ext4 (+ .work-seed.ext4)"
	@echo "make alpine-kernel | rootfs-alpine | alpine-register   (ALPINE_RELEASE=X.Y.Z overrides the pin)"
	@echo "make void-kernel | rootfs-void | void-register"

setup: deps build

quickstart:
	./scripts/quickstart.sh

deps:
	./scripts/install-deps.sh

build:
	$(CARGO) build --release -p banger -p bangerd
	RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" $(CARGO) build --release -p banger-vsock-agent --target $(HOST_TARGET)
	install -d $(BIN)
	install -m 0755 target/release/banger target/release/bangerd target/release/banger-net-helper $(BIN)/
	install -m 0755 target/$(HOST_TARGET)/release/banger-vsock-agent $(BIN)/
	$(BIN)/banger man-pages build/man

install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/banger
	install -m 0755 $(BIN)/banger $(BIN)/bangerd $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(BIN)/banger-vsock-agent $(DESTDIR)$(PREFIX)/lib/banger/
	# Run as root through sudo: installed root-owned, writable by root only.
	install -m 0755 $(BIN)/banger-net-helper $(DESTDIR)$(PREFIX)/lib/banger/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0644 build/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/banger $(DESTDIR)$(PREFIX)/bin/bangerd
	rm -rf $(DESTDIR)$(PREFIX)/lib/banger
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/banger.1 $(DESTDIR)$(PREFIX)/share/man/man1/banger-*.1

# Integration tests run the real banger and bangerd binaries, so every
# binary is built before any test runs.
# The static agent (also built here, debug) is what initrds and guests get.
test:
	$(CARGO) build --workspace --bins
	RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" $(CARGO) build -p banger-vsock-agent --target $(HOST_TARGET)
	$(CARGO) test --workspace

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	rm -rf build
	$(CARGO) clean

# Manual helpers: scripts/manual/, pins in scripts/manual/pins.sh.
rootfs:
	./scripts/manual/rootfs-docker.sh $(ARGS)

alpine-kernel:
	./scripts/manual/alpine.sh kernel

rootfs-alpine:
	./scripts/manual/alpine.sh rootfs

alpine-register:
	./scripts/manual/alpine.sh register

void-kernel:
	./scripts/manual/void.sh kernel

rootfs-void:
	./scripts/manual/void.sh rootfs

void-register:
	./scripts/manual/void.sh register
