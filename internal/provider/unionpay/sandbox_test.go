package unionpay

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/provider/providertest"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/sandbox"
)

// keysDirs are two sandbox key directories (ours and a stranger's), made
// once per test binary with GenerateKeys.
var (
	dirsOnce        sync.Once
	keysDir, strDir sandbox.Dir
	dirsErr         error
	keysRoot        string
)

func sandboxDirs(t *testing.T) (sandbox.Dir, sandbox.Dir) {
	t.Helper()
	dirsOnce.Do(func() {
		base, err := os.MkdirTemp("", "unionpay-sandbox-")
		if err != nil {
			dirsErr = err
			return
		}
		keysRoot = base
		for i, d := range []*sandbox.Dir{&keysDir, &strDir} {
			*d = sandbox.Dir(base + "/" + []string{"ours", "stranger"}[i])
			if dirsErr = writeKeys(string(*d)); dirsErr != nil {
				return
			}
		}
	})
	if dirsErr != nil {
		t.Fatal(dirsErr)
	}
	return keysDir, strDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if keysRoot != "" {
		os.RemoveAll(keysRoot)
	}
	os.Exit(code)
}

func writeKeys(dir string) error {
	files, err := Spec.Sandbox.GenerateKeys()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range files {
		if err := os.WriteFile(dir+"/"+f.Name, f.Data, f.Mode); err != nil {
			return err
		}
	}
	return nil
}

// sidecar builds the provider a sidecar configured with sb's Settings
// would run, through the spec's own option table.
func sidecar(t *testing.T, sb provider.Sandbox, base string) provider.Built {
	t.Helper()
	b, err := Spec.BuildFromSettings(sb.Settings(base), provider.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadSB(t *testing.T, dir sandbox.Dir) provider.Sandbox {
	t.Helper()
	sb, err := Spec.Sandbox.Load(dir, provider.SandboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// TestSandboxEndToEnd: a sandbox notification verifies at the sidecar its
// Settings describe, and the sidecar's query is confirmed by its query API.
func TestSandboxEndToEnd(t *testing.T) {
	ours, _ := sandboxDirs(t)
	sb := loadSB(t, ours)
	book, srv := providertest.Serve(t, sb)
	built := sidecar(t, sb, srv.URL)
	if built.Querier == nil {
		t.Fatal("no querier: the pfx credentials did not configure the query")
	}
	now := time.Now()
	o := &sandbox.Order{Provider: Name, OutTradeNo: sandbox.NewOutTradeNo(now), Amount: 1234}
	if err := sb.Prepare(o, now); err != nil {
		t.Fatal(err)
	}
	again := *o
	if err := sb.Prepare(&again, now.Add(time.Minute)); err != nil || again != *o {
		t.Fatalf("Prepare is not idempotent: %+v vs %+v (%v)", again, *o, err)
	}
	book.Put(*o)
	msg, err := sb.BuildNotify(o, "", now)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Method != http.MethodPost || !strings.HasPrefix(msg.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		t.Fatalf("message %s %s", msg.Method, msg.Header)
	}
	v, err := built.Provider.VerifyNotify(&provider.Request{Method: msg.Method, Header: msg.Header, Body: msg.Body, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if v.Notification.EventID != o.EventID || v.Notification.TransactionID != o.TransactionID || v.Notification.Amount != 1234 {
		t.Fatalf("notification %+v for order %+v", v.Notification, o)
	}
	q, err := built.Querier.QueryOrder(context.Background(), &v.Notification)
	if err != nil {
		t.Fatal(err)
	}
	if err := pipeline.CompareQuery(&v.Notification, q); err != nil {
		t.Fatal(err)
	}
	// Recovery's form of the query, as built by the spec.
	oq, ok := built.Querier.(provider.OrderQuerier)
	if !ok {
		t.Fatal("the querier is no OrderQuerier")
	}
	ctx := provider.WithOrderHints(context.Background(), map[string]string{OrderTimeHint: v.Notification.Fields()["txnTime"].(string)})
	if q, err := oq.QueryByOrderNo(ctx, o.OutTradeNo); err != nil || q.Amount != 1234 {
		t.Fatalf("QueryByOrderNo: %+v, %v", q, err)
	}
}

// TestSandboxTamperAndStranger: every tamper field is refused, and so is
// a genuine notification from a stranger's sandbox.
func TestSandboxTamperAndStranger(t *testing.T) {
	ours, theirs := sandboxDirs(t)
	sb := loadSB(t, ours)
	built := sidecar(t, sb, "http://127.0.0.1:1")
	now := time.Now()
	o := &sandbox.Order{Provider: Name, OutTradeNo: "SIMTAMPER1", Amount: 1234}
	if err := sb.Prepare(o, now); err != nil {
		t.Fatal(err)
	}
	for _, field := range Spec.Sandbox.Tamperable {
		t.Run(field, func(t *testing.T) {
			msg, err := sb.BuildNotify(o, field, now)
			if err != nil {
				t.Fatal(err)
			}
			_, err = built.Provider.VerifyNotify(&provider.Request{Body: msg.Body, Now: now})
			if code := reason.CodeOf(err, ""); code != reason.BadSignature && code != reason.Malformed {
				t.Fatalf("tampered %s: %v", field, err)
			}
		})
	}
	if _, err := sb.BuildNotify(o, "nonsense", now); err == nil {
		t.Fatal("unknown tamper field accepted")
	}
	stranger := loadSB(t, theirs)
	so := &sandbox.Order{Provider: Name, OutTradeNo: "SIMSTRANGER1", Amount: 1234}
	if err := stranger.Prepare(so, now); err != nil {
		t.Fatal(err)
	}
	msg, err := stranger.BuildNotify(so, "", now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = built.Provider.VerifyNotify(&provider.Request{Body: msg.Body, Now: now})
	wantCode(t, err, reason.BadSignature)
}

func TestSandboxKeyFiles(t *testing.T) {
	files, err := Spec.Sandbox.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	private := map[string]bool{FileUnionPayKey: true, FileMerchantPFX: true, FileMerchantPassword: true}
	for _, f := range files {
		if !strings.HasPrefix(f.Name, Name+"_") {
			t.Errorf("%s is not prefixed with the provider name", f.Name)
		}
		if private[f.Name] != (f.Mode == 0o600) {
			t.Errorf("%s has mode %o", f.Name, f.Mode)
		}
	}
	if len(files) != len(sandboxFiles) {
		t.Fatalf("%d files, want %d", len(files), len(sandboxFiles))
	}
	empty := sandbox.Dir(t.TempDir())
	if _, err := Spec.Sandbox.Load(empty, provider.SandboxOptions{}); !errors.Is(err, sandbox.ErrNoKeys) {
		t.Fatalf("empty directory: %v", err)
	}
	if err := os.WriteFile(empty.Path(FileRoot), files[0].Data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Spec.Sandbox.Load(empty, provider.SandboxOptions{}); err == nil || errors.Is(err, sandbox.ErrNoKeys) {
		t.Fatalf("partial directory: %v", err)
	}
}

func TestSandboxPrepareRules(t *testing.T) {
	ours, _ := sandboxDirs(t)
	sb := loadSB(t, ours)
	now := time.Now()
	for name, o := range map[string]sandbox.Order{
		"USD":            {Provider: Name, OutTradeNo: "X1", Amount: 1, Currency: "USD"},
		"app_id":         {Provider: Name, OutTradeNo: "X1", Amount: 1, AppID: "app"},
		"foreign status": {Provider: Name, OutTradeNo: "X1", Amount: 1, Status: "TRADE_SUCCESS"},
		"foreign id":     {Provider: Name, OutTradeNo: "X1", Amount: 1, TransactionID: "4200000001"},
		"other provider": {Provider: "alipay", OutTradeNo: "X1", Amount: 1},
	} {
		if err := sb.Prepare(&o, now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestSpecOptions: the option table's rules as the glue applies them.
func TestSpecOptions(t *testing.T) {
	if s, ok := provider.Lookup(Name); !ok || s != Spec {
		t.Fatal("unionpay is not registered")
	}
	ours, _ := sandboxDirs(t)
	base := provider.Values{
		"mer_id": {testMerID}, "root_cert_file": {ours.Path(FileRoot)}, "middle_cert_file": {ours.Path(FileMiddle)},
	}
	with := func(extra provider.Values) provider.Values {
		v := provider.Values{}
		for k, a := range base {
			v[k] = a
		}
		for k, a := range extra {
			v[k] = a
		}
		return v
	}
	env, err := Spec.Resolve(base, nil, provider.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Spec.Build(env)
	if err != nil || b.Querier != nil {
		t.Fatalf("without query credentials: querier %v, %v", b.Querier, err)
	}
	for name, c := range map[string]struct {
		v    provider.Values
		want string
	}{
		"no mer_id":            {provider.Values{"root_cert_file": base["root_cert_file"], "middle_cert_file": base["middle_cert_file"]}, "mer_id"},
		"leaf as root":         {with(provider.Values{"root_cert_file": {ours.Path(FileUnionPayCert)}}), "not a CA"},
		"pfx without password": {with(provider.Values{"sign_cert_file": {ours.Path(FileMerchantPFX)}}), "together"},
		"key without cert_id":  {with(provider.Values{"private_key_file": {ours.Path(FileUnionPayKey)}}), "together"},
		"both forms": {with(provider.Values{"sign_cert_file": {ours.Path(FileMerchantPFX)}, "sign_cert_password_file": {ours.Path(FileMerchantPassword)},
			"private_key_file": {ours.Path(FileUnionPayKey)}, "cert_id": {"1"}}), "not both"},
		"cert_id not decimal": {with(provider.Values{"private_key_file": {ours.Path(FileUnionPayKey)}, "cert_id": {"abc"}}), "decimal"},
		"pfx that is PEM":     {with(provider.Values{"sign_cert_file": {ours.Path(FileRoot)}, "sign_cert_password": {"x"}}), "PKCS#12"},
		"wrong pfx password":  {with(provider.Values{"sign_cert_file": {ours.Path(FileMerchantPFX)}, "sign_cert_password": {"nope"}}), "wrong password"},
	} {
		_, err := Spec.Resolve(c.v, nil, provider.Settings{})
		if err == nil {
			var env *provider.Env
			env, _ = Spec.Resolve(c.v, nil, provider.Settings{})
			_, err = Spec.Build(env)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
	// PEM mode builds a querier.
	env, err = Spec.Resolve(with(provider.Values{"private_key_file": {ours.Path(FileUnionPayKey)}, "cert_id": {"12345"}}), nil, provider.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := Spec.Build(env); err != nil || b.Querier == nil {
		t.Fatalf("PEM mode: querier %v, %v", b.Querier, err)
	}
}
