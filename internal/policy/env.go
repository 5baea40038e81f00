package policy

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"

	"github.com/payguard/payguard/internal/notification"
	"github.com/payguard/payguard/internal/provider"
)

// DefaultCostLimit bounds one evaluation in CEL's own cost units (about one
// unit per operation, more for string and list work). A policy that would
// cost more stops with an error, which is a denial: no policy can stall a
// notification. Typical policies cost under 20.
const DefaultCostLimit = 100_000

// Order is the shop's own record of an order (DESIGN.md section 5,
// order_lookup): what the shop answers and what policies see as `order`.
type Order struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Status   string `json:"status"`
}

// Input is everything a policy sees of one notification (DESIGN.md section
// 7). Query and Order are nil when the stage was skipped or is not
// configured; policies then see null.
type Input struct {
	Notification *notification.Notification
	Query        *provider.QueryResult
	Order        *Order
	// DuplicateOf is the earlier transaction id when the order was already
	// paid by another transaction.
	DuplicateOf string
	RemoteIP    netip.Addr
	Header      http.Header
	Path        string
	// Time is request.time; zero means the time of the first evaluation.
	Time time.Time

	// vars is the CEL view of this input, built by the first policy that
	// evaluates it and reused by the others: build one Input per
	// notification, do not change it once evaluated, and evaluate it from
	// one goroutine at a time.
	vars activation
}

// The CEL view of the variables. These structs are the one definition of
// what a policy (and a field mapping) can name: the cel tags are the names
// of DESIGN.md section 7, the Go types give the CEL types (string, int,
// timestamp, map).
type celNotification struct {
	ID            string         `cel:"id"`
	Provider      string         `cel:"provider"`
	Type          string         `cel:"type"`
	OutTradeNo    string         `cel:"out_trade_no"`
	TransactionID string         `cel:"transaction_id"`
	Amount        int64          `cel:"amount"`
	Currency      string         `cel:"currency"`
	Status        string         `cel:"status"`
	OccurredAt    time.Time      `cel:"occurred_at"`
	RefundAmount  int64          `cel:"refund_amount"`
	RefundID      string         `cel:"refund_id"`
	DuplicateOf   string         `cel:"duplicate_of"`
	Raw           map[string]any `cel:"raw"`
}

type celQuery struct {
	Status   string `cel:"status"`
	Amount   int64  `cel:"amount"`
	Currency string `cel:"currency"`
}

type celOrder struct {
	Amount   int64  `cel:"amount"`
	Currency string `cel:"currency"`
	Status   string `cel:"status"`
}

type celRequest struct {
	RemoteIP string            `cel:"remote_ip"`
	Headers  map[string]string `cel:"headers"`
	Path     string            `cel:"path"`
	Time     time.Time         `cel:"time"`
}

// The CEL type names of the variables, as error messages show them.
const (
	typeNotification = "payguard.Notification"
	typeQuery        = "payguard.Query"
	typeOrder        = "payguard.Order"
	typeRequest      = "payguard.Request"
)

// The variable names of DESIGN.md section 7.
const (
	varNotification = "notification"
	varQuery        = "query"
	varOrder        = "order"
	varRequest      = "request"
)

// libraries are the CEL extensions both kinds of expression get beyond the
// standard ones: string helpers (lowerAscii, split, ...) and cel.bind, so a
// policy can name a table once (the amount ceilings per currency).
func libraries() []cel.EnvOption {
	return []cel.EnvOption{ext.Strings(), ext.Bindings()}
}

func nativeType[T any](alias string) *cel.NativeTypeDesc {
	return cel.NativeTypeFor[T](cel.NativeTypeAlias(alias), types.ParseStructTag("cel"))
}

// newPolicyEnv is the environment every policy is checked against.
func newPolicyEnv() (*cel.Env, error) {
	opts := append(libraries(),
		cel.Types(
			nativeType[celNotification](typeNotification),
			nativeType[celQuery](typeQuery),
			nativeType[celOrder](typeOrder),
			nativeType[celRequest](typeRequest),
		),
		nullFieldsFail(),
		cel.Variable(varNotification, cel.ObjectType(typeNotification)),
		cel.Variable(varQuery, cel.ObjectType(typeQuery)),
		cel.Variable(varOrder, cel.ObjectType(typeOrder)),
		cel.Variable(varRequest, cel.ObjectType(typeRequest)),
	)
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("policy: building the CEL environment: %w", err)
	}
	return env, nil
}

// nullFieldsFail makes reading a field of a null object an error. CEL's
// native types read a field of null as null, so `query.status != "refunded"`
// would be true when the query was skipped: a pass where DESIGN.md section
// 7 wants a denial.
func nullFieldsFail() cel.EnvOption {
	return func(env *cel.Env) (*cel.Env, error) {
		return cel.CustomTypeProvider(strictFields{env.CELTypeProvider()})(env)
	}
}

type strictFields struct{ types.Provider }

// nullNative is what a field getter receives for a null object.
var nullNative = types.NullValue.Value()

func (p strictFields) FindStructFieldType(structType, field string) (*types.FieldType, bool) {
	ft, ok := p.Provider.FindStructFieldType(structType, field)
	if !ok || ft.GetFrom == nil {
		return ft, ok
	}
	get, short := ft.GetFrom, strings.TrimPrefix(structType, "payguard.")
	strict := *ft
	strict.GetFrom = func(obj any) (any, error) {
		if obj == nil || obj == nullNative {
			return nil, fmt.Errorf("%s.%s: %s is null", strings.ToLower(short), field, strings.ToLower(short))
		}
		return get(obj)
	}
	return &strict, true
}

// The variable names a field mapping sees.
const (
	varBody    = "body"
	varFields  = "fields"
	varHeaders = "headers"
)

// newMappingEnv is the environment of field mappings: the parsed message
// rather than a notification, which is what mappings produce.
func newMappingEnv() (*cel.Env, error) {
	opts := append(libraries(),
		cel.Variable(varBody, cel.DynType),
		cel.Variable(varFields, cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable(varHeaders, cel.MapType(cel.StringType, cel.StringType)),
	)
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("policy: building the CEL mapping environment: %w", err)
	}
	return env, nil
}

// HeaderMap is how CEL sees HTTP headers (request.headers in policies,
// headers in mappings): the canonical header name (Webhook-Id,
// X-Signature) to its first value.
func HeaderMap(h http.Header) map[string]string {
	m := make(map[string]string, len(h))
	for k, v := range h {
		if len(v) > 0 {
			m[http.CanonicalHeaderKey(k)] = v[0]
		}
	}
	return m
}
