package paypal

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/provider"
)

// The verification modes of the verify option.
const (
	VerifyAPI     = "api"
	VerifyOffline = "offline"
)

func init() {
	provider.Register(&provider.Spec{
		Name:    Name,
		Summary: "PayPal REST webhooks: verify-webhook-signature API or the offline CRC32 scheme; capture query",
		Options: options,
		Check:   check,
		Build:   build,
		Sandbox: sandboxSpec,
	})
}

var options = []provider.Option{
	{Name: "webhook_id", Kind: provider.KindString, Required: true, Parse: parseWebhookID,
		Doc: "the webhook's id in the PayPal app (signed into every delivery; never taken from the message)"},
	{Name: "verify", Kind: provider.KindEnum, Values: []string{VerifyAPI, VerifyOffline},
		Doc: "api: PayPal's verify-webhook-signature (default with client_id); offline: the CRC32 scheme with PayPal's certificate"},
	{Name: "api_base", Kind: provider.KindString, Parse: parseAPIBase,
		Doc: "PayPal's REST API for the verify call, the OAuth token and the query (default " + DefaultAPIBase + ")"},
	{Name: "client_id", Kind: provider.KindString, Parse: parseCredential,
		Doc: "the REST app's client id (verify api and the capture query)"},
	{Name: "client_secret", Kind: provider.KindSecret, Parse: parseCredential,
		Doc: "the REST app's secret"},
	{Name: "cert_file", Kind: provider.KindFile, Parse: provider.ParseCheck(parseCertPEM),
		Doc: "verify offline: pin PayPal's signing certificate (PEM); nothing is fetched"},
}

// check applies the rules between options.
func check(v provider.Values) error {
	hasID, hasSecret := v.Has("client_id"), v.Has("client_secret")
	if hasID != hasSecret {
		return errors.New("client_id and client_secret (or client_secret_file) go together")
	}
	mode := v.Get("verify")
	if provider.HasPlaceholder(mode) {
		return nil // decided at provision, where build checks it again
	}
	return checkMode(mode, hasID, v.Has("cert_file"))
}

func checkMode(mode string, hasCredentials, hasCert bool) error {
	if mode == "" {
		mode = defaultMode(hasCredentials)
	}
	switch {
	case mode == VerifyAPI && !hasCredentials:
		return errors.New("verify api needs client_id and client_secret")
	case mode == VerifyAPI && hasCert:
		return errors.New("cert_file is for verify offline; verify api asks PayPal")
	}
	return nil
}

func defaultMode(hasCredentials bool) string {
	if hasCredentials {
		return VerifyAPI
	}
	return VerifyOffline
}

// config is a provider built from resolved options; tests fill it
// directly to inject roots and clients.
type config struct {
	webhookID string
	mode      string
	apiBase   string
	queryBase string
	clientID  string
	secret    []byte
	certPEM   []byte
	client    *http.Client
	roots     *x509.CertPool // nil: the system roots
	now       func() time.Time
}

func build(env *provider.Env) (provider.Built, error) {
	c := config{
		webhookID: env.String("webhook_id"),
		mode:      env.String("verify"),
		apiBase:   strings.TrimSuffix(env.String("api_base"), "/"),
		queryBase: strings.TrimSuffix(env.QueryEndpoint, "/"),
		clientID:  env.String("client_id"),
		secret:    append([]byte(nil), env.Bytes("client_secret")...),
		certPEM:   env.Bytes("cert_file"),
		client:    env.HTTPClient,
		now:       env.Now,
	}
	if c.queryBase != "" {
		if err := parseAPIBase([]byte(c.queryBase)); err != nil {
			return provider.Built{}, fmt.Errorf("query endpoint: %v", err)
		}
	}
	if c.certPEM != nil {
		warnExpiry(env, c.certPEM)
	}
	for _, base := range []string{c.apiBase, c.queryBase} {
		if u, err := url.Parse(base); err == nil && u.Scheme == "http" && !isLoopback(u.Hostname()) {
			env.Warn("paypal: " + base + " is plain http: the client secret and OAuth token cross the network unencrypted")
		}
	}
	return c.build()
}

// build makes the provider and, with credentials, the querier.
func (c config) build() (provider.Built, error) {
	hasCredentials := c.clientID != "" && len(c.secret) > 0
	if err := checkMode(c.mode, hasCredentials, c.certPEM != nil); err != nil {
		return provider.Built{}, err
	}
	if c.mode == "" {
		c.mode = defaultMode(hasCredentials)
	}
	if c.apiBase == "" {
		c.apiBase = DefaultAPIBase
	}
	if c.queryBase == "" {
		c.queryBase = c.apiBase
	}
	if c.client == nil {
		c.client = provider.NewHTTPClient(0)
	}
	if c.now == nil {
		c.now = time.Now
	}
	p := &Provider{webhookID: c.webhookID}
	var api *apiClient
	if hasCredentials {
		api = &apiClient{client: c.client, tokens: &tokenSource{
			client: c.client, url: c.apiBase + tokenPath, clientID: c.clientID, secret: c.secret, now: c.now,
		}}
	}
	switch {
	case c.mode == VerifyAPI:
		p.api, p.verifyURL = api, c.apiBase+verifyPath
	case c.certPEM != nil:
		chain, err := parseCertPEM(c.certPEM)
		if err != nil {
			return provider.Built{}, fmt.Errorf("cert_file: %v", err)
		}
		p.certs = pinnedCert{cert: chain[0]}
	default:
		p.certs = newFetchedCerts(c.client, c.roots, c.now)
	}
	built := provider.Built{Provider: p}
	if api != nil {
		built.Querier = &Querier{api: api, base: c.queryBase}
	}
	return built, nil
}

// warnExpiry tells the operator at start that the pinned certificate
// expires soon: PayPal rotates it, and every delivery then fails.
func warnExpiry(env *provider.Env, pemBytes []byte) {
	chain, err := parseCertPEM(pemBytes)
	if err != nil {
		return // build reports it
	}
	if left := chain[0].NotAfter.Sub(env.Now()); left < 30*24*time.Hour {
		env.Warn(fmt.Sprintf("paypal cert_file expires %s (in %s): pin PayPal's new certificate before then", chain[0].NotAfter.UTC().Format(time.RFC3339), left.Round(time.Hour)))
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func parseWebhookID(b []byte) error {
	if !isToken(string(b)) || len(b) > 64 {
		return errors.New("must be PayPal's webhook id: up to 64 letters and digits")
	}
	return nil
}

func parseCredential(b []byte) error {
	if !printable(string(b), 512) {
		return errors.New("must be printable ASCII without spaces or a trailing newline")
	}
	return nil
}

func parseAPIBase(b []byte) error {
	u, err := url.Parse(string(b))
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("scheme must be https (http only for a local sandbox)")
	case u.Host == "" || u.User != nil:
		return errors.New("needs a host and no user information")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not carry a query or fragment")
	}
	return nil
}
