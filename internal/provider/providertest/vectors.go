package providertest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/payguard/payguard/internal/notification"
)

// Vectors reads testdata/<file>, a provider's copy of its official test
// vectors ({"cases": [...]}, the layout of shared/vectors), and returns
// the cases in file order. A missing or unreadable file, or one without
// a case, fails the test: a vector test must never pass by reading
// nothing.
func Vectors[C any](t testing.TB, file string) []C {
	t.Helper()
	raws := readCases(t, file)
	cases := make([]C, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &cases[i]); err != nil {
			t.Fatalf("testdata/%s: case %d: %v", file, i, err)
		}
	}
	return cases
}

// VectorsByName is Vectors keyed by each case's "name". A case without a
// name, a name given twice, or a missing one of want fails the test.
func VectorsByName[C any](t testing.TB, file string, want ...string) map[string]C {
	t.Helper()
	out := map[string]C{}
	for i, raw := range readCases(t, file) {
		var named struct {
			Name string `json:"name"`
		}
		var c C
		if json.Unmarshal(raw, &named) != nil || named.Name == "" {
			t.Fatalf("testdata/%s: case %d has no name", file, i)
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatalf("testdata/%s: case %s: %v", file, named.Name, err)
		}
		if _, dup := out[named.Name]; dup {
			t.Fatalf("testdata/%s: case %s given twice", file, named.Name)
		}
		out[named.Name] = c
	}
	for _, w := range want {
		if _, ok := out[w]; !ok {
			t.Fatalf("testdata/%s: case %s missing", file, w)
		}
	}
	return out
}

func readCases(t testing.TB, file string) []json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatalf("vectors: %v", err)
	}
	var f struct {
		Cases []json.RawMessage `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("testdata/%s: %v", file, err)
	}
	if len(f.Cases) == 0 {
		t.Fatalf("testdata/%s holds no case", file)
	}
	return f.Cases
}

// Normalized is a vector's "normalized": the notification fields the
// official sample must yield.
type Normalized struct {
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	EventID       string `json:"event_id"`
	OutTradeNo    string `json:"out_trade_no"`
	Status        string `json:"status"`
	TransactionID string `json:"transaction_id"`
}

// Check fails the test unless n carries want's fields.
func (want Normalized) Check(t testing.TB, n *notification.Notification) {
	t.Helper()
	got := Normalized{Amount: n.Amount, Currency: n.Currency, EventID: n.EventID,
		OutTradeNo: n.OutTradeNo, Status: string(n.Status), TransactionID: n.TransactionID}
	if got != want {
		t.Errorf("normalized %+v, want %+v", got, want)
	}
}
