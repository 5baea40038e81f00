package caddymodule_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// hostileCase is one file of testdata/hostile (see its README.md).
type hostileCase struct {
	Doc      string            `json:"doc"`
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Query    string            `json:"query"`
	QueryOf  *hostileBody      `json:"query_from"` // the query is this signed body
	Headers  [][2]string       `json:"headers"`
	Body     hostileBody       `json:"body"`
	Chunked  bool              `json:"chunked"`
	Trailers map[string]string `json:"trailers"`
	Gzip     bool              `json:"gzip"`
	Drip     int               `json:"drip"`   // send the body in this many pieces
	Hangup   bool              `json:"hangup"` // close the connection halfway

	Status      int               `json:"status"` // 0: no answer expected (hangup)
	Reason      string            `json:"reason"`
	Delivered   bool              `json:"delivered"`
	ShopHeaders map[string]string `json:"shop_headers"`
	ShopAbsent  []string          `json:"shop_absent"`
	NoTrailers  bool              `json:"shop_no_trailers"`
}

type hostileBody struct {
	Kind    string            `json:"kind"` // raw, repeat, alipay, wechatpay_v2
	Text    string            `json:"text"`
	Count   int               `json:"count"`
	Params  map[string]string `json:"params"`
	Fields  map[string]string `json:"fields"`
	Replace [][2]string       `json:"replace"`
	Prepend string            `json:"prepend"`
	Append  string            `json:"append"`
}

// build makes the body's bytes; name keeps signed cases' ids apart.
func (b hostileBody) build(t *testing.T, name string, v2 func(map[string]string) []byte) []byte {
	t.Helper()
	var out []byte
	switch b.Kind {
	case "raw":
		out = []byte(b.Text)
	case "repeat":
		out = []byte(strings.Repeat(b.Text, b.Count))
	case "alipay":
		p := notifyParams("h-"+name, "order-"+name, "T-"+name, "12.34")
		for k, v := range b.Params {
			p[k] = hostileValue(t, v)
		}
		out = mustSign(t, signer(), p)
	case "wechatpay_v2":
		f := v2Payment("42"+strconv.Itoa(len(name))+name, "wx-"+name, "100")
		for k, v := range b.Fields {
			f[k] = v
		}
		out = v2(f)
	default:
		t.Fatalf("unknown body kind %q", b.Kind)
	}
	for _, r := range b.Replace {
		if !bytes.Contains(out, []byte(r[0])) {
			t.Fatalf("replace: %q not in the body", r[0])
		}
		out = bytes.Replace(out, []byte(r[0]), []byte(r[1]), 1)
	}
	return append(append([]byte(b.Prepend), out...), b.Append...)
}

// hostileValue reads "@-2160h" as a time in Alipay's format and "\xff" as
// that byte.
func hostileValue(t *testing.T, v string) string {
	if d, ok := strings.CutPrefix(v, "@"); ok {
		dur, err := time.ParseDuration(d)
		if err != nil {
			t.Fatal(err)
		}
		return time.Now().Add(dur).In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04:05")
	}
	if strings.Contains(v, `\x`) {
		u, err := strconv.Unquote(`"` + v + `"`)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	return v
}

// TestHostileCorpus replays testdata/hostile through a real Caddy: every
// case gets its status and reason, reaches the shop only when it should,
// and the shop sees only what payguard vouches for. No request panics the
// server, and once Caddy stops no payguard goroutine is left behind.
func TestHostileCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/hostile/*.json")
	if err != nil || len(files) < 25 {
		t.Fatalf("corpus: %d files, %v", len(files), err)
	}
	keysFor(t)
	v2route, v2signer := v2Route(t, "/wx/v2", "")
	shop := newRecorder(t)
	port := freePort(t)
	startCaddy(t, testGlobals()+fmt.Sprintf(`http://127.0.0.1:%d {
	handle /alipay/notify {
		payguard alipay {
			app_id 2021000000000001
			seller_id 2088000000000001
			public_key_file %s
			max_body 8KiB
		}
		reverse_proxy %s
	}
	handle /alipay/return {
		payguard alipay {
			mode return
			app_id 2021000000000001
			public_key_file %[2]s
		}
		reverse_proxy %[3]s
	}
%s}
`, port, testKeys.alipayPubFile, strings.TrimPrefix(shop.srv.URL, "http://"),
		fmt.Sprintf(v2route, strings.TrimPrefix(shop.srv.URL, "http://"))))
	base := fmt.Sprintf("127.0.0.1:%d", port)

	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var c hostileCase
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			before := shop.count()
			status, reason := sendHostile(t, base, name, &c, v2signer.SignNotify)
			if status != c.Status || reason != c.Reason {
				t.Fatalf("%s\ngot %d %q, want %d %q", c.Doc, status, reason, c.Status, c.Reason)
			}
			delivered := shop.count() - before
			if delivered != map[bool]int{true: 1}[c.Delivered] {
				t.Fatalf("%s\nshop got %d", c.Doc, delivered)
			}
			if c.Delivered {
				checkShopSaw(t, shop.last(), &c)
			}
		})
	}

	// Stop Caddy, and the payguard goroutines must go with it.
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
	if left := lingering(5 * time.Second); left != "" {
		t.Fatalf("payguard goroutines left after Caddy stopped:\n%s", left)
	}
}

func checkShopSaw(t *testing.T, got recorded, c *hostileCase) {
	t.Helper()
	for k, v := range c.ShopHeaders {
		if vs := got.header.Values(k); len(vs) != 1 || vs[0] != v {
			t.Errorf("shop's %s = %q, want %q", k, vs, v)
		}
	}
	for _, k := range c.ShopAbsent {
		if _, ok := got.header[k]; ok {
			t.Errorf("shop got %s: %q", k, got.header[k])
		}
	}
	if c.NoTrailers && len(got.trailer) != 0 {
		t.Errorf("shop got trailers %v", got.trailer)
	}
}

// sendHostile sends the case over its own connection, written by hand so
// that the framing (chunks, trailers, a drip, a hang-up) is exactly the
// case's. It returns the answer's status and Payguard-Reason.
func sendHostile(t *testing.T, addr, name string, c *hostileCase, v2 func(map[string]string) []byte) (int, string) {
	t.Helper()
	body := c.Body.build(t, name, v2)
	if c.Gzip {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(body)
		w.Close()
		body = z.Bytes()
	}
	target := c.Path
	if target == "" {
		target = "/alipay/notify"
	}
	query := c.Query
	if c.QueryOf != nil {
		query = string(c.QueryOf.build(t, name, v2))
	}
	if query != "" {
		target += "?" + query
	}
	method := c.Method
	if method == "" {
		method = http.MethodPost
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, addr)
	fmt.Fprintf(&head, "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n")
	for _, h := range c.Headers {
		fmt.Fprintf(&head, "%s: %s\r\n", h[0], h[1])
	}
	if c.Gzip {
		head.WriteString("Content-Encoding: gzip\r\n")
	}
	chunked := c.Chunked || len(c.Trailers) > 0
	if chunked {
		head.WriteString("Transfer-Encoding: chunked\r\n")
		for k := range c.Trailers {
			fmt.Fprintf(&head, "Trailer: %s\r\n", k)
		}
	} else if method != http.MethodGet || len(body) > 0 {
		fmt.Fprintf(&head, "Content-Length: %d\r\n", len(body))
	}
	head.WriteString("\r\n")
	if _, err := conn.Write(head.Bytes()); err != nil {
		t.Fatal(err)
	}
	if c.Hangup {
		conn.Write(body[:len(body)/2])
		return 0, ""
	}
	writeHostileBody(t, conn, body, chunked, c)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Payguard-Reason")
}

func writeHostileBody(t *testing.T, conn net.Conn, body []byte, chunked bool, c *hostileCase) {
	t.Helper()
	pieces := [][]byte{body}
	if c.Drip > 1 {
		pieces = nil
		size := (len(body) + c.Drip - 1) / c.Drip
		for len(body) > 0 {
			n := min(size, len(body))
			pieces, body = append(pieces, body[:n]), body[n:]
		}
	}
	for _, p := range pieces {
		if chunked {
			fmt.Fprintf(conn, "%x\r\n", len(p))
		}
		conn.Write(p)
		if chunked {
			conn.Write([]byte("\r\n"))
		}
		if c.Drip > 1 {
			time.Sleep(5 * time.Millisecond) // a slow sender, not synchronization
		}
	}
	if chunked {
		conn.Write([]byte("0\r\n"))
		for k, v := range c.Trailers {
			fmt.Fprintf(conn, "%s: %s\r\n", k, v)
		}
		conn.Write([]byte("\r\n"))
	}
}

// lingering waits up to d for goroutines running payguard's code (not this
// test's) to end, and describes those that do not.
func lingering(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "github.com/payguard/payguard/") && !strings.Contains(g, "_test.") && !strings.Contains(g, "testing.tRunner") {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
