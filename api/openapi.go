package api

import (
	_ "embed"
	"net/http"
)

// openAPI describes every route of /api/v1; TestOpenAPIMatchesRoutes keeps it
// true to the routes registered.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(openAPI)
}
