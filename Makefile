# lowp — GNU Make build. `make` builds liblowp.a, liblowp.so and the lowp program into build/.
# `make test`, `make test-asan`, `make demo`, `make install PREFIX=...`, `make deps`.

PREFIX ?= /usr/local
# the Python package goes where Debian's python3 looks under PREFIX (/usr/local/lib/python3.11/dist-packages)
PYTHON ?= /usr/bin/python3
PYDIR = $(PREFIX)/lib/python$(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)/dist-packages
CC ?= cc
BUILD ?= build
OPT ?= -O2
SAN ?=
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror -fPIC -fopenmp $(SAN)
CPPFLAGS := -Iinclude -Isrc -I$(BUILD)/gen
LDLIBS := -lprotobuf-c -lyaml -lz -ljpeg -lpng -ldnnl -lm -lpthread
LDFLAGS_ALL := -fopenmp $(SAN) $(LDFLAGS)

PROTO := /usr/include/onnx/onnx.proto
GEN_C := $(BUILD)/gen/onnx.pb-c.c
GEN_H := $(BUILD)/gen/onnx.pb-c.h

LIB_SRC := $(sort $(wildcard src/*/*.c))
LIB_SRC := $(filter-out src/cli/% src/server/% src/dist/comm_mpi.c,$(LIB_SRC))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
# Open MPI: only the lowp program links it (src/dist/comm_mpi.c); liblowp stays MPI-free
MPI_CFLAGS := $(shell mpicc --showme:compile 2>/dev/null)
MPI_LIBS := $(shell mpicc --showme:link 2>/dev/null)
MPI_OBJ := $(BUILD)/obj/src/dist/comm_mpi.o
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/onnx.pb-c.o
# `lowp ui` (src/server/, docs/ui.md) is part of the program, not of liblowp: only the program
# links libmicrohttpd; its pages (ui/) are compiled in by ui/embed.c
SERVER_SRC := $(sort $(wildcard src/server/*.c))
UI_ASSETS := $(sort $(wildcard ui/*.html ui/*.css ui/*.js ui/*.svg))
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o) $(SERVER_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/ui_assets.o
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all deps test test-asan demo install clean fuzz bench bench-conv bench-conv1d bench-deconv bench-graph bench-train zoo
all: $(BUILD)/liblowp.a $(BUILD)/liblowp.so $(BUILD)/lowp

$(GEN_C) $(GEN_H): $(PROTO)
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen --proto_path=$(dir $(PROTO)) $(PROTO)

$(BUILD)/obj/gen/onnx.pb-c.o: $(GEN_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Wno-error $(CPPFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $(CPPFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/tools/embed: ui/embed.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $< -o $@

$(BUILD)/gen/ui_assets.c: $(BUILD)/tools/embed $(UI_ASSETS)
	$(BUILD)/tools/embed $@ $(UI_ASSETS)

$(BUILD)/obj/gen/ui_assets.o: $(BUILD)/gen/ui_assets.c src/server/assets.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CPPFLAGS) -c $< -o $@

$(MPI_OBJ): src/dist/comm_mpi.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $(CPPFLAGS) $(MPI_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/liblowp.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/liblowp.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS_ALL) -o $@ $^ $(LDLIBS)

$(BUILD)/lowp: $(CLI_OBJ) $(MPI_OBJ) $(BUILD)/liblowp.a
	$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJ) $(MPI_OBJ) $(BUILD)/liblowp.a $(LDLIBS) -lmicrohttpd $(MPI_LIBS)

$(BUILD)/tests/%: tests/%.c tests/test.h tests/op_harness.h tests/graph_builder.h tests/chain_model.h tests/fm_data.h $(BUILD)/liblowp.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $(CPPFLAGS) -Itests $< -o $@ $(BUILD)/liblowp.a $(LDFLAGS_ALL) $(LDLIBS)

# tests of `lowp ui`'s own code link its objects too
$(BUILD)/tests/test_server_%: tests/test_server_%.c tests/test.h $(SERVER_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/ui_assets.o $(BUILD)/liblowp.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $(CPPFLAGS) -Itests $< -o $@ $(SERVER_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/ui_assets.o $(BUILD)/liblowp.a $(LDFLAGS_ALL) $(LDLIBS) -lmicrohttpd

# pkg-config file for the installed prefix (written at install time, so PREFIX is honoured)
define LOWP_PC
prefix=$(PREFIX)
libdir=$${prefix}/lib
includedir=$${prefix}/include

Name: lowp
Description: accuracy-driven low-precision optimization of neural networks
Version: 0.1.0
Libs: -L$${libdir} -llowp
Libs.private: $(LDLIBS) -fopenmp
Cflags: -I$${includedir}
endef
export LOWP_PC

deps:
	@sh tools/deps.sh

# Tests: unit programs, then the CLI and conformance suites; tools/run_tests.sh prints
# the closing "N passed, N failed" line and fails on any failure.
test: deps
	$(MAKE) all $(TEST_BIN)
	sh tools/run_tests.sh $(BUILD)

# The same suite under AddressSanitizer + UBSan (leak checking on), in its own build dir.
test-asan: deps
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" all \
	  $(TEST_SRC:tests/%.c=build-asan/tests/%)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 sh tools/run_tests.sh build-asan

demo: deps all
	sh tools/demo.sh $(BUILD)

# Side-by-side timing against ONNX Runtime and PyTorch (docs/performance.md).
bench: all
	sh bench/run_all.sh $(BUILD)

# The engine's overhead on ResNet-50's 3x3 convolutions against standalone oneDNN (a benchmark,
# not a test: run $(BUILD)/bench/conv_overhead; docs/performance.md).
bench-conv: $(BUILD)/bench/conv_overhead

$(BUILD)/bench/conv_overhead: bench/conv_overhead.c $(BUILD)/liblowp.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $(CPPFLAGS) $< -o $@ $(BUILD)/liblowp.a $(LDFLAGS_ALL) $(LDLIBS)

# 1-D convolutions' formulations (conv 1-D, as 2-D with H = 1, frames + matmul) in standalone
# oneDNN on the real models' shapes (a benchmark, not a test: run $(BUILD)/bench/conv1d_bench;
# docs/performance.md, "1-D convolutions").
bench-conv1d: $(BUILD)/bench/conv1d_bench

$(BUILD)/bench/conv1d_bench: bench/conv1d_bench.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $(CPPFLAGS) $< -o $@ $(LDFLAGS_ALL) $(LDLIBS)

# ConvTranspose in lowp's builds and in standalone oneDNN, side by side (a benchmark, not a test:
# run $(BUILD)/bench/deconv_bench; docs/engine.md, "ConvTranspose").
bench-deconv: $(BUILD)/bench/deconv_bench

$(BUILD)/bench/deconv_bench: bench/deconv_bench.c $(BUILD)/liblowp.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $(CPPFLAGS) $< -o $@ $(BUILD)/liblowp.a $(LDFLAGS_ALL) $(LDLIBS)

# A training step of resnet_s at batch 64 in lowp and in PyTorch, side by side (a benchmark:
# bench/train_bench.sh; docs/training.md).
bench-train: $(BUILD)/bench/train_bench
	sh bench/train_bench.sh $(BUILD)

$(BUILD)/bench/train_bench: bench/train_bench.c $(BUILD)/liblowp.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $(CPPFLAGS) $< -o $@ $(BUILD)/liblowp.a $(LDFLAGS_ALL) $(LDLIBS)

# Time per node of load, info, passes and compile on chains of 10k-200k nodes, in order and
# reversed (docs/limits.md): flat columns mean linear work. Run $(BUILD)/bench/graph_scale.
bench-graph: $(BUILD)/bench/graph_scale
	$(BUILD)/bench/graph_scale

$(BUILD)/bench/graph_scale: bench/graph_scale.c tests/chain_model.h $(BUILD)/liblowp.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $(CPPFLAGS) $< -o $@ $(BUILD)/liblowp.a $(LDFLAGS_ALL) $(LDLIBS)

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(BUILD)/liblowp.a $(BUILD)/liblowp.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/lowp.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(BUILD)/lowp $(DESTDIR)$(PREFIX)/bin/
	printf '%s\n' "$$LOWP_PC" > $(DESTDIR)$(PREFIX)/lib/pkgconfig/lowp.pc
	install -d $(DESTDIR)$(PYDIR)/lowp/experimental
	install -m 644 python/lowp/*.py $(DESTDIR)$(PYDIR)/lowp/
	install -m 644 python/lowp/experimental/*.py $(DESTDIR)$(PYDIR)/lowp/experimental/
	printf 'LIBRARY = "%s"\n' "$(PREFIX)/lib/liblowp.so" > $(DESTDIR)$(PYDIR)/lowp/_install.py

zoo:
	/usr/bin/python3 tools/make_zoo.py

clean:
	rm -rf build build-asan build-fuzz

# libFuzzer targets for the model loader and the .npy reader (make fuzz, fuzz-run, fuzz-merge)
include fuzz/Makefile.inc

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
