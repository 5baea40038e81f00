package store

import (
	"slices"
	"testing"
	"time"

	"github.com/payguard/payguard/internal/store/redistest"
	"github.com/redis/go-redis/v9"
)

// What an admission costs on the wire: one script on a standalone Redis,
// whatever it records; on a Cluster one script per step, in the
// pipeline's order. (Once the server has the scripts: the first call of a
// fresh server adds the EVAL that follows NOSCRIPT.)
func TestRedisAdmitRoundTrips(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cluster := redistest.StartCluster(t, 3)
	for _, tc := range []struct {
		name string
		opts *redis.UniversalOptions
		// the commands of an admission with a nonce and a payment, and of
		// a bare one
		full, bare []string
	}{
		{"standalone", mustParse(t, srv.URL(), nil, ""), []string{"evalsha"}, []string{"evalsha"}},
		{"cluster", mustParse(t, "redis://", cluster.Addrs(), ""), []string{"evalsha", "evalsha", "evalsha"}, []string{"evalsha"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := redis.NewUniversalClient(tc.opts)
			s := NewRedis(client, uniquePrefix())
			defer s.Close()
			cmds := &redistest.Commands{}
			client.AddHook(cmds)
			for _, sc := range []*redis.Script{admitScript, nonceScript, claimScript, paymentScript} {
				if err := sc.Load(ctx, client).Err(); err != nil { // on every node of a cluster
					t.Fatal(err)
				}
			}
			cmds.Take()

			if got := admit(t, s, admission("evt1", "n1", "o1", "t1")); got.Claim.State != Claimed {
				t.Fatalf("admission: %+v", got)
			}
			if got := cmds.Take(); !slices.Equal(got, tc.full) {
				t.Errorf("admission with nonce and payment sent %v, want %v", got, tc.full)
			}
			admit(t, s, admission("evt2", "", "", ""))
			if got := cmds.Take(); !slices.Equal(got, tc.bare) {
				t.Errorf("bare admission sent %v, want %v", got, tc.bare)
			}
			// A replayed nonce stops the cluster's steps at the first.
			if got := admit(t, s, admission("evt3", "n1", "o3", "t3")); !got.Replayed {
				t.Fatalf("replay: %+v", got)
			}
			if got := cmds.Take(); len(got) != 1 {
				t.Errorf("replayed admission sent %v, want one script", got)
			}
		})
	}
}

// The admission writes the keys of the single operations, in their
// layout, with their TTLs: deployments of earlier versions share them.
func TestRedisAdmitKeyLayout(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	raw := srv.NewClient(t)
	s := NewRedis(redis.NewUniversalClient(mustParse(t, srv.URL(), nil, "")), "payguard:")
	defer s.Close()
	a := Admission{NS: "wechatpay_v3", EventID: "EV-1", Lease: 30 * time.Second, Nonce: "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", NonceTTL: 10 * time.Minute,
		Payment: &Payment{NS: "wechatpay_v3:1900000109", OutTradeNo: "o-1", TransactionID: "4200000001", TTL: 72 * time.Hour}}
	got := admit(t, s, a)
	checkKey(t, raw, "payguard:wechatpay_v3:evt:EV-1", "f:"+got.Claim.Token, 30*time.Second)
	checkKey(t, raw, "payguard:wechatpay_v3:nonce:5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "", 10*time.Minute)
	checkKey(t, raw, "payguard:wechatpay_v3:1900000109:order:o-1", "4200000001", 72*time.Hour)
	if n := raw.DBSize(ctx).Val(); n != 3 {
		t.Errorf("%d keys, want 3", n)
	}
}

// go-redis resends a script whose reply was lost: the second run of the
// same admission must answer as the first did.
func TestRedisAdmitScriptIsRetrySafe(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	raw := srv.NewClient(t)
	keys := []string{"retry:evt", "retry:nonce", "retry:order"}
	args := []any{"f:tok", 10000, "marker", 10000, "txn", 10000}
	first, err := admitScript.Run(ctx, raw, keys, args...).Slice()
	if err != nil {
		t.Fatal(err)
	}
	again, err := admitScript.Run(ctx, raw, keys, args...).Slice()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first, again) || first[0] != int64(1) || first[1] != "" {
		t.Errorf("first run %v, retry %v; want [1 ''] twice", first, again)
	}
}
