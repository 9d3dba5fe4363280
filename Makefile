# simpp - plain Makefile (GNU make).  See README.
#
#   make            build every program into bin/
#   make check      -Wall -Wextra -Werror + ASan/UBSan build, then every test
#   make demo       the main job on an embedded default
#   make bench      benchmarks (bench/)
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
LIBSRC   = $(wildcard lib/*.c)
LIBOBJ   = $(patsubst lib/%.c,$(OUT)/lib/%.o,$(LIBSRC))
LIBA     = $(OUT)/libsimpp.a
UNITSRC  = $(wildcard t/unit/*.c)
UNITBIN  = $(patsubst t/unit/%.c,$(OUT)/t/%,$(UNITSRC))
TOOLSRC  = $(wildcard t/tools/*.c)
TOOLBIN  = $(patsubst t/tools/%.c,$(OUT)/tools/%,$(TOOLSRC))
BENCHSRC = $(wildcard bench/*.c)
BENCHBIN = $(patsubst bench/%.c,$(OUT)/bench/%,$(BENCHSRC))


.PHONY: all check unit units test demo bench install uninstall deps clean progs
all: progs
progs: $(addprefix $(BINOUT)/,$(PROGS))

$(OUT)/lib/%.o: lib/%.c $(wildcard lib/*.h) | $(OUT)/lib
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<
$(LIBA): $(LIBOBJ)
	rm -f $@; ar rcs $@ $^
$(BINOUT)/%: src/%.c $(LIBA) $(wildcard lib/*.h) | $(BINOUT)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)
$(OUT)/t/%: t/unit/%.c $(LIBA) $(wildcard lib/*.h) | $(OUT)/t
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)
$(OUT)/tools/%: t/tools/%.c $(LIBA) $(wildcard lib/*.h) | $(OUT)/tools
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)
$(OUT)/bench/%: bench/%.c $(LIBA) $(wildcard lib/*.h) | $(OUT)/bench
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)
$(OUT)/lib $(OUT)/t $(OUT)/tools $(OUT)/bench $(BINOUT):
	mkdir -p $@

# The sanitizer build and every test.  Unit tests are C programs printing TAP;
# BATS tests run the sanitized programs from build/check/bin.
check: deps
	$(MAKE) V=check progs units
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

deps:
	@scripts/deps

clean:
	rm -rf build bin/simpp-*
