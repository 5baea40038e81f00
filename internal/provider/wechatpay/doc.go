// Package wechatpay implements payguard's two WeChat Pay providers:
//
//   - wechatpay_v3 (V3): JSON notifications signed SHA256withRSA over the
//     Wechatpay-* headers and the raw body, with the payload encrypted by
//     AES-GCM under the merchant's API v3 key; reverse query through
//     GET /v3/pay/transactions/out-trade-no/{out_trade_no}.
//   - wechatpay_v2 (V2): XML notifications signed with MD5 or HMAC-SHA256
//     over the sorted fields and the API key; refund notices authenticated
//     only by decrypting req_info (AES-256-ECB); reverse query through
//     POST /pay/orderquery.
//
// Both live in one package because they share a merchant, a console and an
// operator, and the simulator wants both signers in one import. Files are
// split by version (v3*.go, v2*.go) and nothing in one depends on the other
// except the helpers in common.go.
//
// Nothing here knows Caddy. Every error that VerifyNotify or QueryOrder
// returns is a *reason.Error whose detail never holds a key, an API key or
// a full body; the parsers never panic, whatever the input (fuzzed).
//
// The rules implemented are those of shared/providers.md sections 0, 2 and
// 3; every decision taken where that reference is silent is documented at
// the place it is taken.
package wechatpay
