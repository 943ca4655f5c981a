//go:build !unix

package toolbin

// Lock is a no-op where flock is missing: parallel packages may then build
// twice, each into its own temporary folder renamed into place.
func Lock(string) (func(), error) { return func() {}, nil }
