package alipay

import (
	"github.com/payguard/payguard/internal/formbody"
	"github.com/payguard/payguard/internal/strictjson"
)

// Form is a strictly parsed notification body (internal/formbody: every
// key once, values raw bytes). Alipay signs the bytes of the message's own
// charset (UTF-8 or GBK), so nothing is transcoded before the signature
// holds; charsetDecoder and toUTF8 do that afterwards.
type Form = formbody.Form

// ParseForm parses an Alipay form body with formbody.Parse's strict rules.
func ParseForm(b []byte) (*Form, error) { return formbody.Parse(b) }

// quoteKey renders an attacker-chosen key or value for an error detail:
// quoted and cut short, so a detail never carries a large part of the body.
var quoteKey = strictjson.Quote
