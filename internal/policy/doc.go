// Package policy is the one place that knows how a notification looks to
// CEL (cel.dev/cel-go): the operators' policies (DESIGN.md section 7), the
// field mappings of the stdwebhooks and generic providers, and `payguard
// policy test`. It knows nothing of Caddy.
//
// # Policies
//
// A policy is one boolean CEL expression. It sees four variables:
//
//	notification  id, provider, type, out_trade_no, transaction_id (string),
//	              amount (int, minor units), currency, status (string),
//	              occurred_at (timestamp), refund_amount (int), refund_id,
//	              duplicate_of (string: the transaction the order was
//	              already paid by, when this paid notification is another
//	              one; the pipeline reads it from the store only for a
//	              policy that names it, see ReferencesDuplicateOf),
//	              raw (map: the provider's fields)
//	query         status, amount, currency; null when the query was skipped
//	order         amount, currency, status (the shop's order_lookup record);
//	              null without order_lookup
//	request       remote_ip, path (string), headers (map: canonical name to
//	              first value), time (timestamp of the evaluation)
//
// The standard CEL library, the strings extension (lowerAscii, split, ...)
// and cel.bind are available.
//
//	p, err := policy.Compile("policies/alipay.cel", src) // or CompileFile(path)
//	// err is a *CompileError: syntax, unknown names, type errors, or an
//	// expression that is not boolean, with CEL's line, column and message.
//	ok, err := p.Allow(ctx, &policy.Input{Notification: n, Query: q, ...})
//	// ok is true only for a true result; an evaluation error (a missing
//	// raw field, `query.amount` on a null query, the cost limit) is a
//	// denial returned with the error.
//
// Program implements the pipeline's Policy interface; ReferencesOrder tells
// the pipeline to leave the order check to the policies. Name is what the
// audit record's `policy` field shows: the file name, or InlineName of an
// inline expression.
//
// # Field mappings
//
// Providers whose notifications have no fixed schema (stdwebhooks,
// generic) take each normalized field from a CEL expression over the
// parsed message:
//
//	body     dyn: the parsed body (JSON decoded with UseNumber, or the
//	         form/XML fields as a map)
//	fields   map(string, string): the flat fields (form, XML, signed params)
//	headers  map(string, string): canonical header name to first value
//
// Compile each at provision with the type it must yield, and evaluate it
// per message:
//
//	m, err := policy.CompileMapping("amount", `int(body.data.amount)`, policy.Int)
//	// err is a *CompileError when the source does not parse, names
//	// something unknown, or has a static type other than the expected one
//	// (`fields.amount` is a string: write int(fields.amount)). Anything
//	// read from body is dyn and is checked at evaluation instead.
//	amount, err := m.EvalInt(ctx, &policy.Message{Body: parsed, Headers: policy.HeaderMap(r.Header)})
//	id, err := idMapping.EvalString(ctx, msg)
//	// err names the mapping: a missing key, the wrong type at run time,
//	// the cost limit. Providers answer it with reason.Malformed.
//
// A JSON number decoded with UseNumber is an int in CEL when it is
// integral; decoded as float64 it is a double, which an Int mapping must
// convert itself (int(body.amount)). Every evaluation, policy or mapping,
// stops at DefaultCostLimit.
//
// # Policy tests
//
// RunTests evaluates policy files on case files (the `forward normalized`
// JSON with optional `order`, `request` and `expect`), for `payguard
// policy test`.
package policy
