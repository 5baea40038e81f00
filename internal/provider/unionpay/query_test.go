package unionpay

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/payguard/payguard/internal/formbody"
	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/sandbox"
)

// testSandbox is the simulator on the given PKI, without a keys directory.
func testSandbox(pki *PKI) *Sandbox {
	return &Sandbox{merID: testMerID, signKey: pki.SignKey, signCert: pki.Sign, merchant: pki.Merchant, logf: func(string, ...any) {}}
}

// queryRig is a provider with query credentials (PEM mode) in front of a
// sandbox query API on the test PKI.
type queryRig struct {
	p    *Provider
	sb   *Sandbox
	book *sandbox.OrderBook
	srv  *httptest.Server
}

func newQueryRig(t *testing.T, wrap func(http.Handler) http.Handler) *queryRig {
	t.Helper()
	pki, _ := pkis(t)
	r := &queryRig{sb: testSandbox(pki), book: sandbox.NewOrderBook()}
	mux := http.NewServeMux()
	r.sb.Mount(mux, r.book)
	var h http.Handler = mux
	if wrap != nil {
		h = wrap(mux)
	}
	r.srv = httptest.NewServer(h)
	t.Cleanup(r.srv.Close)
	r.p = newProvider(t, func(c *Config) {
		p8, err := x509.MarshalPKCS8PrivateKey(pki.MerchantKey)
		if err != nil {
			t.Fatal(err)
		}
		c.PrivateKey = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
		c.CertID = CertID(pki.Merchant)
		c.Endpoint = r.srv.URL + queryPath
	})
	return r
}

// notify prepares an order, files it in the book, and returns its
// verified notification.
func (r *queryRig) notify(t *testing.T, o *sandbox.Order) *notification.Notification {
	t.Helper()
	now := time.Now()
	o.Provider = Name
	if err := r.sb.Prepare(o, now); err != nil {
		t.Fatal(err)
	}
	r.book.Put(*o)
	msg, err := r.sb.BuildNotify(o, "", now)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify(r.p, msg.Body, now)
	if err != nil {
		t.Fatal(err)
	}
	return &v.Notification
}

func TestQueryConfirms(t *testing.T) {
	r := newQueryRig(t, nil)
	for _, status := range []string{StatusPaid, StatusRefunded, StatusVoided, StatusFailed} {
		t.Run(status, func(t *testing.T) {
			n := r.notify(t, &sandbox.Order{OutTradeNo: "ORD" + strings.ReplaceAll(status, ":", ""), Amount: 1234, Status: status})
			q, err := r.p.QueryOrder(context.Background(), n)
			if err != nil {
				t.Fatal(err)
			}
			if err := pipeline.CompareQuery(n, q); err != nil {
				t.Fatalf("answer disagrees: %v (notification %+v, answer %+v)", err, n, q)
			}
			if q.Amount != 1234 || q.Currency != "CNY" || q.OutTradeNo != n.OutTradeNo || q.TransactionID != n.TransactionID || q.Merchant != testMerID {
				t.Fatalf("answer %+v", q)
			}
			if _, ok := q.Raw[fieldSignature]; ok {
				t.Fatal("raw holds the signature")
			}
		})
	}
}

func TestQueryMismatch(t *testing.T) {
	r := newQueryRig(t, nil)
	// The sandbox says 0.01 where the notification said 12.34.
	n := r.notify(t, &sandbox.Order{OutTradeNo: "ORDAMOUNT1", Amount: 1234, QueryAmount: 1})
	q, err := r.p.QueryOrder(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, pipeline.CompareQuery(n, q), reason.QueryMismatch)

	// A paid notification for an order UnionPay says is still in process.
	n = r.notify(t, &sandbox.Order{OutTradeNo: "ORDPENDING1", Amount: 1234, QueryStatus: StatusPending})
	q, err = r.p.QueryOrder(context.Background(), n)
	if err != nil || q.Status != notification.StatusPending {
		t.Fatalf("pending answer: %+v, %v", q, err)
	}
	wantCode(t, pipeline.CompareQuery(n, q), reason.QueryMismatch)

	// A refund of another amount than the notification's.
	n = r.notify(t, &sandbox.Order{OutTradeNo: "ORDREFUND2", Amount: 1234, QueryAmount: 1000, Status: StatusRefunded})
	_, err = r.p.QueryOrder(context.Background(), n)
	wantCode(t, err, reason.QueryMismatch)

	// An order UnionPay does not know.
	unknown := *n
	unknown.OutTradeNo = "ORDNOWHERE"
	_, err = r.p.QueryOrder(context.Background(), &unknown)
	wantCode(t, err, reason.QueryMismatch)
}

// TestQueryOutage: everything a retry may fix is query_unavailable.
func TestQueryOutage(t *testing.T) {
	pki, stranger := pkis(t)
	cases := map[string]func(http.Handler) http.Handler{
		"HTTP 500": func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "busy", 500) })
		},
		"redirect": func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) })
		},
		"answer altered in transit": func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				_, _ = w.Write(bytes.Replace(rec.Body.Bytes(), []byte("txnAmt=1234"), []byte("txnAmt=1235"), 1))
			})
		},
		"answer signed by a stranger's chain": func(http.Handler) http.Handler {
			mux := http.NewServeMux()
			sb := testSandbox(stranger)
			sb.merchant = pki.Merchant // it accepts our request
			book := sandbox.NewOrderBook()
			mux.HandleFunc("POST "+queryPath, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				f, _ := formbody.Parse(body)
				o := sandbox.Order{Provider: Name, OutTradeNo: f.Value("orderId"), Amount: 1234, MchID: testMerID}
				_ = sb.Prepare(&o, time.Now())
				o.TransactionID = "48" + f.Value("txnTime")[2:] + "0000000"
				book.Put(o)
				r.Body = io.NopCloser(bytes.NewReader(body))
				sb.serveQuery(w, r, book)
			})
			return mux
		},
		"garbage": func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>maintenance</html>")) })
		},
		"busy (respCode 06, signed)": func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				sb := testSandbox(pki)
				sb.answer(w, map[string]string{"version": Version, "encoding": "UTF-8", "signMethod": SignMethod, "respCode": "06", "respMsg": "系统繁忙"})
			})
		},
	}
	for name, wrap := range cases {
		t.Run(name, func(t *testing.T) {
			r := newQueryRig(t, wrap)
			n := r.notify(t, &sandbox.Order{OutTradeNo: "ORDOUTAGE1", Amount: 1234})
			_, err := r.p.QueryOrder(context.Background(), n)
			wantCode(t, err, reason.QueryUnavailable)
			t.Log(err)
		})
	}
	t.Run("down", func(t *testing.T) {
		r := newQueryRig(t, nil)
		n := r.notify(t, &sandbox.Order{OutTradeNo: "ORDDOWN1", Amount: 1234})
		r.srv.Close()
		_, err := r.p.QueryOrder(context.Background(), n)
		wantCode(t, err, reason.QueryUnavailable)
	})
	t.Run("request signed with another merchant key", func(t *testing.T) {
		r := newQueryRig(t, nil)
		n := r.notify(t, &sandbox.Order{OutTradeNo: "ORDWRONGKEY", Amount: 1234})
		r.p.signKey = stranger.MerchantKey
		_, err := r.p.QueryOrder(context.Background(), n)
		wantCode(t, err, reason.QueryUnavailable)
		if !strings.Contains(err.Error(), "unsigned answer") {
			t.Fatalf("%v: want the sandbox's unsigned refusal", err)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		_, err := newProvider(t, nil).QueryOrder(context.Background(), &notification.Notification{OutTradeNo: "x"})
		wantCode(t, err, reason.QueryUnavailable)
	})
}

func TestQueryByOrderNo(t *testing.T) {
	r := newQueryRig(t, nil)
	n := r.notify(t, &sandbox.Order{OutTradeNo: "ORDWATCH1", Amount: 4321})
	txnTime := n.Fields()["txnTime"].(string)
	ctx := provider.WithOrderHints(context.Background(), map[string]string{OrderTimeHint: txnTime})
	q, err := r.p.QueryByOrderNo(ctx, "ORDWATCH1")
	if err != nil || q.Status != notification.StatusPaid || q.Amount != 4321 || q.TransactionID != n.TransactionID {
		t.Fatalf("%+v, %v", q, err)
	}
	_, err = r.p.QueryByOrderNo(context.Background(), "ORDWATCH1")
	wantCode(t, err, reason.QueryUnavailable)
	_, err = r.p.QueryByOrderNo(ctx, "ORDELSEWHERE")
	wantCode(t, err, reason.QueryMismatch)
	bad := provider.WithOrderHints(context.Background(), map[string]string{OrderTimeHint: "2026-01-01"})
	_, err = r.p.QueryByOrderNo(bad, "ORDWATCH1")
	wantCode(t, err, reason.QueryUnavailable)
}

// TestQueryRequestShape: the request is the documented parameter set,
// signed with the merchant key (checked here independently of the
// sandbox).
func TestQueryRequestShape(t *testing.T) {
	pki, _ := pkis(t)
	var got *formbody.Form
	r := newQueryRig(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			body, _ := io.ReadAll(req.Body)
			got, _ = formbody.Parse(body)
			req.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(w, req)
		})
	})
	n := r.notify(t, &sandbox.Order{OutTradeNo: "ORDSHAPE1", Amount: 1})
	if _, err := r.p.QueryOrder(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	want := QueryParams(testMerID, "ORDSHAPE1", n.Fields()["txnTime"].(string))
	want["certId"] = CertID(pki.Merchant)
	for k, v := range want {
		if got.Value(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Value(k), v)
		}
	}
	if len(got.Pairs()) != len(want)+1 {
		t.Errorf("%d parameters, want %d and signature", len(got.Pairs()), len(want))
	}
}

func TestPKCS12(t *testing.T) {
	pki, _ := pkis(t)
	for name, enc := range map[string]*pkcs12.Encoder{"legacy 3DES (UnionPay's files)": pkcs12.LegacyDES, "modern AES": pkcs12.Modern2023} {
		pfx, err := enc.Encode(pki.MerchantKey, pki.Merchant, []*x509.Certificate{pki.Middle}, "000000")
		if err != nil {
			t.Fatal(err)
		}
		p := newProvider(t, func(c *Config) { c.SignCert, c.SignCertPassword = pfx, []byte("000000") })
		if !p.CanQuery() || p.certID != CertID(pki.Merchant) || !p.signKey.Equal(pki.MerchantKey) {
			t.Fatalf("%s: certId %s", name, p.certID)
		}
		_, err = New(Config{MerID: testMerID, RootCert: []byte(CertPEM(pki.Root)), MiddleCert: []byte(CertPEM(pki.Middle)), SignCert: pfx, SignCertPassword: []byte("000000\n")})
		if err == nil || !strings.Contains(err.Error(), "wrong password") || strings.Contains(err.Error(), "000000") {
			t.Fatalf("%s, wrong password: %v", name, err)
		}
	}
	_, err := New(Config{MerID: testMerID, RootCert: []byte(CertPEM(pki.Root)), MiddleCert: []byte(CertPEM(pki.Middle)), SignCert: []byte{0x30, 3, 1, 2, 3}, SignCertPassword: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "sign_cert_file") {
		t.Fatalf("garbage pfx: %v", err)
	}
}

func TestParseAnswer(t *testing.T) {
	f, err := parseAnswer([]byte("a=1&reqReserved={x=1&y=2}&b=[p&q]&c=&d=x=y+z%41"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"a": "1", "reqReserved": "{x=1&y=2}", "b": "[p&q]", "c": "", "d": "x=y+z%41"} {
		if got, ok := f.Lookup(k); !ok || got != v {
			t.Errorf("%s = %q, want %q (raw)", k, got, v)
		}
	}
	for _, bad := range []string{"", "a", "a=1&", "a=1&&b=2", "=1", "a=1&a=2", "a={1&b=2", "a=[", "a=1&b"} {
		if _, err := parseAnswer([]byte(bad)); err == nil {
			t.Errorf("parseAnswer(%q) accepted", bad)
		}
	}
}
