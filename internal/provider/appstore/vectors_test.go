package appstore

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
)

// vectorCase is one case of testdata/appstore.json (shared/vectors): Apple's
// mock signed data from app-store-server-library-python with its test
// root, the chain cases of its x509 tests, the real G3 -> WWDR G6 chain,
// and a derived forged-leaf case.
type vectorCase struct {
	Name               string          `json:"name"`
	JWS                string          `json:"jws"`
	RootDER            string          `json:"root_cert_der_b64"`
	PinnedRootDER      string          `json:"pinned_root_der_b64"`
	X5C                []string        `json:"x5c"`
	EffectiveTime      int64           `json:"effective_time_unix"`
	Expected           string          `json:"expected"`
	ExpectedLeafKeyPEM string          `json:"expected_leaf_public_key_pem"`
	DecodedPayload     json.RawMessage `json:"decoded_payload"`
}

func loadVectors(t testing.TB) map[string]vectorCase {
	out := providertest.VectorsByName[vectorCase](t, "appstore.json")
	if len(out) != 13 {
		t.Fatalf("%d vector cases, want 13", len(out))
	}
	return out
}

func derCert(t *testing.T, b64 string) *x509.Certificate {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVectorMockNotification(t *testing.T) {
	c := loadVectors(t)["mock_signed_testNotification"]
	root := derCert(t, c.RootDER)
	req := &provider.Request{Method: "POST", Body: body(t, c.JWS), Now: time.Now()}
	p, err := New(Config{BundleID: "com.example", Environment: EnvSandbox, Roots: []*x509.Certificate{root}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.VerifyNotify(req)
	if err != nil {
		t.Fatal(err)
	}
	n := v.Notification
	if n.EventID != "9ad56bd2-0bc6-42e0-af24-fd996d87a1e6" || n.Type != "TEST" || n.Status != notification.StatusOther {
		t.Fatalf("notification %+v", n)
	}
	if !v.EventTime.Equal(time.UnixMilli(1681314324000)) {
		t.Fatalf("EventTime %v", v.EventTime)
	}
	// Apple's library: INVALID_ENVIRONMENT for Production, and
	// INVALID_APP_IDENTIFIER for another bundle.
	for name, cfg := range map[string]Config{
		"Production":       {BundleID: "com.example", Environment: EnvProduction, Roots: []*x509.Certificate{root}},
		"other bundle":     {BundleID: "com.example.other", Environment: EnvSandbox, Roots: []*x509.Certificate{root}},
		"Apple's own root": {BundleID: "com.example", Environment: EnvSandbox},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.VerifyNotify(req)
			wantCode(t, err, reason.BadSignature)
		})
	}
}

func TestVectorMockSignedObjects(t *testing.T) {
	vs := loadVectors(t)
	for _, name := range []string{"mock_signed_transactionInfo", "mock_signed_renewalInfo", "mock_signed_wrongBundleId"} {
		t.Run(name, func(t *testing.T) {
			c := vs[name]
			v := verifier{chain: newChainVerifier([]*x509.Certificate{derCert(t, c.RootDER)}), bundleID: "com.example", environment: EnvSandbox}
			got, err := v.verifySigned(c.JWS, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if err := json.Unmarshal(c.DecodedPayload, &want); err != nil {
				t.Fatal(err)
			}
			for k, w := range want {
				if k == "data" {
					continue
				}
				if g := got[k]; jsonString(t, g) != jsonString(t, w) {
					t.Errorf("%s = %v, want %v", k, g, w)
				}
			}
			// A signature that does not match its bytes is refused.
			_, err = v.verifySigned(flipSignature(c.JWS), time.Now())
			wantCode(t, err, reason.BadSignature)
		})
	}
	tx := vs["mock_signed_transactionInfo"]
	v := verifier{chain: newChainVerifier([]*x509.Certificate{derCert(t, tx.RootDER)}), bundleID: "com.example", environment: EnvSandbox}
	if _, err := v.transaction(tx.JWS, time.Now()); err != nil {
		t.Fatalf("transaction for com.example in Sandbox: %v", err)
	}
	v.environment = EnvProduction
	_, err := v.transaction(tx.JWS, time.Now())
	wantCode(t, err, reason.BadSignature)
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVectorWrongBundleAndMissingX5C(t *testing.T) {
	vs := loadVectors(t)
	for name, want := range map[string]string{
		"mock_signed_wrongBundleId": "bundleId",
		"mock_signed_missing_x5c":   "x5c",
	} {
		t.Run(name, func(t *testing.T) {
			c := vs[name]
			p, err := New(Config{BundleID: "com.example", Environment: EnvSandbox, Roots: []*x509.Certificate{derCert(t, c.RootDER)}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.VerifyNotify(&provider.Request{Method: "POST", Body: body(t, c.JWS), Now: time.Now()})
			wantCode(t, err, reason.BadSignature)
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("refused for %v; want a %s failure", err, want)
			}
		})
	}
}

func TestVectorChains(t *testing.T) {
	vs := loadVectors(t)
	for _, name := range []string{
		"chain_test_valid", "chain_test_intermediate_wrong_oid", "chain_test_leaf_wrong_oid",
		"chain_test_length_2", "chain_test_against_real_apple_root", "chain_test_expired_at_2042",
		"chain_real_apple_production_g6", "chain_forged_leaf_with_genuine_apple_intermediate_and_root",
	} {
		t.Run(name, func(t *testing.T) {
			c := vs[name]
			valid := c.Expected == "valid"
			at := time.Unix(c.EffectiveTime, 0)
			cv := newChainVerifier([]*x509.Certificate{derCert(t, c.PinnedRootDER)})
			certs, err := parseChain(c.X5C)
			if err == nil {
				err = cv.verify(certs, at)
			}
			if valid != (err == nil) {
				t.Fatalf("expected %q, got %v", c.Expected, err)
			}
			if !valid {
				return
			}
			if c.ExpectedLeafKeyPEM != "" {
				want, err := keys.ParsePublicKey([]byte(c.ExpectedLeafKeyPEM))
				if err != nil {
					t.Fatal(err)
				}
				got, err := leafKey(certs[0])
				if err != nil || !got.Equal(want) {
					t.Fatalf("leaf key %v, %v", got, err)
				}
			}
		})
	}
}

// Apple's production chain verifies with the shipped root and no
// configuration, and the forged leaf in front of that genuine
// intermediate and root does not.
func TestVectorRealAppleChainWithShippedRoot(t *testing.T) {
	vs := loadVectors(t)
	real := vs["chain_real_apple_production_g6"]
	if !derCert(t, real.PinnedRootDER).Equal(AppleRootCAG3()) {
		t.Fatal("the vector's real root is not the shipped Apple Root CA - G3")
	}
	cv := newChainVerifier([]*x509.Certificate{AppleRootCAG3()})
	at := time.Unix(real.EffectiveTime, 0)
	certs, err := parseChain(real.X5C)
	if err != nil {
		t.Fatal(err)
	}
	if err := cv.verify(certs, at); err != nil {
		t.Fatalf("Apple's production chain: %v", err)
	}
	forged := vs["chain_forged_leaf_with_genuine_apple_intermediate_and_root"]
	if forged.X5C[1] != real.X5C[1] || forged.X5C[2] != real.X5C[2] {
		t.Fatal("the forged case no longer carries Apple's genuine intermediate and root")
	}
	fc, err := parseChain(forged.X5C)
	if err != nil {
		t.Fatal(err)
	}
	if !hasExtension(fc[0], oidReceiptSigner) {
		t.Fatal("the forged leaf should carry the leaf marker")
	}
	if err := cv.verify(fc, at); err == nil {
		t.Fatal("forged leaf accepted in front of Apple's genuine intermediate and root")
	}
}
