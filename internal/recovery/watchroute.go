package recovery

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/reason"
	"github.com/payguard/payguard/internal/store"
)

// MinWatchToken is the shortest watch_token accepted.
const MinWatchToken = 16

// WatchRouteConfig configures a WatchRoute.
type WatchRouteConfig struct {
	Provider string
	// Namespace is the notify route's order namespace
	// (pipeline.Namespace of the route's identity options).
	Namespace string
	Store     store.Store
	Routes    *Routes
	// Token is the bearer token the shop sends; never logged.
	Token   []byte
	Allow   []netip.Prefix // empty: any source
	MaxBody int64          // default pipeline.DefaultMaxBody
	Logger  *zap.Logger
	Now     func() time.Time
}

// WatchRoute answers a `mode watch` route (DESIGN.md section 11): the shop
// registers an order payguard then watches. It forwards nothing.
type WatchRoute struct {
	cfg WatchRouteConfig
}

// NewWatchRoute checks cfg and fills its defaults.
func NewWatchRoute(cfg WatchRouteConfig) (*WatchRoute, error) {
	if len(cfg.Token) < MinWatchToken {
		return nil, errors.New("watch_token must be at least 16 characters")
	}
	if cfg.Provider == "" || cfg.Namespace == "" || cfg.Store == nil || cfg.Routes == nil {
		return nil, errors.New("recovery: a watch route needs a provider, a namespace, a store and the routes")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = pipeline.DefaultMaxBody
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &WatchRoute{cfg: cfg}, nil
}

// Serve answers one registration; ip is the server's own resolution of
// the client address.
func (wr *WatchRoute) Serve(w http.ResponseWriter, r *http.Request, ip netip.Addr) {
	code, status, order := wr.register(r, ip)
	out := []byte(`{"error":"` + string(code) + `"}`)
	if code == reason.Watching {
		out, _ = json.Marshal(map[string]string{"watching": order})
	}
	w.Header().Set(pipeline.HeaderReason, string(code))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// register answers the reason, the status and the order registered.
func (wr *WatchRoute) register(r *http.Request, ip netip.Addr) (reason.Code, int, string) {
	if len(wr.cfg.Allow) > 0 && !prefixesContain(wr.cfg.Allow, ip.Unmap()) {
		return reason.IPNotAllowed, http.StatusForbidden, ""
	}
	if r.Method != http.MethodPost {
		return reason.MethodNotAllowed, http.StatusMethodNotAllowed, ""
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(tok), wr.cfg.Token) != 1 {
		return reason.BadSignature, http.StatusUnauthorized, ""
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, wr.cfg.MaxBody+1))
	if err != nil {
		return reason.Malformed, http.StatusBadRequest, ""
	}
	if int64(len(body)) > wr.cfg.MaxBody {
		return reason.BodyTooLarge, http.StatusRequestEntityTooLarge, ""
	}
	reg, err := ParseRegistration(body)
	if err != nil {
		return reason.Malformed, http.StatusBadRequest, ""
	}
	name, ns := wr.cfg.Provider, wr.cfg.Namespace
	wt := reg.Watch(name)
	wt.Since = wr.cfg.Now()
	sched, ok := wr.cfg.Routes.Schedule(ns, name)
	if !ok {
		sched = DefaultSchedule
	}
	if _, err := wr.cfg.Store.WatchOrder(r.Context(), ns, wt, WatchTTL(sched)); err != nil {
		wr.cfg.Logger.Warn("watch not registered", zap.String("provider", name), zap.Error(err))
		return reason.StoreUnavailable, http.StatusServiceUnavailable, ""
	}
	wr.cfg.Logger.Info("watching order", zap.String("provider", name), zap.String("out_trade_no", reg.OutTradeNo))
	return reason.Watching, http.StatusAccepted, reg.OutTradeNo
}

func prefixesContain(list []netip.Prefix, ip netip.Addr) bool {
	for _, p := range list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
