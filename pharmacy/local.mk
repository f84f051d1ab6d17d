# Pharmacy module sources are compiled into the his binary (see his/local.mk).
PHARMACY_SOURCES = pharmacy/pharmacy.c
