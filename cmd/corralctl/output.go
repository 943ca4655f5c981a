package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"
)

// printJSON writes v as indented JSON: what -o json prints.
func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printRaw prints an answer of the server as -o json does: indented, and of a
// page ({"data": […], "total": …}) only its data, as get collectors prints.
func printRaw(out io.Writer, b []byte) error {
	var page struct {
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(b, &page) == nil && len(page.Data) > 0 {
		b = page.Data
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := out.Write(buf.Bytes())
	return err
}

// render prints an answer: as the server sent it with -o json, else as text
// prints it.
func render(out io.Writer, asJSON bool, raw []byte, text func() error) error {
	if asJSON {
		return printRaw(out, raw)
	}
	return text()
}

// newTable is the tab-aligned table every listing prints; Flush it.
func newTable(out io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
}

// localTime is a time as the tables show it, "-" for none.
func localTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

// plural is "1 attempt", "2 attempts".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// orDash is s, or "-" when empty, for a table cell.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeFile writes data to a new file path with mode; an existing file is
// refused unless force, then overwritten and given mode.
func writeFile(path string, data []byte, mode os.FileMode, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, mode)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%w (use --force to overwrite)", err)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil { // an overwritten file kept its old mode
		f.Close()
		return err
	}
	return f.Close()
}
