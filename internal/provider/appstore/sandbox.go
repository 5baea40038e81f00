package appstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"time"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sandbox"
)

// The simulator's key files (`payguard sim keys`).
const (
	sandboxRootFile    = "appstore_root_ca.pem"      // root_cert_file of the sidecar
	sandboxInterFile   = "appstore_intermediate.pem" // in every x5c
	sandboxLeafFile    = "appstore_leaf.pem"         // in every x5c
	sandboxLeafKeyFile = "appstore_leaf_key.pem"     // signs like Apple
	sandboxAPIKeyFile  = "appstore_connect_key.p8"   // the operator's App Store Connect key
)

// The simulated app and App Store Connect key. They are names, not
// secrets: the key file is what authenticates.
const (
	SandboxBundleID  = "com.example.payguard"
	SandboxIssuerID  = "6e1d9c3a-5b0f-4c8e-9a27-5a3d00000001"
	SandboxKeyID     = "PAYGUARD01"
	sandboxAppleID   = 1234567890
	sandboxProductID = "com.example.payguard.credits"
	sandboxPaidType  = "ONE_TIME_CHARGE"
	sandboxOtherApp  = "com.example.someone-else"
)

// sandboxTypes are the notification types the simulator sends: those
// that carry a transaction.
var sandboxTypes = []string{
	"ONE_TIME_CHARGE", "SUBSCRIBED", "DID_RENEW", "OFFER_REDEEMED", "REFUND_REVERSED",
	"REFUND", "REVOKE", "EXPIRED", "DID_FAIL_TO_RENEW", "DID_CHANGE_RENEWAL_PREF",
}

var sandboxSpec = &provider.SandboxSpec{
	Tamperable: []string{
		"price",            // the transaction's price changed after signing
		"bundleId",         // signed by "Apple" for another app
		"environment",      // signed by "Apple" for the other environment
		"signature",        // a bit of the signature flipped
		"x5c_leaf",         // a forged self-signed leaf before the genuine intermediate and root
		"alg_none",         // alg none, no signature
		"nested_signature", // a genuine outer JWS around a transaction whose signature is broken
	},
	Currency:     "USD",
	GenerateKeys: generateSandboxKeys,
	Load:         loadSandbox,
}

func generateSandboxKeys() ([]sandbox.KeyFile, error) {
	pki, err := newTestPKI(time.Now())
	if err != nil {
		return nil, err
	}
	leafKey, err := x509.MarshalPKCS8PrivateKey(pki.leafKey)
	if err != nil {
		return nil, err
	}
	apiKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	apiDER, err := x509.MarshalPKCS8PrivateKey(apiKey)
	if err != nil {
		return nil, err
	}
	certPEM := func(c *x509.Certificate) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return []sandbox.KeyFile{
		{Name: sandboxRootFile, Data: certPEM(pki.root), Mode: 0o644},
		{Name: sandboxInterFile, Data: certPEM(pki.inter), Mode: 0o644},
		{Name: sandboxLeafFile, Data: certPEM(pki.leaf), Mode: 0o644},
		{Name: sandboxLeafKeyFile, Data: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: leafKey}), Mode: 0o600},
		{Name: sandboxAPIKeyFile, Data: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: apiDER}), Mode: 0o600},
	}, nil
}

// appStoreSandbox is the simulated App Store: it signs notifications with
// its leaf like Apple and serves Get Transaction Info.
type appStoreSandbox struct {
	dir         sandbox.Dir
	signer      appleSigner
	inter, root *x509.Certificate
	apiKey      *ecdsa.PublicKey // checks the sidecar's bearer tokens
	environment string
	now         func() time.Time
	logf        func(format string, args ...any)
}

func loadSandbox(dir sandbox.Dir, opts provider.SandboxOptions) (provider.Sandbox, error) {
	files := []string{sandboxRootFile, sandboxInterFile, sandboxLeafFile, sandboxLeafKeyFile, sandboxAPIKeyFile}
	if err := dir.Present(files...); err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for _, f := range files[:3] {
		c, err := readCert(dir, f)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	leafKey, err := readECKey(dir, sandboxLeafKeyFile)
	if err != nil {
		return nil, err
	}
	if !leafKey.PublicKey.Equal(certs[2].PublicKey) {
		return nil, fmt.Errorf("%s is not the key of %s", dir.Path(sandboxLeafKeyFile), sandboxLeafFile)
	}
	apiKey, err := readECKey(dir, sandboxAPIKeyFile)
	if err != nil {
		return nil, err
	}
	env := EnvSandbox
	if e, ok := opts.Params["environment"]; ok {
		if e != EnvSandbox && e != EnvProduction {
			return nil, fmt.Errorf("appstore: environment must be %s or %s", EnvProduction, EnvSandbox)
		}
		env = e
	}
	root, inter, leaf := certs[0], certs[1], certs[2]
	if err := newChainVerifier([]*x509.Certificate{root}).verify([]*x509.Certificate{leaf, inter, root}, time.Now()); err != nil {
		return nil, fmt.Errorf("%s: the sandbox chain does not verify: %v", string(dir), err)
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &appStoreSandbox{
		dir: dir, signer: appleSigner{key: leafKey, x5c: x5cOf(leaf, inter, root)},
		inter: inter, root: root, apiKey: &apiKey.PublicKey, environment: env,
		now: time.Now, logf: logf,
	}, nil
}

func readCert(dir sandbox.Dir, name string) (*x509.Certificate, error) {
	b, err := dir.Read(name)
	if err != nil {
		return nil, err
	}
	certs, err := keys.ParseCertificates(b)
	if err != nil || len(certs) != 1 {
		return nil, fmt.Errorf("%s: not one certificate", dir.Path(name))
	}
	return certs[0], nil
}

func readECKey(dir sandbox.Dir, name string) (*ecdsa.PrivateKey, error) {
	b, err := dir.Read(name)
	if err != nil {
		return nil, err
	}
	k, err := parsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", dir.Path(name), err)
	}
	return k, nil
}

// Prepare implements provider.Sandbox.
func (s *appStoreSandbox) Prepare(o *sandbox.Order, now time.Time) error {
	if err := sandbox.CheckCommon(o, Name, sandboxSpec.Currency); err != nil {
		return err
	}
	for _, a := range []int64{o.Amount, o.QueryAmount} {
		if _, err := minorToMilli(a, o.Currency); err != nil {
			return err
		}
	}
	if o.AppID == "" {
		o.AppID = SandboxBundleID // the bundle id the notification names
	}
	if o.TransactionID == "" {
		o.TransactionID = "2000000" + sandbox.UniqueDigits(9)
	}
	if o.EventID == "" {
		o.EventID = newUUID()
	}
	return sandbox.SettleStatus(o, now, sandboxPaidType, sandboxTypes, func(t string) bool {
		return statusFor(t) == notification.StatusPaid
	})
}

// Settings implements provider.Sandbox: a sidecar for this sandbox pins
// its root and queries its API.
func (s *appStoreSandbox) Settings(base string) []provider.Setting {
	return []provider.Setting{
		{Name: "bundle_id", Args: []string{SandboxBundleID}},
		{Name: "environment", Args: []string{s.environment}},
		{Name: "root_cert_file", Args: []string{s.dir.Path(sandboxRootFile)}},
		{Name: "issuer_id", Args: []string{SandboxIssuerID}, Query: true},
		{Name: "key_id", Args: []string{SandboxKeyID}, Query: true},
		{Name: "private_key_file", Args: []string{s.dir.Path(sandboxAPIKeyFile)}, Query: true},
		{Name: "endpoint", Args: []string{base + "/" + Name}, Query: true},
	}
}

// appleSigner signs App Store data as Apple does: ES256 with the leaf's
// key, the chain in x5c.
type appleSigner struct {
	key *ecdsa.PrivateKey
	x5c []string
}

func (a appleSigner) sign(payload any) (string, error) {
	return a.signWithHeader(map[string]any{"alg": algES256, "x5c": a.x5c}, payload)
}

func (a appleSigner) signWithHeader(header map[string]any, payload any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	return signES256(a.key, h, p)
}

// newUUID is a random (version 4) UUID, as Apple's notificationUUID.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Mount implements provider.Sandbox: Get Transaction Info under
// /appstore/inApps/v1/transactions/{transactionId}, for a bearer token the
// sidecar signed with the sandbox's App Store Connect key.
func (s *appStoreSandbox) Mount(mux *http.ServeMux, book *sandbox.OrderBook) {
	mux.HandleFunc("GET /"+Name+transactionPath+"{id}", func(w http.ResponseWriter, r *http.Request) {
		now := s.now()
		if err := s.checkBearer(r.Header.Get("Authorization"), now); err != nil {
			s.logf("appstore: query refused: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		id := r.PathValue("id")
		o, ok := book.FindTransaction(Name, id)
		if !ok {
			s.logf("appstore: query for unknown transaction %s", sandbox.Clip(id))
			writeJSON(w, http.StatusNotFound, map[string]any{"errorCode": errTransactionNotFound, "errorMessage": "Transaction id not found."})
			return
		}
		info, err := s.signer.sign(s.transaction(&o, o.AppID, s.environment, o.QueryAmount, o.QueryStatus, now))
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		s.logf("appstore: query %s: %s %d %s", o.TransactionID, o.QueryStatus, o.QueryAmount, o.Currency)
		writeJSON(w, http.StatusOK, map[string]string{"signedTransactionInfo": info})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
