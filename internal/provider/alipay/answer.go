package alipay

import (
	"bytes"
	"net/http"

	"github.com/payguard/payguard/internal/provider"
)

var _ provider.AnswerJudge = (*Provider)(nil)

// Accepted implements provider.AnswerJudge: a legacy Alipay handler
// accepted the notification when it answered a 2xx with the body
// "success" (surrounding whitespace ignored), as Alipay itself judges. Its
// "fail", or anything else, asks for a retry (DESIGN.md section 2 step 10).
func (p *Provider) Accepted(status int, _ http.Header, body []byte) bool {
	return status >= 200 && status <= 299 && string(bytes.TrimSpace(body)) == "success"
}
