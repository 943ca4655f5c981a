// Package secret reads collector credentials from files or the environment and
// keeps them out of error texts.
package secret

import (
	"fmt"
	"os"
	"strings"
)

// Read returns the secret in file (less a trailing newline) or in the environment
// variable env; "" when neither is set. prefix names the config section in errors,
// e.g. "postgres" gives "postgres.password_file: …".
func Read(prefix, file, env string) (string, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s.password_file: read the password: %w", prefix, err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return "", fmt.Errorf("%s.password_file: %s is empty; write the password into it", prefix, file)
		}
		return pw, nil
	case env != "":
		pw, ok := os.LookupEnv(env)
		if !ok || pw == "" {
			return "", fmt.Errorf("%s.password_env: environment variable %s is not set or empty; set it to the password", prefix, env)
		}
		return pw, nil
	}
	return "", nil
}

// redactedError hides secrets in the text of an error and keeps it for errors.Is.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Redact returns err with every secret in its text replaced by xxxxx.
func Redact(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &redactedError{msg: msg, err: err}
}
