package paypal

import (
	"errors"
	"fmt"

	"github.com/payguard/payguard/internal/notification"
)

// wholeUnitCurrencies are the currencies PayPal writes without decimals
// although ISO 4217 gives them a minor unit (HUF and TWD have exponent 2;
// JPY has 0 in both) [doc: https://developer.paypal.com/reference/currency-codes/].
var wholeUnitCurrencies = map[string]bool{"HUF": true, "TWD": true, "JPY": true}

// errCurrency is returned for a currency code that is not three capitals.
var errCurrency = errors.New("currency_code is not an ISO 4217 code")

// paypalExponent is how many decimals PayPal writes for the currency.
func paypalExponent(currency string) int {
	if wholeUnitCurrencies[currency] {
		return 0
	}
	return notification.CurrencyExponent(currency)
}

// ParseAmount turns PayPal's decimal string into the currency's ISO 4217
// minor unit, exactly (no float): "12.34" USD is 1234, "1500" JPY is 1500,
// "1500" HUF is 150000. A HUF or TWD value may carry a fraction of zeros
// ("1500.00"), never a non-zero one, which PayPal cannot have sent.
func ParseAmount(value, currency string) (int64, error) {
	if !notification.IsCurrencyCode(currency) {
		return 0, errCurrency
	}
	iso := notification.CurrencyExponent(currency)
	v, err := notification.ParseDecimal(value, iso)
	if err != nil {
		return 0, err
	}
	if scale := pow10(iso - paypalExponent(currency)); v%scale != 0 {
		return 0, fmt.Errorf("%s amounts are whole units at PayPal: %w", currency, notification.ErrBadAmount)
	}
	return v, nil
}

// FormatAmount is ParseAmount's inverse: minor units as PayPal writes them
// ("1500" for 150000 HUF). A HUF or TWD amount that is not whole units
// cannot be written and is an error.
func FormatAmount(minor int64, currency string) (string, error) {
	if !notification.IsCurrencyCode(currency) {
		return "", errCurrency
	}
	if minor < 0 {
		return "", notification.ErrBadAmount
	}
	iso := notification.CurrencyExponent(currency)
	pp := paypalExponent(currency)
	scale := pow10(iso - pp)
	if minor%scale != 0 {
		return "", fmt.Errorf("%s amounts are whole units at PayPal, %d minor units are not", currency, minor)
	}
	return notification.FormatDecimal(minor/scale, pp), nil
}

func pow10(n int) int64 {
	v := int64(1)
	for ; n > 0; n-- {
		v *= 10
	}
	return v
}
