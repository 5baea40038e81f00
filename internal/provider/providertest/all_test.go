package providertest

import (
	"testing"

	"github.com/payguard/payguard/internal/provider"
	_ "github.com/payguard/payguard/internal/provider/all"
)

// TestEveryProvider runs the suite on every registered provider.
func TestEveryProvider(t *testing.T) {
	specs := provider.Specs()
	if len(specs) == 0 {
		t.Fatal("no provider registered")
	}
	for _, s := range specs {
		if s.Sandbox == nil {
			t.Errorf("%s has no sandbox: every provider must be simulated", s.Name)
			continue
		}
		t.Run(s.Name, func(t *testing.T) { Run(t, s.Name) })
	}
}
