/* hl7_cli.h -- command-line entry points of libhl7, called by the `his`
 * program as `his hl7 NAME ...` with argv[0] = NAME.
 *
 * Each returns the process exit code: 0 success, 1 user error (one clear
 * line on stderr per problem), 2 usage error. Each accepts --help, which
 * prints its usage on stdout and returns 0. */
#ifndef HL7_CLI_H
#define HL7_CLI_H

int hl7_cli_parse(int argc, char **argv);
int hl7_cli_validate(int argc, char **argv);
int hl7_cli_to_xml(int argc, char **argv);
int hl7_cli_from_xml(int argc, char **argv);
int hl7_cli_send(int argc, char **argv);

/* Dispatch `his hl7 SUBCOMMAND ...`: argv[0] is the subcommand name. */
int hl7_cli_main(int argc, char **argv);

#endif
