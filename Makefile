# moatsim — build, test, run, bench, install.
#   make            build bin/moatsim
#   make run        install missing packages, build, run the baseline, print its summary
#   make test       unit tests (plain and with SANITIZE=1), integration and Python tests, the
#                   MPI test (make MPI=1) when mpicc exists, and the Slurm test (as root)
#   make bench      benchmarks that print figures
# Variables: OPT= optimisation flags, SANITIZE=1 (ASan + UBSan), MPI=1 (build with mpicc),
#            LEVEL=1|3|4 (the pricing kernel for that x86-64 level alone, in build/release-levelN;
#            tests/integration/levels.sh), PREFIX, DESTDIR (install), PYTHON (default
#            /usr/bin/python3).

PREFIX  ?= /usr/local
DESTDIR ?=
PYTHON  ?= /usr/bin/python3
OPT     ?= -O3
SANITIZE ?= 0
MPI     ?= 0
LEVEL   ?=
VERSION := 1.0.0

PKGS := gsl hdf5 libconfig
# pkg-config's include flags become -isystem so that strict warnings apply to our code only.
PKG_CFLAGS = $(patsubst -I%,-isystem %,$(shell pkg-config --cflags $(PKGS) 2>/dev/null))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
HDF5_LIBDIR = $(shell pkg-config --variable=libdir hdf5 2>/dev/null)
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

VARIANT := release
ifeq ($(SANITIZE),1)
  VARIANT := asan
  SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  OPT := -O1 -g
endif
ifeq ($(MPI),1)
  CC := mpicc
  VARIANT := $(VARIANT)-mpi
  MPI_FLAGS := -DMOAT_MPI=1
endif
# Kept out of BASE_CFLAGS (the flags a results file records), so that the files of the level
# builds can be compared with the release build's in full.
ifneq ($(LEVEL),)
  VARIANT := $(VARIANT)-level$(LEVEL)
  LEVEL_FLAGS := -DMOAT_FORCE_LEVEL=$(LEVEL)
endif

GIT_REV := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)

WARN := -std=c11 -Wall -Wextra -Wshadow -Wconversion -Wpedantic -Wstrict-prototypes \
        -Wmissing-prototypes -Wformat=2 -Wundef -Werror
CPPFLAGS += -Iinclude -D_POSIX_C_SOURCE=200809L -MMD -MP
BASE_CFLAGS := $(WARN) $(OPT) -fopenmp $(SAN_FLAGS) $(MPI_FLAGS)
ALL_CFLAGS = $(BASE_CFLAGS) $(LEVEL_FLAGS) $(PKG_CFLAGS) $(CFLAGS) \
  -DMOAT_VERSION='"$(VERSION)"' -DMOAT_GIT_REV='"$(GIT_REV)"' \
  -DMOAT_CFLAGS='"$(strip $(BASE_CFLAGS))"' -DMOAT_COMPILER='"$(shell $(CC) --version | head -n1)"'
ALL_LDFLAGS = -fopenmp $(SAN_FLAGS) $(LDFLAGS)
LIBS = $(PKG_LIBS) $(if $(HDF5_LIBDIR),-L$(HDF5_LIBDIR)) -lhdf5_hl -lm

B := build/$(VARIANT)
LIB_SRCS := $(filter-out sim/cli/main.c,$(wildcard sim/*/*.c))
LIB_OBJS := $(LIB_SRCS:sim/%.c=$(B)/sim/%.o)
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(B)/tests/%)
BENCH_SRCS := $(wildcard tests/bench/*.c)
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(B)/bench/%)
BIN := bin/moatsim
ifneq ($(VARIANT),release)
  BIN := $(B)/moatsim
endif

.PHONY: all run test test-bins unit-tests integration-tests python-tests bench install uninstall clean deps docs

all: $(BIN)

$(BIN): $(B)/sim/cli/main.o $(B)/libmoat.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(B)/libmoat.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# Objects that embed the git revision are rebuilt when it changes (a stamp file holds it).
REV_STAMP := $(B)/git-revision
$(REV_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(GIT_REV)' | cmp -s - $@ || echo '$(GIT_REV)' > $@
$(B)/sim/output/provenance.o $(B)/sim/cli/main.o: $(REV_STAMP)
.PHONY: FORCE
FORCE:

$(B)/sim/%.o: sim/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(B)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(B)/tests/%: $(B)/tests/%.o $(B)/libmoat.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(LIBS)

$(B)/bench/%.o: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(B)/bench/%: $(B)/bench/%.o $(B)/libmoat.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

deps:
	@sh .ci/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p results
	./$(BIN) run scenarios/baseline.cfg -o results/baseline.h5 --force
	./$(BIN) summary results/baseline.h5

# Everything is built first (in parallel), then tests/suite.sh runs the unit tests, the same tests
# and the bad-input corpus (cli.sh) under ASan + UBSan, the integration scripts (slurm.sh alongside
# the others) and the Python tests.
NPROC := $(shell nproc 2>/dev/null || echo 2)
test: deps
	@sh tests/layers.sh && sh tests/layers.sh --self-test
	@$(MAKE) --no-print-directory -j$(NPROC) all test-bins
	@$(MAKE) --no-print-directory -j$(NPROC) SANITIZE=1 all test-bins
	@if command -v mpicc >/dev/null 2>&1; then $(MAKE) --no-print-directory -j$(NPROC) MPI=1 all; fi
	@for l in 1 3 4; do $(MAKE) --no-print-directory -j$(NPROC) LEVEL=$$l all || exit 1; done
	@mpi=build/release-mpi/moatsim; test -x $$mpi || mpi=""; \
	  MAKE="$(MAKE)" MOATSIM=./$(BIN) MOATSIM_ASAN=build/asan/moatsim \
	  MOATSIM_MPI=$$mpi PYTHON=$(PYTHON) sh tests/suite.sh

test-bins: $(TEST_BINS)

unit-tests: $(TEST_BINS)
	@set -e; for t in $(TEST_BINS); do echo "== $$t"; OMP_NUM_THREADS=2 ./$$t; done

# mpi.sh and slurm.sh's MPI job use the MPI build when it exists (make test builds it first).
MOATSIM_MPI ?= $(wildcard build/release-mpi/moatsim)
integration-tests: $(BIN)
	@set -e; for t in tests/integration/*.sh; do echo "== $$t"; \
	  MOATSIM=./$(BIN) MOATSIM_MPI=$(MOATSIM_MPI) PYTHON=$(PYTHON) sh $$t; done

# On 2 workers (one test file each at a time) when pytest-xdist is installed.
PYTEST_JOBS ?= 2
python-tests: $(BIN)
	@if ls tests/python/test_*.py >/dev/null 2>&1; then \
	  xdist=""; $(PYTHON) -c "import xdist" 2>/dev/null && xdist="-n $(PYTEST_JOBS) --dist loadfile"; \
	  MOATSIM=$(CURDIR)/$(BIN) PYTHONPATH=$(CURDIR) $(PYTHON) -m pytest -q -p no:cacheprovider $$xdist tests/python; \
	fi

# The benchmarks also run at -O2 (build/bench-O2) to show that the kernel's speed does not
# depend on the optimisation level (tests/bench/run.sh, section (h)).
bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	@$(MAKE) --no-print-directory VARIANT=bench-O2 OPT=-O2 build/bench-O2/bench/bench_run \
	  build/bench-O2/bench/bench_kernel
	@if command -v mpicc >/dev/null 2>&1; then $(MAKE) --no-print-directory MPI=1 all; fi
	@BENCH_O2=build/bench-O2/bench MOATSIM_MPI=build/release-mpi/moatsim \
	  sh tests/bench/run.sh ./$(BIN) $(B)/bench

docs: $(BIN)
	./$(BIN) params --format markdown > docs/parameters.md

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/doc/moatsim $(DESTDIR)$(PREFIX)/share/moatsim/scenarios
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/moatsim
	install -m 644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/moatsim/
	install -m 644 scenarios/*.cfg $(DESTDIR)$(PREFIX)/share/moatsim/scenarios/
	install -d $(DESTDIR)$(PREFIX)/share/moatsim/slurm
	install -m 755 scripts/slurm/*.sbatch $(DESTDIR)$(PREFIX)/share/moatsim/slurm/
	install -d $(DESTDIR)$(PREFIX)/share/moatsim/python/analysis/notebooks
	install -m 644 analysis/*.py $(DESTDIR)$(PREFIX)/share/moatsim/python/analysis/
	install -m 644 analysis/notebooks/*.ipynb $(DESTDIR)$(PREFIX)/share/moatsim/python/analysis/notebooks/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/moatsim
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/moatsim $(DESTDIR)$(PREFIX)/share/moatsim

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
