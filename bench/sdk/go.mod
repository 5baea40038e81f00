module github.com/payguard/payguard/bench/sdk

go 1.26.8

require (
	github.com/go-pay/crypto v0.0.3
	github.com/go-pay/gopay v1.5.123
	github.com/payguard/payguard v0.0.0
	github.com/smartwalle/alipay/v3 v3.2.31
)

require (
	github.com/go-pay/xlog v0.0.3 // indirect
	github.com/go-pay/xtime v0.0.2 // indirect
	github.com/smartwalle/ncrypto v1.0.4 // indirect
	github.com/smartwalle/ngx v1.1.2 // indirect
	github.com/smartwalle/nsign v1.0.9 // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace github.com/payguard/payguard => ../..
