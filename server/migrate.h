/* migrate.h - "kindling migrate": an SQLite deployment copied into PostgreSQL. */
#ifndef KINDLING_MIGRATE_H
#define KINDLING_MIGRATE_H

/*
 * Runs "kindling migrate --from FILE --to URL" (argv[0] is "migrate"):
 * parses its flags, copies, prints what was copied on stdout and any
 * error on stderr. Returns the process's exit status (0: copied and
 * verified; 1: nothing changed, or see the message; 2: bad usage).
 */
int migrate_main(int argc, char **argv);

#endif
