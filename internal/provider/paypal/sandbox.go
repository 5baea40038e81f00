package paypal

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sandbox"
)

// The sandbox's key files.
const (
	fileCA        = "paypal_ca.pem"          // the test CA that issued the signing certificate
	fileCert      = "paypal_cert.pem"        // the signing certificate (what PAYPAL-CERT-URL serves)
	fileKey       = "paypal_key.pem"         // its private key
	fileClientID  = "paypal_client_id"       // the REST app's client id
	fileSecret    = "paypal_client_secret"   // and secret
	fileWebhookID = "paypal_webhook_id"      // the webhook's id
	sandboxHost   = "api.sandbox.paypal.com" // what the sandbox's cert URLs and links name
	sandboxName   = "messageverificationcerts.sandbox.paypal.com"
)

var sandboxFiles = []string{fileCA, fileCert, fileKey, fileClientID, fileSecret, fileWebhookID}

// Capture status words a simulated order may have (sandbox.Order.Status
// and QueryStatus); each but PARTIALLY_REFUNDED names the event sent.
var sandboxStatuses = []string{"COMPLETED", "PENDING", "DECLINED", "REFUNDED", "PARTIALLY_REFUNDED"}

// Tamper fields: each alters a delivery after signing (webhook_id signs
// for another webhook), and each is refused by the real verifier as
// bad_signature.
var sandboxTamper = []string{"amount", "signature", "transmission_id", "transmission_time", "cert_url", "auth_algo", "webhook_id"}

var sandboxSpec = &provider.SandboxSpec{
	Tamperable:   sandboxTamper,
	Currency:     "USD",
	GenerateKeys: generateKeys,
	Load:         loadSandbox,
}

// generateKeys makes a test CA, a signing certificate it issued under
// PayPal's sandbox certificate name, the REST app's credentials and a
// webhook id. The CA's key is thrown away: it has signed all it needs to.
func generateKeys() ([]sandbox.KeyFile, error) {
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour).Truncate(time.Second)
	caTmpl := &x509.Certificate{
		SerialNumber: randSerial(), Subject: pkixName("payguard sandbox PayPal CA"),
		NotBefore: now, NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, files, err := sandbox.NewRSAPair(fileKey, "paypal_key.pub")
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: randSerial(), Subject: pkixName(sandboxName), DNSNames: []string{sandboxName},
		NotBefore: now, NotAfter: now.AddDate(5, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	return []sandbox.KeyFile{
		{Name: fileCA, Data: pemCert(caDER), Mode: 0o644},
		{Name: fileCert, Data: pemCert(leafDER), Mode: 0o644},
		files[0], // the private key, 0600
		{Name: fileClientID, Data: []byte("SB" + string(sandbox.RandomSecret(30))), Mode: 0o644},
		{Name: fileSecret, Data: sandbox.RandomSecret(40), Mode: 0o600},
		{Name: fileWebhookID, Data: []byte(strings.ToUpper(string(sandbox.RandomSecret(17)))), Mode: 0o644},
	}, nil
}

// sim is a simulated PayPal: it signs deliveries like PayPal and serves
// the OAuth token, verify-webhook-signature and capture APIs.
type sim struct {
	dir       sandbox.Dir
	key       *rsa.PrivateKey
	cert      *x509.Certificate
	clientID  string
	secret    string
	webhookID string
	logf      func(string, ...any)
	tokens    *tokenBook
}

func loadSandbox(dir sandbox.Dir, opts provider.SandboxOptions) (provider.Sandbox, error) {
	if err := dir.Present(sandboxFiles...); err != nil {
		return nil, err
	}
	key, err := dir.RSAPrivate(fileKey)
	if err != nil {
		return nil, err
	}
	certPEM, err := dir.Read(fileCert)
	if err != nil {
		return nil, err
	}
	chain, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", dir.Path(fileCert), err)
	}
	if !chain[0].PublicKey.(*rsa.PublicKey).Equal(&key.PublicKey) {
		return nil, fmt.Errorf("%s does not certify the key in %s", dir.Path(fileCert), fileKey)
	}
	s := &sim{dir: dir, key: key, cert: chain[0], logf: opts.Logf, tokens: newTokenBook()}
	for _, f := range []struct {
		name string
		dst  *string
	}{{fileClientID, &s.clientID}, {fileSecret, &s.secret}, {fileWebhookID, &s.webhookID}} {
		b, err := dir.Read(f.name)
		if err != nil {
			return nil, err
		}
		if !printable(string(b), 512) {
			return nil, fmt.Errorf("%s: must be printable ASCII without a trailing newline", dir.Path(f.name))
		}
		*f.dst = string(b)
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	return s, nil
}

// Prepare implements provider.Sandbox.
func (s *sim) Prepare(o *sandbox.Order, now time.Time) error {
	if err := sandbox.CheckCommon(o, Name, sandboxSpec.Currency); err != nil {
		return err
	}
	if o.TransactionID == "" {
		o.TransactionID = paypalID(17)
	}
	if o.EventID == "" {
		o.EventID = "WH-" + paypalID(17) + "-" + paypalID(17)
	}
	isPaid := func(st string) bool { return st == "COMPLETED" || st == "PARTIALLY_REFUNDED" || st == "REFUNDED" }
	if err := sandbox.SettleStatus(o, now, "COMPLETED", sandboxStatuses, isPaid); err != nil {
		return err
	}
	if o.Status == "PARTIALLY_REFUNDED" {
		return errors.New("status PARTIALLY_REFUNDED is a query answer; PayPal notifies a refund as REFUNDED")
	}
	for _, v := range []int64{o.Amount, o.QueryAmount} {
		if _, err := FormatAmount(v, o.Currency); err != nil {
			return err
		}
	}
	return nil
}

// BuildNotify implements provider.Sandbox: the event as PayPal renders it,
// signed with the CRC32 scheme by the sandbox's certificate.
func (s *sim) BuildNotify(o *sandbox.Order, tamper string, now time.Time) (*sandbox.Message, error) {
	if err := sandbox.CheckTamper(Name, sandboxTamper, tamper); err != nil {
		return nil, err
	}
	if err := s.Prepare(o, now); err != nil {
		return nil, err
	}
	body, err := renderEvent(o, o.Amount, now)
	if err != nil {
		return nil, err
	}
	id, ts := transmissionID(), now.UTC().Format(time.RFC3339)
	webhookID := s.webhookID
	if tamper == "webhook_id" {
		webhookID = "FORGED" + webhookID
	}
	sum := sha256.Sum256(SignedContent(id, ts, webhookID, body))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return nil, err
	}
	fp := sha256.Sum256(s.cert.Raw)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(HeaderTransmissionID, id)
	h.Set(HeaderTransmissionTime, ts)
	h.Set(HeaderAuthAlgo, AuthAlgo)
	h.Set(HeaderCertURL, "https://"+sandboxHost+certPathPrefix+"CERT-"+hex.EncodeToString(fp[:8]))
	switch tamper {
	case "amount":
		if body, err = renderEvent(o, o.Amount+amountStep(o.Currency), now); err != nil {
			return nil, err
		}
	case "signature":
		sig[len(sig)/2] ^= 0x01
	case "transmission_id":
		h.Set(HeaderTransmissionID, transmissionID())
	case "transmission_time":
		h.Set(HeaderTransmissionTime, now.Add(time.Second).UTC().Format(time.RFC3339))
	case "cert_url":
		h.Set(HeaderCertURL, "https://certs.attacker.example"+certPathPrefix+"CERT-1")
	case "auth_algo":
		h.Set(HeaderAuthAlgo, "SHA1withRSA")
	}
	h.Set(HeaderTransmissionSig, base64.StdEncoding.EncodeToString(sig))
	return &sandbox.Message{Method: http.MethodPost, Header: h, Body: body}, nil
}

// amountStep is the smallest amount PayPal can write in the currency.
func amountStep(currency string) int64 {
	return pow10(notification.CurrencyExponent(currency) - paypalExponent(currency))
}

// Settings implements provider.Sandbox. The sidecar uses verify api
// against the sandbox: that exercises the most of the provider (the
// OAuth token and its cache, the verify call with the raw body embedded,
// and the capture query with the same token), while the sandbox's verify
// endpoint checks the CRC32 signature with the same code verify offline
// runs.
func (s *sim) Settings(base string) []provider.Setting {
	api := strings.TrimSuffix(base, "/") + "/paypal"
	return []provider.Setting{
		{Name: "webhook_id", Args: []string{s.webhookID}},
		{Name: "verify", Args: []string{VerifyAPI}},
		{Name: "api_base", Args: []string{api}},
		{Name: "client_id", Args: []string{s.clientID}},
		{Name: "client_secret_file", Args: []string{s.dir.Path(fileSecret)}},
		{Name: "endpoint", Args: []string{api}, Query: true},
	}
}

// paypalID is n random capitals and digits, the shape of PayPal's ids.
func paypalID(n int) string {
	return strings.ToUpper(string(sandbox.RandomSecret(n)))
}

// transmissionID is a fresh UUID-shaped id, as PayPal's.
func transmissionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
