package wire

// Page is a listing that pages with limit and offset (GET /commands, /audit,
// /collectors/{id}/logs): Total counts every row that matches the filters.
type Page[T any] struct {
	Data   []T `json:"data"`
	Total  int `json:"total"`
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

// List is a listing without paging (GET /collectors/archived, /bulk-actions,
// /sd-files).
type List[T any] struct {
	Data []T `json:"data"`
}
