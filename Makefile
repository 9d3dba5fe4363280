# simpp - plain Makefile (GNU make).  See README.
#
#   make            build every program into bin/
#   make check      -Wall -Wextra -Werror + ASan/UBSan build, then every test
#   make demo       the main job on an embedded default
#   make try-cards  a card login on emulated readers (Java Card as root; MIFARE)
#   make bench      benchmarks (bench/)
#   make soak       the long robustness runs (t/soak/: 10,000 connections, login cycles, valgrind)
#   make mutants    break each security check of t/mutants.txt in turn; its tests must fail
#   make fuzz       every libFuzzer target in fuzz/ for FUZZ_SECONDS (300) each
#   make fuzz-seeds rewrite the seed corpora fuzz/corpus/<target>/
#   make install    PREFIX=/usr/local DESTDIR=
#   make uninstall  remove what make install put there (same PREFIX, DESTDIR)
#   make deps       install the Debian packages (as root) or print the sudo line
#
# check, demo, bench, soak and fuzz run deps first, then build in a new
# $(MAKE): pkg-config and the -dev packages may only just have arrived, and
# the flags must be read after that (see "pkg-config" below).
#   make check CHECKV=rel          the tests against the release build (no sanitizers)
#   make check TESTS="t/relay.bats" only these BATS files (the unit tests always run)

VERSION  = 0.1.0
PREFIX  ?= /usr/local
BINDIR   = $(PREFIX)/bin
MAN1DIR  = $(PREFIX)/share/man/man1
MAN8DIR  = $(PREFIX)/share/man/man8
# the man pages name the documents and examples by their place here
# (/usr/local/share/doc/simpp in the sources; make install writes DOCDIR in)
DOCDIR   = $(PREFIX)/share/doc/simpp

CC      ?= cc
# pkg-config: asked the first time a recipe needs the flags, once, and not
# when make reads this file.  On a fresh machine pkg-config itself and the
# -dev packages come with the deps step, which runs after make has read it.
# $(call pkgconfig,VAR,args): VAR becomes (:=) what pkg-config args prints.
pkgconfig = $(eval $(1) := $$(shell pkg-config $(2) 2>/dev/null))$($(1))
PKGS     = libtomcrypt libxml-2.0 sqlite3
PKGCFLAGS = $(call pkgconfig,PKGCFLAGS,--cflags $(PKGS))
PKGLIBS   = $(call pkgconfig,PKGLIBS,--libs $(PKGS))
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
CARDCFLAGS = $(call pkgconfig,CARDCFLAGS,--cflags $(CARDPKGS))
CARDLIBS   = $(call pkgconfig,CARDLIBS,--libs $(CARDPKGS))
CARDOBJ    = $(patsubst lib/card/%.c,$(OUT)/card/%.o,$(wildcard lib/card/*.c))
CARDPROGS  = $(BINOUT)/simpp-cardwrite $(BINOUT)/simpp-cardread


.PHONY: all check unit units test demo try-cards bench soak mutants install uninstall deps clean progs \
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

# TLS: lib/tls.o is the one object that includes OpenSSL's headers; the
# programs that speak TLS (the relay, the clients) link libssl, and the
# clients' DNS SRV look-ups (lib/srv.c) libresolv.
TLSLIBS   = -lssl -lcrypto -lresolv
TLSBINS   = simpp-relayd simpp-login simpp-register
$(addprefix $(BINOUT)/,$(TLSBINS)) $(OUT)/bench/relay-load $(OUT)/tools/simpptool: LDLIBS += $(TLSLIBS)
# the SRV look-ups (lib/srv.c) use libresolv
$(OUT)/t/srv: LDLIBS += -lresolv
LDLIBS  += -lpthread
# federation looks up DNS SRV records (res_query)
$(BINOUT)/simpp-relayd: LDLIBS += -lresolv
# simpp-session checks a peer's card certificate (lib/x509.o: libcrypto)
$(BINOUT)/simpp-session: LDLIBS += -lcrypto

# PKCS#11 tokens: lib/p11.o is the one object that includes p11-kit's
# headers; the programs that take a key on a token link libp11-kit (which
# loads the modules).
P11CFLAGS = $(call pkgconfig,P11CFLAGS,--cflags p11-kit-1)
P11LIBS   = $(call pkgconfig,P11LIBS,--libs p11-kit-1)
P11BINS   = simpp-keygen simpp-register simpp-login
$(OUT)/lib/p11.o: CPPFLAGS += $(P11CFLAGS)
$(addprefix $(BINOUT)/,$(P11BINS)): LDLIBS += $(P11LIBS)

# Only simpp-videnc (and its benchmark) links FFmpeg's libavcodec; lib/video.o
# is the one object that includes its headers, and other programs never pull
# it out of libsimpp.a.
AVPKGS    = libavcodec libavutil libavformat libavdevice libswscale libswresample opus
AVCFLAGS = $(call pkgconfig,AVCFLAGS,--cflags $(AVPKGS))
AVLIBS   = $(call pkgconfig,AVLIBS,--libs $(AVPKGS))
$(OUT)/lib/video.o: CPPFLAGS += $(AVCFLAGS)
$(BINOUT)/simpp-videnc $(OUT)/bench/video-bench $(OUT)/t/video: LDLIBS += $(AVLIBS)

# The sanitizer build and every test.  Unit tests are C programs printing TAP;
# BATS tests run the sanitized programs from build/check/bin.
CHECKV ?= check
check: deps
	$(MAKE) V=$(CHECKV) progs units
	$(MAKE) fuzz-build
	t/run build/$(CHECKV) $(TESTS)
units: $(UNITBIN) $(TOOLBIN)
unit: units
	@set -e; for t in $(UNITBIN); do echo "# $$t"; SIMPP_DATA=t/data $$t; done
test: all units
	t/run build/rel

demo: deps
	$(MAKE) V=rel all
	scripts/demo

# a card login without card hardware, on the emulated readers of t/cards
try-cards: deps
	$(MAKE) V=rel all
	scripts/try-cards

# Benchmarks are the executable scripts in bench/ (no .c suffix); each one
# runs its C helpers from build/rel/bench, which the first recipe line builds.
bench: deps
	$(MAKE) V=rel all $(BENCHBIN)
	@set -e; for b in bench/*; do \
	    case $$b in *.c) continue;; esac; \
	    [ -f "$$b" ] && [ -x "$$b" ] || continue; \
	    echo "# $$b"; $$b; \
	done

MAN1     = $(notdir $(wildcard doc/*.1))
MAN8     = $(notdir $(wildcard doc/*.8))
DOCS     = README $(wildcard doc/*.md)
EXAMPLES = $(notdir $(wildcard examples/*))
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MAN1DIR) $(DESTDIR)$(MAN8DIR) $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(addprefix bin/,$(PROGS)) $(DESTDIR)$(BINDIR)
	set -e; for m in $(MAN1) $(MAN8); do \
	    case $$m in *.1) d=$(DESTDIR)$(MAN1DIR);; *) d=$(DESTDIR)$(MAN8DIR);; esac; \
	    sed 's|/usr/local/share/doc/simpp|$(DOCDIR)|g' doc/$$m > $$d/$$m; chmod 0644 $$d/$$m; \
	done
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)
	set -e; for e in $(EXAMPLES); do \
	    if [ -x examples/$$e ]; then m=0755; else m=0644; fi; \
	    install -m $$m examples/$$e $(DESTDIR)$(DOCDIR)/examples; \
	done
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(PROGS)) $(addprefix $(DESTDIR)$(MAN1DIR)/,$(MAN1)) \
	      $(addprefix $(DESTDIR)$(MAN8DIR)/,$(MAN8)) $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(DOCS))) \
	      $(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(EXAMPLES))
	-rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null

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
$(FUZZOUT)/lib/p11.o: CPPFLAGS += $(P11CFLAGS)
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
fuzz: deps
	$(MAKE) fuzz-build
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

# the package step; a test of a fresh machine puts its own in its place
DEPS = scripts/deps
deps:
	@$(DEPS)

clean:
	rm -rf build bin/simpp-*
