# Core: arena, log, config, database, migrations, embedded cluster, HTTP, auth, audit.
noinst_LIBRARIES += core/libhiscore.a
core_libhiscore_a_SOURCES = \
	core/arena.c core/arena.h core/log.c core/log.h core/config.c core/config.h \
	core/db.c core/db.h core/migrate.c core/migrate.h core/pgembed.c core/pgembed.h \
	core/http.c core/http.h core/auth.c core/auth.h core/audit.c core/audit.h core/app.h \
	core/text.c core/text.h core/handler.c core/handler.h \
	core/outbox.c core/outbox.h core/metrics.c core/metrics.h
core_libhiscore_a_CPPFLAGS = $(AM_CPPFLAGS) $(MHD_CFLAGS) $(PQ_CFLAGS) $(JANSSON_CFLAGS) $(OPENSSL_CFLAGS)
