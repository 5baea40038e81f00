// Package generic is payguard's escape hatch for partners with a scheme of
// their own (DESIGN.md section 3's `payguard generic` block): the operator
// describes where the signature is, how it is encoded, which algorithm and
// which bytes it covers, and maps the normalized fields out of the message
// with CEL expressions (internal/policy). BeeCloud-style aggregators and
// the "md5 of the sorted fields + &key=" partners (providers.md section 10)
// are two such schemes.
//
// What the signature does not cover never reaches the notification: the
// mappings see only the signed fields (all of them for raw and
// sorted_fields, the listed ones for concat) and only the headers the
// signature covers. A timestamp or nonce the signature does not cover is a
// configuration error, not a check that would pass whatever an attacker
// sends.
package generic

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/policy"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// SpecName is the registry's name: `payguard generic`. The route's own
// name (the `name` option) is what the Provider reports.
const SpecName = "generic"

// Default acknowledgement bodies.
const (
	DefaultAckSuccess = "success"
	DefaultAckFailure = "fail"
)

// Config configures one partner route.
type Config struct {
	// Name is what headers, metrics and store keys show.
	Name   string
	Scheme Scheme
	// Secrets (HMAC, md5-with-key) or PublicKeys (RSA, Ed25519), several
	// for rotation: a signature by any of them verifies.
	Secrets    [][]byte
	PublicKeys []crypto.PublicKey
	// Mappings are CEL sources by option name (event_id, amount, ...).
	Mappings map[string]string
	// AckSuccess and AckFailure are the acknowledgement bodies;
	// DefaultAckSuccess and DefaultAckFailure when empty.
	AckSuccess, AckFailure string
}

// Provider is one generic partner route. It is safe for concurrent use.
type Provider struct {
	name    string
	scheme  Scheme
	secrets [][]byte
	pubs    []crypto.PublicKey
	maps    mappings
	ackOK   provider.Ack
	ackFail provider.Ack
}

var _ provider.Provider = (*Provider)(nil)

// New checks cfg and compiles its mappings.
func New(cfg Config) (*Provider, error) {
	if err := checkName(cfg.Name); err != nil {
		return nil, err
	}
	s := cfg.Scheme
	if err := s.Check(); err != nil {
		return nil, err
	}
	p := &Provider{name: cfg.Name, scheme: s}
	if err := p.setKeys(cfg.Secrets, cfg.PublicKeys); err != nil {
		return nil, err
	}
	var err error
	if p.maps, err = compileMappings(cfg.Mappings); err != nil {
		return nil, err
	}
	p.ackOK = ack(http.StatusOK, cfg.AckSuccess, DefaultAckSuccess)
	p.ackFail = ack(0, cfg.AckFailure, DefaultAckFailure)
	return p, nil
}

func (p *Provider) setKeys(secrets [][]byte, pubs []crypto.PublicKey) error {
	alg := p.scheme.Algorithm
	if !p.scheme.asymmetric() {
		if len(pubs) > 0 || len(secrets) == 0 {
			return fmt.Errorf("%s verifies with secret (or secret_file), not public_key", alg)
		}
		for _, s := range secrets {
			if len(s) == 0 {
				return errors.New("a secret is empty")
			}
			p.secrets = append(p.secrets, append([]byte(nil), s...))
		}
		return nil
	}
	if len(secrets) > 0 || len(pubs) == 0 {
		return fmt.Errorf("%s verifies with public_key (or public_key_file), not secret", alg)
	}
	for _, k := range pubs {
		switch k := k.(type) {
		case *rsa.PublicKey:
			if alg == AlgEd25519 {
				return errors.New("ed25519 needs Ed25519 public keys, one is RSA")
			}
			if k.N.BitLen() < 2048 {
				return fmt.Errorf("an RSA public key has %d bits, fewer than 2048", k.N.BitLen())
			}
		case ed25519.PublicKey:
			if alg != AlgEd25519 {
				return fmt.Errorf("%s needs RSA public keys, one is Ed25519", alg)
			}
		default:
			return fmt.Errorf("%s cannot verify with a %T key", alg, k)
		}
	}
	p.pubs = pubs
	return nil
}

// checkName: the name shows in headers, metric labels and store keys.
func checkName(name string) error {
	if name == "" {
		return errors.New("name is required: it is what headers, metrics and store keys show")
	}
	if len(name) > 32 {
		return errors.New("name is longer than 32 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return fmt.Errorf("name %s: only a-z, 0-9, _ and -", strictjson.Quote(name))
		}
	}
	return nil
}

// ack renders an acknowledgement body with the Content-Type its first
// byte suggests: partners that want JSON or XML answers get them labelled.
func ack(status int, body, def string) provider.Ack {
	if body == "" {
		body = def
	}
	ct := "text/plain; charset=utf-8"
	switch t := strings.TrimSpace(body); {
	case strings.HasPrefix(t, "{") || strings.HasPrefix(t, "["):
		ct = "application/json"
	case strings.HasPrefix(t, "<"):
		ct = "application/xml; charset=utf-8"
	}
	return provider.Ack{Status: status, ContentType: ct, Body: []byte(body)}
}

// Name implements provider.Provider: the configured name.
func (p *Provider) Name() string { return p.name }

// Traits implements provider.Provider: notifications are POSTed.
func (p *Provider) Traits() provider.Traits { return provider.Traits{Method: http.MethodPost} }

// Weakness says why the configured algorithm is weak, "" when it is not.
func (p *Provider) Weakness() string { return weak[p.scheme.Algorithm] }

// Acknowledge implements provider.Provider: 200 with ack_success, or the
// contract status with ack_failure (DESIGN.md section 5).
func (p *Provider) Acknowledge(ok bool, code reason.Code, status int) provider.Ack {
	if ok {
		return p.ackOK
	}
	a := p.ackFail
	if a.Status = status; status == 0 {
		a.Status = reason.HTTPStatus(code)
	}
	return a
}

// VerifyNotify implements provider.Provider.
func (p *Provider) VerifyNotify(req *provider.Request) (*provider.Verified, error) {
	s := &p.scheme
	var vals signedValues
	var sig []byte
	var err error
	// Header-borne values first: with a message built from them and the
	// body alone, the signature is checked before the body is parsed.
	if s.Signature.Header {
		if sig, err = p.headerSignature(req.Header); err != nil {
			return nil, err
		}
	}
	empty := &message{body: req.Body}
	if err := readValues(s, empty, req.Header, &vals, true); err != nil {
		return nil, err
	}
	verified := false
	if !s.needsFields() {
		if err := p.verify(empty, sig, vals); err != nil {
			return nil, err
		}
		verified = true
	}
	m, err := parseBody(s.Format, req.Body)
	if err != nil {
		return nil, err
	}
	if !s.Signature.Header {
		if sig, err = p.fieldSignature(m); err != nil {
			return nil, err
		}
	}
	if err := readValues(s, m, req.Header, &vals, false); err != nil {
		return nil, err
	}
	if !verified {
		if err := p.verify(m, sig, vals); err != nil {
			return nil, err
		}
	}
	return p.normalize(m, req, vals)
}

func (p *Provider) headerSignature(h http.Header) ([]byte, error) {
	name := p.scheme.Signature.Name
	switch v := h.Values(name); {
	case len(v) > 1:
		return nil, reason.New(reason.Malformed, "header %s occurs %d times", name, len(v))
	case len(v) == 0 || v[0] == "":
		return nil, reason.New(reason.BadSignature, "header %s missing", name)
	default:
		return p.scheme.decodeSignature(v[0])
	}
}

func (p *Provider) fieldSignature(m *message) ([]byte, error) {
	name := p.scheme.Signature.Name
	f, ok := m.get(name)
	if !ok || f.value == "" {
		return nil, reason.New(reason.BadSignature, "field %s missing", name)
	}
	if m.parsed != nil {
		if _, isString := m.parsed[name].(string); !isString {
			return nil, reason.New(reason.Malformed, "field %s is not a string", name)
		}
	}
	return p.scheme.decodeSignature(f.value)
}

// readValues reads the timestamp and nonce: from headers when headers is
// true, from fields otherwise. A configured one that is absent is
// malformed.
func readValues(s *Scheme, m *message, h http.Header, v *signedValues, headers bool) error {
	read := func(what string, loc *Location, dst *string) error {
		if loc == nil || loc.Header != headers {
			return nil
		}
		var val string
		if loc.Header {
			hv := h.Values(loc.Name)
			if len(hv) > 1 {
				return reason.New(reason.Malformed, "header %s occurs %d times", loc.Name, len(hv))
			}
			if len(hv) == 1 {
				val = hv[0]
			}
		} else if f, ok := m.get(loc.Name); ok && !f.nested {
			val = f.value
		}
		if val == "" || len(val) > maxValue || !printable(val) {
			return reason.New(reason.Malformed, "%s (%s) missing or not a printable value", what, loc)
		}
		*dst = val
		return nil
	}
	if err := read("timestamp", s.Timestamp, &v.timestamp); err != nil {
		return err
	}
	return read("nonce", s.Nonce, &v.nonce)
}

// verify checks sig against every configured key, each compare in
// constant time; the first that verifies wins.
func (p *Provider) verify(m *message, sig []byte, v signedValues) error {
	s := &p.scheme
	if !s.asymmetric() {
		if len(sig) != digestSize[s.Algorithm] {
			return reason.New(reason.BadSignature, "the signature has %d bytes, %s has %d", len(sig), s.Algorithm, digestSize[s.Algorithm])
		}
		for _, secret := range p.secrets {
			msg, err := s.signedBytes(m, secret, v)
			if err != nil {
				return err
			}
			if hmac.Equal(s.mac(msg, secret), sig) {
				return nil
			}
		}
		return reason.New(reason.BadSignature, "the signature does not verify with any configured secret (%s)", s.Algorithm)
	}
	msg, err := s.signedBytes(m, nil, v)
	if err != nil {
		return err
	}
	for _, k := range p.pubs {
		if verifyWith(s.Algorithm, k, msg, sig) {
			return nil
		}
	}
	return reason.New(reason.BadSignature, "the signature does not verify with any configured public key (%s)", s.Algorithm)
}

func verifyWith(alg string, k crypto.PublicKey, msg, sig []byte) bool {
	switch k := k.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(k, msg, sig)
	case *rsa.PublicKey:
		if alg == AlgRSASHA1 {
			d := sha1.Sum(msg)
			return rsa.VerifyPKCS1v15(k, crypto.SHA1, d[:], sig) == nil
		}
		d := sha256.Sum256(msg)
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig) == nil
	}
	return false
}

// normalize maps the signed view into the notification.
func (p *Provider) normalize(m *message, req *provider.Request, v signedValues) (*provider.Verified, error) {
	s := &p.scheme
	body, fields := m.view(s.signs(m))
	headers := map[string]string{}
	for _, c := range []struct {
		loc   *Location
		token string
		val   string
	}{{s.Timestamp, tokTimestamp, v.timestamp}, {s.Nonce, tokNonce, v.nonce}} {
		if c.loc != nil && c.loc.Header && contains(s.Parts, c.token) {
			headers[http.CanonicalHeaderKey(c.loc.Name)] = c.val
		}
	}
	var celBody any = body
	if s.Format == formatRaw {
		celBody = string(m.body)
	}
	n := &notification.Notification{Provider: p.name, Raw: body, OccurredAt: req.Now.UTC()}
	msg := &policy.Message{Body: celBody, Fields: fields, Headers: headers}
	if err := p.maps.apply(msg, n); err != nil {
		return nil, err
	}
	n.Type = notification.TypeFor(n.Status)
	out := &provider.Verified{Nonce: v.nonce}
	if s.Timestamp != nil {
		ts, err := s.parseTime(v.timestamp)
		if err != nil {
			return nil, err
		}
		out.Timestamp, n.OccurredAt = ts, ts.UTC()
	}
	out.Notification = *n
	return out, nil
}
