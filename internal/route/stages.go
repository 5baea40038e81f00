package route

import (
	"fmt"
	"time"

	"github.com/payguard/payguard/internal/orderlookup"
	"github.com/payguard/payguard/internal/pipeline"
	"github.com/payguard/payguard/internal/policy"
)

// PolicyStages builds the pipeline's policy and order stages, once, at
// provision: every policy compiled, and the shop's order lookup when
// lookupURL (its host's placeholders resolved, {out_trade_no} kept) is
// set. An order_timeout without an order_lookup is an error.
func PolicyStages(configs []policy.Config, lookupURL string, timeout time.Duration) ([]pipeline.Policy, pipeline.OrderLookup, error) {
	var pols []pipeline.Policy
	for _, pc := range configs {
		p, err := pc.Compile()
		if err != nil {
			return nil, nil, err
		}
		pols = append(pols, p)
	}
	if lookupURL == "" {
		if timeout != 0 {
			return nil, nil, fmt.Errorf("order_timeout without order_lookup")
		}
		return pols, nil, nil
	}
	lookup, err := orderlookup.New(lookupURL, timeout)
	if err != nil {
		return nil, nil, err
	}
	return pols, lookup, nil
}
