package filesd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	yamlv2 "go.yaml.in/yaml/v2"

	"github.com/corral-dev/corral/targets"
)

const (
	// MaxFileSize bounds what is read of one file.
	MaxFileSize = 32 << 20
	// maxTargets bounds the targets of one file, so YAML aliases cannot
	// multiply a small file into a huge set.
	maxTargets = 1_000_000
)

// Dropped is a target of a file that is not scraped, as Prometheus drops it
// when it populates a target's labels: the rest of the file still counts.
type Dropped struct {
	Group  int    // index of its group in the file
	Target string // the address as written
	Reason string
}

// ReadFile reads and parses one file_sd file.
func ReadFile(path string) ([]*targets.Group, []Dropped, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, nil, err
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

// ParseFile parses data, the content of the file_sd file name, as Prometheus 3
// does: YAML (.yml, .yaml) decoded strictly, JSON (.json) without unknown
// fields, each group decoded by Prometheus's own target group type, so that a
// file Prometheus accepts is accepted here with the same targets and labels,
// and one it refuses is refused. An empty YAML file, a group without targets
// and a target without a port are accepted, as there; a null group refuses
// the file. Each group gets Source "name:i" and the label __meta_filepath=name.
//
// A target Prometheus would not scrape (no address, or one with a "/") is left
// out of its group and returned in dropped, with the reason; the others stay.
func ParseFile(name string, data []byte) (groups []*targets.Group, dropped []Dropped, err error) {
	var tgs []*targetgroup.Group
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".json":
		if err := json.Unmarshal(data, &tgs); err != nil {
			return nil, nil, jsonError(data, err)
		}
	case ".yml", ".yaml":
		if err := yamlv2.UnmarshalStrict(data, &tgs); err != nil {
			return nil, nil, yamlError(err)
		}
	default:
		return nil, nil, fmt.Errorf("unknown extension %q: want .yml, .yaml or .json", ext)
	}
	total := 0
	groups = make([]*targets.Group, len(tgs))
	for i, tg := range tgs {
		if tg == nil {
			return nil, nil, fmt.Errorf("group %d is null (an empty list item); remove it: Prometheus refuses the whole file for it", i)
		}
		if total += len(tg.Targets); total > maxTargets {
			return nil, nil, fmt.Errorf("more than %d targets in one file", maxTargets)
		}
		g := &targets.Group{
			Targets: make([]string, 0, len(tg.Targets)),
			Labels:  make(map[string]string, len(tg.Labels)+1),
			Source:  fmt.Sprintf("%s:%d", name, i),
		}
		for k, v := range tg.Labels {
			g.Labels[string(k)] = string(v)
		}
		// The group's labels apply to every target: a label Prometheus would
		// refuse drops them all (a decoder leaves only valid UTF-8, so this is
		// a safety net).
		groupErr := g.Validate()
		for _, t := range tg.Targets {
			addr := string(t[model.AddressLabel])
			reason := ""
			switch {
			case groupErr != nil:
				reason = groupErr.Error()
			case addr == "":
				reason = "no address (an empty or null target)"
			default:
				if err := targets.CheckAddress(addr); err != nil {
					reason = err.Error()
				}
			}
			if reason != "" {
				dropped = append(dropped, Dropped{Group: i, Target: addr, Reason: reason})
				continue
			}
			g.Targets = append(g.Targets, addr)
		}
		g.Labels[targets.LabelFilePath] = name
		groups[i] = g
	}
	return groups, dropped, nil
}

// jsonError adds the line to a JSON decoding error, and says what a file cut
// short most likely is.
func jsonError(data []byte, err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		off int64 = -1
	)
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
	}
	if strings.Contains(err.Error(), "unexpected end of JSON input") {
		return fmt.Errorf("JSON ends early (file empty, being written or truncated?): %w", err)
	}
	if off >= 0 {
		line := 1 + strings.Count(string(data[:min(int(off), len(data))]), "\n")
		return fmt.Errorf("line %d: %w", line, err)
	}
	return err
}

// notFound is the message yaml.v2 gives for an unknown field of a group.
var notFound = regexp.MustCompile(`field (\S+) not found in type struct \{[^}]*\}`)

// yamlError makes the strict decoder's message for an unknown field readable;
// the rest of its messages already name the line.
func yamlError(err error) error {
	msg := notFound.ReplaceAllString(err.Error(), `unknown field "$1" (a target group has targets and labels)`)
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}
