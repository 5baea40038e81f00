package stdwebhooks

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/stdwebhook"
)

// exampleBlocks reads the option lines of each `payguard stdwebhooks`
// block of examples/stdwebhooks/Caddyfile: a backtick-quoted mapping as
// one value, other options as their words. (The Caddyfile as a whole is
// adapted by the Caddy glue's tests; this package stays Caddy-free.)
func exampleBlocks(t *testing.T) []provider.Values {
	t.Helper()
	f, err := os.Open("../../../examples/stdwebhooks/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []provider.Values
	var cur provider.Values
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "payguard stdwebhooks {"):
			cur = provider.Values{}
		case cur == nil || line == "" || strings.HasPrefix(line, "#"):
		case line == "}":
			blocks = append(blocks, cur)
			cur = nil
		default:
			name, rest, _ := strings.Cut(line, " ")
			if _, _, ok := Spec().Option(name, false); !ok {
				continue // a handler option (tolerance, forward, ...)
			}
			rest = strings.TrimSpace(rest)
			if strings.HasPrefix(rest, "`") {
				cur[name] = []string{strings.Trim(rest, "`")}
			} else {
				cur[name] = strings.Fields(rest)
			}
		}
	}
	if len(blocks) != 2 {
		t.Fatalf("%d stdwebhooks blocks in the example, want 2", len(blocks))
	}
	return blocks
}

// The example's mappings compile and map the payload its comment shows.
func TestExampleCaddyfile(t *testing.T) {
	blocks := exampleBlocks(t)
	built, err := buildFrom(t, blocks[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks[0]["secret"]) != 2 || len(blocks[0][FieldStatus]) != 1 {
		t.Fatalf("first block %v", blocks[0])
	}
	secret := [][]byte{}
	for _, s := range blocks[0]["secret"] {
		k, err := stdwebhook.ParseSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		secret = append(secret, k)
	}
	body := `{"type":"invoice.paid","timestamp":"2026-01-02T03:04:05Z","data":{"invoice":"INV-7","charge":"ch_3","total":5025,"currency":"eur","state":"paid"}}`
	v, err := built.Provider.VerifyNotify(signedV1(secret[1:], "msg_1", time.Now(), body))
	if err != nil {
		t.Fatal(err)
	}
	n := v.Notification
	if n.OutTradeNo != "INV-7" || n.TransactionID != "ch_3" || n.Amount != 5025 || n.Currency != "EUR" || n.Status != notification.StatusPaid || n.EventID != "msg_1" {
		t.Fatalf("%+v", n)
	}
	if _, err := buildFrom(t, blocks[1]); err != nil {
		t.Fatalf("v1a block: %v", err)
	}
}
