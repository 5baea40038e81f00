// Package all links every provider into the binary: each blank import runs
// its package's provider.Register. Adding a provider is its package and
// one line here.
package all

import (
	_ "github.com/payguard/payguard/internal/provider/alipay"
	_ "github.com/payguard/payguard/internal/provider/appstore"
	_ "github.com/payguard/payguard/internal/provider/generic"
	_ "github.com/payguard/payguard/internal/provider/paypal"
	_ "github.com/payguard/payguard/internal/provider/pingpp"
	_ "github.com/payguard/payguard/internal/provider/stdwebhooks"
	_ "github.com/payguard/payguard/internal/provider/stripe"
	_ "github.com/payguard/payguard/internal/provider/unionpay"
	_ "github.com/payguard/payguard/internal/provider/wechatpay"
)
