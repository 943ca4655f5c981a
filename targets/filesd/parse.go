package filesd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/corral-dev/corral/targets"
)

const (
	// MaxFileSize bounds what is read of one file.
	MaxFileSize = 32 << 20
	// maxTargets bounds the targets of one file, so YAML aliases cannot
	// multiply a small file into a huge set.
	maxTargets = 1_000_000
)

// ErrEmpty is returned for a file with no list at all: mostly a file caught
// while being written or truncated. A file with no targets says [].
var ErrEmpty = errors.New("file is empty (being written, or truncated?): write [] for a file without targets")

// rawGroup is a group as written, with the line it starts on.
type rawGroup struct {
	targets []string
	labels  map[string]string
	line    int
}

// ReadFile reads and parses one file_sd file.
func ReadFile(path string) ([]*targets.Group, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	return ParseFile(path, data)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("file is larger than %d MiB; split it into several files", MaxFileSize>>20)
	}
	return data, nil
}

// ParseFile parses data, the content of the file_sd file name, as JSON or YAML
// by the name's extension. Decoding is strict: the top level must be a list;
// a null item, an unknown field, a missing targets list, a null target or label
// value, an invalid label or an address that is not host:port is an error naming
// the group and its line. Each group gets Source "name:i" and the label
// __meta_filepath=name.
func ParseFile(name string, data []byte) ([]*targets.Group, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, ErrEmpty
	}
	var (
		raws []rawGroup
		err  error
	)
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".json":
		raws, err = parseJSON(data)
	case ".yml", ".yaml":
		raws, err = parseYAML(data)
	default:
		return nil, fmt.Errorf("unknown extension %q: want .yml, .yaml or .json", ext)
	}
	if err != nil {
		return nil, err
	}
	groups := make([]*targets.Group, len(raws))
	for i, r := range raws {
		g := &targets.Group{
			Targets: r.targets,
			Labels:  make(map[string]string, len(r.labels)+1),
			Source:  fmt.Sprintf("%s:%d", name, i),
		}
		if g.Targets == nil {
			g.Targets = []string{}
		}
		for k, v := range r.labels {
			g.Labels[k] = v
		}
		if err := g.Validate(); err != nil {
			return nil, fmt.Errorf("group %d (line %d): %w", i, r.line, err)
		}
		g.Labels[targets.LabelFilePath] = name
		groups[i] = g
	}
	return groups, nil
}

func parseJSON(data []byte) ([]rawGroup, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonErr(data, dec.InputOffset(), err)
	}
	if tok != json.Delim('[') {
		return nil, fmt.Errorf("line 1: want a JSON array of target groups ([{\"targets\": [...], \"labels\": {...}}]), got %v", tok)
	}
	var (
		out   []rawGroup
		total int
	)
	for i := 0; dec.More(); i++ {
		line := lineAt(data, dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, jsonErr(data, dec.InputOffset(), err)
		}
		if string(raw) == "null" {
			return nil, fmt.Errorf("group %d (line %d): null; remove it", i, line)
		}
		var g struct {
			Targets *[]*string         `json:"targets"`
			Labels  map[string]*string `json:"labels"`
		}
		gd := json.NewDecoder(bytes.NewReader(raw))
		gd.DisallowUnknownFields()
		if err := gd.Decode(&g); err != nil {
			return nil, fmt.Errorf("group %d (line %d): %w", i, line, err)
		}
		if g.Targets == nil {
			return nil, fmt.Errorf("group %d (line %d): no targets list; want \"targets\": [\"host:port\", ...]", i, line)
		}
		r := rawGroup{line: line, targets: make([]string, 0, len(*g.Targets))}
		for j, t := range *g.Targets {
			if t == nil {
				return nil, fmt.Errorf("group %d (line %d): targets[%d] is null", i, line, j)
			}
			r.targets = append(r.targets, *t)
		}
		if total += len(r.targets); total > maxTargets {
			return nil, fmt.Errorf("more than %d targets in one file", maxTargets)
		}
		if g.Labels != nil {
			r.labels = make(map[string]string, len(g.Labels))
			for k, v := range g.Labels {
				if v == nil {
					return nil, fmt.Errorf("group %d (line %d): label %s is null; give it a value", i, line, k)
				}
				r.labels[k] = *v
			}
		}
		out = append(out, r)
	}
	if _, err := dec.Token(); err != nil { // the closing ]
		return nil, jsonErr(data, dec.InputOffset(), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("line %d: data after the array of target groups", lineAt(data, dec.InputOffset()))
	}
	if out == nil {
		out = []rawGroup{}
	}
	return out, nil
}

func jsonErr(data []byte, off int64, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("line %d: JSON ends early (file being written or truncated?): %w", lineAt(data, off), err)
	}
	return fmt.Errorf("line %d: %w", lineAt(data, off), err)
}

// lineAt is the line of the first token at or after off, past a separating comma.
func lineAt(data []byte, off int64) int {
	i := int(min(max(off, 0), int64(len(data))))
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n' || data[i] == ',') {
		i++
	}
	return bytes.Count(data[:i], []byte("\n")) + 1
}

func parseYAML(data []byte) ([]rawGroup, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, ErrEmpty
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("line %d: a second YAML document (---); put every group in one list", extra.Line)
	}
	root := deref(&doc)
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, ErrEmpty
		}
		root = deref(root.Content[0])
	}
	if isNull(root) {
		return nil, ErrEmpty
	}
	if root.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: want a list of target groups (- targets: [...]), got %s", root.Line, kindName(root))
	}
	out := make([]rawGroup, 0, len(root.Content))
	total := 0
	for i, item := range root.Content {
		line := item.Line
		item = deref(item)
		if item == nil || isNull(item) {
			return nil, fmt.Errorf("group %d (line %d): null; remove the empty list item", i, line)
		}
		if item.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("group %d (line %d): want a mapping with targets and labels, got %s", i, line, kindName(item))
		}
		r, err := yamlGroup(item)
		if err != nil {
			return nil, fmt.Errorf("group %d (line %d): %w", i, line, err)
		}
		if total += len(r.targets); total > maxTargets {
			return nil, fmt.Errorf("more than %d targets in one file", maxTargets)
		}
		r.line = line
		out = append(out, r)
	}
	return out, nil
}

func yamlGroup(n *yaml.Node) (rawGroup, error) {
	var r rawGroup
	seen := map[string]bool{}
	haveTargets := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k == nil || v == nil || k.Kind != yaml.ScalarNode {
			return r, fmt.Errorf("line %d: want a field name", n.Content[i].Line)
		}
		if seen[k.Value] {
			return r, fmt.Errorf("line %d: field %s set twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		switch k.Value {
		case "targets":
			if isNull(v) {
				break
			}
			if v.Kind != yaml.SequenceNode {
				return r, fmt.Errorf("line %d: targets: want a list of \"host:port\", got %s", v.Line, kindName(v))
			}
			haveTargets = true
			r.targets = make([]string, 0, len(v.Content))
			for j, t := range v.Content {
				line := t.Line
				t = deref(t)
				if t == nil || isNull(t) {
					return r, fmt.Errorf("line %d: targets[%d] is null", line, j)
				}
				if t.Kind != yaml.ScalarNode {
					return r, fmt.Errorf("line %d: targets[%d]: want \"host:port\", got %s", line, j, kindName(t))
				}
				r.targets = append(r.targets, t.Value)
			}
		case "labels":
			if isNull(v) {
				break
			}
			if v.Kind != yaml.MappingNode {
				return r, fmt.Errorf("line %d: labels: want a mapping of name: value, got %s", v.Line, kindName(v))
			}
			r.labels = make(map[string]string, len(v.Content)/2)
			for j := 0; j+1 < len(v.Content); j += 2 {
				ln, lv := deref(v.Content[j]), deref(v.Content[j+1])
				if ln == nil || ln.Kind != yaml.ScalarNode {
					return r, fmt.Errorf("line %d: labels: want a label name", v.Content[j].Line)
				}
				if _, dup := r.labels[ln.Value]; dup {
					return r, fmt.Errorf("line %d: label %s set twice", ln.Line, ln.Value)
				}
				if lv == nil || isNull(lv) {
					return r, fmt.Errorf("line %d: label %s is null; give it a value", ln.Line, ln.Value)
				}
				if lv.Kind != yaml.ScalarNode {
					return r, fmt.Errorf("line %d: label %s: want a string value, got %s", lv.Line, ln.Value, kindName(lv))
				}
				r.labels[ln.Value] = lv.Value
			}
		default:
			return r, fmt.Errorf("line %d: unknown field %q (want targets, labels)", k.Line, k.Value)
		}
	}
	if !haveTargets {
		return r, errors.New("no targets list; want targets: [\"host:port\", ...]")
	}
	return r, nil
}

// deref follows an alias to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	default:
		return "something else"
	}
}
