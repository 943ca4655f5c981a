//go:build !embedui

package ui

import "io/fs"

// built is nil in a build without -tags embedui: the handler then serves a page
// saying how to build the UI.
func built() fs.FS { return nil }
