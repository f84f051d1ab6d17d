# Unit tests (Check). Integration, API and browser tests are run by
# tests/run-all.sh against a real PostgreSQL and a running server.
if HAVE_CHECK
check_PROGRAMS += tests/unit/test_core
TESTS += tests/unit/test_core
tests_unit_test_core_SOURCES = tests/unit/test_core.c
tests_unit_test_core_CPPFLAGS = $(AM_CPPFLAGS) $(CHECK_CFLAGS) $(MHD_CFLAGS) $(PQ_CFLAGS) $(JANSSON_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_core_LDADD = core/libhiscore.a $(CHECK_LIBS) $(MHD_LIBS) $(PQ_LIBS) $(JANSSON_LIBS) $(OPENSSL_LIBS) -lpthread
check_PROGRAMS += tests/unit/test_idcard
TESTS += tests/unit/test_idcard
tests_unit_test_idcard_SOURCES = tests/unit/test_idcard.c his/idcard.c
tests_unit_test_idcard_CPPFLAGS = $(AM_CPPFLAGS) $(CHECK_CFLAGS)
tests_unit_test_idcard_LDADD = $(CHECK_LIBS)
endif
