# Health-insurance claims (issue 6): money, co-payment, the QĐ 130/4750 XML
# tables, the signed GIAMDINHHS envelope, validation, batches and submission.
# CLAIMS_LIB_SOURCES need no database or HTTP: the unit tests link them as
# claims/libclaims.a; the his binary compiles CLAIMS_SOURCES (his/local.mk).
CLAIMS_LIB_SOURCES = \
	claims/money.c claims/money.h claims/claim.h claims/copay.c claims/copay.h claims/input.c \
	claims/xml.c claims/xml.h claims/sign.c claims/sign.h claims/check.c claims/check.h
CLAIMS_SOURCES = $(CLAIMS_LIB_SOURCES) claims/claims.h claims/source.c claims/common.c claims/cmd_claims.c
# The server side: batches API, outbox delivery to the assessment portal and
# the portal's stand-in inside `his portal-sim`.
CLAIMS_SOURCES += claims/batches.c claims/portal.c pharmacy/portal_sim_claims.c pharmacy/portal_sim_claims.h

noinst_LIBRARIES += claims/libclaims.a
claims_libclaims_a_SOURCES = $(CLAIMS_LIB_SOURCES)
claims_libclaims_a_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS) $(XML2_CFLAGS) $(OPENSSL_CFLAGS)
CLAIMS_LIBS = claims/libclaims.a core/libhiscore.a $(JANSSON_LIBS) $(XML2_LIBS) $(OPENSSL_LIBS)
