package alipay

import "testing"

func TestAccepted(t *testing.T) {
	p := newProvider(t, nil)
	for _, c := range []struct {
		status int
		body   string
		ok     bool
	}{
		{200, "success", true},
		{200, " success\r\n", true},
		{204, "success", true},
		{200, "fail", false},
		{200, "", false},
		{200, "Success", false},
		{200, "success!", false},
		{500, "success", false},
		{302, "success", false},
	} {
		if got := p.Accepted(c.status, nil, []byte(c.body)); got != c.ok {
			t.Errorf("%d %q: accepted %v, want %v", c.status, c.body, got, c.ok)
		}
	}
}
