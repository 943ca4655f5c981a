//go:build !race

package store

// raceDetector tells timing checks that the race detector slows the code down.
const raceDetector = false
