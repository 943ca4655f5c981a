// Package faults is corral's fault suite: tests that run the real corral,
// corral-agent and corralctl binaries on loopback, break something (an agent
// killed or hung, a hostile target, a broken file_sd file, the store stopped or
// full, the server killed during bursts, reloads under load), and check what
// corral showed, that nothing acknowledged was lost, and that open files and
// memory came back.
//
// Every test records one row of a table, printed when the suite ends:
//
//	make faults          # the sizes docs/reliability.md reports
//	go test ./faults     # smaller sizes, as make test runs it
//
// The package holds only tests; this file is its documentation.
package faults
