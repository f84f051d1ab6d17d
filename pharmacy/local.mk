# Pharmacy module sources are compiled into the his binary (see his/local.mk).
PHARMACY_SOURCES = pharmacy/pharmacy.c pharmacy/pharmacy.h pharmacy/rx_common.h \
	pharmacy/rx_rules.c pharmacy/codes.c pharmacy/rx_sign.c \
	pharmacy/drugs.c pharmacy/prescriptions.c pharmacy/dispense.c pharmacy/stock.c \
	pharmacy/portal_client.c pharmacy/portal_sim.c pharmacy/cmd_rx.c pharmacy/seed_pharmacy.c pharmacy/seed_rx.c
# The pure rules, for the unit tests (tests/unit/test_pharmacy.c).
PHARMACY_RULES_SOURCES = pharmacy/rx_rules.c pharmacy/codes.c pharmacy/rx_sign.c pharmacy/pharmacy.h
