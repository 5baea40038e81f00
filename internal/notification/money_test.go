package notification

import "testing"

func TestParseDecimal(t *testing.T) {
	good := []struct {
		in   string
		exp  int
		want int64
	}{
		{"12.34", 2, 1234}, {"0.10", 2, 10}, {"0.1", 2, 10}, {"0", 2, 0},
		{"100", 2, 10000}, {"7", 0, 7}, {"1.005", 3, 1005}, {"999999999999.99", 2, 99999999999999},
	}
	for _, c := range good {
		got, err := ParseDecimal(c.in, c.exp)
		if err != nil || got != c.want {
			t.Errorf("ParseDecimal(%q,%d) = %d, %v; want %d", c.in, c.exp, got, err, c.want)
		}
		if back := FormatDecimal(got, c.exp); c.in == back {
			continue
		} else if again, _ := ParseDecimal(back, c.exp); again != got {
			t.Errorf("FormatDecimal(%d) = %q does not parse back", got, back)
		}
	}
	bad := []struct {
		in  string
		exp int
	}{
		{"", 2}, {"-1", 2}, {"+1", 2}, {"1.234", 2}, {"1.", 2}, {".5", 2}, {"01", 2},
		{"1e2", 2}, {" 1", 2}, {"1 ", 2}, {"1,00", 2}, {"1.5", 0}, {"12345678901234567", 2},
		{"1.2a", 2}, {"NaN", 2}, {"0x10", 2},
	}
	for _, c := range bad {
		if got, err := ParseDecimal(c.in, c.exp); err == nil {
			t.Errorf("ParseDecimal(%q,%d) = %d, want error", c.in, c.exp, got)
		}
	}
}

func TestFormatDecimal(t *testing.T) {
	for _, c := range []struct {
		v    int64
		exp  int
		want string
	}{{1234, 2, "12.34"}, {10, 2, "0.10"}, {0, 2, "0.00"}, {5, 0, "5"}, {1, 3, "0.001"}} {
		if got := FormatDecimal(c.v, c.exp); got != c.want {
			t.Errorf("FormatDecimal(%d,%d) = %q, want %q", c.v, c.exp, got, c.want)
		}
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"12.34", "0", "1.5", "-1", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseDecimal(s, 2)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("negative result %d for %q", v, s)
		}
		back, err := ParseDecimal(FormatDecimal(v, 2), 2)
		if err != nil || back != v {
			t.Fatalf("round trip of %q: %d -> %q -> %d, %v", s, v, FormatDecimal(v, 2), back, err)
		}
	})
}

func TestIsCurrencyCode(t *testing.T) {
	for s, want := range map[string]bool{"CNY": true, "USD": true, "cny": false, "CN": false, "CNYX": false, "C1Y": false, "": false, "ÇNY": false} {
		if got := IsCurrencyCode(s); got != want {
			t.Errorf("%q: %v, want %v", s, got, want)
		}
	}
}
