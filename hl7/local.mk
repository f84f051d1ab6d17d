# hl7/local.mk -- libhl7, the standalone HL7 v2 library (no database, no
# HTTP), its unit tests and its libFuzzer target.

HL7_LIB_SOURCES = \
	hl7/util.c hl7/parse.c hl7/path.c hl7/escape.c hl7/split.c \
	hl7/mllp.c hl7/types.c hl7/validate.c hl7/ack.c hl7/xml.c hl7/json.c

noinst_LIBRARIES += hl7/libhl7.a
hl7_libhl7_a_SOURCES = $(HL7_LIB_SOURCES) hl7/cli.c \
	hl7/hl7.h hl7/hl7_int.h hl7/hl7_cli.h
hl7_libhl7_a_CPPFLAGS = $(AM_CPPFLAGS) $(XML2_CFLAGS) $(OPENSSL_CFLAGS)

# What a program linking libhl7 needs.
HL7_LIBS = hl7/libhl7.a $(XML2_LIBS) $(OPENSSL_LIBS)

if HAVE_CHECK
check_PROGRAMS += tests/unit/test_hl7
TESTS += tests/unit/test_hl7
tests_unit_test_hl7_SOURCES = tests/unit/test_hl7.c \
	tests/unit/test_hl7_build.c tests/unit/test_hl7_net.c
tests_unit_test_hl7_CPPFLAGS = $(AM_CPPFLAGS) $(CHECK_CFLAGS) \
	$(XML2_CFLAGS) $(OPENSSL_CFLAGS) \
	-DHL7_FIXTURES='"$(abs_top_srcdir)/tests/fixtures/hl7"'
tests_unit_test_hl7_LDADD = $(HL7_LIBS) $(CHECK_LIBS) -lpthread
endif

# libFuzzer target: built only on request, always with clang, whatever CC
# is. `make hl7-fuzz` builds hl7/fuzz_parse; `make hl7-fuzz-smoke` replays
# the seed corpus and the fixtures, then fuzzes for HL7_FUZZ_SECONDS.
HL7_FUZZ_CC = clang
HL7_FUZZ_CFLAGS = -g -O1 -std=gnu11 -D_GNU_SOURCE \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
HL7_FUZZ_SECONDS = 20
HL7_FUZZ_SRCS = \
	$(top_srcdir)/hl7/util.c $(top_srcdir)/hl7/parse.c \
	$(top_srcdir)/hl7/path.c $(top_srcdir)/hl7/escape.c \
	$(top_srcdir)/hl7/split.c $(top_srcdir)/hl7/mllp.c \
	$(top_srcdir)/hl7/types.c $(top_srcdir)/hl7/validate.c \
	$(top_srcdir)/hl7/ack.c $(top_srcdir)/hl7/xml.c \
	$(top_srcdir)/hl7/json.c $(top_srcdir)/hl7/fuzz_parse.c

hl7/fuzz_parse: $(HL7_FUZZ_SRCS) $(top_srcdir)/hl7/hl7.h \
		$(top_srcdir)/hl7/hl7_int.h
	@mkdir -p hl7
	$(HL7_FUZZ_CC) $(HL7_FUZZ_CFLAGS) -I$(top_srcdir) $(XML2_CFLAGS) \
		$(HL7_FUZZ_SRCS) $(XML2_LIBS) -o $@

hl7-fuzz: hl7/fuzz_parse

hl7-fuzz-smoke: hl7/fuzz_parse
	$(SHELL) $(top_srcdir)/hl7/fuzz-smoke.sh ./hl7/fuzz_parse \
		$(HL7_FUZZ_SECONDS) $(top_srcdir) hl7/fuzz-work

.PHONY: hl7-fuzz hl7-fuzz-smoke
CLEANFILES += hl7/fuzz_parse
EXTRA_DIST += hl7/fuzz_parse.c hl7/fuzz-smoke.sh hl7/fuzz.dict \
	tests/fixtures/hl7 tests/fuzz/hl7
