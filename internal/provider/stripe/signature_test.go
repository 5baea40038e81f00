package stripe

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

// TestPooledSignatureMatches: an HMAC taken from a secret's pool, reset
// and reused, computes what a fresh one does, for each secret and body in
// any order.
func TestPooledSignatureMatches(t *testing.T) {
	secrets := [][]byte{[]byte("whsec_first_secret"), []byte("whsec_second_secret")}
	p, err := New(secrets)
	if err != nil {
		t.Fatal(err)
	}
	bodies := [][]byte{[]byte(`{"id":"evt_1"}`), nil, bytes.Repeat([]byte("x"), 300)}
	for round := range 3 {
		for i, s := range secrets {
			for j, b := range bodies {
				var out [sha256.Size]byte
				ts := int64(1495999758 + round)
				if got, want := p.signature(i, ts, b, &out), computeSignature(s, ts, b); !bytes.Equal(got, want) {
					t.Fatalf("round %d secret %d body %d: pooled %x, fresh %x", round, i, j, got, want)
				}
			}
		}
	}
}
