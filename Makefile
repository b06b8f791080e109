# kindling - build, run, test, lint.
#
#   make          build build/kindling
#   make run      install missing build packages (as root), build, serve on 127.0.0.1:8080
#   make test     unit + end-to-end tests, all under ASan+UBSan; ends "N passed, N failed, N skipped"
#   make test-image  build the Dockerfile with podman and test the image (as root)
#   make lint     clang-format check, clang-tidy, cppcheck
#   make bench    benchmarks against nginx, discovery.etcd.io and etcd 3.4/3.5 (see bench/)
#   make clean

CC       ?= cc
PKGS     := libmicrohttpd gnutls jansson libcurl sqlite3 nettle libpq libnghttp2 libprotobuf-c
# Debian packages: to build (protobuf-c-compiler: protoc-c makes build/gen/etcd.pb-c.[ch]),
# to run the tests (postgresql: the PostgreSQL backend's tests, tests/pg.sh; nodejs,
# npm: the browser tests; nghttp2-client: the gRPC tests' h2 probes;
# clang, libclang-rt-14-dev: libFuzzer for the fuzz smoke test), to check
# examples/ (make test-image: hcl v2 source and Go to build its hclfmt), to lint.
BUILD_DEBS := make gcc pkg-config libc6-dev libmicrohttpd-dev libgnutls28-dev libjansson-dev \
              libcurl4-gnutls-dev libsqlite3-dev nettle-dev libpq-dev libnghttp2-dev \
              libprotobuf-c-dev protobuf-c-compiler
TEST_DEBS  := curl jq sqlite3 procps iproute2 util-linux etcd-server etcd-client etcd-discovery \
              ignition systemd python3 python3-jsonschema rabbitmq-server openssl nftables \
              chromium nodejs npm wrk nginx-light clang libclang-rt-14-dev postgresql nghttp2-client
EXAMPLE_DEBS := systemd golang-go golang-github-hashicorp-hcl-v2-dev
LINT_DEBS  := clang-format clang-tidy cppcheck

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wno-format-nonliteral
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl and libpq are opened at run time (server/upstream.c, server/store/libpq.c), so
# they are not linked: a kindling on SQLite does not map libpq, OpenSSL and Kerberos
PKG_LIBS   = $(shell pkg-config --libs $(filter-out libcurl libpq,$(PKGS)) 2>/dev/null)
CFLAGS   ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(PKG_CFLAGS) -Ibuild/gen -MMD -MP
LDLIBS   = $(PKG_LIBS) -lpthread
SAN      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
SRCS     := $(filter-out server/main.c,$(wildcard server/*.c)) $(wildcard server/store/*.c) \
            $(wildcard server/grpc/*.c)
MIGRATIONS_SQLITE   := $(sort $(wildcard db/sqlite/[0-9]*.sql))
MIGRATIONS_POSTGRES := $(sort $(wildcard db/postgres/[0-9]*.sql))
STATIC     := $(sort $(wildcard server/static/*))
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)

# Two trees: build/ (release) and build/asan/ (sanitizers, what the tests run).
OBJS      := $(SRCS:server/%.c=build/obj/%.o) build/obj/migrations.o build/obj/static.o \
             build/obj/etcd.pb-c.o
ASAN_OBJS := $(SRCS:server/%.c=build/asan/obj/%.o) build/asan/obj/migrations.o build/asan/obj/static.o \
             build/asan/obj/etcd.pb-c.o
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/asan/tests/%)

.PHONY: all asan fuzz fuzz-build run deps test-deps test test-unit test-e2e lint format bench clean \
        print-test-debs print-fuzz-targets
all: build/kindling

build/gen/migrations.c: $(MIGRATIONS_SQLITE) $(MIGRATIONS_POSTGRES) tools/embed-migrations.sh
	@mkdir -p $(@D)
	@sh tools/embed-migrations.sh sqlite $(MIGRATIONS_SQLITE) -- postgres $(MIGRATIONS_POSTGRES) \
		> $@.tmp && mv $@.tmp $@

build/gen/static.c: $(STATIC) tools/embed-static.sh
	@mkdir -p $(@D)
	@sh tools/embed-static.sh $(STATIC) > $@.tmp && mv $@.tmp $@

# the etcd v3 messages (server/grpc/etcd.proto), generated at build time
PROTO_GEN := build/gen/etcd.pb-c.c build/gen/etcd.pb-c.h
$(PROTO_GEN) &: server/grpc/etcd.proto
	@mkdir -p build/gen
	@echo PROTOC-C $<; protoc-c --c_out=build/gen --proto_path=server/grpc $<
# generated code is protoc-c's, not ours: built without -Werror's extra warnings
GEN_CFLAGS = -std=c11 -D_GNU_SOURCE $(CFLAGS) $(PKG_CFLAGS) -Ibuild/gen -MMD -MP
build/obj/etcd.pb-c.o: build/gen/etcd.pb-c.c
	@mkdir -p $(@D)
	@echo CC $@; $(CC) $(GEN_CFLAGS) -c -o $@ $<
build/asan/obj/etcd.pb-c.o: build/gen/etcd.pb-c.c
	@mkdir -p $(@D)
	@echo CC $@; $(CC) $(GEN_CFLAGS) $(SAN) -c -o $@ $<
$(filter build/obj/grpc/%,$(OBJS)) $(filter build/asan/obj/grpc/%,$(ASAN_OBJS)): | build/gen/etcd.pb-c.h

build/obj/%.o: server/%.c
	@mkdir -p $(@D)
	@echo CC $@; $(CC) $(ALL_CFLAGS) -DKINDLING_VERSION='"$(VERSION)"' -c -o $@ $<
build/obj/migrations.o: build/gen/migrations.c
	@mkdir -p $(@D)
	@echo CC $@; $(CC) $(ALL_CFLAGS) -Iserver -c -o $@ $<
build/obj/static.o: build/gen/static.c
	@mkdir -p $(@D)
	@echo CC $@; $(CC) $(ALL_CFLAGS) -Iserver -c -o $@ $<
build/kindling: build/obj/main.o $(OBJS)
	@echo LD $@; $(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/asan/obj/%.o: server/%.c
	@mkdir -p $(@D)
	@echo CC $@; $(CC) $(ALL_CFLAGS) $(SAN) -DKINDLING_VERSION='"$(VERSION)"' -c -o $@ $<
build/asan/obj/migrations.o: build/gen/migrations.c
	@mkdir -p $(@D)
	@echo CC $@; $(CC) $(ALL_CFLAGS) $(SAN) -Iserver -c -o $@ $<
build/asan/obj/static.o: build/gen/static.c
	@mkdir -p $(@D)
	@echo CC $@; $(CC) $(ALL_CFLAGS) $(SAN) -Iserver -c -o $@ $<
build/asan/kindling: build/asan/obj/main.o $(ASAN_OBJS)
	@echo LD $@; $(CC) $(SAN) -o $@ $^ $(LDLIBS)
build/asan/tests/%: tests/unit/%.c $(ASAN_OBJS)
	@mkdir -p $(@D)
	@echo LD $@; $(CC) $(ALL_CFLAGS) $(SAN) -Iserver -o $@ $< $(ASAN_OBJS) $(LDLIBS)
asan: build/asan/kindling $(UNIT_BINS)

# Fuzzing (libFuzzer, clang): make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="subst accept"].
# (http runs the real server on a loopback port inside the fuzzer.)
# Each target runs FUZZ_SECONDS on its seeds (tests/fuzz/NAME/corpus) plus
# what it found before (build/fuzz/corpus/NAME); a crash fails. See tests/fuzz/README.md.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= subst accept cluster discovery http grpc report
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE $(filter-out -Werror,$(WARN)) -g -O1 -fno-omit-frame-pointer \
                -fsanitize=address,undefined -fno-sanitize-recover=all $(PKG_CFLAGS) -Iserver -Ibuild/gen -MMD -MP \
                -DKINDLING_VERSION='"$(VERSION)"'
FUZZ_OBJS     = $(ASAN_OBJS:build/asan/obj/%=build/fuzz/obj/%)
$(filter build/fuzz/obj/grpc/%,$(ASAN_OBJS:build/asan/obj/%=build/fuzz/obj/%)): | build/gen/etcd.pb-c.h
# server files a target #includes (to reach static functions) stay out of its link
FUZZ_OMIT_cluster   := service
FUZZ_OMIT_discovery := http api_discovery http_errors
FUZZ_LD_discovery   := -Wl,--wrap=discovery_get,--wrap=discovery_put,--wrap=discovery_watch \
                       -Wl,--wrap=discovery_replaced \
                       -Wl,--wrap=store_dir_create,--wrap=log_info
build/fuzz/obj/%.o: server/%.c
	@mkdir -p $(@D)
	@echo CC $@; $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
build/fuzz/obj/%.o: build/gen/%.c
	@mkdir -p $(@D)
	@echo CC $@; $(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS)
	@echo LD $@; $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
		$(filter-out $(FUZZ_OMIT_$*:%=build/fuzz/obj/%.o),$(FUZZ_OBJS)) $(FUZZ_LD_$*) $(LDLIBS)
.PRECIOUS: build/fuzz/obj/%.o
fuzz-build: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh $(FUZZ_TARGETS)
# (tests/e2e/test_fuzz_smoke.sh runs every one of these for a few seconds in make test)
print-fuzz-targets:
	@echo $(FUZZ_TARGETS)

# Installs what is missing when run as root; otherwise says what to install.
deps:
	@sh tools/need-debs.sh $(BUILD_DEBS)
test-deps: deps
	@sh tools/need-debs.sh $(TEST_DEBS)
print-test-debs:
	@echo $(sort $(BUILD_DEBS) $(TEST_DEBS) $(EXAMPLE_DEBS) $(LINT_DEBS))

run: deps
	@$(MAKE) --no-print-directory build/kindling
	./build/kindling --listen 127.0.0.1:8080 --db db/kindling.db --templates templates

test: test-deps
	@$(MAKE) --no-print-directory build/kindling asan
	@sh tests/run.sh

test-unit: asan
	@sh tests/run.sh unit
test-e2e: asan
	@sh tests/run.sh e2e

# examples/ (systemd-analyze, hcl v2's hclfmt, variables; terraform when
# installed), then the Docker image: built with podman (no Docker engine, no
# registry), run and checked through the container. As root; installs podman
# when missing. See tests/image/. Through tests/run.sh: time limits, plans.
.PHONY: test-image
test-image: deps
	@sh tools/need-debs.sh $(EXAMPLE_DEBS)
	@$(MAKE) --no-print-directory build/kindling
	@KINDLING_BIN=build/kindling sh tests/run.sh tests/image/test_examples.sh tests/image/test_image.sh

FORMAT_FILES = $(wildcard server/*.[ch] server/store/*.[ch] server/grpc/*.[ch] tests/unit/*.[ch])
lint: build/kindling
	@# build/gen/ is protoc-c's output: not formatted, tidied or checked here
	@sh tools/need-debs.sh $(LINT_DEBS)
	clang-format --dry-run --Werror $(FORMAT_FILES)
	sh tools/check-layers.sh
	clang-tidy --quiet $(SRCS) server/main.c -- -std=c11 -D_GNU_SOURCE -DKINDLING_VERSION='"lint"' $(PKG_CFLAGS) -Ibuild/gen 2>&1 | \
		(! grep -E 'warning:|error:')
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --std=c11 -D__GNUC__ --suppress=missingIncludeSystem server/
format:
	clang-format -i $(FORMAT_FILES)

bench: build/kindling
	@sh bench/run.sh
	@sh bench/tls.sh
	@bash bench/grpc.sh
	@bash bench/replicas.sh

clean:
	rm -rf build

-include $(wildcard build/obj/*.d build/obj/store/*.d build/asan/obj/*.d build/asan/obj/store/*.d \
	build/asan/tests/*.d build/fuzz/obj/*.d build/fuzz/obj/store/*.d build/fuzz/*.d \
	build/obj/grpc/*.d build/asan/obj/grpc/*.d build/fuzz/obj/grpc/*.d)
