package notification

import (
	"errors"
	"strings"
)

// ErrBadAmount is returned for an amount string that is not a plain
// non-negative decimal with at most the currency's number of decimals.
var ErrBadAmount = errors.New("amount is not a plain decimal in the currency's precision")

// exponents lists ISO 4217 currencies whose minor unit is not 1/100.
var exponents = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0,
	"KRW": 0, "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0,
	"XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

// CurrencyExponent is the number of decimals of the currency's minor unit
// (2 for CNY and USD, 0 for JPY, 3 for KWD).
func CurrencyExponent(currency string) int {
	if e, ok := exponents[strings.ToUpper(currency)]; ok {
		return e
	}
	return 2
}

// IsCurrencyCode reports whether s has the shape of an ISO 4217 code:
// three upper-case ASCII letters.
func IsCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// ParseDecimal turns a decimal string such as "12.34" into minor units (1234)
// for a currency with exp decimals, exactly: the pattern is
// ^(0|[1-9][0-9]*)(\.[0-9]{1,exp})?$ and anything else is ErrBadAmount (a
// sign, an exponent, spaces, too many decimals, an overflow).
func ParseDecimal(s string, exp int) (int64, error) {
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		return 0, ErrBadAmount
	}
	if hasDot && (len(frac) == 0 || len(frac) > exp) {
		return 0, ErrBadAmount
	}
	const maxDigits = 18 // keeps int64 from overflowing
	if len(intPart)+exp > maxDigits {
		return 0, ErrBadAmount
	}
	var v int64
	for _, c := range intPart {
		if c < '0' || c > '9' {
			return 0, ErrBadAmount
		}
		v = v*10 + int64(c-'0')
	}
	for i := 0; i < exp; i++ {
		d := int64(0)
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return 0, ErrBadAmount
			}
			d = int64(c - '0')
		}
		v = v*10 + d
	}
	return v, nil
}

// FormatDecimal is the inverse of ParseDecimal: 1234 with exp 2 is "12.34".
func FormatDecimal(minor int64, exp int) string {
	neg := minor < 0
	if neg {
		minor = -minor
	}
	s := make([]byte, 0, 24)
	digits := []byte{}
	for n := minor; ; n /= 10 {
		digits = append(digits, byte('0'+n%10))
		if n < 10 {
			break
		}
	}
	for len(digits) <= exp {
		digits = append(digits, '0')
	}
	if neg {
		s = append(s, '-')
	}
	for i := len(digits) - 1; i >= 0; i-- {
		s = append(s, digits[i])
		if i == exp && exp > 0 {
			s = append(s, '.')
		}
	}
	return string(s)
}
