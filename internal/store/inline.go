package store

import (
	"net/url"
	"strings"
)

// HasInlinePassword reports whether a Redis URL, as configured, carries a
// password that is no placeholder ({env.*}, {file.*}): while Caddy's admin
// API is on, it shows at /config/.
func HasInlinePassword(raw string) bool {
	if raw == "" || strings.Contains(raw, "{") {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return false
	}
	_, ok := u.User.Password()
	return ok
}
