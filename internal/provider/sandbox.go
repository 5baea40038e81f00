package provider

import (
	"net/http"
	"time"

	"github.com/payguard/payguard/internal/sandbox"
)

// SandboxSpec is a provider's part of the simulator: its test keys, the
// notifications it signs and its query API. internal/sim and the
// conformance suites use only this.
type SandboxSpec struct {
	// Tamperable lists the fields BuildNotify's tamper accepts; each must
	// be refused by the real verifier.
	Tamperable []string
	// Currency is the default currency of a simulated order.
	Currency string
	// GenerateKeys returns fresh key material for a keys directory, file
	// names prefixed with the provider's name.
	GenerateKeys func() ([]sandbox.KeyFile, error)
	// Load reads the provider's files from a keys directory, and
	// sandbox.ErrNoKeys when none is there (the provider is then not
	// simulated).
	Load func(dir sandbox.Dir, opts SandboxOptions) (Sandbox, error)
}

// SandboxOptions tune a sandbox.
type SandboxOptions struct {
	// Params are provider-specific knobs (`--param sign_type=HMAC-SHA256`).
	Params map[string]string
	// Logf, when set, is told about every query answered.
	Logf func(format string, args ...any)
}

// Sandbox is one simulated provider with its keys loaded.
type Sandbox interface {
	// Prepare checks o (sandbox.CheckCommon) and fills what the provider
	// would have assigned (transaction id, event id, merchant ids, status
	// word). It is idempotent.
	Prepare(o *sandbox.Order, now time.Time) error
	// BuildNotify returns the notification for o, signed exactly as the
	// provider signs it at now; tamper (one of Tamperable, or "") alters a
	// field after signing.
	BuildNotify(o *sandbox.Order, tamper string, now time.Time) (*sandbox.Message, error)
	// Mount registers the provider's query API on mux, answering from book.
	Mount(mux *http.ServeMux, book *sandbox.OrderBook)
	// Settings are the handler options of a sidecar that verifies this
	// sandbox's notifications and queries its API at base: the Caddyfile
	// snippet `payguard sim keys` prints and the conformance suites' route.
	Settings(base string) []Setting
}

// Setting is one option line of a handler block. In a query setting, the
// name "endpoint" is the query endpoint.
type Setting struct {
	Name  string
	Args  []string
	Query bool
}
