//go:build embedui

package ui

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// built is the app vite built into ui/dist, embedded by a build with -tags embedui
// (make build does it).
func built() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is a literal path embedded above: cannot fail
	}
	return sub
}
