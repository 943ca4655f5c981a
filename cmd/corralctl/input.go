package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/corral-dev/corral/api/when"
)

// badInput is a flag or argument corralctl refuses before any request: exit 2.
type badInput struct{ msg string }

func (e *badInput) Error() string { return e.msg }

// badFlag names the flag that is wrong and says what it wants.
func badFlag(flag, format string, a ...any) error {
	return &badInput{msg: "--" + flag + ": " + fmt.Sprintf(format, a...)}
}

// timeHelp is what the --help of a time flag says it takes: what the API takes.
const timeHelp = when.Help + ` (a value with a leading - takes an =, as in --since=-2h)`

// parseWhen reads a time flag as the API reads a time (when.Parse): RFC 3339,
// unix seconds, "now", or a signed Go duration from now ("-2h" two hours ago,
// "+10m" in ten minutes).
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	t, err := when.Parse(s, now)
	if err != nil {
		return time.Time{}, badFlag(flag, "%v", err)
	}
	return t, nil
}

// parsePairs reads repeated k=v flags into a map.
func parsePairs(flag string, kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, badFlag(flag, "%q: want key=value", kv)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}

// parseJSONPairs reads repeated key=jsonvalue flags: the value is JSON, so a
// string is quoted (--set db='"orders"'), a number or true is not.
func parseJSONPairs(flag string, kvs []string) (map[string]json.RawMessage, error) {
	pairs, err := parsePairs(flag, kvs)
	if err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(pairs))
	for k, v := range pairs {
		if !json.Valid([]byte(v)) {
			return nil, badFlag(flag, "%s=%s: the value is not JSON; quote a string as %s='\"%s\"'", k, v, k, v)
		}
		out[k] = json.RawMessage(v)
	}
	return out, nil
}

// isTerminal reports whether f is a terminal, where a person can answer a
// question (not /dev/null, a character device too).
func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// confirm asks a yes/no question on a terminal. tty is nil when stdin is not
// a terminal: then only --yes goes ahead.
func confirm(tty io.Reader, prompt io.Writer, question string) (bool, error) {
	if tty == nil {
		return false, &badInput{msg: "stdin is not a terminal, so nobody can confirm: pass --yes"}
	}
	fmt.Fprintf(prompt, "%s [y/N] ", question)
	line, err := bufio.NewReader(tty).ReadString('\n')
	if err != nil && line == "" {
		return false, fmt.Errorf("read the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
