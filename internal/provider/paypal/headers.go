package paypal

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/reason"
)

// The transmission headers PayPal sends with every webhook.
const (
	HeaderTransmissionID   = "Paypal-Transmission-Id"
	HeaderTransmissionTime = "Paypal-Transmission-Time"
	HeaderTransmissionSig  = "Paypal-Transmission-Sig"
	HeaderCertURL          = "Paypal-Cert-Url"
	HeaderAuthAlgo         = "Paypal-Auth-Algo"
)

// AuthAlgo is the one signature algorithm payguard accepts. The header only
// has to agree with it: the algorithm comes from configuration, never from
// the message (the Java SDK passes the header to Signature.getInstance).
const AuthAlgo = "SHA256withRSA"

// certPathPrefix is where PayPal serves its message-verification
// certificates on its API hosts.
const certPathPrefix = "/v1/notifications/certs/"

// certHosts are the hosts a PAYPAL-CERT-URL may name (providers.md section
// 7, from observed cert_url values), each with the name the certificate it
// serves must carry. Nothing else is ever fetched.
var certHosts = map[string]string{
	"api.paypal.com":           "messageverificationcerts.paypal.com",
	"api-m.paypal.com":         "messageverificationcerts.paypal.com",
	"api.sandbox.paypal.com":   "messageverificationcerts.sandbox.paypal.com",
	"api-m.sandbox.paypal.com": "messageverificationcerts.sandbox.paypal.com",
}

// Limits on header values: generous for PayPal's own (a 36-character
// transmission id, a 344-character signature) and small enough that an
// attacker's values cannot bloat a log line or a store key.
const (
	maxTransmissionID = 64
	maxTimeLen        = 40
	maxSigLen         = 2048
	maxCertURL        = 512
)

// transmission is the signed envelope of one delivery: PayPal's
// PAYPAL-* headers, checked for shape but not yet for the signature.
type transmission struct {
	ID      string    // PAYPAL-TRANSMISSION-ID, the per-delivery nonce
	TimeRaw string    // PAYPAL-TRANSMISSION-TIME exactly as sent: it is signed as text
	Time    time.Time // TimeRaw parsed
	SigRaw  string    // PAYPAL-TRANSMISSION-SIG as sent (the verify API wants it)
	Sig     []byte    // SigRaw decoded
	CertURL string    // PAYPAL-CERT-URL as sent
	AuthAlg string    // PAYPAL-AUTH-ALGO, equal to AuthAlgo once parsed
}

// parseTransmission reads and checks the PAYPAL-* headers. Every header must
// be there exactly once; a value of the wrong shape is malformed, a
// signature that is not base64, another algorithm or a certificate URL off
// PayPal's hosts is bad_signature. It never panics.
func parseTransmission(h http.Header) (*transmission, error) {
	var t transmission
	var err error
	if t.ID, err = single(h, HeaderTransmissionID, maxTransmissionID); err != nil {
		return nil, err
	}
	if !isToken(t.ID) {
		return nil, reason.New(reason.Malformed, "paypal: %s holds characters other than letters, digits and -_.", HeaderTransmissionID)
	}
	if t.TimeRaw, err = single(h, HeaderTransmissionTime, maxTimeLen); err != nil {
		return nil, err
	}
	if t.Time, err = time.Parse(time.RFC3339Nano, t.TimeRaw); err != nil {
		return nil, reason.New(reason.Malformed, "paypal: %s is not an RFC 3339 time", HeaderTransmissionTime)
	}
	if t.AuthAlg, err = single(h, HeaderAuthAlgo, 64); err != nil {
		return nil, err
	}
	if t.AuthAlg != AuthAlgo {
		return nil, reason.New(reason.BadSignature, "paypal: %s is not %s", HeaderAuthAlgo, AuthAlgo)
	}
	if t.SigRaw, err = single(h, HeaderTransmissionSig, maxSigLen); err != nil {
		return nil, err
	}
	if t.Sig, err = base64.StdEncoding.DecodeString(t.SigRaw); err != nil || len(t.Sig) == 0 {
		return nil, reason.New(reason.BadSignature, "paypal: %s is not base64", HeaderTransmissionSig)
	}
	if t.CertURL, err = single(h, HeaderCertURL, maxCertURL); err != nil {
		return nil, err
	}
	if _, _, err := checkCertURL(t.CertURL); err != nil {
		return nil, err
	}
	return &t, nil
}

// single returns the one value of header name, at most max bytes.
func single(h http.Header, name string, max int) (string, error) {
	vs := h.Values(name)
	switch {
	case len(vs) == 0 || vs[0] == "":
		return "", reason.New(reason.Malformed, "paypal: no %s header", name)
	case len(vs) > 1:
		return "", reason.New(reason.Malformed, "paypal: %s header sent %d times", name, len(vs))
	case len(vs[0]) > max:
		return "", reason.New(reason.Malformed, "paypal: %s header longer than %d bytes", name, max)
	}
	return vs[0], nil
}

// checkCertURL accepts only https://<PayPal API host>/v1/notifications/certs/<id>,
// with no port, user, query, fragment or escaped byte, and returns the URL
// rebuilt from its checked parts (the cache key and what is fetched) and
// the certificate name that host's certificates must carry. Anything else
// is bad_signature: a cert URL is attacker input, and fetching it would let
// any sender make payguard call any host (server-side request forgery).
func checkCertURL(raw string) (canonical, certName string, err error) {
	refuse := func(why string) (string, string, error) {
		return "", "", reason.New(reason.BadSignature, "paypal: %s %s; only https://<PayPal API host>%s<id> is accepted", HeaderCertURL, why, certPathPrefix)
	}
	u, perr := url.Parse(raw)
	switch {
	case perr != nil:
		return refuse("is not a URL")
	case u.Scheme != "https":
		return refuse("is not https")
	case u.Opaque != "" || u.User != nil:
		return refuse("carries user information")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.ContainsAny(raw, "?#"):
		return refuse("carries a query or fragment")
	case u.RawPath != "" || strings.Contains(raw, "%"):
		return refuse("holds escaped characters")
	}
	name, ok := certHosts[u.Host] // u.Host with a port never matches
	if !ok {
		return refuse("names a host that is not PayPal's")
	}
	id, ok := strings.CutPrefix(u.Path, certPathPrefix)
	if !ok || !isToken(id) || strings.Contains(id, "..") {
		return refuse("has an unexpected path")
	}
	return "https://" + u.Host + certPathPrefix + id, name, nil
}

// isToken reports whether s is 1..128 letters, digits, '-', '_' or '.':
// the characters of PayPal's ids, none of which can split a signed
// "a|b|c" string, a URL path or a store key.
func isToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}
