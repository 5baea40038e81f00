package stripe

import (
	"errors"
	"fmt"
	"strings"

	"github.com/payguard/payguard/internal/notification"
)

// Stripe writes every amount as an integer in what it calls the currency's
// smallest unit, which is not always ISO 4217's minor unit
// (https://docs.stripe.com/currencies, "Zero-decimal currencies" and
// "Special cases"). payguard's Payguard-Amount is always the ISO minor
// unit (DESIGN.md section 4), so every amount is converted, exactly.
var (
	// stripeZeroDecimal are the currencies Stripe counts in whole units.
	stripeZeroDecimal = set("BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW",
		"MGA", "PYG", "RWF", "VND", "VUV", "XAF", "XOF", "XPF")
	// stripeThreeDecimal are the currencies Stripe counts in thousandths.
	stripeThreeDecimal = set("BHD", "JOD", "KWD", "OMR", "TND")
	// stripeHundredths are ISO zero-decimal currencies that Stripe still
	// counts in hundredths for backwards compatibility: ISK 1000 is
	// Stripe's 100000, and the last two digits must be zero.
	stripeHundredths = set("ISK", "UGX")
)

func set(codes ...string) map[string]bool {
	m := map[string]bool{}
	for _, c := range codes {
		m[c] = true
	}
	return m
}

// errUnknownExponent is returned for a currency whose ISO minor unit is
// not 1/100 and whose Stripe convention payguard does not know: guessing
// would be a factor of ten wrong, so it is refused.
var errUnknownExponent = errors.New("payguard does not know how Stripe counts this currency")

// stripeExponent is the number of decimals in Stripe's amounts of cur (an
// upper-case ISO code).
func stripeExponent(cur string) (int, error) {
	switch {
	case stripeZeroDecimal[cur]:
		return 0, nil
	case stripeThreeDecimal[cur]:
		return 3, nil
	case stripeHundredths[cur]:
		return 2, nil
	}
	if notification.CurrencyExponent(cur) != 2 {
		return 0, errUnknownExponent
	}
	return 2, nil
}

// parseCurrency upper-cases Stripe's lower-case ISO code and checks it is
// three ASCII letters.
func parseCurrency(s string) (string, error) {
	if len(s) != 3 {
		return "", fmt.Errorf("currency %s is not an ISO 4217 code", quote(s))
	}
	for i := 0; i < 3; i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return "", fmt.Errorf("currency %s is not an ISO 4217 code", quote(s))
		}
	}
	return strings.ToUpper(s), nil
}

// toMinor converts Stripe's amount in cur to ISO 4217 minor units: ISK and
// UGX are divided by 100 (a remainder is an error, never rounded), MGA is
// multiplied by 100 (ISO gives it two decimals, Stripe none).
func toMinor(amount int64, cur string) (int64, error) {
	se, err := stripeExponent(cur)
	if err != nil {
		return 0, err
	}
	return rescale(amount, se, notification.CurrencyExponent(cur))
}

// fromMinor is toMinor's inverse, for the simulator.
func fromMinor(minor int64, cur string) (int64, error) {
	se, err := stripeExponent(cur)
	if err != nil {
		return 0, err
	}
	return rescale(minor, notification.CurrencyExponent(cur), se)
}

// rescale moves v from `from` decimals to `to` decimals exactly.
func rescale(v int64, from, to int) (int64, error) {
	for ; from > to; from-- {
		if v%10 != 0 {
			return 0, errors.New("amount has a fraction of the currency's minor unit")
		}
		v /= 10
	}
	for ; from < to; from++ {
		if v > (1<<62)/10 {
			return 0, errors.New("amount is too large")
		}
		v *= 10
	}
	return v, nil
}
