package unionpay

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/payguard/payguard/internal/keys"
	"github.com/payguard/payguard/internal/provider"
	"github.com/payguard/payguard/internal/sandbox"
)

// The sandbox's files in a keys directory.
const (
	FileRoot             = "unionpay_root.pem"               // root_cert_file
	FileMiddle           = "unionpay_middle.pem"             // middle_cert_file
	FileUnionPayCert     = "unionpay_cup_sign_cert.pem"      // stands in for UnionPay's signing certificate
	FileUnionPayKey      = "unionpay_cup_sign_key.pem"       // its key: signs notifications and answers
	FileMerchantPFX      = "unionpay_merchant_sign.pfx"      // the merchant's PKCS#12 (query sign_cert_file)
	FileMerchantPassword = "unionpay_merchant_sign_password" // its password, no newline (sign_cert_password_file)
)

var sandboxFiles = []string{FileRoot, FileMiddle, FileUnionPayCert, FileUnionPayKey, FileMerchantPFX, FileMerchantPassword}

// DefaultMerID is the merId of simulated orders when none is given: the
// number of UnionPay's published test merchant.
const DefaultMerID = "777290058110048"

// Simulated status words: txnType and response code, as UnionPay states a
// transaction's outcome.
const (
	StatusPaid     = "01:00" // payment, success
	StatusPaidA6   = "01:A6" // payment, success with defects
	StatusPending  = "01:05" // payment, in process (query answers only, in practice)
	StatusFailed   = "01:01" // payment failed
	StatusRefunded = "04:00" // refund, success
	StatusVoided   = "31:00" // void (消费撤销), success
)

var simStatuses = []string{StatusPaid, StatusPaidA6, StatusPending, StatusFailed, StatusRefunded, StatusVoided}

func simPaid(s string) bool { return s == StatusPaid || s == StatusPaidA6 }

// simTamperable: the money and identity fields, the transaction's
// outcome, the event time, the signature, and the certificate.
var simTamperable = []string{
	"txnAmt", "orderId", "queryId", "txnType", "respCode", "merId",
	"currencyCode", "txnTime", "signature", "signPubKeyCert",
}

var sandboxSpec = &provider.SandboxSpec{
	Tamperable:   simTamperable,
	Currency:     "CNY",
	GenerateKeys: generateKeys,
	Load:         loadSandbox,
}

// generateKeys writes a fresh PKI: the root and middle certificates,
// UnionPay's signing certificate and key, and the merchant's PKCS#12 with
// its password.
func generateKeys() ([]sandbox.KeyFile, error) {
	pki, err := NewPKI(DefaultMerID, time.Now())
	if err != nil {
		return nil, err
	}
	password := string(sandbox.RandomSecret(20))
	pfx, err := pkcs12.Modern2023.Encode(pki.MerchantKey, pki.Merchant, []*x509.Certificate{pki.Middle}, password)
	if err != nil {
		return nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(pki.SignKey)
	if err != nil {
		return nil, err
	}
	return []sandbox.KeyFile{
		{Name: FileRoot, Data: []byte(CertPEM(pki.Root)), Mode: 0o644},
		{Name: FileMiddle, Data: []byte(CertPEM(pki.Middle)), Mode: 0o644},
		{Name: FileUnionPayCert, Data: []byte(CertPEM(pki.Sign)), Mode: 0o644},
		{Name: FileUnionPayKey, Data: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), Mode: 0o600},
		{Name: FileMerchantPFX, Data: pfx, Mode: 0o600},
		{Name: FileMerchantPassword, Data: []byte(password), Mode: 0o600},
	}, nil
}

// Sandbox simulates UnionPay: backUrl notifications signed with its
// signing certificate, and queryTrans.do at
// /unionpay/gateway/api/queryTrans.do.
type Sandbox struct {
	dir      sandbox.Dir
	merID    string
	signKey  *rsa.PrivateKey
	signCert *x509.Certificate
	merchant *x509.Certificate // checks payguard's signed queries
	logf     func(string, ...any)

	forgeOnce sync.Once
	forged    *forgery
	forgeErr  error
}

// forgery is a self-signed certificate with UnionPay's CN and its key: the
// signPubKeyCert tamper signs with it.
type forgery struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

// String never prints key material.
func (s *Sandbox) String() string { return "unionpay sandbox keys in " + string(s.dir) }

// loadSandbox reads the sandbox's files; Params["mer_id"] overrides the
// merchant number.
func loadSandbox(dir sandbox.Dir, opts provider.SandboxOptions) (provider.Sandbox, error) {
	if err := dir.Present(sandboxFiles...); err != nil {
		return nil, err
	}
	s := &Sandbox{dir: dir, merID: DefaultMerID, logf: opts.Logf}
	if v := opts.Params["mer_id"]; v != "" {
		if err := CheckMerID([]byte(v)); err != nil {
			return nil, fmt.Errorf("unionpay sandbox: mer_id: %v", err)
		}
		s.merID = v
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	var err error
	if s.signKey, err = dir.RSAPrivate(FileUnionPayKey); err != nil {
		return nil, err
	}
	if s.signCert, err = readCert(dir, FileUnionPayCert); err != nil {
		return nil, err
	}
	if pub, ok := s.signCert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&s.signKey.PublicKey) {
		return nil, fmt.Errorf("%s is not the certificate of %s", dir.Path(FileUnionPayCert), FileUnionPayKey)
	}
	for _, f := range []string{FileRoot, FileMiddle} {
		if _, err := readCert(dir, f); err != nil {
			return nil, err
		}
	}
	pfx, err := dir.Read(FileMerchantPFX)
	if err != nil {
		return nil, err
	}
	password, err := dir.Read(FileMerchantPassword)
	if err != nil {
		return nil, err
	}
	if _, s.merchant, err = DecodePKCS12(pfx, string(password)); err != nil {
		return nil, fmt.Errorf("%s: %v", dir.Path(FileMerchantPFX), err)
	}
	return s, nil
}

func readCert(dir sandbox.Dir, name string) (*x509.Certificate, error) {
	b, err := dir.Read(name)
	if err != nil {
		return nil, err
	}
	certs, err := keys.ParseCertificates(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", dir.Path(name), err)
	}
	return certs[0], nil
}

// Settings are the options of a sidecar that verifies this sandbox's
// notifications and queries its API at base.
func (s *Sandbox) Settings(base string) []provider.Setting {
	return []provider.Setting{
		{Name: "mer_id", Args: []string{s.merID}},
		{Name: "root_cert_file", Args: []string{s.dir.Path(FileRoot)}},
		{Name: "middle_cert_file", Args: []string{s.dir.Path(FileMiddle)}},
		{Name: "endpoint", Args: []string{strings.TrimRight(base, "/") + queryPath}, Query: true},
		{Name: "sign_cert_file", Args: []string{s.dir.Path(FileMerchantPFX)}, Query: true},
		{Name: "sign_cert_password_file", Args: []string{s.dir.Path(FileMerchantPassword)}, Query: true},
	}
}

// Prepare fills UnionPay's numbers in UnionPay's shapes: a 21-digit
// queryId that embeds the order's txnTime (so the query API can tell it
// from the order alone), the event id queryId:txnType, the merchant.
func (s *Sandbox) Prepare(o *sandbox.Order, now time.Time) error {
	// The event id queryId:txnType holds a ':', which sandbox.CheckToken
	// refuses in ids; it is checked here against the ids it is made of.
	eventID := o.EventID
	o.EventID = ""
	err := sandbox.CheckCommon(o, Name, "CNY")
	o.EventID = eventID
	if err != nil {
		return err
	}
	if o.Currency != "CNY" {
		return errors.New("unionpay orders are in CNY (currencyCode 156)")
	}
	if o.AppID != "" {
		return errors.New("unionpay orders have no app_id; the merchant is mch_id (merId)")
	}
	if o.MchID == "" {
		o.MchID = s.merID
	}
	if err := CheckMerID([]byte(o.MchID)); err != nil {
		return fmt.Errorf("mch_id: %v", err)
	}
	if err := sandbox.SettleStatus(o, now, StatusPaid, simStatuses, simPaid); err != nil {
		return err
	}
	if o.TransactionID == "" {
		o.TransactionID = "48" + now.In(beijing).Format("060102150405") + sandbox.UniqueDigits(7)
	}
	if _, err := simTxnTime(o.TransactionID); err != nil {
		return err
	}
	want := o.TransactionID + ":" + txnTypeOf(o.Status)
	switch o.EventID {
	case "":
		o.EventID = want
	case want:
	default:
		return fmt.Errorf("unionpay sandbox: event_id %q is not transaction_id:txnType (%s)", sandbox.Clip(o.EventID), want)
	}
	return nil
}

// simTxnTime recovers the txnTime a sandbox queryId embeds.
func simTxnTime(queryID string) (string, error) {
	if len(queryID) != 21 || !isDigits(queryID) || !strings.HasPrefix(queryID, "48") {
		return "", fmt.Errorf("unionpay sandbox: transaction_id %q is not a queryId Prepare made (48 + yyMMddHHmmss + 7 digits)", sandbox.Clip(queryID))
	}
	t := "20" + queryID[2:14]
	if _, ok := parseTxnTime(t); !ok {
		return "", fmt.Errorf("unionpay sandbox: transaction_id %q holds no valid time", sandbox.Clip(queryID))
	}
	return t, nil
}

func txnTypeOf(status string) string { t, _, _ := strings.Cut(status, ":"); return t }
func codeOf(status string) string    { _, c, _ := strings.Cut(status, ":"); return c }

// BuildNotify builds the backUrl notification UnionPay would POST for o.
func (s *Sandbox) BuildNotify(o *sandbox.Order, tamper string, now time.Time) (*sandbox.Message, error) {
	if err := sandbox.CheckTamper(Name, simTamperable, tamper); err != nil {
		return nil, err
	}
	params, err := s.notifyParams(o)
	if err != nil {
		return nil, err
	}
	key := s.signKey
	if tamper == fieldCert {
		// The forged-leaf attack: a certificate with UnionPay's name and a
		// signature that verifies under it, but that no configured middle
		// certificate issued.
		f, err := s.forgery()
		if err != nil {
			return nil, err
		}
		params[fieldCert], key = CertPEM(f.cert), f.key
	}
	sig, err := Sign(key, params)
	if err != nil {
		return nil, fmt.Errorf("unionpay sandbox: signing: %v", err)
	}
	params[fieldSignature] = sig
	if tamper != "" && tamper != fieldCert {
		params[tamper] = tamperedValue(tamper, params[tamper])
	}
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
	h.Set("User-Agent", "payguard sim (UnionPay backUrl)")
	return &sandbox.Message{Method: http.MethodPost, Header: h, Body: EncodeForm(params)}, nil
}

// notifyParams are the fields of o's notification, before signature.
func (s *Sandbox) notifyParams(o *sandbox.Order) (map[string]string, error) {
	txnTime, err := simTxnTime(o.TransactionID)
	if err != nil {
		return nil, err
	}
	p := txnParams(o, o.Status, o.Amount, txnTime)
	p["respCode"], p["respMsg"] = codeOf(o.Status), respMsg(codeOf(o.Status))
	p["signPubKeyCert"] = CertPEM(s.signCert)
	p["accNo"] = "6216***********0018"
	if txnTypeOf(o.Status) == TxnRefund {
		p["origTxnAmt"] = strconv.FormatInt(o.Amount, 10)
	}
	return p, nil
}

// txnParams are the fields a notification and a query answer share, for o
// in status with amount.
func txnParams(o *sandbox.Order, status string, amount int64, txnTime string) map[string]string {
	txnType := txnTypeOf(status)
	sub := "01"
	if txnType != TxnConsume {
		sub = "00"
	}
	amt := strconv.FormatInt(amount, 10)
	p := map[string]string{
		"version": Version, "encoding": encodingUTF8, "signMethod": SignMethod,
		"bizType": "000201", "accessType": "0", "txnType": txnType, "txnSubType": sub,
		"merId": o.MchID, "orderId": o.OutTradeNo, "txnTime": txnTime,
		"txnAmt": amt, "currencyCode": "156", "queryId": o.TransactionID,
		"settleAmt": amt, "settleCurrencyCode": "156", "settleDate": txnTime[4:8],
		"traceNo": o.TransactionID[15:], "traceTime": txnTime[4:],
	}
	if txnType != TxnConsume {
		// The original payment's queryId: the sandbox's own, renumbered.
		p["origQryId"] = "49" + o.TransactionID[2:]
	}
	return p
}

func respMsg(code string) string {
	switch code {
	case "00":
		return "Success!"
	case "A6":
		return "成功[有缺陷]"
	case "05":
		return "交易已受理"
	}
	return "交易失败"
}

// forgery makes (once) the self-signed stand-in for the signPubKeyCert
// tamper.
func (s *Sandbox) forgery() (*forgery, error) {
	s.forgeOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			s.forgeErr = err
			return
		}
		c, err := IssueCert(nil, k, &k.PublicKey, CertSpec{CN: s.signCert.Subject.CommonName, From: s.signCert.NotBefore, To: s.signCert.NotAfter})
		s.forged, s.forgeErr = &forgery{cert: c, key: k}, err
	})
	return s.forged, s.forgeErr
}

// tamperedValue returns a plausible, different value for a field: what an
// attacker would write.
func tamperedValue(field, v string) string {
	switch field {
	case "respCode":
		if v == "00" {
			return "A6"
		}
		return "00"
	case "txnType":
		if v == TxnConsume {
			return TxnRefund
		}
		return TxnConsume
	case "currencyCode":
		return "840"
	case "txnTime":
		t, ok := parseTxnTime(v)
		if !ok {
			return v + "1"
		}
		return t.Add(time.Second).Format(TimeLayout)
	case "signature":
		sig, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(sig) == 0 {
			return "AAAA"
		}
		sig[len(sig)/2] ^= 0x01
		return base64.StdEncoding.EncodeToString(sig)
	}
	return sandbox.TamperedValue(field, v) // txnAmt and the identifiers
}
