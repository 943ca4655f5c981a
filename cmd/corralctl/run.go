package main

import (
	"errors"
	"io"
	"os"
)

// globals is what main binds for the commands' Run methods, beside the
// context (cancelled by Ctrl-C) and the *kong.Context: the global flags and
// the process's streams.
type globals struct {
	config string   // --config: where login keeps the server and token
	stdin  *os.File // a terminal or not: unregister asks only on one
	stdout io.Writer
	stderr io.Writer
}

// errNotOK is a check that ran and found problems: exit 1, the problems printed.
var errNotOK = errors.New("check failed")

// exitCode is what corralctl exits with after err: 0 ok; 1 a check or command
// that failed; 2 bad input or not logged in; 3 not found (or unregistered:
// 410); 4 not allowed (401/403).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, errNotOK) {
		return 1
	}
	var bad *badInput
	if errors.As(err, &bad) {
		return 2
	}
	var ae *apiError
	if errors.As(err, &ae) {
		switch {
		case ae.Status == 404 || ae.Status == 410:
			return 3
		case ae.Status == 401 || ae.Status == 403:
			return 4
		case ae.Status == 400:
			return 2
		}
	}
	return 1
}
