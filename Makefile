# mssante-milter - build, test, demo and install.
#
#   make            build the daemon and mssantectl into build/
#   make check      unit tests, then integration tests through real Postfix/Redis
#                   (JOBS=N scripts at a time, nproc + 1 by default; JOBS=1: one by one)
#   make check SAN=1  the same tests, built with AddressSanitizer + UBSan
#   make bench-failover  two MX nodes on Redis Sentinel: throughput, failover window
#   make demo       a loopback Postfix + Redis + milter, a few messages, verdicts
#   make soak       10,000 messages through Postfix with faults injected, reconciled
#                   (SOAK_MESSAGES=N to change the count; make check runs 1,500)
#   make install    PREFIX=/usr/local DESTDIR=
#                   (debian/rules: PREFIX=/usr UNITDIR=/lib/systemd/system)
#   make fuzz       every libFuzzer target of tests/fuzz/ for FUZZ_SECONDS each (clang)
#
# Sources are picked up by directory: a new file in policy/ or whitelist/
# needs no Makefile change.  Each tests/unit/FOLDER/test_*.c is its own program.
# Two archives: libmssante.a, the core (no libmilter), and libmilterglue.a,
# the daemon's libmilter layer (milter/, but main.c).

PREFIX   ?= /usr/local
DESTDIR  ?=
SBINDIR  ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
MANDIR   ?= $(PREFIX)/share/man
UNITDIR  ?= $(PREFIX)/lib/systemd/system
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
VERSION  := 0.1.0

CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS += -std=c11 -D_GNU_SOURCE -DMSSANTE_VERSION='"$(VERSION)"' \
            -DMSSANTE_DEFAULT_CONF='"$(SYSCONFDIR)/mssante-milter.conf"' -I.
LIBS_CORE := -lhiredis -ljansson -lexpat -lcurl -lssl -lcrypto -lidn2 -lpthread
LIBS     := -lmilter $(LIBS_CORE)

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 2

ifeq ($(FUZZ),1)
# The libFuzzer build ("make fuzz"): clang, coverage instrumentation in the
# library, the fuzzer's main() in each target.
BUILD    ?= build-fuzz
CC       := $(FUZZ_CC)
CFLAGS   += -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=fuzzer,address,undefined
else ifeq ($(SAN),1)
BUILD    ?= build-san
CFLAGS   += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
else
BUILD    ?= build
endif

# The core library, libmssante.a: everything but the libmilter glue.  The
# daemon, mssantectl, the tests, the fuzz targets and the benches link it;
# none of it includes <libmilter/mfapi.h>, and mssantectl links nothing else
# (so not libmilter).
LIB_SRC  := $(wildcard common/*.c config/*.c policy/*.c whitelist/*.c conversation/*.c \
                      forward/*.c audit/*.c notify/*.c stats/*.c pipeline/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
# The daemon's libmilter glue (milter/), for the daemon and for the tests
# and benches that drive it.
GLUE_SRC := $(filter-out milter/main.c,$(wildcard milter/*.c))
GLUE_OBJ := $(GLUE_SRC:%.c=$(BUILD)/%.o)
GLUE     := $(BUILD)/libmilterglue.a
CTL_SRC  := $(wildcard ctl/*.c)
CTL_OBJ  := $(CTL_SRC:%.c=$(BUILD)/%.o)
# Unit tests mirror the tree: tests/unit/FOLDER/test_FILE.c tests FOLDER/FILE.c,
# and is the program $(BUILD)/tests/unit/FOLDER/test_FILE.
TEST_SRC := $(wildcard tests/unit/*/test_*.c)
TEST_BIN := $(TEST_SRC:%.c=$(BUILD)/%)
# What the unit tests share (every other .c of tests/unit/): whole messages
# through the pipeline (plharness.c).
TEST_LIB := $(patsubst %.c,$(BUILD)/%.o,$(filter-out $(TEST_SRC),$(wildcard tests/unit/*.c tests/unit/*/*.c)))
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/%)
# Fuzz targets (tests/fuzz/fuzz_*.c): replayed over their committed inputs
# by "make check" (tests/fuzz/replay.c gives them a main), run by libFuzzer
# by "make fuzz".
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/%)
# What they share: the fixed trust space (fuzzlib.c), the pipeline as an
# SMTP session (msgsession.c, fuzz_message's).
FUZZ_LIB   := $(BUILD)/tests/fuzz/fuzzlib.o $(BUILD)/tests/fuzz/msgsession.o
# Each bench/*.c is a program, but the milter wire client they share.
BENCH_SRC  := $(filter-out bench/milterwire.c,$(wildcard bench/*.c))
BENCH_BIN  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

DAEMON   := $(BUILD)/mssante-milter
CTL      := $(BUILD)/mssantectl

SOAK_MESSAGES ?= 10000

.PHONY: all check unit integration demo install clean bench bench-failover fuzz fuzz-build soak FORCE
all: $(DAEMON) $(CTL)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c $< -o $@

# The archive is made afresh ("ar r" would keep the objects of files that
# moved or went), and again whenever the list of its objects changes.
$(BUILD)/libmssante.objs: FORCE
	@mkdir -p $(dir $@)
	@echo '$(LIB_OBJ)' | cmp -s - $@ || echo '$(LIB_OBJ)' >$@

$(BUILD)/libmssante.a: $(LIB_OBJ) $(BUILD)/libmssante.objs
	rm -f $@
	$(AR) rcs $@ $(LIB_OBJ)

$(BUILD)/libmilterglue.objs: FORCE
	@mkdir -p $(dir $@)
	@echo '$(GLUE_OBJ)' | cmp -s - $@ || echo '$(GLUE_OBJ)' >$@

$(GLUE): $(GLUE_OBJ) $(BUILD)/libmilterglue.objs
	rm -f $@
	$(AR) rcs $@ $(GLUE_OBJ)

$(DAEMON): $(BUILD)/milter/main.o $(GLUE) $(BUILD)/libmssante.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(CTL): $(CTL_OBJ) $(BUILD)/libmssante.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE)

$(TEST_BIN): $(BUILD)/%: $(BUILD)/%.o $(TEST_LIB) $(GLUE) $(BUILD)/libmssante.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The fuzz targets and the helpers drive the core library only.
ifeq ($(FUZZ),1)
$(BUILD)/tests/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_LIB) $(BUILD)/libmssante.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE)
else
$(BUILD)/tests/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o $(FUZZ_LIB) \
                       $(BUILD)/libmssante.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE)
endif

$(BUILD)/tests/%: $(BUILD)/tests/helpers/%.o $(BUILD)/libmssante.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE)

$(BUILD)/bench/loadgen: $(BUILD)/bench/milterwire.o

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(GLUE) $(BUILD)/libmssante.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The test runner prints one line per test and a closing "N passed, N failed".
# JOBS integration scripts run at a time (tests/run-all.sh -j): they mostly
# wait on Postfix, Redis and timeouts, so one more than the CPUs (3 on two
# cores: 6 min where one at a time takes 17, the soak alone 5.5);
# JOBS=1 runs them one after the other.
JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$((n + 1)))

check: all $(TEST_BIN) $(FUZZ_BIN) $(HELPER_BIN) $(BENCH_BIN)
	BUILD=$(BUILD) tests/run-all.sh -j $(JOBS)

unit: all $(TEST_BIN) $(FUZZ_BIN)
	BUILD=$(BUILD) tests/run-all.sh --unit

# libFuzzer: build every target with clang into build-fuzz/, then run each
# for FUZZ_SECONDS, FUZZ_JOBS at a time, one line per target: ok or the
# crash and its input (tests/fuzz/README).
fuzz:
	$(MAKE) FUZZ=1 fuzz-build
	FUZZ_BUILD=build-fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) tests/fuzz/run.sh

fuzz-build: $(FUZZ_BIN)

integration: all $(HELPER_BIN) $(BENCH_BIN)
	BUILD=$(BUILD) tests/run-all.sh -j $(JOBS) --integration

demo: all $(HELPER_BIN)
	BUILD=$(BUILD) tests/demo.sh

bench: all $(BENCH_BIN)
	BUILD=$(BUILD) bench/run.sh

# Two MX nodes on a Sentinel-managed Redis: throughput against one node,
# and the 4xx window of a failover (bench/README.md).
bench-failover: all $(HELPER_BIN)
	BUILD=$(BUILD) bench/failover.sh

soak: all $(HELPER_BIN)
	BUILD=$(BUILD) nice tests/soak/soak.sh --messages $(SOAK_MESSAGES)

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(DAEMON) $(CTL) $(DESTDIR)$(SBINDIR)/
	install -m 0644 postfix-examples/mssante-milter.conf $(DESTDIR)$(SYSCONFDIR)/mssante-milter.conf.example
	for m in $(wildcard man/*.5); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man5/; done
	for m in $(wildcard man/*.8); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man8/; done
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(SYSUSERSDIR)
	sed -e 's|/usr/local/sbin/|$(SBINDIR)/|' -e 's|/etc/mssante-milter.conf|$(SYSCONFDIR)/mssante-milter.conf|' \
	    contrib/mssante-milter.service > $(DESTDIR)$(UNITDIR)/mssante-milter.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/mssante-milter.service
	install -m 0644 contrib/mssante-milter.tmpfiles $(DESTDIR)$(TMPFILESDIR)/mssante-milter.conf
	install -m 0644 contrib/mssante-milter.sysusers $(DESTDIR)$(SYSUSERSDIR)/mssante-milter.conf

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

.SECONDARY:
