package unionpay

import (
	"crypto/rsa"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"

	"github.com/payguard/payguard/internal/formbody"
	"github.com/payguard/payguard/internal/sandbox"
)

// queryPath is where the sandbox serves queryTrans.do.
const queryPath = "/unionpay/gateway/api/queryTrans.do"

// maxQueryRequest bounds what the sandbox reads of a request; payguard's
// queries are well under 1 KiB.
const maxQueryRequest = 64 << 10

// Mount registers queryTrans.do at POST /unionpay/gateway/api/queryTrans.do.
func (s *Sandbox) Mount(mux *http.ServeMux, book *sandbox.OrderBook) {
	mux.HandleFunc("POST "+queryPath, func(w http.ResponseWriter, r *http.Request) {
		s.serveQuery(w, r, book)
	})
}

// serveQuery answers as UnionPay does: HTTP 200, a k=v&... answer with raw
// values, signed when the request was understood (a request whose own
// signature fails gets an unsigned refusal).
func (s *Sandbox) serveQuery(w http.ResponseWriter, r *http.Request, book *sandbox.OrderBook) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxQueryRequest))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	f, err := formbody.Parse(body)
	if err != nil {
		s.refuse(w, "10", "报文格式错误")
		return
	}
	for _, k := range []string{"version", "encoding", "signMethod", "txnType", "merId", "orderId", "txnTime", "certId", fieldSignature} {
		if f.Value(k) == "" {
			s.refuse(w, "13", "报文交易要素缺失: "+k)
			return
		}
	}
	if f.Value("version") != Version || f.Value("signMethod") != SignMethod || f.Value("txnType") != "00" {
		s.refuse(w, "10", "报文格式错误: version, signMethod or txnType")
		return
	}
	if !s.requestSigned(f) {
		s.logf("unionpay query refused: certId or signature is not the merchant's")
		s.refuse(w, "11", "验证签名失败")
		return
	}
	merID, orderID, txnTime := f.Value("merId"), f.Value("orderId"), f.Value("txnTime")
	o, ok := book.Get(Name, orderID)
	if ok {
		t, err := simTxnTime(o.TransactionID)
		ok = err == nil && t == txnTime && o.MchID == merID
	}
	if !ok {
		s.logf("unionpay query orderId=%s txnTime=%s: no such transaction (34)", sandbox.Clip(orderID), sandbox.Clip(txnTime))
		s.answer(w, map[string]string{
			"version": Version, "encoding": encodingUTF8, "signMethod": SignMethod,
			"txnType": "00", "txnSubType": "00", "bizType": "000000", "accessType": "0",
			"merId": merID, "orderId": orderID, "txnTime": txnTime,
			"respCode": respNotFound, "respMsg": "查无此交易",
		})
		return
	}
	s.logf("unionpay query orderId=%s: %s %d", o.OutTradeNo, o.QueryStatus, o.QueryAmount)
	p := txnParams(&o, o.QueryStatus, o.QueryAmount, txnTime)
	p["respCode"], p["respMsg"] = respOK, "成功[0000000]"
	p["origRespCode"], p["origRespMsg"] = codeOf(o.QueryStatus), respMsg(codeOf(o.QueryStatus))
	s.answer(w, p)
}

// requestSigned checks payguard's request: the merchant certificate's
// certId, and its signature under that certificate's key.
func (s *Sandbox) requestSigned(f *formbody.Form) bool {
	if f.Value("certId") != CertID(s.merchant) {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(f.Value(fieldSignature))
	if err != nil {
		return false
	}
	pub, ok := s.merchant.PublicKey.(*rsa.PublicKey)
	return ok && verifySignature(pub, signContent(f), sig) == nil
}

// answer signs p with UnionPay's key and certificate and writes it.
func (s *Sandbox) answer(w http.ResponseWriter, p map[string]string) {
	p[fieldCert] = CertPEM(s.signCert)
	sig, err := Sign(s.signKey, p)
	if err != nil {
		http.Error(w, "sandbox: signing failed", http.StatusInternalServerError)
		return
	}
	p[fieldSignature] = sig
	s.write(w, EncodeAnswer(p))
}

// refuse writes an unsigned refusal of the request itself.
func (s *Sandbox) refuse(w http.ResponseWriter, code, msg string) {
	s.write(w, EncodeAnswer(map[string]string{"respCode": code, "respMsg": msg}))
}

func (s *Sandbox) write(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}
