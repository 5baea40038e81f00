package generic

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/url"
)

// Signer signs messages as a partner with the scheme would: the
// simulator's and the tests' half of the scheme. It builds the signed
// bytes with the same code as verification.
type Signer struct {
	Scheme Scheme
	// Secret signs HMAC and md5-with-key schemes; Key RSA and Ed25519 ones.
	Secret []byte
	Key    crypto.Signer
	// Timestamp and Nonce are the values the scheme signs, when it has
	// them.
	Timestamp, Nonce string
}

// Signature returns the encoded signature of body (without the signature
// field, when the signature is a field).
func (g *Signer) Signature(body []byte) (string, error) {
	s := &g.Scheme
	m, err := parseBody(s.Format, body)
	if err != nil {
		return "", err
	}
	msg, err := s.signedBytes(m, g.Secret, signedValues{timestamp: g.Timestamp, nonce: g.Nonce})
	if err != nil {
		return "", err
	}
	if !s.asymmetric() {
		return s.encodeSignature(s.mac(msg, g.Secret)), nil
	}
	var sig []byte
	switch k := g.Key.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, msg)
	case *rsa.PrivateKey:
		h, d := crypto.SHA256, sha256.Sum256(msg)
		digest := d[:]
		if s.Algorithm == AlgRSASHA1 {
			h1 := sha1.Sum(msg)
			h, digest = crypto.SHA1, h1[:]
		}
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, h, digest); err != nil {
			return "", err
		}
	default:
		return "", errors.New("generic signer: no RSA or Ed25519 private key")
	}
	return s.encodeSignature(sig), nil
}

// SignBody returns body with the signature field added (form, XML, JSON)
// and the headers to send: the signature header, the timestamp and the
// nonce where the scheme puts them in headers.
func (g *Signer) SignBody(body []byte) ([]byte, map[string]string, error) {
	sig, err := g.Signature(body)
	if err != nil {
		return nil, nil, err
	}
	s := &g.Scheme
	h := map[string]string{}
	if s.Timestamp != nil && s.Timestamp.Header {
		h[s.Timestamp.Name] = g.Timestamp
	}
	if s.Nonce != nil && s.Nonce.Header {
		h[s.Nonce.Name] = g.Nonce
	}
	if s.Signature.Header {
		h[s.Signature.Name] = sig
		return body, h, nil
	}
	out, err := attachField(s.Format, body, s.Signature.Name, sig)
	return out, h, err
}

// attachField appends name=value to a form, <name>value</name> before
// the closing root tag of XML, or "name":"value" as the last member of a
// JSON object.
func attachField(format string, body []byte, name, value string) ([]byte, error) {
	switch format {
	case formatForm:
		sep := "&"
		if len(body) == 0 {
			sep = ""
		}
		return append(append([]byte(nil), body...), sep+url.QueryEscape(name)+"="+url.QueryEscape(value)...), nil
	case formatXML:
		end := bytes.LastIndex(body, []byte("</"))
		if end < 0 {
			return nil, errors.New("generic signer: no closing root tag")
		}
		var el bytes.Buffer
		el.WriteString("<" + name + ">")
		_ = xml.EscapeText(&el, []byte(value))
		el.WriteString("</" + name + ">")
		return append(append(append([]byte(nil), body[:end]...), el.Bytes()...), body[end:]...), nil
	case formatJSON:
		end := bytes.LastIndexByte(body, '}')
		if end < 0 {
			return nil, errors.New("generic signer: not a JSON object")
		}
		k, _ := json.Marshal(name)
		v, _ := json.Marshal(value)
		member := string(k) + ":" + string(v)
		if bytes.TrimSpace(body[:end])[len(bytes.TrimSpace(body[:end]))-1] != '{' {
			member = "," + member
		}
		return append(append(append([]byte(nil), body[:end]...), member...), body[end:]...), nil
	}
	return nil, errors.New("generic signer: a raw body has no fields")
}
