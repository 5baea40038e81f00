package wechatpay

import (
	"net/http"

	"github.com/payguard/payguard/internal/provider"
)

var _ provider.AnswerJudge = (*V2)(nil)

// Accepted implements provider.AnswerJudge: a legacy v2 handler accepted
// the notification when it answered a 2xx with an XML message whose
// return_code is SUCCESS, as WeChat itself judges. return_code FAIL, or a
// body that is no such message, asks for a retry (DESIGN.md section 2
// step 10).
func (p *V2) Accepted(status int, _ http.Header, body []byte) bool {
	if status < 200 || status > 299 {
		return false
	}
	fields, err := ParseXML(body)
	return err == nil && fields["return_code"] == "SUCCESS"
}
