// Package reason holds payguard's reason codes (DESIGN.md section 2, a
// contract) and the error type that carries one through the pipeline.
//
// Every rejection the sidecar makes is a *reason.Error: the code is what the
// provider sees in Payguard-Reason and what audit, logs and metrics record;
// the detail is for the operator's log and must never hold a secret.
package reason

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is one of the contract's reason codes.
type Code string

// The reason codes of DESIGN.md section 2.
const (
	IPNotAllowed     Code = "ip_not_allowed"
	MethodNotAllowed Code = "method_not_allowed"
	BodyTooLarge     Code = "body_too_large"
	Malformed        Code = "malformed"
	BadSignature     Code = "bad_signature"
	UnknownKey       Code = "unknown_key"
	StaleTimestamp   Code = "stale_timestamp"
	ReplayedNonce    Code = "replayed_nonce"
	Duplicate        Code = "duplicate"
	InFlight         Code = "in_flight"
	QueryUnavailable Code = "query_unavailable"
	QueryMismatch    Code = "query_mismatch"
	OrderMismatch    Code = "order_mismatch"
	PolicyDenied     Code = "policy_denied"
	StoreUnavailable Code = "store_unavailable"
	UpstreamFailed   Code = "upstream_failed"
	Forwarded        Code = "forwarded"
	// Watching is a `mode watch` route's answer: the order is watched
	// (DESIGN.md section 11).
	Watching Code = "watching"
)

// All lists every code, for metrics pre-registration and tests.
var All = []Code{
	IPNotAllowed, MethodNotAllowed, BodyTooLarge, Malformed, BadSignature,
	UnknownKey, StaleTimestamp, ReplayedNonce, Duplicate, InFlight,
	QueryUnavailable, QueryMismatch, OrderMismatch, PolicyDenied,
	StoreUnavailable, UpstreamFailed, Forwarded, Watching,
}

// HTTPStatus is the contract's status code for a code (DESIGN.md section 5).
// Providers with other rules (appstore's in_flight) override it in their
// acknowledgement.
func HTTPStatus(c Code) int {
	switch c {
	case IPNotAllowed, QueryMismatch, OrderMismatch, PolicyDenied:
		return http.StatusForbidden
	case MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case BodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case Malformed:
		return http.StatusBadRequest
	case BadSignature, UnknownKey, StaleTimestamp, ReplayedNonce:
		return http.StatusUnauthorized
	case InFlight:
		return http.StatusConflict
	case UpstreamFailed:
		return http.StatusBadGateway
	case StoreUnavailable, QueryUnavailable:
		return http.StatusServiceUnavailable
	case Duplicate, Forwarded:
		return http.StatusOK
	case Watching:
		return http.StatusAccepted
	}
	return http.StatusInternalServerError
}

// Retryable reports whether the provider should deliver the notification
// again later: the failure was ours or transient, not the message's.
func Retryable(c Code) bool {
	switch c {
	case InFlight, QueryUnavailable, StoreUnavailable, UpstreamFailed:
		return true
	}
	return false
}

// Error is a rejection with its reason code. Detail says why, for the log;
// it never holds a secret, a key or a full body.
type Error struct {
	Code   Code
	Detail string
	Err    error // optional cause, also never holding a secret
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error with a formatted detail.
func New(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Detail: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with a cause.
func Wrap(c Code, err error, detail string) *Error {
	d := detail
	if err != nil {
		if d != "" {
			d += ": "
		}
		d += err.Error()
	}
	return &Error{Code: c, Detail: d, Err: err}
}

// CodeOf returns the reason code carried by err, or def when err carries none.
func CodeOf(err error, def Code) Code {
	var re *Error
	if errors.As(err, &re) {
		return re.Code
	}
	return def
}
