package main

import (
	"fmt"
)

// badInput is a flag or argument corralctl refuses before any request: exit 2.
type badInput struct{ msg string }

func (e *badInput) Error() string { return e.msg }

// badFlag names the flag that is wrong and says what it wants.
func badFlag(flag, format string, a ...any) error {
	return &badInput{msg: "--" + flag + ": " + fmt.Sprintf(format, a...)}
}
