package wechatpay

import (
	"encoding/base64"
	"errors"
	"sync"
	"testing"

	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/strictjson"
)

// parseV3EnvelopeOracle is parseV3Envelope as it was before it read the
// envelope's members instead of decoding it into maps: the oracle
// FuzzV3EnvelopeMatchesOracle holds it to.
func parseV3EnvelopeOracle(body []byte) (*v3Envelope, *reason.Error) {
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "notification body")
	}
	var env v3Envelope
	if env.ID, err = requireString(m, "id"); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "notification")
	}
	if env.EventType, err = requireString(m, "event_type"); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "notification")
	}
	if env.CreateTime, _, err = jsonString(m, "create_time"); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "notification")
	}
	res, err := jsonObject(m, "resource")
	if err == nil && res == nil {
		err = errors.New("resource missing")
	}
	if err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "notification")
	}
	if env.Algorithm, err = requireString(res, "algorithm"); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "resource")
	}
	if env.Ciphertext, err = requireString(res, "ciphertext"); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "resource")
	}
	if env.Nonce, err = requireString(res, "nonce"); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "resource")
	}
	if env.AssociatedData, _, err = jsonString(res, "associated_data"); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "resource")
	}
	if _, _, err = jsonString(res, "original_type"); err != nil {
		return nil, reason.Wrap(reason.Malformed, err, "resource")
	}
	return &env, nil
}

// FuzzV3EnvelopeMatchesOracle: parseV3Envelope refuses what the former
// parser refused, with the same code and detail, and otherwise reads the
// same envelope.
func FuzzV3EnvelopeMatchesOracle(f *testing.F) {
	v := loadVectors(f, "wechatpay_v3.json")
	f.Add([]byte(v["notify_payscore_platform_cert_mode"]["body"].(string)))
	for _, s := range []string{
		`{"id":"1","event_type":"X","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"AA==","nonce":"123456789012"}}`,
		`{"id":"1","event_type":"X","create_time":7,"resource":{}}`,
		`{"id":"","event_type":"X","resource":{}}`,
		`{"id":"1","event_type":"X","resource":null}`,
		`{"id":"1","event_type":"X","resource":[]}`,
		`{"id":"1","event_type":"X"}`,
		`{"id":"1","event_type":"X","resource":{"algorithm":"A","ciphertext":"c","nonce":"n","associated_data":1}}`,
		`{"id":"1","event_type":"X","resource":{"algorithm":"A","ciphertext":"c","nonce":"n","original_type":{}}}`,
		`{"id":"1","event_type":"X","resource":{"algorithm":"A","ciphertext":"c","nonce":"n","x":{"a":1,"a":2}}}`,
		`{"id":"\u0031","event_type":"X\"","resource":{"algorithm":"A","ciphertext":"c\/d","nonce":"n"}}`,
		`{"id":"1","id":"2"}`, `[`, `{"id":1}`, `{"id":"1","event_type":"X","resource":{"algorithm":"A"}} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gotErr := parseV3Envelope(body, nil)
		want, wantErr := parseV3EnvelopeOracle(body)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: error %v, oracle %v", body, gotErr, wantErr)
		}
		if gotErr != nil {
			if gotErr.Code != wantErr.Code || gotErr.Error() != wantErr.Error() {
				t.Fatalf("%q: error %v (%s), oracle %v (%s)", body, gotErr, gotErr.Code, wantErr, wantErr.Code)
			}
			return
		}
		if got != *want {
			t.Fatalf("%q: envelope %+v, oracle %+v", body, got, *want)
		}
	})
}

// TestV3ResourceAEADShared: the one AEAD NewV3 builds opens resources
// from many goroutines at once (run with -race), each getting its own
// plaintext, and a tampered one still fails.
func TestV3ResourceAEADShared(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	aead, err := newResourceAEAD(key)
	if err != nil {
		t.Fatal(err)
	}
	signer := &V3Signer{APIv3Key: key}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				want := []byte{'{', '"', 'g', '"', ':', byte('0' + g), ',', '"', 'i', '"', ':', byte('0' + i%10), '}'}
				res, err := signer.EncryptResource(want, "transaction")
				if err != nil {
					t.Error(err)
					return
				}
				env := envelopeOf(t, res)
				pt, rerr := decryptResource(aead, &env)
				if rerr != nil || string(pt) != string(want) {
					t.Errorf("goroutine %d: %q, %v; want %q", g, pt, rerr, want)
					return
				}
				ct, _ := base64.StdEncoding.DecodeString(env.Ciphertext)
				ct[0] ^= 1
				env.Ciphertext = base64.StdEncoding.EncodeToString(ct)
				if _, rerr := decryptResource(aead, &env); reason.CodeOf(rerr, "") != reason.BadSignature {
					t.Errorf("tampered ciphertext: %v", rerr)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// envelopeOf is the v3Envelope of an encrypted resource.
func envelopeOf(t *testing.T, res *V3Resource) v3Envelope {
	t.Helper()
	env, rerr := parseV3Envelope(envelope("EV-1", "TRANSACTION.SUCCESS", res), nil)
	if rerr != nil {
		t.Fatal(rerr)
	}
	return env
}
