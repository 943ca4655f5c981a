package wire

// Error is the API's one error body, whatever the status: a 400 names the
// offending parameter or field in Details["field"].
type Error struct {
	Message string         `json:"error"`
	Code    string         `json:"code"`
	Details map[string]any `json:"details"`
}

// Codes of the error body of the identity routes (and of every route that
// needs a login).
const (
	CodeUnauthenticated    = "unauthenticated"
	CodeInvalidCredentials = "invalid_credentials"
	CodeCSRF               = "csrf"
	CodeForbidden          = "forbidden"
	CodeRateLimited        = "rate_limited"
	CodeBadRequest         = "bad_request"
	CodeNotFound           = "not_found"
	CodeInternal           = "internal"
)

// Codes of the error body of the collector and control routes.
const (
	CodeConflict       = "conflict"
	CodeCommandFailed  = "command_failed"  // 409: the agent refused the command; Details["command"] is the Command
	CodeCommandExpired = "command_expired" // 504: neither delivered nor confirmed in time; Details["command"] is the Command
	CodeUnregistered   = "unregistered"    // 410: Details["archived_collector_id"] names the archive
	CodeUnavailable    = "unavailable"
	CodeBadGateway     = "bad_gateway"
	// CodeTooLarge is a 413: the request body is over the route's limit,
	// which Details["limit_bytes"] gives.
	CodeTooLarge = "payload_too_large"
)
