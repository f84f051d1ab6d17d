# tests/fuzz/local.mk -- the libFuzzer targets of issue 9 (besides
# hl7/fuzz_parse, see hl7/local.mk): the MLLP framer, every route's request
# handling in process, the claims XML builder, the catalogue CSV loaders and
# the config file reader. Built only on request, always with clang
# (tests/fuzz/build.sh). `make fuzz-smoke` replays each seed corpus
# tests/fuzz/<name>/ and fuzzes each target for FUZZ_SECONDS;
# FUZZ_TARGETS=router runs one. bench/fuzz.sh runs them for 10 minutes each.
FUZZ_CC = clang
FUZZ_SECONDS = 7
FUZZ_TARGETS = mllp router claims csv config
FUZZ_ENV = FUZZ_CC="$(FUZZ_CC)" \
	FUZZ_PKG_CFLAGS="$(MHD_CFLAGS) $(PQ_CFLAGS) $(JANSSON_CFLAGS) $(XML2_CFLAGS) $(OPENSSL_CFLAGS) $(CURL_CFLAGS)" \
	FUZZ_LIBS="$(MHD_LIBS) $(PQ_LIBS) $(JANSSON_LIBS) $(XML2_LIBS) $(OPENSSL_LIBS) $(CURL_LIBS)" \
	FUZZ_SRCS="$(his_his_SOURCES) $(core_libhiscore_a_SOURCES)" FUZZ_HL7_SRCS="$(HL7_LIB_SOURCES)"

fuzz-build:
	@$(FUZZ_ENV) $(SHELL) $(top_srcdir)/tests/fuzz/build.sh $(abs_top_srcdir) tests/fuzz

fuzz-smoke: fuzz-build
	$(SHELL) $(top_srcdir)/tests/fuzz/smoke.sh $(abs_top_srcdir) tests/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-list:
	@echo $(FUZZ_TARGETS)

.PHONY: fuzz-build fuzz-smoke fuzz-list
EXTRA_DIST += tests/fuzz/build.sh tests/fuzz/smoke.sh
