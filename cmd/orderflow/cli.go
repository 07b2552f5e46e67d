package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// flags builds a command's flag set with a usage line.
func flags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: orderflow %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses a command's flags, and is the first thing every command
// does, before it opens any connection. -h, -help or --help prints the usage
// to e.out and returns flag.ErrHelp (exit status 0). An unknown flag, a
// malformed value or an argument left after the flags is a usageError (exit
// status 2); nothing is printed for it here: main prints it with a hint.
func parseFlags(e *env, fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(e.out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return flag.ErrHelp
	case err != nil:
		return &usageError{cmd: fs.Name(), err: err}
	case fs.NArg() > 0:
		return usagef(fs, "%w %q", errUnexpectedArg, fs.Arg(0))
	}
	return nil
}

// errUnexpectedArg is parseFlags's error for an argument after the flags.
var errUnexpectedArg = errors.New("unexpected argument")

// isHelp tells whether arg asks for help rather than being a command's word.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}
