//go:build race

package store

// raceDetector tells timing checks that the race detector slows the code down
// (SQLite, being C translated to Go, about twentyfold).
const raceDetector = true
