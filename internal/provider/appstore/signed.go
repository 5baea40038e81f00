package appstore

import (
	"time"

	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// The environments Apple signs for. Xcode and local StoreKit testing sign
// with keys of their own, never with Apple's chain, so they are not
// accepted.
const (
	EnvProduction = "Production"
	EnvSandbox    = "Sandbox"
)

// verifier checks App Store signed data (a notification's signedPayload,
// its nested signedTransactionInfo and signedRenewalInfo, and the query's
// answer) the way Apple's own libraries do, against one app's identity.
type verifier struct {
	chain       *chainVerifier
	bundleID    string
	environment string
}

// verifySigned authenticates one App Store JWS and returns its payload.
//
// The ES256 signature is checked with the leaf's key first, so nothing
// the payload says is read before it is known to be what the leaf signed.
// The chain is then checked at the payload's signedDate, as Apple's
// libraries do when they make no online revocation check: Apple resends
// a notification's bytes for days, and a certificate may expire in
// between. An old signedDate cannot stretch that: the pipeline refuses a
// notification signed longer than max_age ago. Without a signedDate the
// chain must hold now.
//
// Every failure of signature or chain is bad_signature; a payload that is
// not a JSON object is malformed only once the chain holds too.
func (v *verifier) verifySigned(s string, now time.Time) (map[string]any, error) {
	j, err := parseJWS(s)
	if err != nil {
		return nil, err
	}
	certs, err := parseChain(j.x5c)
	if err != nil {
		return nil, reason.Wrap(reason.BadSignature, err, "")
	}
	pub, err := leafKey(certs[0])
	if err != nil {
		return nil, reason.Wrap(reason.BadSignature, err, "")
	}
	if !verifyES256(pub, j.signingInput, j.signature) {
		return nil, reason.New(reason.BadSignature, "ES256 signature does not verify with the x5c leaf")
	}
	payload, perr := strictjson.DecodeObject(j.payload)
	at := now
	signedDate, hasDate, derr := int64Or(payload, perr, "signedDate")
	if hasDate {
		at = time.UnixMilli(signedDate)
	}
	if err := v.chain.verify(certs, at); err != nil {
		return nil, reason.Wrap(reason.BadSignature, err, "")
	}
	if perr != nil {
		return nil, reason.Wrap(reason.Malformed, perr, "JWS payload")
	}
	if derr != nil {
		return nil, reason.Wrap(reason.Malformed, derr, "JWS payload")
	}
	return payload, nil
}

func int64Or(m map[string]any, perr error, key string) (int64, bool, error) {
	if perr != nil {
		return 0, false, nil
	}
	return intField(m, key)
}

// transaction verifies a signedTransactionInfo: a genuine Apple signature
// for another app or the other environment is bad_signature, as Apple's
// libraries answer INVALID_APP_IDENTIFIER and INVALID_ENVIRONMENT.
func (v *verifier) transaction(s string, now time.Time) (map[string]any, error) {
	m, err := v.verifySigned(s, now)
	if err != nil {
		return nil, err
	}
	bundle, _, err := stringField(m, "bundleId")
	if err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "signedTransactionInfo")
	}
	if bundle != v.bundleID {
		return nil, reason.New(reason.BadSignature, "signedTransactionInfo is for bundleId %q, not the configured one", clip(bundle))
	}
	if err := v.checkEnvironment(m, "signedTransactionInfo"); err != nil {
		return nil, err
	}
	return m, nil
}

// renewal verifies a signedRenewalInfo, which names no bundle.
func (v *verifier) renewal(s string, now time.Time) (map[string]any, error) {
	m, err := v.verifySigned(s, now)
	if err != nil {
		return nil, err
	}
	if err := v.checkEnvironment(m, "signedRenewalInfo"); err != nil {
		return nil, err
	}
	return m, nil
}

func (v *verifier) checkEnvironment(m map[string]any, what string) error {
	env, _, err := stringField(m, "environment")
	if err != nil {
		return reason.Wrap(reason.Malformed, err, what)
	}
	if env != v.environment {
		return reason.New(reason.BadSignature, "%s is for environment %q, not %s", what, clip(env), v.environment)
	}
	return nil
}
