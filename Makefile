# simpp - plain Makefile (GNU make).  See README.
#
#   make            build every program into bin/
#   make check      -Wall -Wextra -Werror + ASan/UBSan build, then every test
#   make demo       the main job on an embedded default
#   make bench      benchmarks (bench/)
#   make soak       the long robustness runs (t/soak/: 10,000 connections, login cycles, valgrind)
#   make mutants    break each security check of t/mutants.txt in turn; its tests must fail
#   make fuzz       every libFuzzer target in fuzz/ for FUZZ_SECONDS (300) each
#   make fuzz-seeds rewrite the seed corpora fuzz/corpus/<target>/
#   make install    PREFIX=/usr/local DESTDIR=
#   make deps       install the Debian packages (as root) or print the sudo line

VERSION  = 0.1.0
PREFIX  ?= /usr/local
BINDIR   = $(PREFIX)/bin
MAN1DIR  = $(PREFIX)/share/man/man1
MAN8DIR  = $(PREFIX)/share/man/man8

CC      ?= cc
PKGS     = libtomcrypt libxml-2.0 sqlite3
PKGCFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKGLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# libtomcrypt's math descriptors are declared only with LTM_DESC (crypto.md trap 1)
CPPFLAGS += -D_GNU_SOURCE -DLTM_DESC -DSIMPP_VERSION='"$(VERSION)"' -Ilib $(PKGCFLAGS)
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wvla
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c17 $(WARN) -fstack-protector-strong -D_FORTIFY_SOURCE=2
LDLIBS  += $(PKGLIBS) -ltommath

# Variant: "rel" (default) or "check" (sanitizers).  Objects live in build/$(V).
V ?= rel
ifeq ($(V),check)
CFLAGS  = -std=c17 -O1 -g $(WARN) -fno-omit-frame-pointer \
          -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
OUT      = build/check
BINOUT   = build/check/bin
else
OUT      = build/rel
BINOUT   = bin
endif

PROGS    = $(patsubst src/%.c,%,$(wildcard src/simpp-*.c))
LIBSRC   = $(wildcard lib/*.c lib/relay/*.c)
LIBHDR   = $(wildcard lib/*.h lib/relay/*.h)
LIBOBJ   = $(patsubst lib/%.c,$(OUT)/lib/%.o,$(LIBSRC))
LIBA     = $(OUT)/libsimpp.a
UNITSRC  = $(wildcard t/unit/*.c)
UNITBIN  = $(patsubst t/unit/%.c,$(OUT)/t/%,$(UNITSRC))
TOOLSRC  = $(wildcard t/tools/*.c)
TOOLBIN  = $(patsubst t/tools/%.c,$(OUT)/tools/%,$(TOOLSRC))
BENCHSRC = $(wildcard bench/*.c)
BENCHBIN = $(patsubst bench/%.c,$(OUT)/bench/%,$(BENCHSRC))
# The card programs are the only ones that link PC/SC-lite and libnfc: their
# drivers live in lib/card/, which the lib/*.c wildcard (libsimpp.a) does not
# reach, and are linked into these two alone (doc/CARDS.md).
CARDPKGS   = libpcsclite libnfc
CARDCFLAGS := $(shell pkg-config --cflags $(CARDPKGS) 2>/dev/null)
CARDLIBS   := $(shell pkg-config --libs $(CARDPKGS) 2>/dev/null)
CARDOBJ    = $(patsubst lib/card/%.c,$(OUT)/card/%.o,$(wildcard lib/card/*.c))
CARDPROGS  = $(BINOUT)/simpp-cardwrite $(BINOUT)/simpp-cardread


.PHONY: all check unit units test demo bench soak mutants install uninstall deps clean progs \
        fuzz fuzz-build fuzz-seeds fuzz-check
all: progs
progs: $(addprefix $(BINOUT)/,$(PROGS))

$(OUT)/lib/%.o: lib/%.c $(LIBHDR) | $(OUT)/lib
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<
$(LIBA): $(LIBOBJ)
	rm -f $@; ar rcs $@ $^
$(BINOUT)/%: src/%.c $(LIBA) $(LIBHDR) | $(BINOUT)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)
$(OUT)/t/%: t/unit/%.c $(LIBA) $(LIBHDR) | $(OUT)/t
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)
$(OUT)/tools/%: t/tools/%.c $(LIBA) $(LIBHDR) | $(OUT)/tools
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)
$(OUT)/bench/%: bench/%.c $(LIBA) $(LIBHDR) | $(OUT)/bench
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)
$(OUT)/lib $(OUT)/t $(OUT)/tools $(OUT)/bench $(BINOUT):
	mkdir -p $@
$(OUT)/card/%.o: lib/card/%.c $(wildcard lib/*.h lib/card/*.h) | $(OUT)/card
	$(CC) $(CPPFLAGS) $(CARDCFLAGS) $(CFLAGS) -c -o $@ $<
$(CARDPROGS): $(BINOUT)/%: src/%.c $(CARDOBJ) $(LIBA) $(wildcard lib/*.h lib/card/*.h) | $(BINOUT)
	$(CC) $(CPPFLAGS) $(CARDCFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(CARDOBJ) $(LIBA) $(CARDLIBS) $(LDLIBS)
$(OUT)/card:
	mkdir -p $@

# Only simpp-videnc (and its benchmark) links FFmpeg's libavcodec; lib/video.o
# is the one object that includes its headers, and other programs never pull
# it out of libsimpp.a.
AVPKGS    = libavcodec libavutil
AVCFLAGS := $(shell pkg-config --cflags $(AVPKGS) 2>/dev/null)
AVLIBS   := $(shell pkg-config --libs $(AVPKGS) 2>/dev/null)
$(OUT)/lib/video.o: CPPFLAGS += $(AVCFLAGS)
$(BINOUT)/simpp-videnc $(OUT)/bench/video-bench $(OUT)/t/video: LDLIBS += $(AVLIBS)

# The sanitizer build and every test.  Unit tests are C programs printing TAP;
# BATS tests run the sanitized programs from build/check/bin.
check: deps
	$(MAKE) V=check progs units
	$(MAKE) fuzz-build
	t/run build/check
units: $(UNITBIN) $(TOOLBIN)
unit: units
	@set -e; for t in $(UNITBIN); do echo "# $$t"; SIMPP_DATA=t/data $$t; done
test: all units
	t/run build/rel

demo: deps all
	scripts/demo

# Benchmarks are the executable scripts in bench/ (no .c suffix); each one
# runs its C helpers from build/rel/bench, which the first recipe line builds.
bench: deps
	$(MAKE) V=rel all $(BENCHBIN)
	@set -e; for b in bench/*; do \
	    case $$b in *.c) continue;; esac; \
	    [ -f "$$b" ] && [ -x "$$b" ] || continue; \
	    echo "# $$b"; $$b; \
	done

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MAN1DIR) $(DESTDIR)$(MAN8DIR)
	install -m 0755 $(addprefix bin/,$(PROGS)) $(DESTDIR)$(BINDIR)
	for m in doc/*.1; do [ -e "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MAN1DIR); done; true
	for m in doc/*.8; do [ -e "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MAN8DIR); done; true
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(PROGS))

# the long runs, on the release build: minutes each (make check has the short ones)
soak: deps
	$(MAKE) V=rel all build/rel/bench/relay-load
	SIMPP_BIN=$(CURDIR)/bin SIMPP_TOP=$(CURDIR) bats --tap t/soak/

# The mutation check (scripts/mutants): each mutant of t/mutants.txt breaks
# one security check in a copy of the tree, and the tests it names must then
# fail; prints killed / survived / stale and "N killed, N survived, N stale".
# About 25 minutes on 2 cores, so not part of make check.  MUTANTS="id ..." runs
# some only; doc/SECURITY.md section 12 has the last full run.
MUTANTS ?=
mutants: deps
	scripts/mutants $(MUTANTS)

# ---- fuzzing ------------------------------------------------------------
# libFuzzer targets: fuzz/<name>.c (all but mkseeds.c) -> build/fuzz/<name>,
# linked with lib/ compiled by clang into build/fuzz/lib with coverage
# instrumentation and ASan + UBSan, independent of V.  clang's -Wformat=2
# also flags vsnprintf in util.c's vmsg (no format attribute), which gcc
# accepts; -Wno-format-nonliteral keeps that one warning out of this build.
FUZZCC      = clang
FUZZOUT     = build/fuzz
FUZZ_SECONDS ?= 300
# stop a target earlier after this many inputs (-1: no limit); the bar for a
# campaign is 10,000,000 inputs or 30 minutes:
#   make fuzz FUZZ_SECONDS=1800 FUZZ_RUNS=10000000
FUZZ_RUNS   ?= -1
FUZZSAN     = -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZCFLAGS  = -std=c17 -O1 -g $(WARN) -Wno-format-nonliteral -fno-omit-frame-pointer \
              -fsanitize=fuzzer-no-link $(FUZZSAN)
FUZZSRC     = $(filter-out fuzz/mkseeds.c,$(wildcard fuzz/*.c))
FUZZNAMES   = $(patsubst fuzz/%.c,%,$(FUZZSRC))
FUZZBIN     = $(addprefix $(FUZZOUT)/,$(FUZZNAMES))
FUZZLIBOBJ  = $(patsubst lib/%.c,$(FUZZOUT)/lib/%.o,$(LIBSRC))
FUZZLIBA    = $(FUZZOUT)/libsimpp.a
# -timeout: one input may take 5 s (PBKDF2 inputs are capped by the targets);
# crashes, leaks, timeouts and out-of-memory all end the run with a report
FUZZFLAGS   = -timeout=5 -rss_limit_mb=1024 -print_final_stats=1

$(FUZZOUT)/lib/%.o: lib/%.c $(LIBHDR) | $(FUZZOUT)/lib
	@mkdir -p $(@D)
	$(FUZZCC) $(CPPFLAGS) $(FUZZCFLAGS) -c -o $@ $<
# as in the main build; no target links video.o, so none needs FFmpeg
$(FUZZOUT)/lib/video.o: CPPFLAGS += $(AVCFLAGS)
$(FUZZLIBA): $(FUZZLIBOBJ)
	rm -f $@; ar rcs $@ $^
$(FUZZOUT)/video: LDLIBS += $(AVLIBS)
$(FUZZOUT)/%: fuzz/%.c fuzz/fuzz.h $(FUZZLIBA) $(LIBHDR) | $(FUZZOUT)/lib
	$(FUZZCC) $(CPPFLAGS) $(FUZZCFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZLIBA) $(LDLIBS)
$(FUZZOUT)/tools/mkseeds: fuzz/mkseeds.c fuzz/fuzz.h $(FUZZLIBA) $(LIBHDR) | $(FUZZOUT)/tools
	$(FUZZCC) $(CPPFLAGS) $(FUZZCFLAGS) -o $@ $< $(FUZZLIBA) $(LDLIBS)
$(FUZZOUT)/lib $(FUZZOUT)/tools:
	mkdir -p $@

fuzz-build: $(FUZZBIN)

# New inputs go to build/fuzz/corpus/<target> (the first directory, the one
# libFuzzer writes), seeds are read from fuzz/corpus/<target>; crashes are
# kept in build/fuzz/crashes/<target>/.  Every target runs even if one
# fails; the last line of each says what it did, and make fails at the end.
fuzz: deps fuzz-build
	@fail=""; for t in $(FUZZNAMES); do \
	    mkdir -p $(FUZZOUT)/corpus/$$t $(FUZZOUT)/crashes/$$t; \
	    echo "# fuzz: $$t for $(FUZZ_SECONDS) s or $(FUZZ_RUNS) inputs"; \
	    $(FUZZOUT)/$$t $(FUZZFLAGS) -max_total_time=$(FUZZ_SECONDS) -runs=$(FUZZ_RUNS) \
	        -artifact_prefix=$(FUZZOUT)/crashes/$$t/ \
	        $(FUZZOUT)/corpus/$$t fuzz/corpus/$$t > $(FUZZOUT)/$$t.log 2>&1; rc=$$?; \
	    scripts/fuzz-summary $$t $(FUZZOUT)/$$t.log $$rc || fail="$$fail $$t"; \
	done; \
	if [ -n "$$fail" ]; then echo "# fuzz: failed:$$fail (logs: $(FUZZOUT)/<target>.log)"; exit 1; fi

# the short run of make check, without BATS (t/fuzz.bats does the same)
fuzz-check: fuzz-build
	bats --tap t/fuzz.bats

fuzz-seeds: $(FUZZOUT)/tools/mkseeds
	rm -rf fuzz/corpus.new
	$(FUZZOUT)/tools/mkseeds fuzz/corpus.new
	for d in fuzz/corpus.new/*/; do t=$$(basename $$d); rm -rf fuzz/corpus/$$t; mv $$d fuzz/corpus/$$t; done
	rmdir fuzz/corpus.new

deps:
	@scripts/deps

clean:
	rm -rf build bin/simpp-*
