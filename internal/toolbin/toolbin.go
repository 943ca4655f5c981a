// Package toolbin finds the repository's own tool modules (tools/<name>, each
// with its own go.mod, so that what they pin stays out of corral's) and keeps
// what they build in one cache shared by every test package, benchmark and run:
// $XDG_CACHE_HOME/corral-test-bin. internal/realprom (Prometheus, Alertmanager)
// and fleetbench (vmagent) build through it.
package toolbin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// ModuleDir finds tools/<name> (holding a go.mod) from the working directory
// upwards: a test runs in its package's folder, a benchmark from the checkout.
// hint ends the error when it is not found, saying what to do instead.
func ModuleDir(name, hint string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", name, "go.mod")); err == nil {
			return filepath.Join(dir, "tools", name), nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("tools/%s/go.mod not found above the working directory; %s", name, hint)
		}
		dir = up
	}
}

// Hash is the first 12 hex digits of the SHA-256 of the module's go.mod and
// go.sum and of extra (versions, the Go toolchain, build tags: whatever else
// changes the binaries), so a cached build is used only for what made it.
func Hash(module, extra string) (string, error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(module, f))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	h.Write([]byte(extra))
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// CacheDir is the cache folder for one build: <user cache>/corral-test-bin/key.
func CacheDir(key string) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder (set XDG_CACHE_HOME or HOME): %w", err)
	}
	return filepath.Join(base, "corral-test-bin", key), nil
}
