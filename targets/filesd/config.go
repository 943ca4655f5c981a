// Package filesd is file-based target discovery in Prometheus's file_sd format:
// YAML or JSON lists of target groups, matched by glob, re-read on fsnotify
// events and every refresh_interval. Unlike Prometheus, a broken file keeps its
// own last good targets and reports its error per file (Status, metrics, one
// log line per new error).
package filesd

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// DefaultRefreshInterval is refresh_interval when it is not set.
const DefaultRefreshInterval = 5 * time.Minute

// Config is one file_sd_configs entry.
type Config struct {
	Files           []string      `yaml:"files"`
	RefreshInterval time.Duration `yaml:"refresh_interval"`
}

// UnmarshalYAML decodes strictly (an unknown field is an error, whatever the
// caller's decoder settings), sets the default refresh_interval first, and
// takes Prometheus durations ("30s", "5m", "1h30m", "1d").
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = Config{RefreshInterval: DefaultRefreshInterval}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: file_sd_configs entry: want a mapping with files and refresh_interval", n.Line)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return fmt.Errorf("line %d: field %s set twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		switch k.Value {
		case "files":
			if err := v.Decode(&c.Files); err != nil {
				return fmt.Errorf("files: %w", err)
			}
		case "refresh_interval":
			var s string
			if err := v.Decode(&s); err != nil {
				return fmt.Errorf("refresh_interval: %w", err)
			}
			d, err := model.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("line %d: refresh_interval: %w", v.Line, err)
			}
			c.RefreshInterval = time.Duration(d)
		default:
			return fmt.Errorf("line %d: field %s not found in file_sd_configs (want files, refresh_interval)", k.Line, k.Value)
		}
	}
	return nil
}

// Extensions are the file name extensions file_sd reads, in any case.
var Extensions = []string{".yml", ".yaml", ".json"}

// Validate checks the patterns and makes relative ones absolute against baseDir
// (the directory of the config file). A pattern may hold a glob only in its last
// element (as in Prometheus), and must end in .yml, .yaml or .json. Errors name
// the field ("files[1] …"); the caller prefixes "file_sd_configs[i]: ".
func (c *Config) Validate(baseDir string) error {
	if len(c.Files) == 0 {
		return errors.New("files: at least one file or glob is required")
	}
	for j, f := range c.Files {
		if err := checkPattern(f); err != nil {
			return fmt.Errorf("files[%d] %q: %w", j, f, err)
		}
		if !filepath.IsAbs(f) {
			f = filepath.Join(baseDir, f)
		}
		c.Files[j] = filepath.Clean(f)
	}
	switch {
	case c.RefreshInterval < 0:
		return fmt.Errorf("refresh_interval: %s must not be negative", c.RefreshInterval)
	case c.RefreshInterval == 0:
		c.RefreshInterval = DefaultRefreshInterval
	}
	return nil
}

func checkPattern(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	dir, base := filepath.Split(p)
	if strings.ContainsAny(dir, `*?[\`) {
		return errors.New("a glob is allowed only in the file name, not in the directories (as in Prometheus); list each directory instead")
	}
	if _, err := filepath.Match(base, ""); err != nil {
		return fmt.Errorf("bad glob: %w", err)
	}
	if !slices.Contains(Extensions, strings.ToLower(filepath.Ext(base))) {
		return errors.New("must end in .yml, .yaml or .json (e.g. sd/*.yml)")
	}
	return nil
}
