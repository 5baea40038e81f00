// Package sdk measures payguard's Alipay notification verification against
// the Go Alipay SDKs shops use (github.com/go-pay/gopay and
// github.com/smartwalle/alipay/v3), in the same run, on the same signed
// notification. Everything is in sdk_test.go; see README.md for the command
// and the last recorded figures.
//
// It is a nested module so that the SDKs never enter payguard's own go.mod
// and `go test ./...` at the repository root does not build it.
package sdk
