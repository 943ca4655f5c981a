package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Commands an agent understands.
const (
	Pause             = "pause"
	Resume            = "resume"
	Restart           = "restart"
	Collect           = "collect"
	Backfill          = "backfill"
	UpdateConfig      = "update_config"
	TestConnection    = "test_connection"
	RotateCredentials = "rotate_credentials"
)

var commands = []string{Pause, Resume, Restart, Collect, Backfill, UpdateConfig, TestConnection, RotateCredentials}

// Commands lists the known commands.
func Commands() []string { return slices.Clone(commands) }

// IsCommand reports whether name is a known command.
func IsCommand(name string) bool { return slices.Contains(commands, name) }

// MaxIDLength bounds a request id.
const MaxIDLength = 128

// Request is the body of POST /control.
type Request struct {
	ID      string          `json:"id"`
	Command string          `json:"command"`
	Args    json.RawMessage `json:"args,omitempty"`
}

// Response is the agent's answer.
type Response struct {
	ID      string `json:"id"`
	Command string `json:"command"`
	OK      bool   `json:"ok"`
	Result  any    `json:"result,omitempty"`
	Error   string `json:"error,omitempty"`
}

// ParseRequest decodes and checks a control request body. It is strict: the body is
// one JSON object with only the fields id, command and args, each at most once, and
// nothing after it. Args, when present and not null, is a JSON object; it is
// returned compacted, and nil when absent or null.
func ParseRequest(body []byte) (Request, error) {
	var idRaw, cmdRaw, argsRaw json.RawMessage
	err := decodeObject(body, map[string]*json.RawMessage{"id": &idRaw, "command": &cmdRaw, "args": &argsRaw})
	if err != nil {
		return Request{}, fmt.Errorf("control request: %w", err)
	}
	var req Request
	if req.ID, err = stringField("id", idRaw); err != nil {
		return Request{}, fmt.Errorf("control request: %w", err)
	}
	if err := ValidateID(req.ID); err != nil {
		return Request{}, fmt.Errorf("control request: %w", err)
	}
	if req.Command, err = stringField("command", cmdRaw); err != nil {
		return Request{}, fmt.Errorf("control request: %w", err)
	}
	if req.Command == "" {
		return Request{}, fmt.Errorf("control request: command: required; one of %s", strings.Join(commands, ", "))
	}
	if !IsCommand(req.Command) {
		return Request{}, fmt.Errorf("control request: command: unknown command %s; known: %s", quote(req.Command), strings.Join(commands, ", "))
	}
	if argsRaw != nil && !isNull(argsRaw) {
		if argsRaw[0] != '{' {
			return Request{}, errors.New("control request: args: must be a JSON object or null")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, argsRaw); err != nil {
			return Request{}, fmt.Errorf("control request: args: %w", err)
		}
		req.Args = buf.Bytes()
	}
	return req, nil
}

// ValidateID checks a request id: 1 to 128 characters of A-Z a-z 0-9 . _ : -.
func ValidateID(id string) error {
	if id == "" {
		return errors.New("id: required")
	}
	if len(id) > MaxIDLength {
		return fmt.Errorf("id: %d characters, at most %d allowed", len(id), MaxIDLength)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return fmt.Errorf("id: %s has a character outside A-Z a-z 0-9 . _ : -", quote(id))
		}
	}
	return nil
}

// decodeObject decodes data, which must be exactly one JSON object, putting the raw
// value of each field into fields[name]. Unknown and repeated fields, trailing data
// and invalid UTF-8 are errors. Fields not present are left nil.
func decodeObject(data []byte, fields map[string]*json.RawMessage) error {
	if !utf8.Valid(data) {
		return errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err == io.EOF {
		return errors.New("empty; want a JSON object")
	}
	if err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("must be a JSON object")
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("not valid JSON: %w", err)
		}
		name, _ := tok.(string) // object keys are always strings
		dst, ok := fields[name]
		if !ok {
			return fmt.Errorf("unknown field %s; allowed: %s", quote(name), fieldList(fields))
		}
		if seen[name] {
			return fmt.Errorf("%s: given more than once", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("%s: not valid JSON: %w", name, err)
		}
		*dst = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

func fieldList(fields map[string]*json.RawMessage) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// stringField decodes a JSON string; a missing field or null is "".
func stringField(name string, raw json.RawMessage) (string, error) {
	if raw == nil || isNull(raw) {
		return "", nil
	}
	if raw[0] != '"' {
		return "", fmt.Errorf("%s: must be a string", name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// quote quotes s for an error message, cut to a readable length: the text may come
// from an untrusted request and ends up in logs.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q…", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}
