package paypal

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"hash/crc32"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/payguard/payguard/internal/reason"
)

// SignedContent is what PayPal signs for one delivery:
// transmission_id|transmission_time|webhook_id|crc32(body), the CRC-32
// (IEEE) of the raw body as an unsigned decimal. The webhook id is the
// configured one, never one the message names.
func SignedContent(transmissionID, transmissionTime, webhookID string, body []byte) []byte {
	crc := strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)
	return []byte(transmissionID + "|" + transmissionTime + "|" + webhookID + "|" + crc)
}

// certSource yields the certificate whose key signed a transmission.
type certSource interface {
	certificate(ctx context.Context, t *transmission) (*x509.Certificate, error)
}

// verifySignature checks t's SHA256withRSA signature over the signed
// content with the certificate src gives, which must be valid at the
// transmission time.
func verifySignature(ctx context.Context, src certSource, t *transmission, webhookID string, body []byte) error {
	cert, err := src.certificate(ctx, t)
	if err != nil {
		return err
	}
	if t.Time.Before(cert.NotBefore) || t.Time.After(cert.NotAfter) {
		return reason.New(reason.BadSignature, "paypal: signing certificate not valid at the transmission time")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return reason.New(reason.BadSignature, "paypal: signing certificate holds no RSA key")
	}
	sum := sha256.Sum256(SignedContent(t.ID, t.TimeRaw, webhookID, body))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], t.Sig); err != nil {
		return reason.New(reason.BadSignature, "paypal: transmission signature does not verify")
	}
	return nil
}

// pinnedCert is the certificate of cert_file: the operator trusts it, so
// nothing is fetched and the cert URL is only checked for shape.
type pinnedCert struct{ cert *x509.Certificate }

func (p pinnedCert) certificate(context.Context, *transmission) (*x509.Certificate, error) {
	return p.cert, nil
}

// parseCertPEM reads one or more PEM certificates (a leaf and its chain);
// the first is the leaf. Errors never quote the input.
func parseCertPEM(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, errors.New("a CERTIFICATE block does not parse")
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	if _, ok := out[0].PublicKey.(*rsa.PublicKey); !ok {
		return nil, errors.New("the first certificate holds no RSA key")
	}
	return out, nil
}

// maxCachedCerts bounds the certificate cache. PayPal signs with one or two
// certificates at a time; only URLs on its own hosts ever get here.
const maxCachedCerts = 32

// fetchedCerts downloads the certificate a PAYPAL-CERT-URL names, only from
// PayPal's hosts over HTTPS (checkCertURL), checks its chain to the roots
// and its name, and caches it by URL until it expires.
type fetchedCerts struct {
	client *http.Client
	roots  *x509.CertPool // nil: the system roots
	now    func() time.Time

	group singleflight.Group
	mu    sync.Mutex
	cache map[string]*x509.Certificate
}

func newFetchedCerts(client *http.Client, roots *x509.CertPool, now func() time.Time) *fetchedCerts {
	return &fetchedCerts{client: client, roots: roots, now: now, cache: map[string]*x509.Certificate{}}
}

func (f *fetchedCerts) certificate(ctx context.Context, t *transmission) (*x509.Certificate, error) {
	url, name, err := checkCertURL(t.CertURL)
	if err != nil {
		return nil, err
	}
	if c := f.cached(url); c != nil {
		return c, nil
	}
	ch := f.group.DoChan(url, func() (any, error) {
		// The shared download must not die with the first caller.
		return f.fetch(context.WithoutCancel(ctx), url, name, t.Time)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*x509.Certificate), nil
	case <-ctx.Done():
		return nil, reason.Wrap(reason.QueryUnavailable, ctx.Err(), "paypal: fetching the signing certificate")
	}
}

func (f *fetchedCerts) cached(url string) *x509.Certificate {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.cache[url]
	if c != nil && f.now().After(c.NotAfter) {
		delete(f.cache, url)
		return nil
	}
	return c
}

// fetch downloads and checks one certificate. A PayPal host that is down
// or answers 5xx is query_unavailable (PayPal retries later); one that has
// no such certificate is unknown_key; a certificate that does not chain to
// the roots or names another host is bad_signature.
func (f *fetchedCerts) fetch(ctx context.Context, url, name string, at time.Time) (*x509.Certificate, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "paypal: certificate request")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, reason.Wrap(reason.QueryUnavailable, err, "paypal: fetching the signing certificate")
	}
	defer resp.Body.Close()
	body, err := readAnswer(resp)
	switch {
	case err != nil:
		return nil, reason.Wrap(reason.QueryUnavailable, err, "paypal: reading the signing certificate")
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, reason.New(reason.UnknownKey, "paypal: no certificate at the cert URL (HTTP %d)", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, reason.New(reason.QueryUnavailable, "paypal: certificate download answered HTTP %d", resp.StatusCode)
	}
	chain, err := parseCertPEM(body)
	if err != nil {
		return nil, reason.Wrap(reason.UnknownKey, err, "paypal: cert URL")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	leaf := chain[0]
	_, err = leaf.Verify(x509.VerifyOptions{
		DNSName:       name,
		Roots:         f.roots,
		Intermediates: inter,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, reason.Wrap(reason.BadSignature, err, "paypal: signing certificate refused")
	}
	f.store(url, leaf)
	return leaf, nil
}

func (f *fetchedCerts) store(url string, c *x509.Certificate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.cache) >= maxCachedCerts {
		for k := range f.cache {
			delete(f.cache, k) // one arbitrary entry: a bounded cache, not an LRU
			break
		}
	}
	f.cache[url] = c
}
