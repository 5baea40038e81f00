package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// FuzzHandlerCaddyfile: the handler's walk never panics on any block, and
// what it accepts it reads the same way twice.
func FuzzHandlerCaddyfile(f *testing.F) {
	for _, s := range []string{
		"payguard alipay {\n\tapp_id 1\n\tpublic_key_file k\n\tmax_body 1KiB\n\ttolerance 5m\n}",
		"payguard alipay {\n\tquery on {\n\t\tendpoint http://x\n\t\tcache 0s\n\t}\n\tpolicy \"true\"\n}",
		"payguard alipay {\n\tmode watch\n\twatch_token t\n\trecover {\n\t\tschedule 1m 5m\n\t}\n}",
		"payguard wechatpay_v3 {\n\tforward normalized\n\tallow_ips 10.0.0.0/8\n\tupstream_secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n}",
		"payguard bogus", "payguard alipay {\n\tquery maybe\n}", "payguard alipay {\n\t}\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tokens, err := caddyfile.Tokenize([]byte(src), "Testfile")
		if err != nil || len(tokens) == 0 { // Caddy hands no directive without its name
			return
		}
		read := func() ([]byte, error) {
			h := new(Handler)
			if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
				return nil, err
			}
			return json.Marshal(h)
		}
		a, errA := read()
		b, errB := read()
		if (errA == nil) != (errB == nil) || string(a) != string(b) {
			t.Fatalf("read twice: %s (%v) then %s (%v)", a, errA, b, errB)
		}
		if errA != nil && !strings.Contains(errA.Error(), "Testfile:") {
			t.Fatalf("an error without its line: %v", errA)
		}
	})
}

// An unknown option of audit redis_stream is named as unknown whatever
// its arguments (it was once a wrong argument count when it had none or
// two), as in every block the walker reads.
func TestGlobalOptionUnknownBeforeArguments(t *testing.T) {
	for _, line := range []string{"max_len", "max_len 1", "max_len 1 2"} {
		d := caddyfile.NewTestDispenser("payguard {\n\taudit redis_stream s {\n\t\t" + line + "\n\t}\n}")
		_, err := parseGlobalOption(d, nil)
		want := `payguard audit redis_stream: unknown option "max_len" (maxlen, url), at Testfile:3`
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %s", line, err, want)
		}
	}
}
