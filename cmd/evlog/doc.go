// Command evlog runs the evlog service and talks to it.
//
//	evlog serve                    run the service (embedded NATS by default)
//	evlog append [VALUE ...]       append values (or stdin lines)
//	evlog read --offset N          read records
//	evlog tail --from earliest     follow the log like tail -f
//	evlog truncate --lowest N      delete old segments
//	evlog info                     describe the log
//	evlog decode                   msgpack on stdin -> JSON on stdout
//	evlog check [--dir DIR]        verify (and --repair) a data directory offline
//	evlog bench                    measure a running evlog, like nats bench
//	evlog version                  print the build's version (or --version)
//	evlog help [SUBCOMMAND]        what SUBCOMMAND --help prints
//
// evlog serve also reads a config file (--config FILE); a flag on the
// command line beats the environment, which beats the file.
//
// Every flag can also be set from an environment variable: EVLOG_ and the
// flag's name in upper case with dashes as underscores (EVLOG_DIR,
// EVLOG_NATS_URL, ...). A flag on the command line wins. The client
// commands also read NATS_URL, as the nats CLI does.
package main
