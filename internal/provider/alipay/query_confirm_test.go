package alipay

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
)

// Issue 10 item 2: a service-market (or any non-trade) notification is not
// something alipay.trade.query can confirm: no call, ErrNotQueryable.
func TestQueryCannotConfirmNonTrade(t *testing.T) {
	testKeys(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	q := queryProvider(t, srv.URL, nil)
	_, err := q.QueryOrder(context.Background(), &notification.Notification{Status: notification.StatusOther, OutTradeNo: "sm-1"})
	if !errors.Is(err, provider.ErrNotQueryable) || calls.Load() != 0 {
		t.Fatalf("err %v, %d gateway calls", err, calls.Load())
	}
}

// A trade closed by a full refund is refunded, not closed: a paid
// notification for it is then confirmed (the payment happened) rather than
// refused as a mismatch. An unpaid trade that timed out stays closed.
func TestQueryClosedAfterRefund(t *testing.T) {
	testKeys(t)
	answer := `{"code":"10000","out_trade_no":"o","trade_no":"T1","total_amount":"1.00","trade_status":"TRADE_CLOSED","send_pay_date":"2026-03-04 13:06:05"}`
	g := &gateway{t: t}
	g.answer = func(params map[string]string, w http.ResponseWriter) {
		_, _ = w.Write(signedAnswer(t, &Signer{Key: alipayKey}, answer))
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	q := queryProvider(t, srv.URL, nil)
	res, err := q.QueryOrder(context.Background(), &notification.Notification{OutTradeNo: "o", Status: notification.StatusPaid})
	if err != nil || res.Status != notification.StatusRefunded {
		t.Fatalf("%+v %v", res, err)
	}
	answer = `{"code":"10000","out_trade_no":"o","trade_no":"T1","total_amount":"1.00","trade_status":"TRADE_CLOSED"}`
	res, err = q.QueryOrder(context.Background(), &notification.Notification{OutTradeNo: "o", Status: notification.StatusPaid})
	if err != nil || res.Status != notification.StatusClosed {
		t.Fatalf("%+v %v", res, err)
	}
}
