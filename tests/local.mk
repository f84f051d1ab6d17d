# Unit tests (Check). Integration, API and browser tests are run by
# tests/run-all.sh against a real PostgreSQL and a running server.
if HAVE_CHECK
check_PROGRAMS += tests/unit/test_core
TESTS += tests/unit/test_core
tests_unit_test_core_SOURCES = tests/unit/test_core.c
tests_unit_test_core_CPPFLAGS = $(AM_CPPFLAGS) $(CHECK_CFLAGS) $(MHD_CFLAGS) $(PQ_CFLAGS) $(JANSSON_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_core_LDADD = core/libhiscore.a $(CHECK_LIBS) $(MHD_LIBS) $(PQ_LIBS) $(JANSSON_LIBS) $(OPENSSL_LIBS) -lpthread
# Against a real PostgreSQL: built with the others, run by tests/run-all.sh
# once its cluster is up (HIS_TEST_PGHOST); not a `make check` test.
check_PROGRAMS += tests/unit/test_db
tests_unit_test_db_SOURCES = tests/unit/test_db.c
tests_unit_test_db_CPPFLAGS = $(AM_CPPFLAGS) $(CHECK_CFLAGS) $(PQ_CFLAGS)
tests_unit_test_db_LDADD = core/libhiscore.a $(CHECK_LIBS) $(MHD_LIBS) $(PQ_LIBS) $(JANSSON_LIBS) $(OPENSSL_LIBS) -lpthread
check_PROGRAMS += tests/unit/test_idcard
TESTS += tests/unit/test_idcard
tests_unit_test_idcard_SOURCES = tests/unit/test_idcard.c his/idcard.c
tests_unit_test_idcard_CPPFLAGS = $(AM_CPPFLAGS) $(CHECK_CFLAGS)
tests_unit_test_idcard_LDADD = $(CHECK_LIBS)
check_PROGRAMS += tests/unit/test_claims_money tests/unit/test_claims_xml
TESTS += tests/unit/test_claims_money tests/unit/test_claims_xml
tests_unit_test_claims_money_SOURCES = tests/unit/test_claims_money.c
tests_unit_test_claims_money_CPPFLAGS = $(AM_CPPFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS) $(XML2_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_claims_money_LDADD = $(CLAIMS_LIBS) $(CHECK_LIBS)
tests_unit_test_claims_xml_SOURCES = tests/unit/test_claims_xml.c
tests_unit_test_claims_xml_CPPFLAGS = $(AM_CPPFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS) $(XML2_CFLAGS) $(OPENSSL_CFLAGS) \
	-DCLAIMS_FIXTURES='"$(abs_top_srcdir)/tests/fixtures/claims"' -DCLAIMS_XSD='"$(abs_top_srcdir)/schema/xsd"'
tests_unit_test_claims_xml_LDADD = $(CLAIMS_LIBS) $(CHECK_LIBS)
check_PROGRAMS += tests/unit/test_pharmacy
TESTS += tests/unit/test_pharmacy
tests_unit_test_pharmacy_SOURCES = tests/unit/test_pharmacy.c $(PHARMACY_RULES_SOURCES)
tests_unit_test_pharmacy_CPPFLAGS = $(AM_CPPFLAGS) $(CHECK_CFLAGS) $(PQ_CFLAGS) $(JANSSON_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_pharmacy_LDADD = core/libhiscore.a $(CHECK_LIBS) $(MHD_LIBS) $(PQ_LIBS) $(JANSSON_LIBS) $(OPENSSL_LIBS) -lpthread
check_PROGRAMS += tests/unit/test_visits
TESTS += tests/unit/test_visits
tests_unit_test_visits_SOURCES = tests/unit/test_visits.c his/visits.c his/catalog.c his/cmd_catalog.c his/phr.c his/common.c
tests_unit_test_visits_CPPFLAGS = $(AM_CPPFLAGS) $(CHECK_CFLAGS) $(MHD_CFLAGS) $(PQ_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_visits_LDADD = core/libhiscore.a $(CHECK_LIBS) $(MHD_LIBS) $(PQ_LIBS) $(JANSSON_LIBS) $(OPENSSL_LIBS) -lpthread
endif
