package generic

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/reason"
)

// keyFor returns the signer's key material and the option values that
// configure the verifier with it.
func keyFor(t *testing.T, alg string) (secret []byte, priv crypto.Signer, v provider.Values) {
	t.Helper()
	switch alg {
	case AlgRSASHA256, AlgRSASHA1:
		priv = testRSA(t)
	case AlgEd25519:
		priv = testEd25519(t)
	default:
		secret = []byte("partner-secret-0123456789abcdef")
		return secret, nil, provider.Values{"secret": {string(secret)}}
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return nil, priv, provider.Values{"public_key": {string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}}
}

type layout struct {
	format, signature, message string
	body                       string // unsigned
}

var layouts = []layout{
	{formatForm, "field sign", MessageSortedFields, "out_trade_no=T1&amount=1234&status=SUCCESS&note=a+b%26c&empty="},
	{formatXML, "field sign", MessageSortedFields, "<xml><out_trade_no>T1</out_trade_no><amount>1234</amount><status>SUCCESS</status><note><![CDATA[a b&c]]></note></xml>"},
	{formatJSON, "field sign", MessageSortedFields, `{"out_trade_no":"T1","amount":1234,"status":"SUCCESS","note":"a b&c"}`},
	{formatJSON, "header X-Sig", MessageRaw, `{"out_trade_no":"T1","amount":1234,"status":"SUCCESS","nested":{"a":[1,2]}}`},
	{formatRaw, "header X-Sig", MessageRaw, `T1|1234|SUCCESS`},
}

func layoutValues(l layout, alg, encoding string) provider.Values {
	v := provider.Values{
		"partner_name": {"partner_x"}, "format": {l.format}, "signature": strings.Fields(l.signature),
		"encoding": {encoding}, "algorithm": {alg}, "message": {l.message},
		"event_id": {`"evt-" + fields.out_trade_no`}, "out_trade_no": {`fields.out_trade_no`},
		"amount": {`int(fields.amount)`}, "currency": {`"CNY"`},
		"status": {`fields.status == "SUCCESS" ? "paid" : "failed"`},
	}
	if l.format == formatRaw {
		v["event_id"] = []string{`"evt-" + body.split("|")[0]`}
		v["out_trade_no"] = []string{`body.split("|")[0]`}
		v["amount"] = []string{`int(body.split("|")[1])`}
		v["status"] = []string{`body.split("|")[2] == "SUCCESS" ? "paid" : "failed"`}
	}
	if alg == AlgMD5WithKey {
		v["key_suffix"] = []string{"&key={secret}"}
	}
	return v
}

// Every algorithm in every layout: the signer's message verifies and maps,
// and a changed byte of the signed content does not.
func TestRoundTrips(t *testing.T) {
	for _, alg := range []string{AlgHMACSHA256, AlgHMACSHA1, AlgMD5WithKey, AlgRSASHA256, AlgRSASHA1, AlgEd25519} {
		for _, l := range layouts {
			for _, enc := range []string{"hex", "base64"} {
				name := alg + "/" + l.format + "/" + l.message + "/" + enc
				secret, priv, kv := keyFor(t, alg)
				v := layoutValues(l, alg, enc)
				for k, a := range kv {
					v[k] = a
				}
				p, _, err := buildValues(t, v)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				g := Signer{Scheme: p.scheme, Secret: secret, Key: priv}
				body, headers, err := g.SignBody([]byte(l.body))
				if err != nil {
					t.Fatalf("%s: sign: %v", name, err)
				}
				got, err := p.VerifyNotify(request(body, headers))
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				n := got.Notification
				if n.Provider != "partner_x" || n.OutTradeNo != "T1" || n.Amount != 1234 || n.Status != notification.StatusPaid || n.EventID != "evt-T1" {
					t.Errorf("%s: %+v", name, n)
				}
				tampered := []byte(strings.Replace(string(body), "1234", "1235", 1))
				if _, err := p.VerifyNotify(request(tampered, headers)); reason.CodeOf(err, "") != reason.BadSignature {
					t.Errorf("%s: tampered amount: %v", name, err)
				}
			}
		}
	}
}

// A signature made with another algorithm is refused: the configured one
// alone is tried, whatever the message looks like.
func TestOtherAlgorithmRefused(t *testing.T) {
	l := layouts[0]
	secret := []byte("partner-secret-0123456789abcdef")
	for _, c := range [][2]string{{AlgHMACSHA256, AlgHMACSHA1}, {AlgHMACSHA1, AlgHMACSHA256}, {AlgHMACSHA256, AlgMD5WithKey}, {AlgMD5WithKey, AlgHMACSHA256}} {
		verifier := layoutValues(l, c[0], "hex")
		verifier["secret"] = []string{string(secret)}
		verifier["key_suffix"] = []string{"&key={secret}"}
		p := mustBuild(t, verifier)
		signer := p.scheme
		signer.Algorithm = c[1]
		body, h, err := (&Signer{Scheme: signer, Secret: secret}).SignBody([]byte(l.body + "&sign_type=" + c[0]))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.VerifyNotify(request(body, h)); reason.CodeOf(err, "") != reason.BadSignature {
			t.Errorf("%s verifier, %s signature: %v", c[0], c[1], err)
		}
	}
	// RSA-SHA1 offered to an RSA-SHA256 verifier, same key.
	_, priv, kv := keyFor(t, AlgRSASHA256)
	v := layoutValues(layouts[3], AlgRSASHA256, "base64")
	v["public_key"] = kv["public_key"]
	p := mustBuild(t, v)
	sha1Scheme := p.scheme
	sha1Scheme.Algorithm = AlgRSASHA1
	body, h, _ := (&Signer{Scheme: sha1Scheme, Key: priv}).SignBody([]byte(layouts[3].body))
	if _, err := p.VerifyNotify(request(body, h)); reason.CodeOf(err, "") != reason.BadSignature {
		t.Errorf("rsa-sha1 signature to rsa-sha256: %v", err)
	}
}

// Rotation: each configured secret or key verifies; a stranger's does not.
func TestRotation(t *testing.T) {
	l := layouts[0]
	v := layoutValues(l, AlgHMACSHA256, "hex")
	v["secret"] = []string{"old-secret", "new-secret"}
	p := mustBuild(t, v)
	for _, s := range []string{"old-secret", "new-secret", "stranger"} {
		body, h, _ := (&Signer{Scheme: p.scheme, Secret: []byte(s)}).SignBody([]byte(l.body))
		_, err := p.VerifyNotify(request(body, h))
		if (err == nil) != (s != "stranger") {
			t.Errorf("secret %s: %v", s, err)
		}
	}
	_, k1, kv1 := keyFor(t, AlgEd25519)
	_, k2, kv2 := keyFor(t, AlgEd25519)
	_, stranger, _ := keyFor(t, AlgEd25519)
	v = layoutValues(layouts[3], AlgEd25519, "base64")
	v["public_key"] = append(kv1["public_key"], kv2["public_key"]...)
	p = mustBuild(t, v)
	for i, k := range []crypto.Signer{k1, k2, stranger} {
		body, h, _ := (&Signer{Scheme: p.scheme, Key: k}).SignBody([]byte(layouts[3].body))
		_, err := p.VerifyNotify(request(body, h))
		if (err == nil) != (i < 2) {
			t.Errorf("key %d: %v", i, err)
		}
	}
}

func TestSignatureLocation(t *testing.T) {
	l := layouts[3]
	v := layoutValues(l, AlgHMACSHA256, "hex")
	v["secret"] = []string{"s"}
	p := mustBuild(t, v)
	body, h, _ := (&Signer{Scheme: p.scheme, Secret: []byte("s")}).SignBody([]byte(l.body))
	for name, c := range map[string]struct {
		values []string
		want   reason.Code
	}{
		"missing":     {nil, reason.BadSignature},
		"empty":       {[]string{""}, reason.BadSignature},
		"twice":       {[]string{h["X-Sig"], h["X-Sig"]}, reason.Malformed},
		"upper hex":   {[]string{strings.ToUpper(h["X-Sig"])}, ""},
		"not hex":     {[]string{"zz" + h["X-Sig"][2:]}, reason.BadSignature},
		"truncated":   {[]string{h["X-Sig"][:40]}, reason.BadSignature},
		"other bytes": {[]string{strings.Repeat("ab", 32)}, reason.BadSignature},
	} {
		req := request(body, nil)
		for _, x := range c.values {
			req.Header.Add("X-Sig", x)
		}
		_, err := p.VerifyNotify(req)
		if got := reason.CodeOf(err, ""); got != c.want {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	// A raw-signed body is checked before it is parsed: garbage under a
	// wrong signature is bad_signature, not malformed.
	if _, err := p.VerifyNotify(request([]byte("{{{"), h)); reason.CodeOf(err, "") != reason.BadSignature {
		t.Errorf("garbage: %v", err)
	}

	// A field signature that is not a JSON string.
	fv := layoutValues(layouts[2], AlgHMACSHA256, "hex")
	fv["secret"] = []string{"s"}
	fp := mustBuild(t, fv)
	if _, err := fp.VerifyNotify(request([]byte(`{"out_trade_no":"T1","sign":123}`), nil)); reason.CodeOf(err, "") != reason.Malformed {
		t.Errorf("numeric sign: %v", err)
	}
	if _, err := fp.VerifyNotify(request([]byte(`{"out_trade_no":"T1"}`), nil)); reason.CodeOf(err, "") != reason.BadSignature {
		t.Errorf("no sign: %v", err)
	}
}

// sorted_fields: empty fields are left out unless empty_fields sign;
// exclude_fields leaves fields unsigned and out of the mappings' view; a
// nested JSON value cannot be signed field by field.
func TestSortedFieldsRules(t *testing.T) {
	secret := []byte("s")
	m, _ := parseBody(formatForm, []byte("b=2&a=1&e=&sign=x&sign_type=MD5"))
	s := Scheme{Format: formatForm, Signature: Location{Name: "sign"}, Message: MessageSortedFields, KeySuffix: "&key={secret}"}
	got, _ := s.signedBytes(m, secret, signedValues{})
	if string(got) != "a=1&b=2&sign_type=MD5&key=s" {
		t.Errorf("default: %s", got)
	}
	s.SignEmpty, s.Exclude = true, []string{"sign_type"}
	got, _ = s.signedBytes(m, secret, signedValues{})
	if string(got) != "a=1&b=2&e=&key=s" {
		t.Errorf("sign empty, exclude sign_type: %s", got)
	}
	body, fields := m.view(s.signs(m))
	if _, ok := fields["sign_type"]; ok || body["a"] != "1" || fields["e"] != "" {
		t.Errorf("view %v %v", body, fields)
	}
	j, _ := parseBody(formatJSON, []byte(`{"a":1,"o":{"x":1}}`))
	js := Scheme{Format: formatJSON, Signature: Location{Name: "sign"}, Message: MessageSortedFields}
	if _, err := js.signedBytes(j, nil, signedValues{}); reason.CodeOf(err, "") != reason.Malformed {
		t.Errorf("nested value signed: %v", err)
	}
	js.Exclude = []string{"o"}
	if got, err := js.signedBytes(j, nil, signedValues{}); err != nil || string(got) != "a=1" {
		t.Errorf("nested value excluded: %s %v", got, err)
	}
}

// A signed timestamp and nonce in headers, covered by message concat.
func TestTimestampAndNonce(t *testing.T) {
	v := provider.Values{
		"partner_name": {"ts_partner"}, "format": {formatJSON}, "signature": {"header", "X-Sig"}, "encoding": {"base64"},
		"algorithm": {AlgHMACSHA256}, "secret": {"s"}, "message": {"concat", "{timestamp}", "{nonce}", "{body}"},
		"separator": {"\n"}, "timestamp": {"header", "X-Ts", "unix_ms"}, "nonce": {"header", "X-Nonce"},
		"event_id": {`headers["X-Nonce"]`}, "out_trade_no": {`body.o`}, "amount": {`body.a`}, "currency": {`"USD"`}, "status": {`"paid"`},
	}
	p, warnings, err := buildValues(t, v)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings %q", warnings)
	}
	ts := time.UnixMilli(1767225600123)
	g := Signer{Scheme: p.scheme, Secret: []byte("s"), Timestamp: strconv.FormatInt(ts.UnixMilli(), 10), Nonce: "n-1"}
	body, h, _ := g.SignBody([]byte(`{"o":"T1","a":5}`))
	got, err := p.VerifyNotify(request(body, h))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Timestamp.Equal(ts) || got.Nonce != "n-1" || got.Notification.EventID != "n-1" || !got.Notification.OccurredAt.Equal(ts) {
		t.Errorf("%+v", got)
	}
	for name, change := range map[string][2]string{
		"timestamp": {"X-Ts", "1767225600124"}, "nonce": {"X-Nonce", "n-2"},
	} {
		h2 := map[string]string{}
		for k, x := range h {
			h2[k] = x
		}
		h2[change[0]] = change[1]
		if _, err := p.VerifyNotify(request(body, h2)); reason.CodeOf(err, "") != reason.BadSignature {
			t.Errorf("changed %s: %v", name, err)
		}
	}
	delete(h, "X-Ts")
	if _, err := p.VerifyNotify(request(body, h)); reason.CodeOf(err, "") != reason.Malformed {
		t.Errorf("no timestamp: %v", err)
	}
	// A header the signature does not cover is not in the mappings' view.
	v["event_id"] = []string{`headers["X-Other"]`}
	p = mustBuild(t, v)
	g.Scheme = p.scheme
	body, h, _ = g.SignBody([]byte(`{"o":"T1","a":5}`))
	h["X-Other"] = "forged"
	if _, err := p.VerifyNotify(request(body, h)); reason.CodeOf(err, "") != reason.Malformed {
		t.Errorf("unsigned header mapped: %v", err)
	}
}

func TestParseTime(t *testing.T) {
	s := Scheme{}
	if got, err := s.parseTime("1700000000"); err != nil || got.Unix() != 1700000000 {
		t.Errorf("unix: %v %v", got, err)
	}
	s.TimestampFormat = TimeRFC3339
	if got, err := s.parseTime("2026-01-02T03:04:05+08:00"); err != nil || got.Unix() != 1767294245 {
		t.Errorf("rfc3339: %v %v", got.Unix(), err)
	}
	for _, f := range []string{TimeUnix, TimeUnixMS, TimeRFC3339} {
		s.TimestampFormat = f
		for _, bad := range []string{"", "-1", "+1", "1e9", "01", " 1", "1.5", "9999999999999999999", "2026-01-02"} {
			if _, err := s.parseTime(bad); reason.CodeOf(err, "") != reason.Malformed {
				t.Errorf("%s %q: %v", f, bad, err)
			}
		}
	}
}

func TestMappedValues(t *testing.T) {
	base := layoutValues(layouts[0], AlgHMACSHA256, "hex")
	base["secret"] = []string{"s"}
	for name, c := range map[string]struct {
		option, src string
		want        reason.Code
	}{
		"unknown status":      {"status", `"PAID"`, reason.Malformed},
		"lower currency":      {"currency", `"cny"`, reason.Malformed},
		"negative amount":     {"amount", `-1`, reason.Malformed},
		"empty event id":      {"event_id", `""`, reason.Malformed},
		"control character":   {"event_id", `"a\nb"`, reason.Malformed},
		"paid without order":  {"out_trade_no", `""`, reason.Malformed},
		"missing field":       {"out_trade_no", `fields.nope`, reason.Malformed},
		"refund on paid":      {"refund_amount", `5`, ""},
		"other without order": {"status", `"other"`, ""},
	} {
		v := provider.Values{}
		for k, a := range base {
			v[k] = a
		}
		v[c.option] = []string{c.src}
		if name == "other without order" {
			v["out_trade_no"] = []string{`""`}
		}
		p, _, err := buildValues(t, v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, h, _ := (&Signer{Scheme: p.scheme, Secret: []byte("s")}).SignBody([]byte(layouts[0].body))
		got, err := p.VerifyNotify(request(body, h))
		if code := reason.CodeOf(err, ""); code != c.want {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
		if name == "refund on paid" && got.Notification.RefundAmount != 0 {
			t.Error("a refund amount on a paid notification")
		}
	}
}

func TestAcknowledge(t *testing.T) {
	v := layoutValues(layouts[0], AlgHMACSHA256, "hex")
	v["secret"] = []string{"s"}
	p := mustBuild(t, v)
	if a := p.Acknowledge(true, reason.Duplicate, 200); a.Status != 200 || string(a.Body) != "success" || !strings.HasPrefix(a.ContentType, "text/plain") {
		t.Errorf("default success: %+v", a)
	}
	for _, c := range reason.All {
		if c == reason.Forwarded || c == reason.Duplicate || c == reason.Watching {
			continue
		}
		if a := p.Acknowledge(false, c, 0); a.Status != reason.HTTPStatus(c) || string(a.Body) != "fail" {
			t.Errorf("%s: %+v", c, a)
		}
	}
	v["ack_success"] = []string{`{"code":"SUCCESS"}`}
	v["ack_failure"] = []string{`<xml><return_code>FAIL</return_code></xml>`}
	p = mustBuild(t, v)
	if a := p.Acknowledge(true, reason.Forwarded, 200); a.ContentType != "application/json" || string(a.Body) != `{"code":"SUCCESS"}` {
		t.Errorf("json ack: %+v", a)
	}
	if a := p.Acknowledge(false, reason.InFlight, 409); a.Status != 409 || !strings.HasPrefix(a.ContentType, "application/xml") {
		t.Errorf("xml ack: %+v", a)
	}
}
