package wechatpay

import "testing"

func TestV2Accepted(t *testing.T) {
	p := newV2(t, SignTypeMD5)
	for _, c := range []struct {
		status int
		body   string
		ok     bool
	}{
		{200, v2AckSuccess, true},
		{200, "<xml><return_code>SUCCESS</return_code></xml>\n", true},
		{200, `<?xml version="1.0" encoding="UTF-8"?><xml><return_code><![CDATA[SUCCESS]]></return_code></xml>`, true},
		{200, "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg>retry</return_msg></xml>", false},
		{200, "success", false},
		{200, "", false},
		{500, v2AckSuccess, false},
		{200, "<xml><return_code>SUCCESS</return_code><return_code>FAIL</return_code></xml>", false},
	} {
		if got := p.Accepted(c.status, nil, []byte(c.body)); got != c.ok {
			t.Errorf("%d %q: accepted %v, want %v", c.status, c.body, got, c.ok)
		}
	}
}
