package provider

import (
	"net/http"
	"testing"

	"github.com/payguard/payguard/internal/reason"
)

// A refusal keeps an error status it is given, and never answers a 2xx
// or 3xx, nor a status the provider was told to avoid.
func TestRefusalStatus(t *testing.T) {
	for _, c := range []struct {
		code        reason.Code
		status      int
		avoid, want int
	}{
		{reason.BadSignature, 401, 0, 401},
		{reason.StoreUnavailable, 503, 0, 503},
		{reason.BadSignature, 0, 0, reason.HTTPStatus(reason.BadSignature)},
		{reason.BadSignature, 200, 0, reason.HTTPStatus(reason.BadSignature)},
		{reason.BadSignature, 302, 0, reason.HTTPStatus(reason.BadSignature)},
		{reason.BadSignature, 600, 0, reason.HTTPStatus(reason.BadSignature)},
		{reason.Forwarded, 200, 0, http.StatusInternalServerError}, // a code whose status reads as success
		{reason.BadSignature, http.StatusGone, http.StatusGone, reason.HTTPStatus(reason.BadSignature)},
	} {
		var avoid []int
		if c.avoid != 0 {
			avoid = []int{c.avoid}
		}
		if got := RefusalStatus(c.code, c.status, avoid...); got != c.want {
			t.Errorf("%s %d (avoid %v): %d, want %d", c.code, c.status, avoid, got, c.want)
		}
	}
}
