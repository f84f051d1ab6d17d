# The his binary and its server modules.
bin_PROGRAMS += his/his
his_his_SOURCES = \
	his/main.c his/cmd_catalog.c his/common.c his/serve.c his/admin.c his/routes.c his/modules.c his/his.h his/modules.h \
	his/seed.c his/seed_clinical.c his/seed_visits.c \
	his/catalog.c his/patients.c his/households.c his/visits.c his/phr.c his/dashboard.c \
	his/idcard.c his/idcard.h his/patients.h his/province.c his/replication.c \
	his/hl7_engine.h his/hl7_listener.c his/hl7_inbound.c his/hl7_outbound.c his/referrals.c \
	his/metrics.c his/cmd_ops.c his/maintenance.c \
	$(PHARMACY_SOURCES) $(CLAIMS_SOURCES)
his_his_CPPFLAGS = $(AM_CPPFLAGS) -DHIS_SRCDIR='"$(abs_top_srcdir)"' $(MHD_CFLAGS) $(PQ_CFLAGS) $(JANSSON_CFLAGS) \
	$(XML2_CFLAGS) $(OPENSSL_CFLAGS) $(CURL_CFLAGS)
his_his_LDADD = core/libhiscore.a $(HL7_LIBS) $(MHD_LIBS) $(PQ_LIBS) $(JANSSON_LIBS) $(XML2_LIBS) \
	$(OPENSSL_LIBS) $(CURL_LIBS) -lpthread
