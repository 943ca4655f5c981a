// Package wire is the JSON of corral's API under /api/v1: the answers and
// request bodies of the REST routes, the error body, and the messages of the
// WebSocket (GET /api/v1/ws). Package api builds its answers with these types
// and corralctl decodes them with the same ones, so the server and its CLI
// cannot disagree on a field name; api/openapi.json describes the same shapes
// for other clients, and its schemas give most of the types here their names.
//
// The package imports only the standard library, so a client links it without
// the server's store, database drivers or Prometheus libraries (go list -deps
// ./api/wire shows that). It holds data and names, no behaviour.
//
// Times are RFC 3339. An optional time or number is a pointer: null, or
// absent where the field is omitempty, when the server has none.
package wire
